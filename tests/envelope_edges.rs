//! The edges of the envelope an outside attack probed (docs/protocol.md §1–§2): a key
//! given twice is refused rather than guessed at, an id is echoed exactly or refused, a
//! WebSocket message the server cannot read is closed with the code that says why, an
//! over-long GET is answered in JSON-RPC, and every answer forbids sniffing and caching.

mod common;

use std::time::Duration;

use common::{Backend, TestServer, assert_error, start};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

backend_tests!(
    a_key_given_twice_refuses_the_whole_body,
    a_key_given_twice_over_get_and_websocket,
    ids_are_echoed_exactly_or_refused,
    an_oversized_websocket_message_closes_with_1009,
    a_text_message_that_is_not_utf8_closes_with_1007,
    an_over_long_get_is_answered_in_json_rpc,
    every_answer_forbids_sniffing_and_caching,
);

/// POSTs `body`, which must be answered 200 with one JSON-RPC object.
async fn post_one(server: &TestServer, body: &str) -> Value {
    let (status, text) = server.post_raw(body.to_owned()).await;
    assert_eq!(status, 200, "{body} → {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Asserts `response` is the refusal of a key given twice, naming `key`, with id null.
fn assert_duplicate(response: &Value, key: &str) {
    assert_error(response, -32600, "duplicate_key");
    assert_eq!(response["error"]["data"]["key"], key, "{response}");
    assert_eq!(response["id"], Value::Null, "{response}");
}

/// The attack's own body ran `token_list` (the last `method`); a repeated key anywhere —
/// envelope, params, deep in params, spelled with an escape — refuses the whole body, a
/// batch included, before any of its entries runs.
async fn a_key_given_twice_refuses_the_whole_body(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let attack = r#"{"jsonrpc":"2.0","id":1,"method":"whoami","method":"token_list"}"#;
    assert_duplicate(&post_one(&server, attack).await, "method");
    let table = [
        (r#"{"jsonrpc":"2.0","id":2,"method":"test_echo","params":{"text":"a","text":"b"}}"#, "text"),
        (r#"{"jsonrpc":"2.0","id":3,"id":4,"method":"test_echo","params":{"text":"a"}}"#, "id"),
        (r#"{"jsonrpc":"2.0","jsonrpc":"2.0","id":5,"method":"test_echo","params":{"text":"a"}}"#, "jsonrpc"),
        (r#"{"jsonrpc":"2.0","id":6,"method":"test_echo","params":{"text":"a"},"params":{"text":"b"}}"#, "params"),
        (r#"{"jsonrpc":"2.0","id":7,"method":"test_echo","params":{"text":"a","x":[{"y":{"z":1,"z":2}}]}}"#, "z"),
        (r#"{"jsonrpc":"2.0","id":8,"method":"test_echo","params":{"text":"a","\u0074ext":"b"}}"#, "text"),
    ];
    for (body, key) in table {
        assert_duplicate(&post_one(&server, body).await, key);
    }
    // Keys of different objects may be the same.
    let response = post_one(&server, r#"{"jsonrpc":"2.0","id":9,"method":"test_echo","params":{"text":"id"}}"#).await;
    assert_eq!(response["result"]["text"], "id", "{response}");

    let key = format!("dup-{}", uuid::Uuid::now_v7());
    let batch = format!(
        r#"[{{"jsonrpc":"2.0","id":1,"method":"test_write","params":{{"key":"{key}"}}}},
            {{"jsonrpc":"2.0","id":2,"method":"test_echo","params":{{"text":"a","text":"b"}}}}]"#
    );
    let response = post_one(&server, &batch).await;
    assert!(response.is_object(), "one error for the whole batch: {response}");
    assert_duplicate(&response, "text");
    assert!(!common::doubles::probe_exists(&server, &key).await, "no entry of the batch ran");
}

/// The same refusal over GET (a repeated key in `params`, or `params`/`id` named twice in
/// the query: HTTP 400) and over the WebSocket.
async fn a_key_given_twice_over_get_and_websocket(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    // params = {"text":"a","text":"b"}
    let (status, _, body) =
        server.get("/rpc/test_echo?params=%7B%22text%22%3A%22a%22%2C%22text%22%3A%22b%22%7D&id=3").await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, -32600, "duplicate_key");
    assert_eq!((&body["error"]["data"]["key"], &body["id"]), (&json!("text"), &json!(3)), "{body}");
    for query in ["id=1&id=2&params=%7B%22text%22%3A%22a%22%7D", "params=%7B%7D&params=%7B%22text%22%3A%22a%22%7D"] {
        let (status, _, body) = server.get(&format!("/rpc/test_echo?{query}")).await;
        assert_eq!(status, 400, "{query} → {body}");
        assert_error(&body, -32600, "duplicate_key");
        assert_eq!(body["id"], Value::Null, "{body}");
    }

    let mut ws = server.ws().await;
    ws.send(r#"{"jsonrpc":"2.0","id":1,"method":"whoami","method":"token_list"}"#).await;
    assert_duplicate(&ws.next_json().await, "method");
    ws.send(r#"[{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"text":"a","text":"b"}}]"#).await;
    assert_duplicate(&ws.next_json().await, "text");
    assert_eq!(ws.call(2, "test_echo", json!({"text": "still open"})).await["result"]["text"], "still open");
}

/// A JSON number id is answered only when it is an integer of 64 bits at most, and then
/// exactly as sent; a larger one (which came back as a float) or a fraction is
/// `invalid_request/invalid_id` with id null — alone, in a batch, and over the WebSocket.
async fn ids_are_echoed_exactly_or_refused(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let call = |id: &str| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"test_echo","params":{{"text":"x"}}}}"#);
    for id in ["123456789012345678901234567890", "18446744073709551616", "1.5", "1.0", "1e3", "-9223372036854775809"] {
        let response = post_one(&server, &call(id)).await;
        assert_error(&response, -32600, "invalid_id");
        assert_eq!(response["id"], Value::Null, "{id} → {response}");
    }
    for id in ["18446744073709551615", "-9223372036854775808", "0", "7"] {
        let (status, text) = server.post_raw(call(id)).await;
        assert_eq!(status, 200);
        assert!(text.contains(&format!(r#""id":{id},"#)), "the id comes back as sent: {id} → {text}");
        assert!(text.contains(r#""result""#), "{text}");
    }

    let batch = format!("[{},{}]", call("123456789012345678901234567890"), call("2"));
    let (_, text) = server.post_raw(batch).await;
    let answers: Value = serde_json::from_str(&text).unwrap();
    assert_error(&answers[0], -32600, "invalid_id");
    assert_eq!(answers[0]["id"], Value::Null, "{answers}");
    assert_eq!(answers[1]["result"]["text"], "x", "the batch's other entries run: {answers}");

    let mut ws = server.ws().await;
    ws.send(&call("123456789012345678901234567890")).await;
    let response = ws.next_json().await;
    assert_error(&response, -32600, "invalid_id");
    assert_eq!(response["id"], Value::Null, "{response}");
}

/// The next message that is not a ping or pong, within 10 s; `None` if the connection
/// ended without one.
async fn next_frame(ws: &mut common::WsClient) -> Option<Message> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.stream.next()).await.expect("within 10 s");
        match next {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

/// Asserts the server's next message is a close frame with `code`.
async fn assert_closed_with(ws: &mut common::WsClient, code: CloseCode, what: &str) {
    match next_frame(ws).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, code, "{what}: {frame:?}"),
        other => panic!("{what}: expected a close frame with {code:?}, got {other:?}"),
    }
}

/// A message over the limit, in one frame or in fragments each under it, is answered
/// with a close frame 1009 (it was dropped with no close frame: 1006); the server goes on.
async fn an_oversized_websocket_message_closes_with_1009(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let limit = countersign::transport::request::MAX_BODY_BYTES;

    let mut ws = server.ws().await;
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{{"text":"{}"}}}}"#, "x".repeat(limit));
    let _ = ws.stream.send(Message::text(big)).await; // the server may stop reading midway
    assert_closed_with(&mut ws, CloseCode::Size, "one oversized frame").await;

    let mut ws = server.ws().await;
    let half = vec![b' '; limit / 2 + 1];
    ws.stream.send(Message::Frame(Frame::message(half.clone(), OpCode::Data(Data::Text), false))).await.unwrap();
    let _ = ws.stream.send(Message::Frame(Frame::message(half, OpCode::Data(Data::Continue), true))).await;
    assert_closed_with(&mut ws, CloseCode::Size, "fragments over the limit together").await;

    let mut ws = server.ws().await;
    assert_eq!(ws.call(1, "test_echo", json!({"text": "ok"})).await["result"]["text"], "ok");
}

/// A text frame whose payload is not UTF-8 is answered with a close frame 1007 (it was
/// dropped with no close frame: 1006), after the answers to calls before it.
async fn a_text_message_that_is_not_utf8_closes_with_1007(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let mut ws = server.ws().await;
    assert_eq!(ws.call(1, "test_echo", json!({"text": "before"})).await["result"]["text"], "before");
    let invalid =
        b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"test_echo\",\"params\":{\"text\":\"\xff\xfe\"}}".to_vec();
    ws.stream.send(Message::Frame(Frame::message(invalid, OpCode::Data(Data::Text), true))).await.unwrap();
    assert_closed_with(&mut ws, CloseCode::Invalid, "invalid UTF-8").await;

    let mut ws = server.ws().await;
    assert_eq!(ws.call(1, "test_echo", json!({"text": "ok"})).await["result"]["text"], "ok");
}

/// A GET whose request target is over `MAX_URI_BYTES` is HTTP 414 with a JSON-RPC
/// `invalid_request/too_large` body (hyper answered a bare 414/431); one at the limit is
/// read. Past hyper's own fixed cap on a request target, hyper still answers bare.
async fn an_over_long_get_is_answered_in_json_rpc(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let max = countersign::transport::http::MAX_URI_BYTES;
    let target = |len: usize| {
        let head = "/rpc/test_echo?params=%7B%22text%22%3A%22hi%22%7D&id=pad";
        format!("{head}{}", "x".repeat(len - head.len()))
    };
    let (status, _, body) = server.get(&target(max)).await;
    assert_eq!(status, 200, "at the limit: {body}");
    assert_eq!(body["result"]["text"], "hi");

    for len in [max + 1, 60 * 1024] {
        let (status, headers, body) = server.get(&target(len)).await;
        assert_eq!(status, 414, "{len}: {body}");
        assert_eq!(headers["content-type"], "application/json");
        assert_error(&body, -32600, "too_large");
        assert_eq!(body["error"]["data"]["max_bytes"], max, "{body}");
        assert_eq!(body["id"], Value::Null, "{body}");
    }
    // An HTTP client cannot even build such a URI: sent by hand.
    let answer =
        raw_request(&server, &format!("GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target(70 * 1024)))
            .await;
    assert!(answer.starts_with("HTTP/1.1 414"), "hyper's own refusal: {answer}");
}

/// Asserts both headers are on an answer.
fn assert_hardened(headers: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]), "{what}");
    assert_eq!(headers.get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{what}");
}

/// `X-Content-Type-Options: nosniff` and `Cache-Control: no-store` on every kind of answer.
async fn every_answer_forbids_sniffing_and_caching(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let post = |body: &'static str| server.http.post(format!("{}/rpc", server.base)).body(body).send();
    let answer = post(r#"{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"text":"x"}}"#).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_hardened(answer.headers(), "POST answer");
    let answer = post(r#"{"jsonrpc":"2.0","method":"test_echo","params":{"text":"x"}}"#).await.unwrap();
    assert_eq!(answer.status(), 204);
    assert_hardened(answer.headers(), "POST notification (204)");

    let paths = [
        ("/rpc/test_echo?params=%7B%22text%22%3A%22x%22%7D&id=1", 200),
        ("/rpc/test_write?params=%7B%7D&id=1", 405),
        ("/rpc/nope", 404),
        ("/health", 200),
        ("/metrics", 200),
        ("/openrpc.json", 200),
        ("/no/such/route", 404),
        ("/ws", 400),
    ];
    for (path, expected) in paths {
        let (status, headers, _) = server.get(path).await;
        assert_eq!(status, expected, "{path}");
        assert_hardened(&headers, path);
    }
    let (status, headers, _) = server.get(&format!("/rpc/test_echo?pad={}", "x".repeat(20 * 1024))).await;
    assert_eq!(status, 414);
    assert_hardened(&headers, "over-long GET");

    let refused = upgrade_with_bad_token(&server).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let head = refused.to_ascii_lowercase();
    assert!(head.contains("x-content-type-options: nosniff") && head.contains("cache-control: no-store"), "{refused}");
}

/// A WebSocket upgrade with an unknown bearer token, by hand: the server's answer.
async fn upgrade_with_bad_token(server: &TestServer) -> String {
    let request = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Authorization: Bearer not-a-token\r\n\r\n";
    raw_request(server, request).await
}

/// Sends `request` as it is on a new connection: the start of the server's answer.
async fn raw_request(server: &TestServer, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}
