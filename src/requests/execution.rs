//! Executors outside countersign (docs/protocol.md §7.5). A call that moves a request into
//! `executing` counts the attempt and commits; only then is the attempt delivered — one
//! signed POST to the kind's webhook, outside any transaction — and its outcome recorded in
//! a transaction of its own, with its audit row (`request_execution`) and notifications.
//!
//! Nothing is done twice by countersign itself: each attempt has its own idempotency key
//! (`<request_id>:<attempt>`), never reused; an outcome is recorded only while the request
//! is still executing that very attempt; and an attempt whose server died with it is
//! marked `failed` (`interrupted`) by the sweeper once past its timeout, never resent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::announce::announce;
use super::lifecycle::Track;
use super::model::{Request, Status};
use super::store;
use crate::call::{Ctx, Env};
use crate::config::kinds::{Executor, Webhook};
use crate::db;
use crate::error::{RpcError, RpcResult};
use crate::executors::{Delivery, Outcome, Reply};

/// The event of a delivery that carries a request out.
pub const EXECUTE_EVENT: &str = "request.execute";
/// The event of a delivery that undoes an executed request.
pub const REVOKE_EVENT: &str = "request.revoke";
/// What an attempt ends as when its server stopped before hearing back.
pub const INTERRUPTED: &str = "interrupted";
/// How long past its timeout an attempt may still be recorded by the server delivering it
/// before the sweeper calls it interrupted.
const RECORDING_GRACE: Duration = Duration::from_secs(10);
/// Attempts the sweeper marks interrupted in one transaction.
const BATCH: i64 = 500;

/// The executor of `kind` (`none` for a kind no longer configured).
pub fn executor_of<'e>(env: &'e Env, kind: &str) -> &'e Executor {
    static NONE: Executor = Executor::None {};
    env.config.kinds.get(kind).map_or(&NONE, |kind| &kind.executor)
}

/// Queues, for after the call's commit, the delivery of the attempt the call began (if it
/// began one): on a rollback nothing is sent.
pub fn deliver_after_commit(ctx: &mut Ctx, track: &Track) {
    let Some(attempt) = track.attempt_to_deliver() else { return };
    let env = ctx.shared_env();
    let request = track.held.request.clone();
    ctx.after_commit(move || {
        let deliveries = env.deliveries.clone();
        deliveries.spawn(deliver(env, request, attempt));
    });
}

/// Delivers `attempt` of `request` to its kind's webhook and records what came of it.
async fn deliver(env: Arc<Env>, request: Request, attempt: u32) {
    let id = request.id;
    let outcome = match executor_of(&env, &request.kind).webhook() {
        Some(webhook) => {
            let body = json!({ "event": EXECUTE_EVENT, "request": request, "attempt": attempt });
            post(&env, webhook, &format!("{id}:{attempt}"), EXECUTE_EVENT, body).await
        }
        None => Outcome::Refused { error: "the kind has no webhook configured".to_owned(), reply: None },
    };
    // A fault while recording is tried again until the grace runs out; after that the
    // sweeper calls the attempt interrupted.
    let deadline = tokio::time::Instant::now() + RECORDING_GRACE / 2;
    loop {
        match record(&env, id, attempt, &outcome).await {
            Ok(()) => return,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(request_id = %id, attempt, error = %e, "cannot record an execution; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::error!(request_id = %id, attempt, error = %e, "cannot record an execution; giving up");
                return;
            }
        }
    }
}

/// POSTs `body` (of `event`), signed, with `key` as its idempotency key.
async fn post(env: &Env, webhook: &Webhook, key: &str, event: &str, body: serde_json::Value) -> Outcome {
    let body = serde_json::to_vec(&body).expect("a request serializes");
    let delivery = Delivery { target: webhook, idempotency_key: key, body, at: env.clock.now() };
    let outcome = env.webhooks.post(delivery).await;
    env.metrics.webhook_delivered(event, matches!(outcome, Outcome::Accepted(_)));
    outcome
}

/// Records `outcome` of `attempt`, unless the request has moved on since (the sweeper
/// called it interrupted): then the outcome is only logged.
async fn record(env: &Arc<Env>, id: Uuid, attempt: u32, outcome: &Outcome) -> RpcResult<()> {
    let mut ctx = Ctx::system(env.clone());
    db::lock_key(ctx.conn().await?, &format!("request/{id}")).await?;
    let Some(held) = store::find(ctx.conn().await?, id).await? else { return Ok(()) };
    let current = held.request.execution.as_ref().map(|e| e.attempts);
    if held.request.status != Status::Executing || current != Some(attempt) {
        let accepted = matches!(outcome, Outcome::Accepted(_));
        tracing::warn!(request_id = %id, attempt, accepted, status = held.request.status.as_str(),
            "an execution was answered after the request moved on; not recorded");
        return Ok(());
    }
    let mut track = Track::loaded(held);
    let (reply, error) = match outcome {
        Outcome::Accepted(reply) => (Some(reply), None),
        Outcome::Refused { error, reply } => (reply.as_ref(), Some(error.clone())),
    };
    match error.clone() {
        None => track.succeed(ctx.now())?,
        Some(error) => track.fail(error)?,
    }
    if let (Some(execution), Some(reply)) = (track.held.request.execution.as_mut(), reply) {
        execution.response = Some(reply.body.clone());
        execution.response_truncated = reply.truncated;
    }
    store::save(ctx.conn().await?, &track.held.request).await?;
    let direct = track.held.request.executed_by.is_some();
    let data = json!({ "attempt": attempt, "http_status": reply.map(|r| r.status), "last_error": error });
    announce(&mut ctx, "request_execution", &track, direct, data).await?;
    ctx.commit().await
}

/// Marks `failed` (`interrupted`) every attempt still executing past its timeout and the
/// grace for recording it: the server delivering it stopped (or lost the database) before
/// it could record the outcome. Runs at start-up and with the housekeeping; returns how
/// many.
pub async fn sweep_interrupted(env: &Arc<Env>) -> RpcResult<usize> {
    let mut ctx = Ctx::system(env.clone());
    let now = ctx.now();
    let grace = chrono::Duration::from_std(RECORDING_GRACE).expect("the grace fits");
    let overdue = |kind: &str, began: Option<DateTime<Utc>>| {
        let timeout = executor_of(env, kind).webhook().map_or(0, |webhook| webhook.timeout_ms);
        began.is_none_or(|began| began + chrono::Duration::milliseconds(timeout as i64) + grace <= now)
    };
    let running = store::executing(ctx.conn().await?, now - grace, BATCH).await?;
    let due: Vec<(Uuid, Option<DateTime<Utc>>)> = running
        .into_iter()
        .filter(|(_, kind, began)| overdue(kind, *began))
        .map(|(id, _, began)| (id, began))
        .collect();
    // Every lock first, in id order, as the expiry sweeper does.
    let mut ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
    ids.sort();
    for id in &ids {
        db::lock_key(ctx.conn().await?, &format!("request/{id}")).await?;
    }
    let mut total = 0;
    for (id, began) in due {
        let Some(held) = store::find(ctx.conn().await?, id).await? else { continue };
        let execution = held.request.execution.clone().unwrap_or_default();
        if held.request.status != Status::Executing || execution.started_at != began {
            continue; // recorded, or retried, meanwhile
        }
        let mut track = Track::loaded(held);
        track.fail(INTERRUPTED.to_owned())?;
        store::save(ctx.conn().await?, &track.held.request).await?;
        let data = json!({ "attempt": execution.attempts, "last_error": INTERRUPTED });
        announce(&mut ctx, "request_execution", &track, false, data).await?;
        total += 1;
    }
    ctx.commit().await?;
    Ok(total)
}

/// Asks the webhook to undo executed `request` (`request.revoke`, under the key
/// `<request_id>:revoke`, the same for every try): `conflict/revoke_refused` with why when
/// it does not answer 2xx.
pub async fn revoke(env: &Env, webhook: &Webhook, track: &Track) -> RpcResult<()> {
    let request = &track.held.request;
    let body = json!({ "event": REVOKE_EVENT, "request": request });
    match post(env, webhook, &format!("{}:revoke", request.id), REVOKE_EVENT, body).await {
        Outcome::Accepted(_) => Ok(()),
        Outcome::Refused { error, reply } => Err(track.refuse(
            RpcError::conflict("revoke_refused")
                .message(format!("The executor did not revoke this request ({error}); it stays executed."))
                .with("status", request.status.as_str())
                .with("error", error)
                .with("response", reply.map(|Reply { body, .. }| body.chars().take(1000).collect::<String>())),
        )),
    }
}
