//! Gated action requests (docs/protocol.md §7): asking to perform an action of a kind in
//! a scope, and everything between the asking and the doing — confirmation, votes,
//! direct execution, cancellation, expiry.
//!
//! - [`model`]: the request as clients see it;
//! - [`lifecycle`]: the one transition table every status change goes through;
//! - [`access`]: the one choke point deciding who may see and act on a request;
//! - [`limits`]: a policy's limits, counted under a lock per (scope, kind);
//! - [`create`], [`actions`] and [`list`]: the methods; [`expiry`]: the sweeper;
//! - [`execution`]: executors outside countersign (webhooks), their outcomes, recovery;
//! - [`notices`]: who is told what; [`announce`]: a change's audit row and notices;
//!   [`store`]: the rows.
//!
//! Every method runs in one transaction: the request's changes, its audit row (naming
//! every transition it made) and its notifications commit together or not at all.

pub mod access;
pub mod actions;
pub mod announce;
pub mod create;
pub mod execution;
pub mod expiry;
pub mod lifecycle;
pub mod limits;
pub mod list;
pub mod model;
pub mod notices;
pub mod store;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::call::Ctx;
use crate::config::kinds::Policy;
use crate::error::{ErrorKind, RpcError, RpcResult};
use crate::policies;
use lifecycle::{Step, Track, next, refusal};
use model::{Request, Status};

/// What a person types to execute directly.
pub const EXECUTE_PHRASE: &str = "EXECUTE";
/// Why the approvals were skipped, as the request records it.
pub const DIRECT_EXECUTION: &str = "direct-execute permission";

/// `{request}`: what every request method but the listing answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestResult {
    pub request: Request,
}

/// Executes a waiting request directly, for `by`, once they typed [`EXECUTE_PHRASE`]:
/// otherwise `confirmation_required`, with what the UI must show. The caller has checked
/// `by` may.
pub fn direct_execution(ctx: &Ctx, track: &mut Track, by: Uuid, confirm: Option<&str>) -> RpcResult<()> {
    let status = track.status();
    if !status.is_pending() || next(status, Step::Execute).is_none() {
        return Err(track.refuse(refusal(status, Step::Execute)));
    }
    if confirm != Some(EXECUTE_PHRASE) {
        return Err(track.refuse(confirmation_required(&track.held.request, &track.held.policy, confirm.is_some())));
    }
    let now = ctx.now();
    if status == Status::AwaitingConfirmation {
        // The typed phrase is the confirmation.
        track.step(Step::Confirm)?;
        track.held.request.confirmed_at = Some(now);
        track.held.request.confirmed_by = Some(by);
    }
    track.execute(now, execution::executor_of(ctx.env(), &track.held.request.kind))?;
    let request = &mut track.held.request;
    request.executed_by = Some(by);
    request.pre_approval_skip_reason = Some(DIRECT_EXECUTION.to_owned());
    Ok(())
}

/// `confirmation_required`, with the phrase and the warning a UI shows before a direct
/// execution: "This will charge USD 12,000.00 upfront immediately. This bypasses the
/// approval step. It can be cancelled within 24 hours."
fn confirmation_required(request: &Request, policy: &Policy, wrong: bool) -> RpcError {
    let mut summary = match (request.amount, request.currency) {
        (Some(amount), Some(currency)) => format!("This will charge {} upfront immediately.", currency.format(amount)),
        _ => format!("This will execute \"{}\" immediately.", request.title),
    };
    if policy.approvals_required > 0 {
        summary.push_str(" This bypasses the approval step.");
    }
    summary.push_str(&match policy.cancel_window_hours {
        0 => " It cannot be cancelled.".to_owned(),
        1 => " It can be cancelled within 1 hour.".to_owned(),
        hours => format!(" It can be cancelled within {hours} hours."),
    });
    let reason = if wrong { "wrong_phrase" } else { "phrase_required" };
    RpcError::new(ErrorKind::ConfirmationRequired, reason)
        .message(format!("Type {EXECUTE_PHRASE} to execute directly."))
        .with("phrase", EXECUTE_PHRASE)
        .with("amount", json!(request.amount))
        .with("currency", json!(request.currency))
        .with("summary", summary)
        .with("cancel_window_hours", policy.cancel_window_hours)
}

/// Refuses to run a request (`forbidden/action_disabled`) while its kind is disabled at its
/// scope now: a request keeps the approvals and limits it was made under, but a manager who
/// switches a kind off stops what has not run yet.
pub async fn still_enabled(ctx: &mut Ctx, track: &Track) -> RpcResult<()> {
    if !track.entered(Status::Executing) {
        return Ok(());
    }
    let request = &track.held.request;
    if policies::effective(ctx, &request.scope_id, &request.kind).await?.policy.enabled {
        return Ok(());
    }
    Err(track.refuse(
        RpcError::forbidden("action_disabled")
            .message(format!("{} requests are disabled at this scope now; this one cannot run.", request.kind)),
    ))
}

/// Ends a method that changed a request (already saved): its audit row, naming every
/// transition, then its notifications, and the delivery of an attempt it began, once it
/// commits; answers the request as it now is.
pub async fn finish(ctx: &mut Ctx, method: &str, track: Track, direct: bool, data: Value) -> RpcResult<RequestResult> {
    announce::announce(ctx, method, &track, direct, data).await?;
    execution::deliver_after_commit(ctx, &track);
    Ok(RequestResult { request: track.held.request })
}
