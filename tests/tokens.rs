//! API tokens (docs/protocol.md §4): creation and listing without the secret, bearer auth on every
//! transport, method allow-lists, expiry on the injectable clock, and revocation that takes
//! effect at once — on the next HTTP call, on open WebSockets (close 4001), and under
//! concurrent use.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::identity::Client;
use common::{Backend, WsClient, assert_error, start};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

backend_tests!(
    page_and_list_limits_are_enforced,
    token_create_returns_the_secret_once_and_list_never_shows_it,
    bearer_token_authenticates_post_get_and_websocket,
    unknown_bearer_is_refused_on_every_transport,
    limited_token_calls_only_its_methods,
    token_create_validates_methods_and_expiry,
    limited_token_mints_only_subsets_of_itself,
    token_stops_working_after_its_expiry,
    revoked_token_fails_its_very_next_call,
    revoking_a_token_closes_its_sockets_with_4001,
    revoking_a_session_closes_its_sockets_with_4001,
    logout_closes_the_sessions_sockets_with_4001,
    another_accounts_token_is_not_found_and_keeps_working,
    concurrent_calls_during_a_revoke_succeed_or_fail_cleanly,
);

/// The close code WebSockets get when their credential is revoked.
const CLOSE_REVOKED: u16 = 4001;

/// Creates a token through `client`; returns the whole result.
async fn create_token(client: &Client, params: Value) -> Value {
    let created = client.ok("token_create", params).await;
    assert!(created["secret"].is_string() && created["token"]["id"].is_string(), "{created}");
    created
}

/// The id and secret of a new token.
async fn new_token(client: &Client, params: Value) -> (String, String) {
    let created = create_token(client, params).await;
    (created["token"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

/// The id of the session `client` is signed in with.
async fn current_session_id(client: &Client) -> String {
    let list = client.ok("session_list", json!({})).await;
    let current = list["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true);
    current.unwrap_or_else(|| panic!("no current session: {list}"))["id"].as_str().unwrap().to_owned()
}

/// POSTs one call; returns (HTTP status, body) without asserting anything.
async fn raw_call(client: &Client, method: &str, params: Value) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = client.http.post(format!("{}/rpc", client.base)).json(&body);
    if let common::identity::Auth::Bearer(secret) = &client.auth {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Reads until the server closes the socket: the answers that came first, and the close
/// code. A close for revocation must come right after a `session_revoked` message.
async fn answers_then_close_code(ws: &mut WsClient) -> (Vec<Value>, u16) {
    let mut answers = Vec::new();
    let mut told_revoked = false;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.stream.next())
            .await
            .unwrap_or_else(|_| panic!("no close within 10 s; answers so far: {answers:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["method"] == "notification" {
                    assert_eq!(value["params"]["result"]["type"], "session_revoked", "{value}");
                    told_revoked = true;
                } else {
                    answers.push(value);
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(Some(frame)))) => {
                let code = u16::from(frame.code);
                assert!(code != CLOSE_REVOKED || told_revoked, "4001 without session_revoked first");
                return (answers, code);
            }
            other => panic!("expected a close frame, got {other:?} after {answers:?}"),
        }
    }
}

/// An answer to `whoami` that raced a revoke: a result, or `unauthenticated`.
fn assert_ok_or_unauthenticated(answer: &Value) {
    match answer.get("error") {
        None => assert!(answer["result"]["account"].is_object(), "{answer}"),
        Some(error) => assert_eq!(error["code"], -32001, "{answer}"),
    }
}

/// `token_create` answers `{token: {id, name, expires_at, methods}, secret}`; `token_list`
/// shows `created_at`/`last_used_at` but never the secret.
async fn token_create_returns_the_secret_once_and_list_never_shows_it(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let created = create_token(&ann, json!({"name": "ci", "methods": ["whoami"]})).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("cst_") && secret.len() > 20, "{created}");
    let token = &created["token"];
    assert_eq!(token["name"], "ci", "{created}");
    assert_eq!(token["expires_at"], Value::Null, "{created}");
    assert_eq!(token["methods"], json!(["whoami"]), "{created}");

    let list = ann.ok("token_list", json!({})).await;
    assert!(!list.to_string().contains(secret), "token_list leaks the secret: {list}");
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{list}");
    assert_eq!(tokens[0]["id"], token["id"], "{list}");
    assert!(tokens[0]["created_at"].is_string(), "{list}");
    assert_eq!(tokens[0]["last_used_at"], Value::Null, "unused yet: {list}");
    assert_eq!(tokens[0]["methods"], json!(["whoami"]), "{list}");

    ann.with_bearer(secret).ok("whoami", json!({})).await;
    let list = ann.ok("token_list", json!({})).await;
    assert!(list["tokens"][0]["last_used_at"].is_string(), "a use is noted: {list}");
    assert!(!list.to_string().contains(secret), "{list}");
    // Another account sees none of ann's tokens.
    let others = admin.ok("token_list", json!({})).await;
    assert_eq!(others["tokens"], json!([]), "{others}");
}

/// `Authorization: Bearer <secret>` signs the caller in on POST, GET and the WebSocket upgrade.
async fn bearer_token_authenticates_post_get_and_websocket(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (_, secret) = new_token(&ann, json!({"name": "script"})).await;
    let bearer = server.anonymous().with_bearer(&secret);

    let me = bearer.ok("whoami", json!({})).await;
    assert_eq!(me["account"]["username"], "ann", "{me}");

    let (status, _, body) = bearer.get("/rpc/whoami?params=%7B%7D").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["account"]["username"], "ann", "{body}");

    let mut ws = bearer.ws().await.expect("a bearer socket opens");
    let answer = ws.call(7, "whoami", json!({})).await;
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["result"]["account"]["username"], "ann", "{answer}");
}

/// An unknown bearer: POST `-32001 invalid_credentials`, GET 401, WebSocket upgrade 401.
async fn unknown_bearer_is_refused_on_every_transport(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let _admin = server.admin().await;
    let bogus = server.anonymous().with_bearer("cst_thisIsNotARealTokenSecretAtAll0123456789");

    assert_error(&bogus.call("whoami", json!({})).await, -32001, "invalid_credentials");

    let (status, _, body) = bogus.get("/rpc/whoami?params=%7B%7D").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], -32001, "{body}");
    assert_eq!(body["error"]["data"]["reason"], "invalid_credentials", "{body}");

    match bogus.ws().await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 401, "{response:?}"),
        Err(other) => panic!("expected an HTTP 401 refusal, got {other:?}"),
        Ok(_) => panic!("a socket opened with an unknown bearer"),
    }
}

/// A token limited to `["whoami"]` calls whoami and nothing else, not even `rpc.discover`.
async fn limited_token_calls_only_its_methods(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (_, secret) = new_token(&ann, json!({"name": "narrow", "methods": ["whoami"]})).await;
    let narrow = ann.with_bearer(&secret);

    assert_eq!(narrow.ok("whoami", json!({})).await["account"]["username"], "ann");
    for method in ["token_list", "session_list", "rpc.discover", "token_create"] {
        let params = if method == "token_create" { json!({"name": "x"}) } else { json!({}) };
        let response = narrow.call(method, params).await;
        assert_error(&response, -32002, "token_method_not_allowed");
    }
    let (status, _, body) = narrow.get("/rpc/token_list?params=%7B%7D").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["data"]["reason"], "token_method_not_allowed", "{body}");

    let mut ws = narrow.ws().await.expect("the limited token opens a socket");
    assert!(ws.call(1, "whoami", json!({})).await.get("result").is_some());
    assert_error(&ws.call(2, "session_list", json!({})).await, -32002, "token_method_not_allowed");
}

/// `token_create` refuses unknown method names and expiries in the past (`-32005`).
async fn token_create_validates_methods_and_expiry(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;

    let response = ann.call("token_create", json!({"name": "t", "methods": ["whoami", "no_such_method"]})).await;
    assert_error(&response, -32005, "unknown_method");
    assert_eq!(response["error"]["data"]["method"], "no_such_method", "{response}");

    let past = (server.clock.now() - chrono::Duration::minutes(1)).to_rfc3339();
    let response = ann.call("token_create", json!({"name": "t", "expires_at": past})).await;
    assert_error(&response, -32005, "expiry_in_past");

    let list = ann.ok("token_list", json!({})).await;
    assert_eq!(list["tokens"], json!([]), "refused tokens are not stored: {list}");
}

/// A limited token may mint a token limited to a subset of its own methods, and nothing wider.
async fn limited_token_mints_only_subsets_of_itself(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (_, secret) = new_token(&ann, json!({"name": "minter", "methods": ["token_create", "whoami"]})).await;
    let minter = ann.with_bearer(&secret);

    let unlimited = minter.call("token_create", json!({"name": "wide"})).await;
    assert_error(&unlimited, -32002, "token_method_not_allowed");
    let wider = minter.call("token_create", json!({"name": "wider", "methods": ["whoami", "token_list"]})).await;
    assert_error(&wider, -32002, "token_method_not_allowed");

    let (_, child) = new_token(&minter, json!({"name": "child", "methods": ["whoami"]})).await;
    let child = ann.with_bearer(&child);
    assert_eq!(child.ok("whoami", json!({})).await["account"]["username"], "ann");
    assert_error(&child.call("token_create", json!({"name": "x"})).await, -32002, "token_method_not_allowed");

    let names: Vec<Value> =
        ann.ok("token_list", json!({})).await["tokens"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names.len(), 2, "only minter and child exist: {names:?}");
}

/// A token with `expires_at` one hour ahead stops working once the clock passes it,
/// on new calls and on a socket opened before.
async fn token_stops_working_after_its_expiry(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let expires_at = (server.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let created = create_token(&ann, json!({"name": "hour", "expires_at": expires_at})).await;
    let bearer = ann.with_bearer(created["secret"].as_str().unwrap());
    let stated = chrono::DateTime::parse_from_rfc3339(created["token"]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(stated, chrono::DateTime::parse_from_rfc3339(&expires_at).unwrap(), "{created}");

    bearer.ok("whoami", json!({})).await;
    let mut ws = bearer.ws().await.expect("socket opens before expiry");
    assert!(ws.call(1, "whoami", json!({})).await.get("result").is_some());

    server.clock.advance(Duration::from_secs(2 * 3600));
    assert_error(&bearer.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let (status, _, body) = bearer.get("/rpc/whoami?params=%7B%7D").await;
    assert_eq!(status, 401, "{body}");
    let late = ws.call(2, "whoami", json!({})).await;
    assert_error(&late, -32001, "invalid_credentials");
}

/// `token_revoke` commits before it answers: the token's very next call is `-32001`.
async fn revoked_token_fails_its_very_next_call(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (id, secret) = new_token(&ann, json!({"name": "soon gone"})).await;
    let bearer = ann.with_bearer(&secret);
    bearer.ok("whoami", json!({})).await;

    let revoked = ann.ok("token_revoke", json!({"token_id": id})).await;
    assert_eq!(revoked, json!({"ok": true}));
    assert_error(&bearer.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let (status, _, body) = bearer.get("/rpc/whoami?params=%7B%7D").await;
    assert_eq!(status, 401, "{body}");
    let list = ann.ok("token_list", json!({})).await;
    assert_eq!(list["tokens"], json!([]), "a revoked token is not listed: {list}");
    // Revoking it again finds nothing to revoke.
    assert_error(&ann.call("token_revoke", json!({"token_id": id})).await, -32003, "not_found");
    match bearer.ws().await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("expected a 401 upgrade refusal, got {:?}", other.map(|_| "a socket")),
    }
}

/// Revoking a token closes the sockets opened with it (4001), after answering or dropping
/// a call sent just before; sockets of the account's other credentials stay open.
async fn revoking_a_token_closes_its_sockets_with_4001(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (id_a, secret_a) = new_token(&ann, json!({"name": "a"})).await;
    let (_, secret_b) = new_token(&ann, json!({"name": "b"})).await;
    let mut ws_a = ann.with_bearer(&secret_a).ws().await.unwrap();
    let mut ws_a2 = ann.with_bearer(&secret_a).ws().await.unwrap();
    let mut ws_b = ann.with_bearer(&secret_b).ws().await.unwrap();
    let mut ws_cookie = ann.ws().await.unwrap();
    for ws in [&mut ws_a, &mut ws_a2, &mut ws_b, &mut ws_cookie] {
        assert!(ws.call(1, "whoami", json!({})).await.get("result").is_some());
    }

    ws_a.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "whoami", "params": {}}).to_string()).await;
    assert_eq!(ann.ok("token_revoke", json!({"token_id": id_a})).await, json!({"ok": true}));

    let (answers, code) = answers_then_close_code(&mut ws_a).await;
    assert_eq!(code, CLOSE_REVOKED, "answers before the close: {answers:?}");
    assert!(answers.len() <= 1, "{answers:?}");
    answers.iter().for_each(assert_ok_or_unauthenticated);
    let (answers, code) = answers_then_close_code(&mut ws_a2).await;
    assert_eq!(code, CLOSE_REVOKED, "every socket of the token closes: {answers:?}");

    let still = ws_b.call(3, "whoami", json!({})).await;
    assert_eq!(still["result"]["account"]["username"], "ann", "another token's socket stays open: {still}");
    let still = ws_cookie.call(3, "whoami", json!({})).await;
    assert_eq!(still["result"]["account"]["username"], "ann", "the session's socket stays open: {still}");
}

/// `session_revoke` closes the revoked session's sockets with 4001 and leaves the caller's own.
async fn revoking_a_session_closes_its_sockets_with_4001(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let laptop = server.account(&admin, "ann").await;
    let phone = server.login("ann", common::identity::PASSWORD).await;
    let phone_session = current_session_id(&phone).await;
    let mut phone_ws = phone.ws().await.unwrap();
    let mut laptop_ws = laptop.ws().await.unwrap();
    assert!(phone_ws.call(1, "whoami", json!({})).await.get("result").is_some());

    phone_ws.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "whoami", "params": {}}).to_string()).await;
    assert_eq!(laptop.ok("session_revoke", json!({"session_id": phone_session})).await, json!({"ok": true}));

    let (answers, code) = answers_then_close_code(&mut phone_ws).await;
    assert_eq!(code, CLOSE_REVOKED, "answers before the close: {answers:?}");
    answers.iter().for_each(assert_ok_or_unauthenticated);
    assert_error(&phone.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let still = laptop_ws.call(3, "whoami", json!({})).await;
    assert_eq!(still["result"]["account"]["username"], "ann", "{still}");
    // Another account's session is invisible.
    let admin_session = current_session_id(&admin).await;
    let response = laptop.call("session_revoke", json!({"session_id": admin_session})).await;
    assert_error(&response, -32003, "not_found");
    admin.ok("whoami", json!({})).await;
}

/// `account_logout` ends the session and closes its cookie-authenticated sockets with 4001.
async fn logout_closes_the_sessions_sockets_with_4001(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (_, secret) = new_token(&ann, json!({"name": "survives logout"})).await;
    let mut cookie_ws = ann.ws().await.unwrap();
    let mut token_ws = ann.with_bearer(&secret).ws().await.unwrap();
    assert!(cookie_ws.call(1, "whoami", json!({})).await.get("result").is_some());

    assert_eq!(ann.ok("account_logout", json!({})).await, json!({"ok": true}));
    let (answers, code) = answers_then_close_code(&mut cookie_ws).await;
    assert_eq!(code, CLOSE_REVOKED, "{answers:?}");
    assert_error(&ann.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let still = token_ws.call(2, "whoami", json!({})).await;
    assert_eq!(still["result"]["account"]["username"], "ann", "a token socket outlives logout: {still}");
}

/// Revoking another account's token is `not_found`, and that token keeps working.
async fn another_accounts_token_is_not_found_and_keeps_working(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let bob = server.account(&admin, "bob").await;
    let (id, secret) = new_token(&ann, json!({"name": "ann's"})).await;
    let mut ws = ann.with_bearer(&secret).ws().await.unwrap();

    assert_error(&bob.call("token_revoke", json!({"token_id": id})).await, -32003, "not_found");
    // Not even an admin revokes another account's token through token_revoke.
    assert_error(&admin.call("token_revoke", json!({"token_id": id})).await, -32003, "not_found");
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_error(&bob.call("token_revoke", json!({"token_id": unknown})).await, -32003, "not_found");

    assert_eq!(ann.with_bearer(&secret).ok("whoami", json!({})).await["account"]["username"], "ann");
    let still = ws.call(1, "whoami", json!({})).await;
    assert!(still.get("result").is_some(), "the socket stays open: {still}");
    assert_eq!(ann.ok("token_list", json!({})).await["tokens"].as_array().unwrap().len(), 1);
}

/// 20 callers use a token while it is revoked: every call succeeds or is `-32001`, never an
/// internal error, and every call started after the revoke answered fails.
async fn concurrent_calls_during_a_revoke_succeed_or_fail_cleanly(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let (id, secret) = new_token(&ann, json!({"name": "raced"})).await;
    let bearer = ann.with_bearer(&secret);
    let revoked = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(tokio::sync::Barrier::new(21));

    let mut callers = Vec::new();
    for _ in 0..20 {
        let (bearer, revoked, gate) = (bearer.clone(), revoked.clone(), gate.clone());
        callers.push(tokio::spawn(async move {
            gate.wait().await;
            let mut seen = Vec::new();
            for _ in 0..4 {
                let started_after_revoke = revoked.load(Ordering::SeqCst);
                let (status, body) = raw_call(&bearer, "whoami", json!({})).await;
                seen.push((started_after_revoke, status, body));
            }
            seen
        }));
    }
    let revoker = {
        let (ann, revoked, gate) = (ann.clone(), revoked.clone(), gate.clone());
        tokio::spawn(async move {
            gate.wait().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let response = ann.call("token_revoke", json!({"token_id": id})).await;
            revoked.store(true, Ordering::SeqCst);
            response
        })
    };

    let response = revoker.await.unwrap();
    assert_eq!(response["result"], json!({"ok": true}), "{response}");
    let (mut succeeded, mut refused) = (0, 0);
    for caller in callers {
        for (started_after_revoke, status, body) in caller.await.unwrap() {
            assert_eq!(status, 200, "never an HTTP error: {body}");
            match body.get("error") {
                None => {
                    assert!(!started_after_revoke, "a call started after the revoke succeeded: {body}");
                    assert_eq!(body["result"]["account"]["username"], "ann", "{body}");
                    succeeded += 1;
                }
                Some(_) => {
                    assert_error(&body, -32001, "invalid_credentials");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(succeeded + refused, 80);

    let after: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn({
                let bearer = bearer.clone();
                async move { raw_call(&bearer, "whoami", json!({})).await }
            })
        })
        .collect();
    for call in after {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_error(&body, -32001, "invalid_credentials");
    }
}

/// The numbered limits of the identity methods: a page of `account_list` holds at most
/// 500, a token names at most 200 methods; one more is `invalid_params` at that member.
async fn page_and_list_limits_are_enforced(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    assert!(admin.call("account_list", json!({"limit": 500})).await.get("result").is_some());
    let response = admin.call("account_list", json!({"limit": 501})).await;
    assert_error(&response, -32602, "schema");
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/limit", "{response}");

    let methods: Vec<String> = (0..201).map(|i| format!("m{i}")).collect();
    let response = admin.call("token_create", json!({"name": "wide", "methods": methods})).await;
    assert_error(&response, -32602, "schema");
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/methods", "{response}");
}
