//! JSON-RPC 2.0 framing, shared by POST bodies and WebSocket messages: parse a single
//! request or a batch, run each through the pipeline, and frame the responses.
//!
//! Batches hold 1 to [`MAX_BATCH`] entries and run in order. Notifications (no `id`) run
//! but get no response; a body of nothing but notifications answers nothing at all.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::context::Caller;
use super::error::RpcError;
use super::pipeline;
use crate::app::App;

/// Most entries a batch may hold (SPEC.md §1).
pub const MAX_BATCH: usize = 100;

/// A request whose envelope is valid.
pub struct Request {
    /// `None` for a notification.
    pub id: Option<Value>,
    pub method: String,
    pub params: Value,
}

/// Handles a whole body; `None` when there is nothing to answer.
pub async fn handle_body(app: &Arc<App>, caller: &Caller, body: &[u8]) -> Option<Value> {
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return Some(error_response(Value::Null, &RpcError::parse_error().with("detail", e.to_string()), None));
        }
    };
    let Value::Array(entries) = parsed else {
        return handle_entry(app, caller, parsed).await;
    };
    if entries.is_empty() {
        return Some(error_response(Value::Null, &RpcError::invalid_request("empty_batch"), None));
    }
    if entries.len() > MAX_BATCH {
        let error = RpcError::invalid_request("batch_too_large").with("max", MAX_BATCH).with("got", entries.len());
        return Some(error_response(Value::Null, &error, None));
    }
    let mut responses = Vec::new();
    for entry in entries {
        responses.extend(handle_entry(app, caller, entry).await);
    }
    (!responses.is_empty()).then_some(Value::Array(responses))
}

async fn handle_entry(app: &Arc<App>, caller: &Caller, entry: Value) -> Option<Value> {
    let request = match parse_request(entry) {
        Ok(request) => request,
        Err(rejected) => return Some(error_response(rejected.0, &rejected.1, None)),
    };
    let outcome = pipeline::call(app, caller, &request.method, request.params).await;
    let id = request.id?;
    Some(match outcome.result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => error_response(id, &error, Some(outcome.request_id)),
    })
}

/// An entry whose envelope is invalid: the id to answer with, and why.
pub type Rejected = Box<(Value, RpcError)>;

/// Checks the envelope of one entry.
pub fn parse_request(entry: Value) -> Result<Request, Rejected> {
    let Value::Object(mut object) = entry else {
        return Err(Box::new((Value::Null, RpcError::invalid_request("not_an_object"))));
    };
    let id = match object.remove("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(id),
        Some(_) => return Err(Box::new((Value::Null, RpcError::invalid_request("invalid_id")))),
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(Box::new((
            answer_id,
            RpcError::invalid_request("wrong_version").message("`jsonrpc` must be \"2.0\"."),
        )));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Err(Box::new((
            answer_id,
            RpcError::invalid_request("missing_method").message("`method` must be a string."),
        )));
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(params @ (Value::Object(_) | Value::Array(_))) => params,
        Some(_) => {
            return Err(Box::new((
                answer_id,
                RpcError::invalid_request("params_not_structured").message("`params` must be an object."),
            )));
        }
    };
    Ok(Request { id, method, params })
}

/// A JSON-RPC error response.
pub fn error_response(id: Value, error: &RpcError, request_id: Option<Uuid>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": error.to_json(request_id) })
}
