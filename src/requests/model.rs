//! The request as a client sees it (docs/protocol.md §7.2), and the policy it is judged
//! by: the one in force when it was made.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::kinds::Policy;
use crate::error::RpcError;
use crate::money::{Amount, Currency, Percentage};

/// Where a request stands (docs/protocol.md §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AwaitingConfirmation,
    PendingApproval,
    Approved,
    Executing,
    Executed,
    Failed,
    Cancelled,
    Expired,
    Rejected,
    Revoked,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::AwaitingConfirmation,
        Status::PendingApproval,
        Status::Approved,
        Status::Executing,
        Status::Executed,
        Status::Failed,
        Status::Cancelled,
        Status::Expired,
        Status::Rejected,
        Status::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingConfirmation => "awaiting_confirmation",
            Status::PendingApproval => "pending_approval",
            Status::Approved => "approved",
            Status::Executing => "executing",
            Status::Executed => "executed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::Rejected => "rejected",
            Status::Revoked => "revoked",
        }
    }

    /// Waiting for a person: a confirmation or the approvals (`pending_*`).
    pub fn is_pending(self) -> bool {
        matches!(self, Status::AwaitingConfirmation | Status::PendingApproval)
    }
}

impl TryFrom<String> for Status {
    type Error = RpcError;

    fn try_from(text: String) -> Result<Status, RpcError> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| RpcError::internal(format!("unknown request status {text:?}")))
    }
}

/// A vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// One voter's decision (a later vote replaced any earlier one).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DecisionInfo {
    pub account_id: Uuid,
    pub username: String,
    pub decision: Decision,
    pub comment: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// Where the votes stand.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Approvals {
    /// Approvals needed (the policy in force when the request was made).
    pub required: u32,
    pub approved: u32,
    pub rejected: u32,
    /// Oldest first.
    pub decisions: Vec<DecisionInfo>,
}

/// What the kind's executor reported (`null` on the request until one outside
/// countersign is called).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Execution {
    /// Deliveries begun; the one in flight or last finished is the `attempts`th, sent with
    /// `Idempotency-Key: <request_id>:<attempts>`.
    pub attempts: u32,
    /// When that delivery began.
    pub started_at: Option<DateTime<Utc>>,
    /// Why it failed (`HTTP 500`, `timeout after 10000 ms`, `interrupted`, ...).
    pub last_error: Option<String>,
    /// What the receiver answered, at most 64 KiB.
    pub response: Option<String>,
    /// The receiver's answer was longer (or stopped arriving): `response` is its start.
    pub response_truncated: bool,
}

/// A request to perform an action of a kind, in a scope (docs/protocol.md §7.2).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Request {
    pub id: Uuid,
    pub kind: String,
    pub scope_id: String,
    pub title: String,
    pub amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub percentage: Option<Percentage>,
    /// Whatever the requester attached, for the executor and the approvers.
    pub payload: Map<String, Value>,
    pub status: Status,
    /// The account that made the request.
    pub requested_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// When a request still waiting for confirmation or approval expires.
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub confirmed_by: Option<Uuid>,
    pub approvals: Approvals,
    /// The admin who approved it at once with `bypass`.
    pub bypassed_by: Option<Uuid>,
    /// Who executed it directly; `null` when it ran because it was approved.
    pub executed_by: Option<Uuid>,
    pub executed_at: Option<DateTime<Utc>>,
    /// Why the approval step was skipped (`direct-execute permission`).
    pub pre_approval_skip_reason: Option<String>,
    /// Until when an executed request may still be cancelled.
    pub cancel_until: Option<DateTime<Utc>>,
    /// `null` until an executor outside countersign has been called.
    pub execution: Option<Execution>,
    pub cancelled_by: Option<Uuid>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
}

/// A request with the policy it is judged by.
#[derive(Debug, Clone)]
pub struct Held {
    pub request: Request,
    pub policy: Policy,
}

impl Request {
    /// Recounts the votes after a decision changed.
    pub fn recount(&mut self) {
        let count = |d: Decision| self.approvals.decisions.iter().filter(|x| x.decision == d).count() as u32;
        self.approvals.approved = count(Decision::Approve);
        self.approvals.rejected = count(Decision::Reject);
    }

    /// The accounts that voted on it.
    pub fn voters(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.approvals.decisions.iter().map(|d| d.account_id)
    }
}
