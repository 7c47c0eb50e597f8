//! JSON-RPC 2.0 framing, shared by POST bodies and WebSocket messages: parse a single
//! request or a batch, run each through the pipeline, and frame the responses.
//!
//! Batches hold 1 to [`MAX_BATCH`] entries and run in order. Notifications (no `id`) run
//! but get no response; a body of nothing but notifications answers nothing at all.
//!
//! A body that repeats a key in any object is refused whole, batch included, before any
//! entry runs ([`json`](mod@super::json)): which of the two values was meant cannot be known.

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Api, json, pipeline};
use crate::call::Caller;
use crate::call::caller::SessionCookie;
use crate::call::ctx::{Finished, Hook};
use crate::error::RpcError;

/// Most entries a batch may hold (docs/protocol.md §1).
pub const MAX_BATCH: usize = 100;

/// A request whose envelope is valid.
pub struct Request {
    /// `None` for a notification.
    pub id: Option<Value>,
    pub method: String,
    pub params: Value,
}

/// The answer to a body: what to send back as JSON text (`None`: nothing), the session
/// cookie to set or clear if a call asked for it (the last such call wins), and work to
/// run once the answer is queued.
#[derive(Default)]
pub struct Answer {
    pub body: Option<String>,
    pub cookie: Option<SessionCookie>,
    pub after_answer: Vec<Hook>,
}

impl Answer {
    fn error(error: &RpcError, request_id: Uuid) -> Answer {
        Answer { body: Some(error_response(Value::Null, error, Some(request_id))), ..Answer::default() }
    }

    fn add(&mut self, finished: Finished) {
        self.cookie = finished.cookie.or(self.cookie.take());
        self.after_answer.extend(finished.after_answer);
    }
}

/// Handles a whole body: one call or a batch. Every call in it, and every error answered
/// to it, carries `request_id` (the body's correlation id).
pub async fn handle_body(api: &Api, caller: &Caller, request_id: Uuid, body: &[u8]) -> Answer {
    let parsed = match json::parse(body) {
        Ok(value) => value,
        Err(error) => return Answer::error(&error, request_id),
    };
    let Value::Array(entries) = parsed else {
        let (body, finished) = handle_entry(api, caller, request_id, parsed).await;
        let mut answer = Answer { body, ..Answer::default() };
        answer.add(finished);
        return answer;
    };
    if entries.is_empty() {
        return Answer::error(&RpcError::invalid_request("empty_batch"), request_id);
    }
    if entries.len() > MAX_BATCH {
        return Answer::error(
            &RpcError::invalid_request("batch_too_large").with("max", MAX_BATCH).with("got", entries.len()),
            request_id,
        );
    }
    let mut answer = Answer::default();
    let mut responses = Vec::new();
    for entry in entries {
        let (body, finished) = handle_entry(api, caller, request_id, entry).await;
        responses.extend(body);
        answer.add(finished);
    }
    answer.body = (!responses.is_empty()).then(|| format!("[{}]", responses.join(",")));
    answer
}

async fn handle_entry(api: &Api, caller: &Caller, request_id: Uuid, entry: Value) -> (Option<String>, Finished) {
    let request = match parse_request(entry) {
        Ok(request) => request,
        Err(rejected) => {
            return (Some(error_response(rejected.0, &rejected.1, Some(request_id))), Finished::default());
        }
    };
    let outcome = pipeline::call(api, caller, request_id, &request.method, request.params).await;
    let Some(id) = request.id else { return (None, outcome.finished) };
    let body = match outcome.result {
        Ok(result) => success_response(id, &result),
        Err(error) => error_response(id, &error, Some(request_id)),
    };
    (Some(body), outcome.finished)
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
        Some(id @ (Value::Null | Value::String(_))) => Some(id),
        // Only an integer is echoed back as sent: a fraction, or an integer past 64 bits,
        // would come back rounded (as a float) and match no request of the client's.
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(Value::Number(n)),
        Some(_) => {
            let error = RpcError::invalid_request("invalid_id")
                .message("`id` must be a string, an integer (64 bits at most) or null.");
            return Err(Box::new((Value::Null, error)));
        }
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

/// A JSON-RPC success response, as JSON text: the result is written as it is, copied once
/// into a string of exactly the answer's length (a result may be kilobytes long).
pub fn success_response(id: Value, result: &RawValue) -> String {
    let id = id.to_string();
    [r#"{"jsonrpc":"2.0","id":"#, &id, r#","result":"#, result.get(), "}"].concat()
}

/// A JSON-RPC error response, as JSON text; `data.request_id` is `request_id` (given for
/// every answer the server sends; `None` only outside a request).
pub fn error_response(id: Value, error: &RpcError, request_id: Option<Uuid>) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "error": error.to_json(request_id) }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_response_carries_the_result_as_written() {
        let result = RawValue::from_string(r#"{"a": [1, 2]}"#.to_owned()).unwrap();
        assert_eq!(success_response(json!(1), &result), r#"{"jsonrpc":"2.0","id":1,"result":{"a": [1, 2]}}"#);
        for id in [json!(-7), json!(u64::MAX), json!("x\"\u{1}é"), Value::Null] {
            let answer: Value = serde_json::from_str(&success_response(id.clone(), &result)).unwrap();
            assert_eq!(answer, json!({"jsonrpc": "2.0", "id": id, "result": {"a": [1, 2]}}));
        }
    }
}
