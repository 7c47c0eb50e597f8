//! The one error type of the server.
//!
//! Every failure a client can see is an [`RpcError`]: a kind from the table of
//! docs/protocol.md §2 (which fixes the JSON-RPC `code` and the HTTP status of a GET), a
//! snake_case `reason` that a client can act on, and optional fields beside it in
//! `error.data`. Internal detail (a database message, a bug) is kept for the log and never
//! sent. It sits at the bottom of the layers: storage, services and domains all answer
//! with it.

use std::borrow::Cow;

use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The error kinds of the contract, each with its JSON-RPC code and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    ValidationError,
    RateLimited,
    ServiceUnavailable,
    ConfirmationRequired,
}

impl ErrorKind {
    /// Every kind, in the order of the contract's table.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::ParseError,
        ErrorKind::InvalidRequest,
        ErrorKind::MethodNotFound,
        ErrorKind::InvalidParams,
        ErrorKind::InternalError,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::ValidationError,
        ErrorKind::RateLimited,
        ErrorKind::ServiceUnavailable,
        ErrorKind::ConfirmationRequired,
    ];

    pub fn code(self) -> i64 {
        match self {
            ErrorKind::ParseError => -32700,
            ErrorKind::InvalidRequest => -32600,
            ErrorKind::MethodNotFound => -32601,
            ErrorKind::InvalidParams => -32602,
            ErrorKind::InternalError => -32603,
            ErrorKind::Unauthenticated => -32001,
            ErrorKind::Forbidden => -32002,
            ErrorKind::NotFound => -32003,
            ErrorKind::Conflict => -32004,
            ErrorKind::ValidationError => -32005,
            ErrorKind::RateLimited => -32006,
            ErrorKind::ServiceUnavailable => -32007,
            ErrorKind::ConfirmationRequired => -32011,
        }
    }

    /// The HTTP status a GET call answers with (POST always answers 200).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::ParseError | ErrorKind::InvalidRequest | ErrorKind::InvalidParams => 400,
            ErrorKind::MethodNotFound | ErrorKind::NotFound => 404,
            ErrorKind::InternalError => 500,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::Conflict => 409,
            ErrorKind::ValidationError => 422,
            ErrorKind::RateLimited => 429,
            ErrorKind::ServiceUnavailable => 503,
            ErrorKind::ConfirmationRequired => 428,
        }
    }

    /// The snake_case name of the kind, as the contract's table spells it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ParseError => "parse_error",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::MethodNotFound => "method_not_found",
            ErrorKind::InvalidParams => "invalid_params",
            ErrorKind::InternalError => "internal_error",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::ValidationError => "validation_error",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ServiceUnavailable => "service_unavailable",
            ErrorKind::ConfirmationRequired => "confirmation_required",
        }
    }

    /// The kind whose [`name`](Self::name) is `name`.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn default_message(self) -> &'static str {
        match self {
            ErrorKind::ParseError => "The body is not valid JSON.",
            ErrorKind::InvalidRequest => "This is not a valid JSON-RPC 2.0 request.",
            ErrorKind::MethodNotFound => "No such method.",
            ErrorKind::InvalidParams => "The params do not match the method's input schema.",
            ErrorKind::InternalError => "Internal error; quote data.request_id when reporting it.",
            ErrorKind::Unauthenticated => "Sign in or send a valid API token.",
            ErrorKind::Forbidden => "You are not allowed to do this.",
            ErrorKind::NotFound => "No such object.",
            ErrorKind::Conflict => "The object is not in a state that allows this.",
            ErrorKind::ValidationError => "The request is well-formed but not valid.",
            ErrorKind::RateLimited => "Too many calls; retry after data.retry_after_s seconds.",
            ErrorKind::ServiceUnavailable => "The service is unavailable; retry later.",
            ErrorKind::ConfirmationRequired => "Type the confirmation phrase to go on.",
        }
    }
}

/// An error a call answers with. Build one with a kind constructor, then add fields.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub kind: ErrorKind,
    pub reason: Cow<'static, str>,
    message: Option<String>,
    data: Map<String, Value>,
    /// Detail for the log only (never serialized).
    internal: Option<String>,
    /// A transient database conflict: running the call again may succeed.
    retryable: bool,
    /// An HTTP status other than the kind's, for the one error that has its own (405).
    status: Option<u16>,
    /// What a refused decision was about — the scope and the object — for its audit row.
    about: Option<Box<About>>,
    /// Fields for the audit row only, never answered (boxed: errors travel in `Result`s
    /// and most have none).
    noted: Option<Box<Map<String, Value>>>,
}

/// The scope and the object a refusal concerns, as its audit row records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub scope_id: String,
    pub subject_id: Option<String>,
}

pub type RpcResult<T> = Result<T, RpcError>;

impl RpcError {
    pub fn new(kind: ErrorKind, reason: impl Into<Cow<'static, str>>) -> Self {
        RpcError {
            kind,
            reason: reason.into(),
            message: None,
            data: Map::new(),
            internal: None,
            retryable: false,
            status: None,
            about: None,
            noted: None,
        }
    }

    pub fn parse_error() -> Self {
        Self::new(ErrorKind::ParseError, "invalid_json")
    }
    pub fn invalid_request(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, reason)
    }
    /// A method with side effects called over GET: HTTP 405.
    pub fn method_requires_post() -> Self {
        let mut e = Self::new(ErrorKind::InvalidRequest, "method_requires_post")
            .message("This method changes state: call it with POST or over the WebSocket.");
        e.status = Some(405);
        e
    }
    pub fn method_not_found() -> Self {
        Self::new(ErrorKind::MethodNotFound, "unknown_method")
    }
    /// Params that fail the schema; `issues` are `{path, message}` objects.
    pub fn invalid_params(issues: Vec<Value>) -> Self {
        Self::new(ErrorKind::InvalidParams, "schema").with("issues", Value::Array(issues))
    }
    pub fn unauthenticated(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unauthenticated, reason)
    }
    pub fn forbidden(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden, reason)
    }
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "not_found")
    }
    pub fn conflict(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Conflict, reason)
    }
    pub fn validation(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::ValidationError, reason)
    }
    pub fn rate_limited(retry_after_s: u64) -> Self {
        Self::new(ErrorKind::RateLimited, "rate_limited").with("retry_after_s", retry_after_s)
    }
    pub fn service_unavailable(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, reason)
    }
    /// A fault: `detail` goes to the log, the client sees only a request id.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorKind::InternalError, "internal");
        e.internal = Some(detail.to_string());
        e
    }

    /// Adds a field to `error.data`. `reason` and `request_id` are the answer's own.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        debug_assert!(!matches!(key, "reason" | "request_id"), "data.{key} is set when the error is answered");
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Replaces the human-readable message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Records what the refused decision was about (a scope, and the object when there is
    /// one), so that its audit row is found by those who watch that scope.
    pub fn scoped(mut self, scope_id: &str, subject_id: Option<String>) -> Self {
        self.about = Some(Box::new(About { scope_id: scope_id.to_owned(), subject_id }));
        self
    }

    /// Adds a field to the audit row of this refusal, not to the answer (what the caller
    /// attempted, when telling it back would say more than the answer should).
    pub fn noting(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.noted.get_or_insert_default().insert(key.to_owned(), value.into());
        self
    }

    /// The fields only the audit row keeps.
    pub fn noted(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.noted.iter().flat_map(|noted| noted.iter())
    }

    /// What the refused decision was about, when the handler said.
    pub fn about(&self) -> Option<&About> {
        self.about.as_deref()
    }

    /// The fields of `error.data` (the audit row of a refusal keeps them).
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The HTTP status a GET call answers with (POST always answers 200).
    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or(self.kind.http_status())
    }

    /// Detail meant for the log (internal errors only).
    pub fn internal_detail(&self) -> Option<&str> {
        self.internal.as_deref()
    }

    /// Whether the call failed on a transient database conflict (a PostgreSQL
    /// serialization failure or deadlock, or a race on a one-of-a-kind index), so that
    /// the pipeline may run it again in a fresh transaction.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    pub fn data_field(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// The JSON-RPC error object. Answered to a request, every error carries that
    /// request's correlation id as `data.request_id` (the `X-Request-Id` of its answer);
    /// `None` only where there is no request (the command line).
    pub fn to_json(&self, request_id: Option<Uuid>) -> Value {
        let mut data = self.data.clone();
        data.insert("reason".into(), Value::String(self.reason.to_string()));
        if let Some(id) = request_id {
            data.insert("request_id".into(), Value::String(id.to_string()));
        }
        let message = self.message.as_deref().unwrap_or(self.kind.default_message());
        json!({ "code": self.kind.code(), "message": message, "data": data })
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind.name(), self.reason)?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(detail) = &self.internal {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// Unique indexes that handlers check before they write, under a lock: a violation means
/// a racing transaction got there first, and a rerun will see it.
const ONE_OF_A_KIND: &[&str] = &["permits_one_unrevoked", "permit_offers_one_pending", "requests_one_per_key"];

impl From<sqlx::Error> for RpcError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                let mut e = RpcError::service_unavailable("database_unavailable");
                e.internal = Some(err.to_string());
                e
            }
            sqlx::Error::Database(db) => {
                let mut e = RpcError::internal(format!("database: {err}"));
                e.retryable = matches!(db.code().as_deref(), Some("40001" | "40P01"))
                    || (db.is_unique_violation() && db.constraint().is_some_and(|c| ONE_OF_A_KIND.contains(&c)));
                e
            }
            _ => RpcError::internal(format!("database: {err}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answered_error_carries_the_request_id() {
        let id = Uuid::now_v7();
        for error in [RpcError::not_found(), RpcError::internal("boom"), RpcError::rate_limited(3)] {
            let json = error.to_json(Some(id));
            assert_eq!(json["data"]["request_id"], id.to_string(), "{json}");
            assert_eq!(json["data"]["reason"], error.reason.as_ref(), "{json}");
            assert!(error.to_json(None)["data"].get("request_id").is_none(), "no request, no id");
        }
    }
}
