//! Announcing a change to a request, in the transaction that made it: its audit row,
//! naming every transition, then its notifications. Every writer of a request's change —
//! the methods, the expiry sweeper, the recording of a webhook's outcome — ends here.

use serde_json::{Value, json};

use super::lifecycle::Track;
use super::notices;
use crate::audit_log::AuditEvent;
use crate::call::Ctx;
use crate::error::RpcResult;

/// The audit row of `method`'s change to the request, then its notifications (`direct`:
/// it was executed directly, skipping the approvals).
pub async fn announce(ctx: &mut Ctx, method: &str, track: &Track, direct: bool, data: Value) -> RpcResult<()> {
    let approvers = notices::approvers_to_tell(ctx, track, direct).await?;
    record(ctx, method, track, data).await?;
    notices::publish(ctx, track, direct, &approvers).await
}

/// The audit row of a method that changed a request. Written before any notification, as
/// everywhere: every writer takes the audit head's lock first, so writers that notify the
/// same accounts in another order cannot deadlock.
pub async fn record(ctx: &mut Ctx, method: &str, track: &Track, data: Value) -> RpcResult<()> {
    let request = &track.held.request;
    let mut record = json!({
        "kind": request.kind,
        "status": request.status,
        "transitions": track.transitions,
        "amount": request.amount,
        "currency": request.currency,
    });
    if let (Some(record), Value::Object(extra)) = (record.as_object_mut(), data) {
        record.extend(extra.into_iter().filter(|(_, value)| !value.is_null()));
    }
    let event = AuditEvent::success(method)
        .target(request.requested_by)
        .scope(Some(request.scope_id.clone()))
        .subject(request.id)
        .data(record);
    ctx.audit(event).await
}
