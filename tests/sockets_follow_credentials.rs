//! A socket lives no longer than the credential that opened it (docs/protocol.md §1.2):
//! when its API token or session expires it is sent `session_revoked` and closed with
//! 4001 — by a timer, while it only listens — and after a gap in a PostgreSQL instance's
//! listener, whose close messages may have been lost, every open socket's credential is
//! checked again. Also the socket caps: sockets per account, subscriptions per socket,
//! and anonymous sockets that stop calling.

mod common;

use std::time::Duration;

use common::identity::Client;
use common::{Backend, TestServer, WsClient, error_less_request_id, start_with};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    a_socket_whose_token_expires_is_closed_and_hears_nothing_more,
    a_listening_socket_whose_session_expires_is_closed,
    a_revocation_missed_during_a_listener_gap_still_closes_the_socket,
    sockets_per_account_and_subscriptions_per_socket_are_capped,
    an_anonymous_socket_that_stops_calling_is_closed,
);

async fn server(backend: Backend) -> Option<TestServer> {
    start_with(backend, |config| {
        config.websocket.ping_interval_s = 1;
        config.websocket.idle_timeout_s = 30;
        config.websocket.max_sockets_per_account = 3;
        config.websocket.max_subscriptions_per_socket = 2;
        config.websocket.anonymous_idle_s = 2;
    })
    .await
}

/// Subscribes `ws` to its account's notifications; returns the subscription id.
async fn subscribe(ws: &mut WsClient) -> String {
    let answer = ws.call(1, "notifications_subscribe", json!({})).await;
    answer["result"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

/// An admin, and `ann` signed in.
async fn cast(server: &TestServer) -> (Client, Client) {
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    (admin, ann)
}

/// Ann's token expires in 2 s; her socket, opened with it, only listens. When the token
/// expires the socket is told and closed, and a permit granted to her afterwards is not
/// pushed to it (it stays in her stream for her next sign-in).
async fn a_socket_whose_token_expires_is_closed_and_hears_nothing_more(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let (admin, ann) = cast(&server).await;
    let expires_at = (server.clock.now() + chrono::Duration::seconds(2)).to_rfc3339();
    let token = ann.ok("token_create", json!({"name": "short", "expires_at": expires_at})).await;
    let mut ws = ann.with_bearer(token["secret"].as_str().unwrap()).ws().await.unwrap();
    subscribe(&mut ws).await;
    let started = std::time::Instant::now();
    ws.closed_as_revoked().await;
    assert!(started.elapsed() < Duration::from_secs(5), "at the expiry, not much later: {:?}", started.elapsed());
    let ann_id = ann.account_id.clone().unwrap();
    admin.ok("permit_grant", json!({"to_account_id": ann_id, "role": "member", "scope_id": "org:secret"})).await;
    let stream = ann.ok("notifications_list", json!({})).await;
    assert_eq!(stream["notifications"][0]["type"], "permit_granted", "kept for her, not pushed: {stream}");
}

/// Ann's session expires (the clock moves past its 168 hours) while her socket only
/// listens: the socket is closed with 4001 at the next look, without any call on it.
async fn a_listening_socket_whose_session_expires_is_closed(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let (_admin, ann) = cast(&server).await;
    let mut ws = ann.ws().await.unwrap();
    subscribe(&mut ws).await;
    server.clock.advance(Duration::from_secs(169 * 3600));
    ws.closed_as_revoked().await;
    let again = ann.call("whoami", json!({})).await;
    assert_eq!(again["error"]["data"]["reason"], "invalid_credentials", "{again}");
}

/// PostgreSQL only: instance B's listener loses its connection while ann's token is
/// revoked straight in the database (as if B missed the close message instance A sent).
/// When B's listener is back, it checks its sockets first: ann's is closed with 4001.
async fn a_revocation_missed_during_a_listener_gap_still_closes_the_socket(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // only PostgreSQL has a listener
    }
    let Some(a) = server(backend).await else { return };
    let (_admin, ann) = cast(&a).await;
    let token = ann.ok("token_create", json!({"name": "b"})).await;
    let b = a.another_instance().await;
    let mut on_b = b.anonymous().with_bearer(token["secret"].as_str().unwrap()).ws().await.unwrap();
    subscribe(&mut on_b).await;
    let mut conn = a.env.db.read().await.unwrap();
    countersign::on_conn!(conn.conn(), c => sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
        .bind(a.clock.now()).bind(token["token"]["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
        .execute(&mut *c).await.map(|_| ()))
    .unwrap();
    let killed: Vec<bool> = countersign::on_conn!(conn.conn(), c => sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'countersign listener %'")
        .fetch_all(&mut *c).await)
    .unwrap();
    assert!(!killed.is_empty(), "the listeners were found");
    on_b.closed_as_revoked().await;
}

/// At most 3 sockets per account (a 4th upgrade is HTTP 429, whichever credential) and 2
/// subscriptions per socket (`conflict/too_many_subscriptions`); a closed socket frees
/// its place.
async fn sockets_per_account_and_subscriptions_per_socket_are_capped(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let (_admin, ann) = cast(&server).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(ann.ws().await.unwrap());
    }
    let token = ann.ok("token_create", json!({"name": "fourth"})).await;
    let refused = ann.with_bearer(token["secret"].as_str().unwrap()).ws().await.err().expect("a 4th socket is refused");
    assert!(refused.to_string().contains("429"), "{refused}");
    let first = &mut open[0];
    subscribe(first).await;
    subscribe(first).await;
    let third = first.call(3, "notifications_subscribe", json!({})).await;
    assert_eq!(error_less_request_id(&third)["data"], json!({"reason": "too_many_subscriptions", "max": 2}), "{third}");
    drop(open.pop());
    let mut admitted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if ann.ws().await.is_ok() {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "a closed socket frees its place");
}

/// A socket without credentials may call public methods; one that stops calling is closed
/// after 2 s even though it answers pings.
async fn an_anonymous_socket_that_stops_calling_is_closed(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let mut ws = server.ws().await;
    let answer = ws.call(1, "rpc.discover", json!({})).await;
    assert!(answer["result"]["openrpc"].is_string());
    let started = std::time::Instant::now();
    let closed = match ws.next().await {
        Message::Close(frame) => frame,
        other => panic!("expected nothing but a close, got {other:?}"),
    };
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(1000));
    let waited = started.elapsed();
    // Counted from the server's reading of the call, a moment before the answer arrived.
    assert!((Duration::from_millis(1500)..Duration::from_secs(5)).contains(&waited), "{waited:?}");
}
