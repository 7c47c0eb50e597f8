//! The notifications requests send (docs/protocol.md §8), one payload type each, and
//! [`publish`], which decides from a call's transitions who is told what.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::lifecycle::Track;
use super::model::{Decision, Request, Status};
use super::store;
use crate::call::Ctx;
use crate::error::RpcResult;
use crate::notify::Notice;

/// A request is waiting for your approval: you hold `approve` on its kind at or above its
/// scope.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestApprovalNeededNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestApprovalNeededNotice<'_> {
    const KIND: &'static str = "request_approval_needed";
}

/// Someone voted on your request (a later vote of theirs replaces this one).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestDecisionNotice<'a> {
    pub request_id: Uuid,
    pub decision: Decision,
    /// The voter's account.
    pub by: Uuid,
    pub comment: Option<&'a str>,
}

impl Notice for RequestDecisionNotice<'_> {
    const KIND: &'static str = "request_decision";
}

/// Your request has the approvals it needs (or an admin bypassed them).
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestApprovedNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestApprovedNotice<'_> {
    const KIND: &'static str = "request_approved";
}

/// Your request was rejected: the rejections reached the number that ends it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestRejectedNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestRejectedNotice<'_> {
    const KIND: &'static str = "request_rejected";
}

/// A request you made, voted on or (when `direct`) could have approved was executed.
/// `cancel_until` is when it can no longer be cancelled.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestExecutedNotice<'a> {
    pub request: &'a Request,
    /// Executed directly by an `execute-*` holder, skipping the approvals.
    pub direct: bool,
    pub cancel_until: Option<DateTime<Utc>>,
}

impl Notice for RequestExecutedNotice<'_> {
    const KIND: &'static str = "request_executed";
}

/// A request you made or voted on failed in its executor.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestFailedNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestFailedNotice<'_> {
    const KIND: &'static str = "request_failed";
}

/// A request you made or voted on was cancelled before it ran.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestCancelledNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestCancelledNotice<'_> {
    const KIND: &'static str = "request_cancelled";
}

/// A request you made or voted on was cancelled after it ran, within its cancel window.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestRevokedNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestRevokedNotice<'_> {
    const KIND: &'static str = "request_revoked";
}

/// A request you made or voted on expired waiting for confirmation or approval.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestExpiredNotice<'a> {
    pub request: &'a Request,
}

impl Notice for RequestExpiredNotice<'_> {
    const KIND: &'static str = "request_expired";
}

/// The accounts that may approve the request, when this call's notifications need them:
/// read before the call's audit row takes the audit head's lock, so that lock is held for
/// writes only.
pub async fn approvers_to_tell(ctx: &mut Ctx, track: &Track, direct: bool) -> RpcResult<Vec<Uuid>> {
    let request = &track.held.request;
    let waiting = track.entered(Status::PendingApproval) && request.status == Status::PendingApproval;
    let ran_without_them = track.entered(Status::Executed) && (direct || request.bypassed_by.is_some());
    if waiting || ran_without_them { approvers(ctx, request).await } else { Ok(Vec::new()) }
}

/// Tells everyone this call's transitions concern, in its transaction: the `approvers`
/// ([`approvers_to_tell`]) when it now waits for them, the requester (and the voters) of
/// every outcome, and — when it was executed `direct`ly, or an admin bypassed the
/// approvals — the approvers that it ran.
pub async fn publish(ctx: &mut Ctx, track: &Track, direct: bool, approvers: &[Uuid]) -> RpcResult<()> {
    let request = &track.held.request;
    let status = request.status;
    let concerned: BTreeSet<Uuid> = std::iter::once(request.requested_by).chain(request.voters()).collect();
    if track.entered(Status::PendingApproval) && status == Status::PendingApproval {
        for account_id in approvers {
            ctx.notify(*account_id, &RequestApprovalNeededNotice { request }).await?;
        }
    }
    if track.entered(Status::Approved) {
        ctx.notify(request.requested_by, &RequestApprovedNotice { request }).await?;
    }
    if track.entered(Status::Rejected) {
        ctx.notify(request.requested_by, &RequestRejectedNotice { request }).await?;
    }
    if track.entered(Status::Executed) {
        let mut told = concerned.clone();
        told.extend(approvers.iter().copied());
        let notice = RequestExecutedNotice { request, direct, cancel_until: request.cancel_until };
        for account_id in told {
            ctx.notify(account_id, &notice).await?;
        }
    }
    if !track.entered(status) {
        return Ok(());
    }
    for account_id in concerned {
        match status {
            Status::Failed => ctx.notify(account_id, &RequestFailedNotice { request }).await?,
            Status::Cancelled => ctx.notify(account_id, &RequestCancelledNotice { request }).await?,
            Status::Revoked => ctx.notify(account_id, &RequestRevokedNotice { request }).await?,
            Status::Expired => ctx.notify(account_id, &RequestExpiredNotice { request }).await?,
            _ => break,
        };
    }
    Ok(())
}

/// The accounts (but the requester) that may approve `request`: holders of a role that
/// grants `approve` on its kind, at or above its scope. Admins may approve too, but are
/// not told of every request.
async fn approvers(ctx: &mut Ctx, request: &Request) -> RpcResult<Vec<Uuid>> {
    let roles: Vec<String> = ctx
        .env()
        .roles
        .all()
        .filter(|role| !role.everything && role.allows("approve", &request.kind))
        .map(|role| role.info.name.clone())
        .collect();
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let now = ctx.now();
    store::holders(ctx.conn().await?, &roles, &request.scope_id, request.requested_by, now).await
}
