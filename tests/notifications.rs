//! Durable notifications (docs/protocol.md §8): replay then live, in order, without loss across
//! reconnects, instances and concurrent producers; nothing from a rolled-back call; a slow
//! socket is told to resync without slowing others; idle sockets close; retention.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::identity::Client;
use common::{Backend, TestServer, WsClient, assert_error, start, start_with};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    subscribe_replays_then_streams_live,
    notifications_list_polls_with_the_head,
    subscribe_is_for_signed_in_websockets_only,
    rolled_back_notifications_reach_nobody,
    resume_after_random_disconnects_loses_nothing,
    concurrent_producers_never_let_a_live_subscriber_skip,
    a_commit_on_one_instance_reaches_a_socket_on_another,
    revoking_on_one_instance_closes_sockets_on_another,
    a_listener_that_loses_its_connection_misses_nothing,
    a_slow_socket_is_told_to_resync_and_others_are_unaffected,
    a_silent_socket_is_closed_and_a_live_one_kept,
    retention_prunes_and_tells_resumers_to_resync,
    unsubscribe_ends_one_subscription_of_its_socket,
);

/// Appends `count` notifications to `account`'s stream through the test double.
async fn produce(server: &TestServer, account: &str, count: u32) -> Vec<i64> {
    let response = server.call("test_notify", json!({"account_id": account, "count": count})).await;
    serde_json::from_value(response["result"]["seqs"].clone()).unwrap_or_else(|_| panic!("{response}"))
}

/// Subscribes on `ws`; returns the subscription id (the answer comes before any push).
async fn subscribe(ws: &mut WsClient, after: Option<i64>) -> String {
    let params = match after {
        Some(after) => json!({"after": after}),
        None => json!({}),
    };
    let answer = ws.call(1, "notifications_subscribe", params).await;
    answer["result"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

/// The next pushed notification's `result`, checking it belongs to `subscription`.
async fn next_push(ws: &mut WsClient, subscription: &str) -> Value {
    let message = ws.next_json().await;
    assert_eq!(message["jsonrpc"], "2.0", "{message}");
    assert_eq!(message["method"], "notification", "{message}");
    assert_eq!(message["params"]["subscription"], subscription, "{message}");
    message["params"]["result"].clone()
}

async fn signed_in(server: &TestServer) -> (Client, String) {
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let id = ann.account_id.clone().unwrap();
    (ann, id)
}

async fn subscribe_replays_then_streams_live(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (ann, ann_id) = signed_in(&server).await;
    assert_eq!(produce(&server, &ann_id, 3).await, vec![1, 2, 3]);

    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(1)).await;
    for seq in [2, 3] {
        let pushed = next_push(&mut ws, &sub).await;
        assert_eq!(pushed["seq"], seq, "{pushed}");
        assert_eq!(pushed["type"], "test_event");
        assert_eq!(pushed["data"]["i"], seq - 1);
        assert!(pushed["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{pushed}");
    }
    produce(&server, &ann_id, 2).await;
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 4);
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 5);

    // Without `after`, only what comes next.
    let mut live = ann.ws().await.unwrap();
    let live_sub = subscribe(&mut live, None).await;
    produce(&server, &ann_id, 1).await;
    assert_eq!(next_push(&mut live, &live_sub).await["seq"], 6);
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 6);
    let sent = server.http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(sent.contains("countersign_notifications_sent_total 6"), "{sent}");
}

async fn notifications_list_polls_with_the_head(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (ann, ann_id) = signed_in(&server).await;
    produce(&server, &ann_id, 5).await;
    let page = ann.ok("notifications_list", json!({"after": 1, "limit": 2})).await;
    let seqs: Vec<&Value> = page["notifications"].as_array().unwrap().iter().map(|n| &n["seq"]).collect();
    assert_eq!(seqs, vec![&json!(2), &json!(3)]);
    assert_eq!(page["head_seq"], 5);
    let (status, _, body) = ann.get("/rpc/notifications_list?params=%7B%22after%22%3A4%7D&id=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["notifications"][0]["seq"], 5);
    // Another account's stream is its own.
    let admin = server.login(common::identity::ADMIN, common::identity::PASSWORD).await;
    assert_eq!(admin.ok("notifications_list", json!({})).await, json!({"notifications": [], "head_seq": 0}));
    assert_error(&ann.call("notifications_list", json!({"limit": 501})).await, -32602, "schema");
}

async fn subscribe_is_for_signed_in_websockets_only(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (ann, _) = signed_in(&server).await;
    assert_error(&ann.call("notifications_subscribe", json!({})).await, -32600, "websocket_only");
    let mut anonymous = server.ws().await;
    assert_error(&anonymous.call(1, "notifications_subscribe", json!({})).await, -32001, "no_credentials");
}

async fn rolled_back_notifications_reach_nobody(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (ann, ann_id) = signed_in(&server).await;
    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(0)).await;
    let failed = server.call("test_notify", json!({"account_id": ann_id, "count": 3, "fail": true})).await;
    assert_error(&failed, -32004, "test_failure");
    assert_eq!(produce(&server, &ann_id, 1).await, vec![1], "rolled-back seqs are not used");
    let pushed = next_push(&mut ws, &sub).await;
    assert_eq!((pushed["seq"].clone(), pushed["data"]["i"].clone()), (json!(1), json!(0)));
    let page = ann.ok("notifications_list", json!({})).await;
    assert_eq!(page["notifications"].as_array().unwrap().len(), 1, "{page}");
}

/// 1,000 notifications while the client drops its socket at random points 1,000 times,
/// each time resuming after the last seq it saw: every seq arrives once, in order.
async fn resume_after_random_disconnects_loses_nothing(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let server = Arc::new(server);
    let (ann, ann_id) = signed_in(&server).await;
    const TOTAL: i64 = 1000;
    let producer = {
        let (server, ann_id) = (server.clone(), ann_id.clone());
        tokio::spawn(async move {
            for _ in 0..TOTAL / 5 {
                produce(&server, &ann_id, 5).await;
            }
        })
    };
    let mut last = 0i64;
    let mut reconnects = 0;
    while last < TOTAL || reconnects < 1000 {
        let mut ws = ann.ws().await.unwrap();
        let sub = subscribe(&mut ws, Some(last)).await;
        let take = rand::random_range(0..=2);
        for _ in 0..take {
            if last == TOTAL {
                break;
            }
            let pushed = next_push(&mut ws, &sub).await;
            assert_eq!(pushed["seq"], last + 1, "after a reconnect at {last}: {pushed}");
            last += 1;
        }
        reconnects += 1;
        drop(ws); // mid-stream, no close handshake
    }
    producer.await.unwrap();
    assert!(reconnects >= 1000, "{reconnects} reconnects");
    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(TOTAL - 1)).await;
    assert_eq!(next_push(&mut ws, &sub).await["seq"], TOTAL);
}

async fn concurrent_producers_never_let_a_live_subscriber_skip(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let server = Arc::new(server);
    let (ann, ann_id) = signed_in(&server).await;
    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(0)).await;
    let producers: Vec<_> = (0..8)
        .map(|_| {
            let (server, ann_id) = (server.clone(), ann_id.clone());
            tokio::spawn(async move {
                for _ in 0..25 {
                    produce(&server, &ann_id, 2).await;
                }
            })
        })
        .collect();
    for seq in 1..=400 {
        let pushed = next_push(&mut ws, &sub).await;
        assert_eq!(pushed["seq"], seq, "the subscriber skipped or reordered: {pushed}");
    }
    for producer in producers {
        producer.await.unwrap();
    }
}

async fn a_commit_on_one_instance_reaches_a_socket_on_another(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // several instances share a database only with PostgreSQL
    }
    let Some(a) = start(backend).await else { return };
    let (_, ann_id) = signed_in(&a).await;
    let b = a.another_instance().await;
    let ann_on_b = b.login("ann", common::identity::PASSWORD).await;
    let mut ws = ann_on_b.ws().await.unwrap();
    let sub = subscribe(&mut ws, None).await;
    produce(&a, &ann_id, 2).await;
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 1);
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 2);
}

/// Instance B's listener connection is killed; notifications committed through A while
/// it reconnects still reach B's subscriber (the listener wakes everyone on reconnect).
async fn a_listener_that_loses_its_connection_misses_nothing(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // only PostgreSQL has a listener
    }
    let Some(a) = start(backend).await else { return };
    let (_, ann_id) = signed_in(&a).await;
    let b = a.another_instance().await;
    let ann_on_b = b.login("ann", common::identity::PASSWORD).await;
    let mut ws = ann_on_b.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(0)).await;
    for round in 1..=3i64 {
        let mut conn = a.env.db.read().await.unwrap();
        let killed: Vec<bool> = countersign::on_conn!(conn.conn(), c => sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'countersign listener %'")
            .fetch_all(&mut *c).await)
        .unwrap();
        assert!(!killed.is_empty(), "the listeners were found");
        produce(&a, &ann_id, 1).await;
        assert_eq!(next_push(&mut ws, &sub).await["seq"], round);
    }
}

/// A token revoked through instance A closes, at once, a socket opened with it on B:
/// `session_revoked`, then close 4001.
async fn revoking_on_one_instance_closes_sockets_on_another(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // several instances share a database only with PostgreSQL
    }
    let Some(a) = start(backend).await else { return };
    let (ann_on_a, _) = signed_in(&a).await;
    let created = ann_on_a.ok("token_create", json!({"name": "b-socket"})).await;
    let b = a.another_instance().await;
    let ann_on_b = b.login("ann", common::identity::PASSWORD).await;
    let mut ws = ann_on_b.with_bearer(created["secret"].as_str().unwrap()).ws().await.unwrap();
    let sub = subscribe(&mut ws, None).await;
    ann_on_a.ok("token_revoke", json!({"token_id": created["token"]["id"]})).await;
    assert_eq!(next_push(&mut ws, &sub).await, json!({"type": "session_revoked"}));
    match ws.next().await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), countersign::sockets::CLOSE_REVOKED),
        other => panic!("expected close 4001, got {other:?}"),
    }
}

/// A socket that stops reading fills its 32-message queue (and the kernel's buffers: each
/// notification is 16 KB) while 1,000 notifications
/// flow: after a second of that it gets (in order, once it reads again) what was queued,
/// `resync_required` and close 4002; a socket that reads gets all 1,000 in order; the
/// slow one then resumes, replaying far more than its queue holds without another resync.
async fn a_slow_socket_is_told_to_resync_and_others_are_unaffected(backend: Backend) {
    let tweak = |c: &mut countersign::config::Config| {
        c.websocket.outbound_queue = 32;
        c.websocket.slow_client_timeout_s = 1;
    };
    let Some(server) = start_with(backend, tweak).await else { return };
    let server = Arc::new(server);
    let (ann, ann_id) = signed_in(&server).await;
    let mut slow = ann.ws().await.unwrap();
    let slow_sub = subscribe(&mut slow, Some(0)).await;
    let mut fast = ann.ws().await.unwrap();
    let fast_sub = subscribe(&mut fast, Some(0)).await;
    let producer = {
        let (server, ann_id) = (server.clone(), ann_id.clone());
        tokio::spawn(async move {
            for _ in 0..100 {
                let body = json!({"account_id": ann_id, "count": 10, "pad": 16000});
                assert!(server.call("test_notify", body).await.get("result").is_some());
            }
        })
    };
    let reader = tokio::spawn(async move {
        for seq in 1..=1000 {
            assert_eq!(next_push(&mut fast, &fast_sub).await["seq"], seq);
        }
    });
    // The slow client reads nothing until the server has given up on it.
    let started = std::time::Instant::now();
    loop {
        let metrics = server.http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
        if metrics.contains("countersign_websocket_resyncs_total 1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no resync: {metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut last_seq = 0;
    loop {
        match slow.next().await {
            Message::Text(text) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                let result = &message["params"]["result"];
                assert_eq!(message["params"]["subscription"], slow_sub.as_str());
                if result["type"] == "resync_required" {
                    assert_eq!(result["oldest_seq"], 1, "nothing was pruned: {result}");
                    assert!(result["head_seq"].as_i64().unwrap() > last_seq, "{result}");
                    break;
                }
                assert_eq!(result["seq"], last_seq + 1, "in order until the resync");
                last_seq += 1;
            }
            other => panic!("expected notifications then resync_required, got {other:?}"),
        }
    }
    assert!(last_seq < 1000, "the slow socket fell behind ({last_seq} delivered)");
    match slow.next().await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), countersign::sockets::CLOSE_RESYNC),
        other => panic!("expected close 4002, got {other:?}"),
    }
    reader.await.unwrap();
    producer.await.unwrap();
    // It recovers by resuming, from the start: 1,000 rows through a 32-message queue.
    let mut again = ann.ws().await.unwrap();
    let sub = subscribe(&mut again, Some(0)).await;
    for seq in 1..=1000 {
        assert_eq!(next_push(&mut again, &sub).await["seq"], seq);
    }
}

/// With pings every second and a 2-second idle timeout: a client that never reads (and so
/// never answers a ping) is closed; one that reads (tungstenite answers pings) stays.
async fn a_silent_socket_is_closed_and_a_live_one_kept(backend: Backend) {
    let tweak = |c: &mut countersign::config::Config| {
        c.websocket.ping_interval_s = 1;
        c.websocket.idle_timeout_s = 2;
    };
    let Some(server) = start_with(backend, tweak).await else { return };
    let mut silent = server.ws().await;
    let mut live = server.ws().await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(3500);
    // Reading makes the client answer pings.
    while let Ok(message) = tokio::time::timeout_at(deadline, live.stream.next()).await {
        assert!(matches!(message, Some(Ok(Message::Ping(_)))), "{message:?}");
    }
    assert_eq!(live.call(1, "test_echo", json!({"text": "still here"})).await["result"]["text"], "still here");
    loop {
        match silent.stream.next().await {
            Some(Ok(Message::Ping(_))) => {}
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1000);
                assert_eq!(frame.reason.as_str(), "idle timeout");
                break;
            }
            other => panic!("expected pings then a close, got {other:?}"),
        }
    }
}

async fn retention_prunes_and_tells_resumers_to_resync(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (_, ann_id) = signed_in(&server).await;
    produce(&server, &ann_id, 3).await;
    server.clock.advance(Duration::from_secs(31 * 24 * 3600));
    let ann = server.login("ann", common::identity::PASSWORD).await; // the old session expired
    produce(&server, &ann_id, 1).await;
    let cutoff = server.clock.now() - chrono::Duration::days(30);
    let pruned = countersign::notify::retention::prune(&server.env.db, cutoff).await.unwrap();
    assert_eq!(pruned, 3);
    let page = ann.ok("notifications_list", json!({})).await;
    assert_eq!(page["head_seq"], 4);
    assert_eq!(page["notifications"][0]["seq"], 4, "{page}");

    // Resuming from before the pruned rows: told to resync, then given what is kept.
    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(1)).await;
    let resync = json!({"type": "resync_required", "oldest_seq": 4, "head_seq": 4});
    assert_eq!(next_push(&mut ws, &sub).await, resync, "where to restart");
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 4);
    // Resuming from a seq nobody ever had: the same.
    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(99)).await;
    assert_eq!(next_push(&mut ws, &sub).await, resync);
    // Resuming from a kept seq: no resync.
    let mut ws = ann.ws().await.unwrap();
    let sub = subscribe(&mut ws, Some(3)).await;
    assert_eq!(next_push(&mut ws, &sub).await["seq"], 4);
}

/// `notifications_unsubscribe` ends one subscription of its socket: the other goes on, the
/// slot is free again, and an id the socket does not hold (ended, or another socket's) is
/// `not_found`; over HTTP it is `websocket_only`.
async fn unsubscribe_ends_one_subscription_of_its_socket(backend: Backend) {
    let tweak = |c: &mut countersign::config::Config| c.websocket.max_subscriptions_per_socket = 2;
    let Some(server) = start_with(backend, tweak).await else { return };
    let (ann, ann_id) = signed_in(&server).await;
    let mut ws = ann.ws().await.unwrap();
    let (first, second) = (subscribe(&mut ws, None).await, subscribe(&mut ws, None).await);
    assert_error(&ws.call(1, "notifications_subscribe", json!({})).await, -32004, "too_many_subscriptions");
    assert_eq!(ws.call(2, "notifications_unsubscribe", json!({"subscription": first})).await["result"], true);
    produce(&server, &ann_id, 1).await;
    assert_eq!(next_push(&mut ws, &second).await["seq"], 1);
    let quiet = tokio::time::timeout(Duration::from_millis(300), ws.next_json()).await;
    assert!(quiet.is_err(), "nothing more comes for the ended subscription: {quiet:?}");
    let again = ws.call(3, "notifications_unsubscribe", json!({"subscription": first})).await;
    assert_error(&again, -32003, "not_found");
    let third = subscribe(&mut ws, Some(0)).await;
    assert_eq!(next_push(&mut ws, &third).await["seq"], 1, "the freed slot takes a new subscription");

    let mut other = ann.ws().await.unwrap();
    assert_error(
        &other.call(1, "notifications_unsubscribe", json!({"subscription": second})).await,
        -32003,
        "not_found",
    );
    assert_error(
        &ann.call("notifications_unsubscribe", json!({"subscription": second})).await,
        -32600,
        "websocket_only",
    );
}
