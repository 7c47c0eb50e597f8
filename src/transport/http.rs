//! `POST /rpc` (single calls and batches) and `GET /rpc/{method}` (reads).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;

use super::request::{MAX_BODY_BYTES, SESSION_COOKIE, caller_from};
use crate::call::Transport;
use crate::call::caller::SessionCookie;
use crate::error::RpcError;
use crate::rpc::envelope::{self, error_response, success_response};
use crate::rpc::{Api, pipeline};

/// `POST /rpc`: 200 with the response(s), or 204 when the body held only notifications.
pub async fn post_rpc(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let declared_len = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let Some(bytes) = read_body(body, declared_len).await else {
        let error = RpcError::invalid_request("too_large").with("max_bytes", MAX_BODY_BYTES);
        return json_response(StatusCode::OK, error_response(Value::Null, &error, None));
    };
    let caller = caller_from(&headers, peer, Transport::Post);
    let answer = envelope::handle_body(&api, &caller, &bytes).await;
    let mut response = match answer.body {
        Some(body) => json_response(StatusCode::OK, body),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    if let Some(cookie) = &answer.cookie {
        set_cookie(&mut response, &api, cookie);
    }
    response
}

/// A body past this size is not even read to its end: the connection is dropped.
const DRAIN_LIMIT_BYTES: usize = 8 * MAX_BODY_BYTES;

/// The body, or `None` when it is over [`MAX_BODY_BYTES`]. An oversized body is never
/// kept or parsed, but is read to its end (up to [`DRAIN_LIMIT_BYTES`]) so that the client,
/// still sending, reliably reads the refusal instead of a broken connection.
async fn read_body(body: Body, declared_len: Option<usize>) -> Option<Bytes> {
    let mut too_large = declared_len.is_some_and(|len| len > MAX_BODY_BYTES);
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        seen += chunk.len();
        too_large |= seen > MAX_BODY_BYTES;
        if too_large {
            kept = Vec::new();
            if seen > DRAIN_LIMIT_BYTES {
                break;
            }
        } else {
            kept.extend_from_slice(&chunk);
        }
    }
    (!too_large).then(|| Bytes::from(kept))
}

/// `GET /rpc/{method}?params=<JSON object>&id=<id>`: reads only; the status follows the error.
pub async fn get_rpc(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut params_text = None;
    let mut id = Value::Null;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "params" => params_text = Some(value.into_owned()),
            "id" => id = parse_get_id(&value),
            _ => {}
        }
    }
    let params = match params_text.as_deref().map(serde_json::from_str::<Value>) {
        None => Value::Null,
        Some(Ok(params @ (Value::Object(_) | Value::Array(_) | Value::Null))) => params,
        Some(Ok(_)) => {
            let error = RpcError::invalid_request("params_not_structured").message("`params` must be a JSON object.");
            return get_error(id, &error, None);
        }
        Some(Err(e)) => return get_error(id, &RpcError::parse_error().with("detail", e.to_string()), None),
    };
    let caller = caller_from(&headers, peer, Transport::Get);
    let outcome = pipeline::call(&api, &caller, &method, params).await;
    let mut response = match outcome.result {
        Ok(result) => json_response(StatusCode::OK, success_response(id, &result)),
        Err(error) => get_error(id, &error, Some(outcome.request_id)),
    };
    if let Some(cookie) = &outcome.finished.cookie {
        set_cookie(&mut response, &api, cookie);
    }
    response
}

/// Adds the `Set-Cookie` header for the session cookie.
fn set_cookie(response: &mut Response, api: &Api, cookie: &SessionCookie) {
    let secure = if api.env.config.https() { "; Secure" } else { "" };
    let value = match cookie {
        SessionCookie::Set { token, expires_at } => {
            let max_age = (*expires_at - api.env.clock.now()).num_seconds().max(0);
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
        }
        SessionCookie::Clear => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// An integer-looking id is a number; anything else is a string.
fn parse_get_id(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(text.to_owned()),
    }
}

fn get_error(id: Value, error: &RpcError, request_id: Option<uuid::Uuid>) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error_response(id, error, request_id));
    if let Some(seconds) = error.data_field("retry_after_s").and_then(Value::as_u64) {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], Bytes::from(body)).into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn get_ids_that_look_like_integers_are_numbers() {
        assert_eq!(parse_get_id("42"), json!(42));
        assert_eq!(parse_get_id("-7"), json!(-7));
        assert_eq!(parse_get_id("4.2"), json!("4.2"));
        assert_eq!(parse_get_id("abc"), json!("abc"));
    }
}
