//! `request_create` (docs/protocol.md §7.4–7.5). In order: `create` on the kind at the
//! scope; a repeated idempotency key answers the first request; the policy in force must
//! be enabled and its limits hold; with `execute_now`, `execute-any` (or `execute-own`)
//! and the typed `EXECUTE` confirmation. Then the request is made in the status its
//! policy starts it in, and moves on as far as it can in the same transaction.

use chrono::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::access::Standing;
use super::execution::executor_of;
use super::lifecycle::Track;
use super::limits::Asked;
use super::model::{Approvals, Held, Request, Status};
use super::{RequestResult, direct_execution, finish, limits, store};
use crate::authz::scope::{SCOPE_MAX_LENGTH, SCOPE_PATTERN};
use crate::call::{Action, Ctx};
use crate::config::kinds::Policy;
use crate::db;
use crate::error::{RpcError, RpcResult};
use crate::money::{Amount, Currency, Percentage};
use crate::policies;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCreateParams {
    #[schemars(length(min = 1, max = 64))]
    pub kind: String,
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: String,
    /// What the approvers read.
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    /// With `currency`, or neither.
    pub amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub percentage: Option<Percentage>,
    /// Anything the executor or the approvers need (at most 64 KiB of JSON).
    pub payload: Option<Map<String, Value>>,
    /// Execute at once, skipping the approvals: needs `execute-any` (or `execute-own`)
    /// and `confirm: "EXECUTE"`.
    pub execute_now: Option<bool>,
    /// `EXECUTE`, typed by the person executing directly.
    #[schemars(length(max = 20))]
    pub confirm: Option<String>,
    /// Repeating a create with the same key returns the first request and changes nothing.
    #[schemars(length(min = 1, max = 200))]
    pub idempotency_key: Option<String>,
}

/// Largest payload, as JSON text.
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

pub struct Create;

impl Action for Create {
    const METHOD: &'static str = "request_create";
    type Params = RequestCreateParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: RequestCreateParams) -> RpcResult<RequestResult> {
        let principal = ctx.require_principal()?.clone();
        let standing = Standing { env: ctx.env(), principal: &principal, kind: &p.kind, scope_id: &p.scope_id };
        if !standing.holds("create") {
            return Err(RpcError::forbidden("not_permitted").scoped(&p.scope_id, None));
        }
        policies::kind(ctx.env(), &p.kind)?;
        let direct = p.execute_now == Some(true);
        let may_execute = standing.any_or_own("execute-any", "execute-own", true);
        check_money(&p)?;
        if let Some(key) = &p.idempotency_key {
            db::lock_key(ctx.conn().await?, &format!("request-key/{}/{key}", principal.account_id)).await?;
            if let Some((id, hash)) = store::by_key(ctx.conn().await?, principal.account_id, key).await? {
                return replay(ctx, id, &hash, &p).await;
            }
        }
        let effective = policies::effective(ctx, &p.scope_id, &p.kind).await?;
        let policy = effective.policy;
        if !policy.enabled {
            return Err(RpcError::forbidden("action_disabled")
                .message(format!("{} requests are disabled at this scope.", p.kind))
                .scoped(&p.scope_id, None));
        }
        let asked = Asked {
            scope_id: &p.scope_id,
            kind: &p.kind,
            window: effective.source_scope_id.as_deref(),
            amount: p.amount,
            percentage: p.percentage,
        };
        limits::check(ctx, &asked, &policy.limits).await?;
        if direct && !may_execute {
            return Err(RpcError::forbidden("not_permitted")
                .message("You may not execute this directly.")
                .scoped(&p.scope_id, None));
        }
        let mut track = Track::created(new_request(ctx, &p, principal.account_id, policy, direct));
        if direct {
            direct_execution(ctx, &mut track, principal.account_id, p.confirm.as_deref())?;
        } else {
            track.settle(ctx.now(), executor_of(ctx.env(), &p.kind))?;
        }
        let hash = p.idempotency_key.as_ref().map(|_| params_hash(&p));
        let key = p.idempotency_key.as_deref().zip(hash.as_deref());
        store::insert(ctx.conn().await?, &track.held, key).await?;
        finish(ctx, Self::METHOD, track, direct, json!({ "idempotency_key": p.idempotency_key })).await
    }
}

/// The request as the policy starts it: waiting for a confirmation, or for approvals, or —
/// needing neither — straight into execution. One to be executed directly waits, for the
/// direct execution to take it from there.
fn new_request(ctx: &Ctx, p: &RequestCreateParams, requested_by: Uuid, policy: Policy, direct: bool) -> Held {
    let now = ctx.now();
    let status = match (policy.requires_confirmation, policy.approvals_required) {
        (true, _) => Status::AwaitingConfirmation,
        (false, 0) if !direct => Status::Executing,
        (false, _) => Status::PendingApproval,
    };
    let request = Request {
        id: Uuid::now_v7(),
        kind: p.kind.clone(),
        scope_id: p.scope_id.clone(),
        title: p.title.clone(),
        amount: p.amount,
        currency: p.currency,
        percentage: p.percentage,
        payload: p.payload.clone().unwrap_or_default(),
        status,
        requested_by,
        created_at: now,
        expires_at: now + Duration::hours(i64::from(policy.request_ttl_hours)),
        confirmed_at: None,
        confirmed_by: None,
        approvals: Approvals { required: policy.approvals_required, approved: 0, rejected: 0, decisions: Vec::new() },
        bypassed_by: None,
        executed_by: None,
        executed_at: None,
        pre_approval_skip_reason: None,
        cancel_until: None,
        execution: None,
        cancelled_by: None,
        cancelled_at: None,
        cancel_reason: None,
    };
    Held { request, policy }
}

/// An amount comes with its currency, in no more decimals than the currency has; the
/// payload is at most [`MAX_PAYLOAD_BYTES`].
fn check_money(p: &RequestCreateParams) -> RpcResult<()> {
    match (p.amount, p.currency) {
        (Some(_), None) => return Err(RpcError::validation("currency_required").message("An amount needs a currency.")),
        (None, Some(_)) => return Err(RpcError::validation("amount_required").message("A currency needs an amount.")),
        (Some(amount), Some(currency)) if amount.0.scale() > currency.exponent() => {
            return Err(RpcError::validation("amount_precision")
                .message(format!("{currency} amounts have at most {} decimals.", currency.exponent()))
                .with("decimals", currency.exponent()));
        }
        _ => {}
    }
    let payload_bytes = p.payload.as_ref().map_or(0, |payload| Value::Object(payload.clone()).to_string().len());
    if payload_bytes > MAX_PAYLOAD_BYTES {
        return Err(RpcError::validation("payload_too_large").with("max_bytes", MAX_PAYLOAD_BYTES));
    }
    Ok(())
}

/// The params a key stands for: everything but the typed confirmation.
fn params_hash(p: &RequestCreateParams) -> String {
    let mut value = serde_json::to_value(p).expect("params serialize");
    if let Some(object) = value.as_object_mut() {
        object.remove("confirm");
    }
    hex::encode(Sha256::digest(crate::audit_log::chain::canonical(&value).as_bytes()))
}

/// A create repeated with its key: the first request when the params are the same.
async fn replay(ctx: &mut Ctx, id: Uuid, hash: &str, p: &RequestCreateParams) -> RpcResult<RequestResult> {
    if params_hash(p) != hash {
        return Err(RpcError::conflict("idempotency_key_reused")
            .message("This idempotency key was used for a different request.")
            .with("existing_request_id", id.to_string()));
    }
    let held = store::find(ctx.conn().await?, id).await?.ok_or_else(|| RpcError::internal("keyed request vanished"))?;
    Ok(RequestResult { request: held.request })
}
