//! `POST /rpc` (single calls and batches) and `GET /rpc/{method}` (reads).
//!
//! A GET's request target (path and query) may be [`MAX_URI_BYTES`] long; a longer one is
//! answered here, HTTP 414 with `invalid_request/too_large`, up to hyper's own cap on a
//! request target (65,534 bytes, fixed in hyper), past which hyper answers a bare 414
//! before any handler runs.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Extension, Path, Request, State};
use axum::http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::request::{MAX_BODY_BYTES, SESSION_COOKIE, caller_from};
use super::request_id::RequestId;
use crate::call::Transport;
use crate::call::caller::SessionCookie;
use crate::error::{ErrorKind, RpcError};
use crate::rpc::envelope::{self, error_response, success_response};
use crate::rpc::{Api, json, pipeline};

/// `POST /rpc`: 200 with the response(s), or 204 when the body held only notifications.
pub async fn post_rpc(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let declared_len = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared_len.is_some_and(|len| len > DRAIN_LIMIT_BYTES) {
        // Too large to be worth reading to its end: refused at once, the connection closed.
        let error = RpcError::invalid_request("too_large").with("max_bytes", MAX_BODY_BYTES);
        return closing(json_response(StatusCode::OK, error_response(Value::Null, &error, Some(request_id))));
    }
    let patience = Duration::from_secs(api.env.config.server.body_timeout_s);
    let bytes = match tokio::time::timeout(patience, read_body(body, declared_len)).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let error = RpcError::invalid_request("too_large").with("max_bytes", MAX_BODY_BYTES);
            return json_response(StatusCode::OK, error_response(Value::Null, &error, Some(request_id)));
        }
        Err(_) => {
            // The rest of the body is not awaited: the answer closes the connection.
            let error = RpcError::invalid_request("body_timeout").with("seconds", patience.as_secs());
            return closing(json_response(StatusCode::OK, error_response(Value::Null, &error, Some(request_id))));
        }
    };
    let caller = caller_from(&api.env.config.server, &headers, peer, Transport::Post);
    let answer = envelope::handle_body(&api, &caller, request_id, &bytes).await;
    let mut response = match answer.body {
        Some(body) => json_response(StatusCode::OK, body),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    if let Some(cookie) = &answer.cookie {
        set_cookie(&mut response, &api, cookie);
    }
    response
}

/// `response`, saying the connection closes after it (its request was not read whole).
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
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

/// Longest request target (path and query) a GET call may have, in bytes
/// (docs/protocol.md §1.3): params too large for it belong in a POST body.
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// `GET /rpc/{method}?params=<JSON object>&id=<id>`: reads only; the status follows the error.
/// The request's target and headers are read where they are, never copied.
pub async fn get_rpc(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(method): Path<String>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    request: Request,
) -> Response {
    let uri = request.uri();
    if uri.path_and_query().is_some_and(|target| target.as_str().len() > MAX_URI_BYTES) {
        let error = RpcError::invalid_request("too_large").with("max_bytes", MAX_URI_BYTES);
        return json_response(StatusCode::URI_TOO_LONG, error_response(Value::Null, &error, Some(request_id)));
    }
    let query = match read_query(uri.query().unwrap_or("")) {
        Ok(query) => query,
        Err(error) => return get_error(Value::Null, &error, request_id),
    };
    let params = match read_params(query.params.as_deref()) {
        Ok(params) => params,
        Err(error) => return get_error(query.id, &error, request_id),
    };
    let id = query.id;
    let caller = caller_from(&api.env.config.server, request.headers(), peer, Transport::Get);
    let outcome = pipeline::call(&api, &caller, request_id, &method, params).await;
    let mut response = match outcome.result {
        Ok(result) => json_response(StatusCode::OK, success_response(id, &result)),
        Err(error) => get_error(id, &error, request_id),
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

/// What a GET query names: the params' JSON text, if any (borrowed from the query unless
/// it had to be decoded), and the id.
struct Query<'a> {
    params: Option<Cow<'a, str>>,
    id: Value,
}

/// Reads `params` and `id` off a query. Either given twice is
/// `invalid_request/duplicate_key`, for the same reason as a key repeated in a body; any
/// other name is `invalid_request/unknown_query_key`, so that `?after=1` is not silently
/// answered as if it were a filter.
fn read_query(query: &str) -> Result<Query<'_>, RpcError> {
    let (mut params, mut id) = (None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "params" => &mut params,
            "id" => &mut id,
            _ => {
                return Err(RpcError::invalid_request("unknown_query_key")
                    .message(format!(
                        "A GET call's query takes only `params` (a URL-encoded JSON object) and `id`; \
                         put `{key}` inside `params`."
                    ))
                    .with("key", key.into_owned()));
            }
        };
        if slot.replace(value).is_some() {
            return Err(json::duplicate_key(key));
        }
    }
    Ok(Query { params, id: id.as_deref().map_or(Value::Null, parse_get_id) })
}

/// The params of a GET call from their JSON text: absent is `null` (that is, `{}`).
fn read_params(text: Option<&str>) -> Result<Value, RpcError> {
    match text.map(|text| json::parse(text.as_bytes())).transpose()? {
        None => Ok(Value::Null),
        Some(params @ (Value::Object(_) | Value::Array(_) | Value::Null)) => Ok(params),
        Some(_) => Err(RpcError::invalid_request("params_not_structured").message("`params` must be a JSON object.")),
    }
}

/// An integer-looking id (one that fits 64 bits) is a number; anything else is a string.
fn parse_get_id(text: &str) -> Value {
    match (text.parse::<i64>(), text.parse::<u64>()) {
        (Ok(n), _) => Value::from(n),
        (_, Ok(n)) => Value::from(n),
        _ => Value::String(text.to_owned()),
    }
}

/// A GET call's error: the status follows the error, with the headers that status calls for.
fn get_error(id: Value, error: &RpcError, request_id: Uuid) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error_response(id, error, Some(request_id)));
    refusal_headers(error, response.headers_mut());
    response
}

/// The headers an error's HTTP status calls for: `Retry-After` (429, and a 503 that says
/// when), `WWW-Authenticate` (401: RFC 9110 §15.5.2; `error="invalid_token"` when a
/// credential was given but is no good, RFC 6750 §3.1) and `Allow` (405, RFC 9110 §15.5.6).
pub fn refusal_headers(error: &RpcError, headers: &mut HeaderMap) {
    if let Some(seconds) = error.data_field("retry_after_s").and_then(Value::as_u64) {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    if error.kind == ErrorKind::Unauthenticated {
        let challenge = match error.reason.as_ref() {
            "no_credentials" => "Bearer",
            _ => "Bearer error=\"invalid_token\"",
        };
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if error.http_status() == StatusCode::METHOD_NOT_ALLOWED.as_u16() {
        headers.insert(ALLOW, HeaderValue::from_static("POST"));
    }
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
        assert_eq!(parse_get_id("18446744073709551615"), json!(u64::MAX));
        assert_eq!(parse_get_id("18446744073709551616"), json!("18446744073709551616"));
    }

    #[test]
    fn a_query_names_params_and_id_once() {
        let query = read_query("id=7&params=%7B%7D").unwrap();
        assert_eq!((query.params.as_deref(), query.id), (Some("{}"), json!(7)));
        let error = read_query("id=7&after=1").err().unwrap();
        assert_eq!(error.reason, "unknown_query_key");
        assert_eq!(error.data_field("key"), Some(&json!("after")));
        for twice in ["id=1&id=2", "params=%7B%7D&params=%7B%7D", "id=1&%69d=2"] {
            let error = read_query(twice).err().expect(twice);
            assert_eq!(error.reason, "duplicate_key", "{twice}");
        }
    }
}
