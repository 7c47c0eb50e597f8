//! Signing in a WebSocket with its first message (`session_authenticate`), as a browser
//! must when it cannot put credentials on the upgrade: with an API token or a session's
//! secret, on a socket opened without any header; then subscribing, resuming after a
//! forced disconnect without a gap, unsubscribing; and every way of getting it wrong.

mod common;

use common::identity::Auth;
use common::{Backend, TestServer, WsClient, assert_error};
use serde_json::{Value, json};

backend_tests!(
    a_headerless_socket_signs_in_subscribes_resumes_and_unsubscribes,
    a_session_secret_signs_a_socket_in_without_an_origin,
    signing_in_is_the_first_message_only,
    signing_in_past_the_socket_cap_is_a_conflict,
);

/// Appends `count` notifications to `account`'s stream (the test double).
async fn produce(server: &TestServer, account: &Value, count: u32) {
    let response = server.call("test_notify", json!({"account_id": account, "count": count})).await;
    assert!(response.get("result").is_some(), "{response}");
}

/// A socket opened with no header at all, signed in with `token` by its first message.
async fn signed_in_socket(server: &TestServer, token: &str) -> (WsClient, Value) {
    let mut ws = server.ws().await;
    let answer = ws.call(1, "session_authenticate", json!({"token": token})).await;
    let result = answer.get("result").cloned().unwrap_or_else(|| panic!("{answer}"));
    (ws, result)
}

/// The seqs of the next `n` pushes on `ws`.
async fn seqs(ws: &mut WsClient, n: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let push = ws.next_json().await;
        seen.push(push["params"]["result"]["seq"].as_i64().unwrap_or_else(|| panic!("{push}")));
    }
    seen
}

async fn a_headerless_socket_signs_in_subscribes_resumes_and_unsubscribes(backend: Backend) {
    let Some(server) = common::start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let token = ann.ok("token_create", json!({"name": "spa"})).await["secret"].as_str().unwrap().to_owned();
    let ann_id = json!(ann.account_id);

    // Sent back to back, without waiting: the subscription already runs signed in.
    let mut pipelined = server.ws().await;
    pipelined
        .send(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "session_authenticate", "params": {"token": token}})
                .to_string(),
        )
        .await;
    pipelined
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "notifications_subscribe", "params": {}}).to_string())
        .await;
    let (first, second) = (pipelined.next_json().await, pipelined.next_json().await);
    assert_eq!((&first["id"], &first["result"]["username"]), (&json!(1), &json!("ann")), "{first}");
    assert!(second["result"].is_string(), "subscribed as ann: {second}");
    drop(pipelined);

    let (mut ws, me) = signed_in_socket(&server, &token).await;
    assert_eq!((&me["account_id"], &me["username"]), (&ann_id, &json!("ann")));
    assert_eq!(ws.call(2, "whoami", json!({})).await["result"]["account"]["username"], "ann");
    let sub = ws.call(3, "notifications_subscribe", json!({"after": 0})).await["result"].clone();
    produce(&server, &ann_id, 3).await;
    assert_eq!(seqs(&mut ws, 3).await, [1, 2, 3]);

    // A forced disconnect; two more rows meanwhile; a new socket resumes after seq 3.
    drop(ws);
    produce(&server, &ann_id, 2).await;
    let (mut ws, _) = signed_in_socket(&server, &token).await;
    let again = ws.call(2, "notifications_subscribe", json!({"after": 3})).await["result"].clone();
    assert_ne!(again, sub);
    assert_eq!(seqs(&mut ws, 2).await, [4, 5], "no gap, no repeat");
    assert_eq!(ws.call(3, "notifications_unsubscribe", json!({"subscription": again})).await["result"], true);
    produce(&server, &ann_id, 1).await;
    assert_eq!(ws.call(4, "whoami", json!({})).await["result"]["account"]["username"], "ann", "no push came first");

    // The token's revocation closes the socket it signed in, as for an upgrade's token.
    let listed = ann.ok("token_list", json!({})).await;
    let token_id = listed["tokens"][0]["id"].clone();
    ann.ok("token_revoke", json!({"token_id": token_id})).await;
    ws.closed_as_revoked().await;
}

async fn a_session_secret_signs_a_socket_in_without_an_origin(backend: Backend) {
    let Some(server) = common::start(backend).await else { return };
    let admin = server.admin().await;
    let Auth::Cookie(cookie) = &admin.auth else { panic!("signed in with a cookie") };
    let secret = cookie.strip_prefix("countersign_session=").unwrap();
    let (mut ws, me) = signed_in_socket(&server, secret).await;
    assert_eq!(me["username"], "admin");
    // A mutation with no Origin works: the secret was given explicitly, not sent by a browser.
    let created = ws.call(2, "token_create", json!({"name": "from a socket"})).await;
    assert!(created["result"]["secret"].is_string(), "{created}");
    admin.ok("account_logout", json!({})).await;
    ws.closed_as_revoked().await;
}

async fn signing_in_is_the_first_message_only(backend: Backend) {
    let Some(server) = common::start(backend).await else { return };
    let admin = server.admin().await;
    let token = admin.ok("token_create", json!({"name": "t"})).await["secret"].as_str().unwrap().to_owned();

    let (mut ws, _) = signed_in_socket(&server, &token).await;
    let twice = ws.call(2, "session_authenticate", json!({"token": token})).await;
    assert_error(&twice, -32600, "already_authenticated");

    let mut late = server.ws().await;
    assert!(late.call(1, "test_echo", json!({"text": "hi"})).await.get("result").is_some());
    let refused = late.call(2, "session_authenticate", json!({"token": token})).await;
    assert_error(&refused, -32600, "authenticate_first");
    assert_error(&late.call(3, "whoami", json!({})).await, -32001, "no_credentials");

    let mut wrong = server.ws().await;
    let refused = wrong.call(1, "session_authenticate", json!({"token": "cst_not-a-real-token"})).await;
    assert_error(&refused, -32001, "invalid_credentials");
    assert_error(&wrong.call(2, "whoami", json!({})).await, -32001, "no_credentials");

    let bearer = admin.with_bearer(&token);
    let mut opened_with_token = bearer.ws().await.unwrap();
    let refused = opened_with_token.call(1, "session_authenticate", json!({"token": token})).await;
    assert_error(&refused, -32600, "already_authenticated");
    assert_error(&admin.call("session_authenticate", json!({"token": token})).await, -32600, "websocket_only");
    assert!(!common::captured_logs().contains(&token), "the token is never logged, even at trace");
}

/// The account's socket cap holds for sockets signed in by message too: one more is
/// `conflict/too_many_sockets` and stays anonymous.
async fn signing_in_past_the_socket_cap_is_a_conflict(backend: Backend) {
    let tweak = |c: &mut countersign::config::Config| c.websocket.max_sockets_per_account = 1;
    let Some(server) = common::start_with(backend, tweak).await else { return };
    let admin = server.admin().await;
    let token = admin.ok("token_create", json!({"name": "t"})).await["secret"].as_str().unwrap().to_owned();
    let (_first, _) = signed_in_socket(&server, &token).await;
    let mut second = server.ws().await;
    let refused = second.call(1, "session_authenticate", json!({"token": token})).await;
    assert_error(&refused, -32004, "too_many_sockets");
    assert_eq!(refused["error"]["data"]["max"], 1);
    assert_error(&second.call(2, "whoami", json!({})).await, -32001, "no_credentials");
}
