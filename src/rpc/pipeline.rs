//! The one path every call takes, whatever transport it came through (SPEC.md §2–3):
//!
//! find the declaration → refuse a mutation over GET → authenticate (401) → authorize by
//! the declaration's `auth` (403) → validate params against the schema (400) → rate limit
//! (429) → run the handler, in one transaction when `side_effects = true` → commit →
//! post-commit hooks. A failing handler drops its transaction, so nothing it wrote
//! persists and none of its hooks run.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::context::{Caller, Credentials, Ctx, Transport};
use super::error::{RpcError, RpcResult};
use super::spec::Auth;
use crate::app::App;

/// The answer to one call, with the id that ties it to the log.
pub struct Outcome {
    pub request_id: Uuid,
    pub result: RpcResult<Value>,
}

/// Runs one call through the pipeline; logs it and records its metrics.
pub async fn call(app: &Arc<App>, caller: &Caller, method: &str, params: Value) -> Outcome {
    let request_id = Uuid::now_v7();
    let started = Instant::now();
    let result = run(app, caller, method, params, request_id).await;
    let elapsed = started.elapsed();
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.kind.name(),
    };
    // Unknown method names are caller-chosen: keep them out of metric labels.
    let label = if app.registry.get(method).is_some() { method } else { "unknown" };
    app.metrics.record_call(label, outcome, elapsed.as_secs_f64());
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    match &result {
        Err(e) if e.internal_detail().is_some() => tracing::error!(
            %request_id, method = label, transport = caller.transport.as_str(), outcome,
            reason = %e.reason, duration_ms, detail = e.internal_detail(), "call failed"
        ),
        Err(e) => tracing::info!(
            %request_id, method = label, transport = caller.transport.as_str(), outcome,
            reason = %e.reason, duration_ms, "call"
        ),
        Ok(_) => tracing::info!(
            %request_id, method = label, transport = caller.transport.as_str(), outcome, duration_ms, "call"
        ),
    }
    Outcome { request_id, result }
}

async fn run(app: &Arc<App>, caller: &Caller, method: &str, params: Value, request_id: Uuid) -> RpcResult<Value> {
    if app.shutdown.is_cancelled() {
        return Err(RpcError::service_unavailable("shutting_down"));
    }
    let action = app.registry.get(method).ok_or_else(RpcError::method_not_found)?;
    let spec = &action.spec;
    if caller.transport == Transport::Get && spec.side_effects {
        return Err(RpcError::invalid_request("method_requires_post")
            .message("This method changes state: call it with POST or over the WebSocket."));
    }
    authenticate(spec.auth, caller)?;
    let params = named_params(params)?;
    action.validate(&params).map_err(RpcError::invalid_params)?;
    let rate_key = rate_limit_key(caller);
    app.rate_limits.check(&spec.rate_limit, &rate_key).map_err(RpcError::rate_limited)?;

    let tx = if spec.side_effects { Some(app.db.begin_write().await?) } else { None };
    let mut ctx = Ctx::new(app.clone(), caller.clone(), request_id, tx);
    // A panicking handler is a bug, not a crash: its transaction is dropped (rolled back)
    // and the caller gets `internal_error` like any other fault.
    let output = AssertUnwindSafe(action.handler.call(&mut ctx, params))
        .catch_unwind()
        .await
        .map_err(|panic| RpcError::internal(format!("handler panicked: {}", panic_message(panic.as_ref()))))??;
    ctx.finish().await?;
    Ok(output)
}

/// Authentication and the declaration's `auth` check.
///
/// Until identity lands (issue 3), no credential can be resolved to an account: methods
/// that need one answer `unauthenticated`, and public methods ignore what was sent (a stale
/// cookie must not stop anyone from reaching a public method).
fn authenticate(auth: Auth, caller: &Caller) -> RpcResult<()> {
    if auth == Auth::Public {
        return Ok(());
    }
    Err(match caller.credentials {
        Credentials::None => RpcError::unauthenticated("no_credentials"),
        Credentials::Session(_) | Credentials::Bearer(_) => RpcError::unauthenticated("invalid_credentials"),
    })
}

/// Params are by name: absent or `null` means `{}`; an array is refused with an issue.
fn named_params(params: Value) -> RpcResult<Value> {
    match params {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(params),
        _ => Err(RpcError::invalid_params(vec![json!({
            "path": "",
            "message": "params must be an object of named parameters"
        })])),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

fn rate_limit_key(caller: &Caller) -> String {
    match caller.ip {
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".to_owned(),
    }
}
