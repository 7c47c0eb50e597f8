//! The one path every call takes, whatever transport it came through (docs/protocol.md
//! §2–3):
//!
//! find the declaration → refuse a mutation over GET → authenticate (401) → rate limit
//! (429) → authorize: the declaration's `auth`, a token's method list, CSRF (403) →
//! validate params against the schema (400) → run the handler, in one transaction when
//! `side_effects = true` → commit → post-commit hooks.
//!
//! A failing handler drops its transaction, so nothing it wrote persists and none of its
//! hooks run; the pipeline then records the failure in the audit log in a transaction of
//! its own. Authorization denials are audited the same way, while the caller's `refused`
//! budget lasts (the rate limit runs before either is written). A mutation that fails on a
//! transient database conflict (a PostgreSQL deadlock or serialization failure) is run
//! again from the start in a fresh transaction, so callers never see one.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures::FutureExt;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Api;
use super::registry::BoundAction;
use super::spec::{ActionSpec, Auth};
use crate::audit_log::{AuditEvent, Outcome as AuditOutcome};
use crate::auth;
use crate::authz::access;
use crate::call::caller::SessionCookie;
use crate::call::ctx::Finished;
use crate::call::{Caller, Credentials, Ctx, Principal, Transport, Via};
use crate::config::{Config, REFUSED_CLASS};
use crate::error::{ErrorKind, RpcError, RpcResult};
use crate::limits::RateKey;

/// How many times a mutation runs when it keeps losing races inside the database.
const MUTATION_ATTEMPTS: u32 = 5;

/// The answer to one call.
pub struct Outcome {
    /// The result as JSON text, or the error.
    pub result: RpcResult<Box<RawValue>>,
    /// What to do with the session cookie, and what to run once the answer is queued.
    pub finished: Finished,
}

/// Runs one call through the pipeline; logs it and records its metrics. `request_id` is
/// the correlation id of the request it came in (the transport's): its log line, its audit
/// rows and its error's `data.request_id` carry it.
pub async fn call(api: &Api, caller: &Caller, request_id: Uuid, method: &str, params: Value) -> Outcome {
    let started = Instant::now();
    let mut finished = Finished::default();
    let mut account_id = None;
    let action = api.registry.get(method);
    let result = run(api, caller, action, params, request_id, &mut finished, &mut account_id).await;
    let elapsed = started.elapsed();
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.kind.name(),
    };
    // Unknown method names are caller-chosen: keep them out of metric labels.
    let label = action.map_or("unknown", |action| action.handler.method());
    api.env.metrics.record_call(label, outcome, elapsed.as_secs_f64());
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let transport = caller.transport.as_str();
    // Present when the caller was signed in (absent from the line otherwise).
    let account_id = account_id.map(tracing::field::display);
    match &result {
        Err(e) if e.internal_detail().is_some() => tracing::error!(
            %request_id, method = label, transport, account_id, outcome, reason = %e.reason, duration_ms,
            detail = e.internal_detail(), "call failed"
        ),
        Err(e) => tracing::info!(
            %request_id, method = label, transport, account_id, outcome, reason = %e.reason, duration_ms, "call"
        ),
        Ok(_) => tracing::info!(%request_id, method = label, transport, account_id, outcome, duration_ms, "call"),
    }
    Outcome { result, finished }
}

/// Runs a call of `action` (`None`: the method named is not declared).
async fn run(
    api: &Api,
    caller: &Caller,
    action: Option<&BoundAction>,
    params: Value,
    request_id: Uuid,
    finished: &mut Finished,
    account_id: &mut Option<Uuid>,
) -> RpcResult<Box<RawValue>> {
    if api.shutdown.is_cancelled() {
        return Err(RpcError::service_unavailable("shutting_down"));
    }
    let action = action.ok_or_else(RpcError::method_not_found)?;
    let (spec, method) = (&action.spec, action.spec.method.as_str());
    if caller.transport == Transport::Get && spec.side_effects {
        return Err(RpcError::method_requires_post());
    }
    let principal = auth::authenticate(&api.env, &caller.credentials).await?;
    *account_id = principal.as_ref().map(|p| p.account_id);
    // Every call counts against its caller's limit before anything is written for it,
    // refused calls included.
    let rate_key = match &principal {
        Some(p) => RateKey::Account(p.account_id),
        None => RateKey::Ip(caller.ip),
    };
    api.rate_limits.check(&spec.rate_limit, rate_key).map_err(RpcError::rate_limited)?;
    let refusing = Refusing { api, method, caller, principal: principal.as_ref(), request_id, rate_key };
    if let Err(denied) = authorize(api, spec, principal.as_ref(), caller) {
        return Err(refusing.refuse(denied, None).await);
    }
    let params = named_params(params)?;
    action.validate(&params).map_err(RpcError::invalid_params)?;

    // A session whose expiry slid forward gets a fresh cookie, unless a handler sets one.
    if let (Some(Via::Session { renewed_until: Some(until), .. }), Credentials::Session(token)) =
        (principal.as_ref().map(|p| &p.via), &caller.credentials)
    {
        finished.cookie = Some(SessionCookie::Set { token: token.clone(), expires_at: *until });
    }

    let done = run_handler(api, action, caller, principal.as_ref(), params, request_id).await;
    match done {
        Ok((output, done)) => {
            finished.cookie = done.cookie.or(finished.cookie.take());
            finished.after_answer = done.after_answer;
            Ok(output)
        }
        Err(e) => {
            // Failures other than refusals are audited for mutations only.
            let failure = match e.kind {
                ErrorKind::ServiceUnavailable | ErrorKind::RateLimited => None,
                _ => spec.side_effects.then_some(AuditOutcome::Failure),
            };
            Err(refusing.refuse(e, failure).await)
        }
    }
}

/// What a refused or failed call is answered and recorded with.
struct Refusing<'a> {
    api: &'a Api,
    method: &'a str,
    caller: &'a Caller,
    principal: Option<&'a Principal>,
    request_id: Uuid,
    rate_key: RateKey,
}

impl Refusing<'_> {
    /// Answers `error`, auditing it as `denied` when forbidden or as `failure` (when
    /// given). Every refusal, audited or unauthenticated, also takes from the caller's
    /// `refused` budget; once that is spent the call is `rate_limited` and writes no row,
    /// so no caller can grow the audit log with its own denials.
    async fn refuse(&self, error: RpcError, failure: Option<AuditOutcome>) -> RpcError {
        let outcome = match error.kind {
            ErrorKind::Forbidden => Some(AuditOutcome::Denied),
            _ => failure,
        };
        if outcome.is_none() && error.kind != ErrorKind::Unauthenticated {
            return error;
        }
        if let Err(wait) = self.api.rate_limits.check(REFUSED_CLASS, self.rate_key) {
            return RpcError::rate_limited(wait);
        }
        if let Some(outcome) = outcome {
            let event = refusal_event(self.method, outcome, &error);
            record_apart(self.api, event, self.caller, self.principal, self.request_id).await;
        }
        error
    }
}

/// Runs the handler in a fresh context and commits it. A mutation that lost a race inside
/// the database (a PostgreSQL deadlock or serialization failure) runs again in a fresh
/// transaction: the caller never sees it.
async fn run_handler(
    api: &Api,
    action: &BoundAction,
    caller: &Caller,
    principal: Option<&Principal>,
    params: Value,
    request_id: Uuid,
) -> RpcResult<(Box<RawValue>, Finished)> {
    let side_effects = action.spec.side_effects;
    let attempts = if side_effects { MUTATION_ATTEMPTS } else { 1 };
    let mut params = Some(params);
    let mut attempt = 1;
    loop {
        let these = if attempt < attempts { params.clone() } else { params.take() }.unwrap_or_default();
        let mut ctx = Ctx::new(api.env.clone(), caller.clone(), principal.cloned(), request_id, side_effects);
        // A panicking handler is a bug, not a crash: its transaction is dropped (rolled
        // back) and the caller gets `internal_error` like any other fault.
        let result =
            AssertUnwindSafe(action.handler.call(&mut ctx, these)).catch_unwind().await.unwrap_or_else(|panic| {
                Err(RpcError::internal(format!("handler panicked: {}", panic_message(panic.as_ref()))))
            });
        let done = match result {
            Ok(output) => ctx.finish().await.map(|done| (output, done)),
            Err(e) => {
                drop(ctx); // roll back now: the failure row needs the write lock
                Err(e)
            }
        };
        match done {
            Err(e) if e.is_retryable() && attempt < attempts => {
                tracing::debug!(%request_id, attempt, error = %e, "transient database conflict; running the call again");
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// The declaration's `auth`, a token's method list, and the CSRF rule.
fn authorize(api: &Api, spec: &ActionSpec, principal: Option<&Principal>, caller: &Caller) -> RpcResult<()> {
    // A bad bearer token (or session secret given in a message) always fails (a script
    // should hear its token is dead); a stale cookie on a public method is ignored (a
    // browser must still reach the login).
    let explicit = matches!(caller.credentials, Credentials::Bearer(_) | Credentials::SessionSecret(_));
    let bad_explicit = explicit && principal.is_none();
    if bad_explicit || (spec.auth != Auth::Public && principal.is_none()) {
        return Err(match caller.credentials {
            Credentials::None => RpcError::unauthenticated("no_credentials"),
            _ => RpcError::unauthenticated("invalid_credentials"),
        });
    }
    let Some(principal) = principal else {
        if spec.side_effects {
            check_origin(&api.env.config, caller, None)?;
        }
        return Ok(());
    };
    if !principal.may_call(&spec.method) {
        return Err(RpcError::forbidden("token_method_not_allowed"));
    }
    let allowed = match spec.auth {
        Auth::Public | Auth::Account => true,
        Auth::Admin => principal.admin,
        Auth::Keeper => principal.keeper || principal.admin,
    } && spec.permission.as_ref().is_none_or(|p| {
        // Held at some scope: the handler narrows what it shows to where it is held.
        !access::reach(&api.env.roles, &principal.permits, &p.verb, &p.resource).is_nowhere()
    });
    if !allowed {
        return Err(RpcError::forbidden("not_permitted"));
    }
    if spec.side_effects {
        check_origin(&api.env.config, caller, Some(principal))?;
    }
    Ok(())
}

/// The CSRF rule: a browser attaches cookies to requests other sites make, so a request
/// authenticated by the session cookie (a mutation, or a WebSocket upgrade) must come
/// from our own origin. An anonymous mutation (a login, a sign-up; a stale cookie counts
/// as none) that names another origin is refused too, so no site can sign a visitor in to
/// an account of its choosing; scripts send no Origin. Bearer tokens are never sent
/// implicitly.
pub fn check_origin(config: &Config, caller: &Caller, principal: Option<&Principal>) -> RpcResult<()> {
    let from_us = caller.origin.as_deref().is_some_and(|origin| config.server.trusts(origin));
    let refused = match (principal, &caller.credentials) {
        (None, _) => caller.origin.is_some() && !from_us,
        (Some(_), Credentials::Session(_)) => !from_us,
        (Some(_), _) => false,
    };
    if refused {
        let trusted: Vec<&str> = config.server.trusted_origins().collect();
        let came_from = caller.origin.as_deref().map_or("no Origin header".to_owned(), |o| format!("Origin {o}"));
        return Err(RpcError::forbidden("csrf").message(format!(
            "Cross-site request refused: with a session cookie this server accepts calls from {} only, \
             and this one came with {came_from}. A page on another origin must be listed in \
             server.allowed_origins; a script should use a bearer token.",
            trusted.join(", ")
        )));
    }
    Ok(())
}

/// Who opens a WebSocket: its credentials are checked at the upgrade (and again on every
/// call), a bad one is refused, and a cookie socket must be opened from our origin.
pub async fn admit_socket(api: &Api, caller: &Caller) -> RpcResult<Option<Principal>> {
    let principal = auth::authenticate(&api.env, &caller.credentials).await?;
    if principal.is_none() && caller.credentials != Credentials::None {
        return Err(RpcError::unauthenticated("invalid_credentials"));
    }
    // An anonymous socket from elsewhere may open; its mutations meet the rule call by call.
    if principal.is_some() {
        check_origin(&api.env.config, caller, principal.as_ref())?;
    }
    Ok(principal)
}

/// The audit row of a refused or failed call: the error's kind, reason and data fields
/// (but schema issues), and — when the handler said — the scope and object it concerned.
fn refusal_event(method: &str, outcome: AuditOutcome, error: &RpcError) -> AuditEvent {
    let mut data = json!({ "error": error.kind.name(), "reason": error.reason });
    if let Some(data) = data.as_object_mut() {
        // Schema issues may quote what the caller sent (a secret in the wrong field): never kept.
        let kept = error.data().iter().filter(|(key, _)| key.as_str() != "issues");
        data.extend(kept.chain(error.noted()).map(|(key, value)| (key.clone(), value.clone())));
    }
    let event = AuditEvent::new(method, outcome).data(data);
    match error.about() {
        Some(about) => {
            let event = event.scope(Some(about.scope_id.clone()));
            match &about.subject_id {
                Some(subject) => event.subject(subject),
                None => event,
            }
        }
        None => event,
    }
}

/// Writes an audit row for a call that changed nothing, in a context of its own.
async fn record_apart(api: &Api, event: AuditEvent, caller: &Caller, principal: Option<&Principal>, request_id: Uuid) {
    let mut ctx = Ctx::new(api.env.clone(), caller.clone(), principal.cloned(), request_id, true);
    let written = match ctx.audit(event).await {
        Ok(()) => ctx.commit().await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(%request_id, error = %e, "could not write the audit row of a failed call");
    }
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
