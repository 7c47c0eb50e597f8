//! The headers operators and clients expect on every answer: `X-Request-Id` (the request's
//! correlation id, the same as every error's `data.request_id` and its audit rows'
//! `request_id`), `WWW-Authenticate` on a 401 and `Allow` on a 405 — over POST, GET and the
//! WebSocket.

mod common;

use common::party::audit;
use common::{Backend, TestServer, assert_error, request_id_of, start, start_with};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

backend_tests!(
    every_answer_carries_a_request_id,
    error_data_carries_the_request_id_of_its_request,
    websocket_messages_get_ids_of_their_own,
    a_denied_calls_audit_row_carries_the_answered_id,
    only_a_trusted_proxy_names_the_request,
    a_401_says_how_to_authenticate,
    a_405_says_what_is_allowed,
);

/// The `X-Request-Id` of an answer, which must be one UUID.
fn header_id(headers: &HeaderMap, what: &str) -> Uuid {
    let values: Vec<_> = headers.get_all("x-request-id").iter().collect();
    assert_eq!(values.len(), 1, "{what}: one X-Request-Id, got {values:?}");
    values[0].to_str().ok().and_then(|id| Uuid::parse_str(id).ok()).unwrap_or_else(|| panic!("{what}: {values:?}"))
}

/// POSTs `body` as it is: (headers, parsed answer or Null).
async fn post(server: &TestServer, body: &str, extra: &[(&str, &str)]) -> (HeaderMap, Value) {
    let mut request = server.http.post(format!("{}/rpc", server.base)).header("content-type", "application/json");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.body(body.to_owned()).send().await.unwrap();
    let headers = response.headers().clone();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, if text.is_empty() { 204 } else { 200 }, "{text}");
    (headers, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Every route's answer, success or refusal, carries a fresh id; no two are alike.
async fn every_answer_carries_a_request_id(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let mut seen = std::collections::BTreeSet::new();
    let (headers, answer) =
        post(&server, r#"{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"text":"x"}}"#, &[]).await;
    assert_eq!(answer["result"]["text"], "x", "{answer}");
    assert!(seen.insert(header_id(&headers, "POST")));
    let (headers, answer) = post(&server, r#"{"jsonrpc":"2.0","method":"test_echo","params":{"text":"x"}}"#, &[]).await;
    assert_eq!(answer, Value::Null, "a notification: 204");
    assert!(seen.insert(header_id(&headers, "POST notification")));
    let paths = [
        ("/rpc/test_echo?params=%7B%22text%22%3A%22x%22%7D&id=1", 200),
        ("/rpc/nope", 404),
        ("/health", 200),
        ("/metrics", 200),
        ("/openrpc.json", 200),
        ("/", 200),
        ("/assets/no-such-file.js", 404),
        ("/no/such/route", 404),
        ("/ws", 400),
    ];
    for (path, status) in paths {
        let (got, headers, _) = server.get(path).await;
        assert_eq!(got, status, "{path}");
        assert!(seen.insert(header_id(&headers, path)), "{path}: a fresh id");
    }
    let (_, response) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await.unwrap();
    assert_eq!(response.status(), 101);
    assert!(seen.insert(header_id(response.headers(), "WebSocket upgrade")));
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/rpc", server.base))
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(seen.insert(header_id(preflight.headers(), "CORS preflight")));
}

/// Every error answered to a POST or a GET — from the envelope, the pipeline or a handler,
/// batch entries included — carries the id its answer's `X-Request-Id` says.
async fn error_data_carries_the_request_id_of_its_request(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let bodies = [
        (r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#, -32601, "unknown_method"),
        (r#"{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{}}"#, -32602, "schema"),
        (r#"{"jsonrpc":"2.0","id":1,"method":"whoami"}"#, -32001, "no_credentials"),
        (r#"{"jsonrpc":"2.0","id":1,"#, -32700, "invalid_json"),
        (r#"{"jsonrpc":"1.0","id":1,"method":"whoami"}"#, -32600, "wrong_version"),
        ("[]", -32600, "empty_batch"),
    ];
    for (body, code, reason) in bodies {
        let (headers, answer) = post(&server, body, &[]).await;
        assert_error(&answer, code, reason);
        assert_eq!(request_id_of(&answer), header_id(&headers, body), "{answer}");
    }
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "nope"},
        {"jsonrpc": "2.0", "id": 2, "method": "test_echo", "params": {"text": "x"}},
        {"jsonrpc": "2.0", "id": 3, "method": "whoami"},
        {"id": 4},
    ]);
    let (headers, answers) = post(&server, &batch.to_string(), &[]).await;
    let id = header_id(&headers, "batch");
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[1]["result"]["text"], "x");
    for answer in [&answers[0], &answers[2], &answers[3]] {
        assert_eq!(request_id_of(answer), id, "the calls of one batch share their request's id: {answer}");
    }
    let too_large = "x".repeat(2 * 1024 * 1024);
    let (headers, answer) = post(&server, &too_large, &[]).await;
    assert_error(&answer, -32600, "too_large");
    assert_eq!(request_id_of(&answer), header_id(&headers, "too large"));

    let paths = [
        ("/rpc/nope?id=1", 404, -32601, "unknown_method"),
        ("/rpc/whoami?id=1", 401, -32001, "no_credentials"),
        ("/rpc/test_echo?id=1&after=2", 400, -32600, "unknown_query_key"),
        ("/rpc/test_echo?params=%7B&id=1", 400, -32700, "invalid_json"),
        ("/rpc/test_write?params=%7B%7D&id=1", 405, -32600, "method_requires_post"),
    ];
    for (path, status, code, reason) in paths {
        let (got, headers, answer) = server.get(path).await;
        assert_eq!(got, status, "{path}: {answer}");
        assert_error(&answer, code, reason);
        assert_eq!(request_id_of(&answer), header_id(&headers, path), "{path}: {answer}");
    }
    let (status, headers, answer) = server.get(&format!("/rpc/test_echo?pad={}", "x".repeat(20 * 1024))).await;
    assert_eq!(status, 414);
    assert_error(&answer, -32600, "too_large");
    assert_eq!(request_id_of(&answer), header_id(&headers, "over-long GET"));
}

/// Over a WebSocket every error carries an id; each message has its own (the calls of one
/// message share it), none of them the upgrade's.
async fn websocket_messages_get_ids_of_their_own(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (stream, response) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await.unwrap();
    let upgrade = header_id(response.headers(), "upgrade");
    let mut ws = common::WsClient { stream };
    let first = ws.call(1, "nope", json!({})).await;
    assert_error(&first, -32601, "unknown_method");
    let second = ws.call(2, "whoami", json!({})).await;
    assert_error(&second, -32001, "no_credentials");
    ws.send("{not json").await;
    let third = ws.next_json().await;
    assert_error(&third, -32700, "invalid_json");
    let ids = [request_id_of(&first), request_id_of(&second), request_id_of(&third)];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
    assert!(!ids.contains(&upgrade), "{ids:?} {upgrade}");
    ws.send(r#"[{"jsonrpc":"2.0","id":5,"method":"nope"},{"jsonrpc":"2.0","id":6,"method":"whoami"}]"#).await;
    let batch = ws.next_json().await;
    let batch = batch.as_array().unwrap();
    assert_eq!(request_id_of(&batch[0]), request_id_of(&batch[1]), "{batch:?}");
    assert!(!ids.contains(&request_id_of(&batch[0])));
}

/// The audit row of a refused call carries the id its answer gave, header and `data` alike.
async fn a_denied_calls_audit_row_carries_the_answered_id(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (status, headers, answer) = ann.get("/rpc/account_list?id=1").await;
    assert_eq!(status, 403, "{answer}");
    assert_error(&answer, -32002, "not_permitted");
    let id = header_id(&headers, "denied GET");
    assert_eq!(request_id_of(&answer), id);
    let rows = audit(&admin, "account_list", None).await;
    let denied: Vec<&Value> = rows.iter().filter(|row| row["outcome"] == "denied").collect();
    assert_eq!(denied.len(), 1, "{rows:?}");
    assert_eq!(denied[0]["request_id"], id.to_string(), "{rows:?}");
    assert_eq!(denied[0]["account_id"], json!(ann.account_id), "{rows:?}");
}

/// A trusted proxy's `X-Request-Id` is kept when it is one UUID (answered hyphenated); a
/// client's own is never believed.
async fn only_a_trusted_proxy_names_the_request(backend: Backend) {
    let Some(direct) = start(backend).await else { return };
    let chosen = Uuid::now_v7();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#;
    let (headers, answer) = post(&direct, body, &[("x-request-id", &chosen.to_string())]).await;
    let id = header_id(&headers, "from a client");
    assert_ne!(id, chosen, "a client does not choose its request's id");
    assert_eq!(request_id_of(&answer), id);
    drop(direct);

    let trusting =
        |c: &mut countersign::config::Config| c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let Some(proxied) = start_with(backend, trusting).await else { return };
    for given in [chosen.hyphenated().to_string(), chosen.simple().to_string(), chosen.to_string().to_uppercase()] {
        let (headers, answer) = post(&proxied, body, &[("x-request-id", &given)]).await;
        assert_eq!(header_id(&headers, &given), chosen, "{given}");
        assert_eq!(headers["x-request-id"], chosen.hyphenated().to_string().as_str());
        assert_eq!(request_id_of(&answer), chosen, "{given}");
        let (_, headers, _) = proxied.get("/health").await;
        assert_ne!(header_id(&headers, "next request"), chosen);
    }
    for odd in ["trace-abc.123", "", &"a".repeat(129), &format!("{{{chosen}}}")] {
        let (headers, answer) = post(&proxied, body, &[("x-request-id", odd)]).await;
        let id = header_id(&headers, odd);
        assert_ne!(id.to_string(), odd, "{odd}");
        assert_eq!(request_id_of(&answer), id, "{odd}");
    }
    let response = proxied
        .http
        .get(format!("{}/health", proxied.base))
        .header("x-request-id", chosen.to_string())
        .header("x-request-id", Uuid::now_v7().to_string())
        .send()
        .await
        .unwrap();
    assert_ne!(header_id(response.headers(), "two ids"), chosen, "two ids: neither is believed");
}

/// A 401 — a GET call, a WebSocket upgrade — names the Bearer scheme, and says when the
/// credential given was no good.
async fn a_401_says_how_to_authenticate(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let challenge = |headers: &HeaderMap| {
        let values: Vec<_> =
            headers.get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert_eq!(values.len(), 1, "{values:?}");
        values[0].clone()
    };
    let (status, headers, _) = server.get("/rpc/whoami?id=1").await;
    assert_eq!(status, 401);
    assert_eq!(challenge(&headers), "Bearer");
    let bad = server.anonymous().with_bearer("not-a-token");
    let (status, headers, _) = bad.get("/rpc/whoami?id=1").await;
    assert_eq!(status, 401);
    assert_eq!(challenge(&headers), r#"Bearer error="invalid_token""#);
    match bad.ws().await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), 401);
            assert_eq!(challenge(response.headers()), r#"Bearer error="invalid_token""#);
            header_id(response.headers(), "refused upgrade");
        }
        other => panic!("expected a 401 refusal, got {:?}", other.map(|_| ())),
    }
    // Only a 401 challenges.
    let (status, headers, _) = server.get("/rpc/nope?id=1").await;
    assert_eq!(status, 404);
    assert!(headers.get("www-authenticate").is_none());
    let mut request = format!("ws://{}/ws", server.addr).into_client_request().unwrap();
    request.headers_mut().insert("authorization", "Basic dTpw".parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert!(response.headers().get("www-authenticate").is_none(), "another scheme is no credential: admitted");
}

/// A 405 lists the methods allowed: `POST` for a mutation called over GET, and the route's
/// own for a route that does not take the method.
async fn a_405_says_what_is_allowed(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, headers, answer) = server.get("/rpc/test_write?params=%7B%7D&id=1").await;
    assert_eq!(status, 405, "{answer}");
    assert_eq!(headers["allow"], "POST");
    for (method, path, allowed) in [
        (reqwest::Method::POST, "/health", "GET,HEAD"),
        (reqwest::Method::DELETE, "/rpc", "POST"),
        (reqwest::Method::PUT, "/metrics", "GET,HEAD"),
    ] {
        let response = server.http.request(method.clone(), format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let allow = response.headers()["allow"].to_str().unwrap().replace(' ', "");
        assert_eq!(allow, allowed, "{method} {path}");
        header_id(response.headers(), path);
    }
    let (status, headers, _) = server.get("/rpc/test_echo?params=%7B%22text%22%3A%22x%22%7D&id=1").await;
    assert_eq!(status, 200);
    assert!(headers.get("allow").is_none());
}
