//! `request_get`, `request_confirm`, `request_approve`, `request_reject`,
//! `request_execute`, `request_cancel`, `request_retry`. Each opens the request through
//! the choke point (`access::open`), moves it through the transition table, saves it and
//! finishes (audit row, notifications) in the call's transaction.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::access::{Act, open, peek};
use super::announce::record;
use super::execution::{self, executor_of};
use super::lifecycle::{Step, Track};
use super::model::{Decision, DecisionInfo, Status};
use super::notices::{self, RequestDecisionNotice};
use super::{RequestResult, direct_execution, finish, still_enabled, store};
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestIdParams {
    pub request_id: Uuid,
}

pub struct Get;

impl Action for Get {
    const METHOD: &'static str = "request_get";
    type Params = RequestIdParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: RequestIdParams) -> RpcResult<RequestResult> {
        let track = open(ctx, p.request_id, Act::View).await?;
        Ok(RequestResult { request: track.held.request })
    }
}

pub struct Confirm;

impl Action for Confirm {
    const METHOD: &'static str = "request_confirm";
    type Params = RequestIdParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: RequestIdParams) -> RpcResult<RequestResult> {
        let by = ctx.require_principal()?.account_id;
        let mut track = open(ctx, p.request_id, Act::Confirm).await?;
        let now = ctx.now();
        if track.status() == Status::AwaitingConfirmation && track.held.policy.approvals_required == 0 {
            // Nothing to approve: confirmed, it goes straight into execution.
            track.step(Step::Execute)?;
        } else {
            track.step(Step::Confirm)?;
        }
        track.held.request.confirmed_at = Some(now);
        track.held.request.confirmed_by = Some(by);
        track.settle(now, executor_of(ctx.env(), &track.held.request.kind))?;
        still_enabled(ctx, &track).await?;
        store::save(ctx.conn().await?, &track.held.request).await?;
        finish(ctx, Self::METHOD, track, false, json!({})).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveParams {
    pub request_id: Uuid,
    #[schemars(length(max = 500))]
    pub comment: Option<String>,
    /// An admin approving their own request at once, whatever the approvals required.
    pub bypass: Option<bool>,
}

pub struct Approve;

impl Action for Approve {
    const METHOD: &'static str = "request_approve";
    type Params = ApproveParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: ApproveParams) -> RpcResult<RequestResult> {
        let bypass = p.bypass == Some(true);
        vote(ctx, Self::METHOD, p.request_id, Decision::Approve, p.comment, bypass).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectParams {
    pub request_id: Uuid,
    #[schemars(length(max = 500))]
    pub comment: Option<String>,
}

pub struct Reject;

impl Action for Reject {
    const METHOD: &'static str = "request_reject";
    type Params = RejectParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: RejectParams) -> RpcResult<RequestResult> {
        vote(ctx, Self::METHOD, p.request_id, Decision::Reject, p.comment, false).await
    }
}

/// Records the caller's vote (replacing an earlier one), tells the requester, and moves
/// the request on when the votes say so. A vote is only taken while approvals are open.
async fn vote(
    ctx: &mut Ctx,
    method: &str,
    request_id: Uuid,
    decision: Decision,
    comment: Option<String>,
    bypass: bool,
) -> RpcResult<RequestResult> {
    let principal = ctx.require_principal()?;
    let (by, username) = (principal.account_id, principal.username.to_string());
    let mut track = open(ctx, request_id, Act::Vote { bypass }).await?;
    let status = track.status();
    if status != Status::PendingApproval {
        return Err(track.refuse(super::lifecycle::refusal(status, Step::Approve)));
    }
    let now = ctx.now();
    let info = DecisionInfo { account_id: by, username, decision, comment, decided_at: now };
    store::decide(ctx.conn().await?, request_id, &info).await?;
    let request = &mut track.held.request;
    request.approvals.decisions.retain(|d| d.account_id != by);
    request.approvals.decisions.push(info.clone());
    request.recount();
    if bypass {
        request.bypassed_by = Some(by);
    }
    track.settle(now, executor_of(ctx.env(), &track.held.request.kind))?;
    still_enabled(ctx, &track).await?;
    store::save(ctx.conn().await?, &track.held.request).await?;
    let data = json!({ "decision": decision, "comment": info.comment, "bypass": bypass });
    let approvers = notices::approvers_to_tell(ctx, &track, false).await?;
    record(ctx, method, &track, data).await?;
    let requester = track.held.request.requested_by;
    if requester != by {
        let notice = RequestDecisionNotice { request_id, decision, by, comment: info.comment.as_deref() };
        ctx.notify(requester, &notice).await?;
    }
    notices::publish(ctx, &track, false, &approvers).await?;
    execution::deliver_after_commit(ctx, &track);
    Ok(RequestResult { request: track.held.request })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteParams {
    pub request_id: Uuid,
    /// `EXECUTE`, typed by the person executing directly.
    #[schemars(length(max = 20))]
    pub confirm: Option<String>,
}

pub struct Execute;

impl Action for Execute {
    const METHOD: &'static str = "request_execute";
    type Params = ExecuteParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: ExecuteParams) -> RpcResult<RequestResult> {
        let by = ctx.require_principal()?.account_id;
        let mut track = open(ctx, p.request_id, Act::Execute).await?;
        direct_execution(ctx, &mut track, by, p.confirm.as_deref())?;
        still_enabled(ctx, &track).await?;
        store::save(ctx.conn().await?, &track.held.request).await?;
        finish(ctx, Self::METHOD, track, true, json!({})).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelParams {
    pub request_id: Uuid,
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

pub struct Cancel;

impl Action for Cancel {
    const METHOD: &'static str = "request_cancel";
    type Params = CancelParams;
    type Output = RequestResult;

    /// Before it runs, a request is cancelled; once executed, it is revoked while its
    /// cancel window is open. A webhook is asked to undo it first, before the transaction
    /// begins: the window is judged when the request is seen executed, and the request is
    /// revoked only when the webhook agreed.
    async fn run(&self, ctx: &mut Ctx, p: CancelParams) -> RpcResult<RequestResult> {
        let by = ctx.require_principal()?.account_id;
        let seen = peek(ctx, p.request_id, Act::Cancel).await?;
        let webhook = executor_of(ctx.env(), &seen.held.request.kind).webhook().cloned();
        let undone_outside_at = match (&webhook, seen.status()) {
            (Some(webhook), Status::Executed) => {
                let judged_at = ctx.now();
                cancel_window_open(&seen, judged_at)?;
                execution::revoke(ctx.env(), webhook, &seen).await?;
                Some(judged_at)
            }
            _ => None,
        };
        let mut track = open(ctx, p.request_id, Act::Cancel).await?;
        if track.status() == Status::Executed {
            match (&webhook, undone_outside_at) {
                // Executed after it was seen: answered as it was then.
                (Some(_), None) => return Err(track.refuse(super::lifecycle::refusal(seen.status(), Step::Cancel))),
                (_, judged_at) => cancel_window_open(&track, judged_at.unwrap_or_else(|| ctx.now()))?,
            }
            track.step(Step::Revoke)?;
        } else {
            track.step(Step::Cancel)?;
        }
        let request = &mut track.held.request;
        request.cancelled_by = Some(by);
        request.cancelled_at = Some(ctx.now());
        request.cancel_reason = p.reason.clone();
        store::save(ctx.conn().await?, &track.held.request).await?;
        finish(ctx, Self::METHOD, track, false, json!({ "reason": p.reason })).await
    }
}

/// `conflict/cancel_window_closed` unless the executed request could still be cancelled at
/// `at`.
fn cancel_window_open(track: &Track, at: DateTime<Utc>) -> RpcResult<()> {
    let until = track.held.request.cancel_until;
    if until.is_some_and(|until| at < until) {
        return Ok(());
    }
    Err(track.refuse(
        RpcError::conflict("cancel_window_closed")
            .message("The cancel window of this request has closed.")
            .with("cancel_until", json!(until)),
    ))
}

pub struct Retry;

impl Action for Retry {
    const METHOD: &'static str = "request_retry";
    type Params = RequestIdParams;
    type Output = RequestResult;

    async fn run(&self, ctx: &mut Ctx, p: RequestIdParams) -> RpcResult<RequestResult> {
        let mut track = open(ctx, p.request_id, Act::Retry).await?;
        track.step(Step::Retry)?;
        track.run(ctx.now(), executor_of(ctx.env(), &track.held.request.kind))?;
        still_enabled(ctx, &track).await?;
        store::save(ctx.conn().await?, &track.held.request).await?;
        finish(ctx, Self::METHOD, track, false, json!({})).await
    }
}
