//! The action pipeline (docs/protocol.md §2–3): transactions and post-commit hooks, the check
//! order, rate limits, and every error code of the contract with its HTTP status.

mod common;

use common::doubles::{attempts, hook_ran, probe_exists};
use common::{Backend, assert_error, start};
use countersign::error::ErrorKind;
use serde_json::{Value, json};

backend_tests!(
    a_failing_handler_leaves_nothing_and_runs_no_hook,
    a_panicking_handler_is_an_internal_error,
    authentication_comes_before_validation,
    rate_limits_answer_429_with_retry_after,
    every_error_kind_has_its_code_and_status,
    database_down_is_service_unavailable,
    parallel_writes_all_commit,
);

async fn a_failing_handler_leaves_nothing_and_runs_no_hook(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let key = format!("ok-{backend:?}-{}", uuid::Uuid::now_v7());
    let response = server.call("test_write", json!({"key": key})).await;
    assert_eq!(response["result"]["written"], format!("probe:{key}"), "{response}");
    assert!(probe_exists(&server, &key).await);
    assert!(hook_ran(&key), "the post-commit hook runs after a commit");

    for kind in ["conflict", "forbidden", "validation_error", "internal_error"] {
        let key = format!("fail-{kind}-{backend:?}-{}", uuid::Uuid::now_v7());
        let response = server.call("test_write", json!({"key": key, "fail_with": kind})).await;
        let code = ErrorKind::from_name(kind).unwrap().code();
        assert_eq!(response["error"]["code"], code, "{response}");
        assert!(!probe_exists(&server, &key).await, "the write of a failed call is rolled back ({kind})");
        assert!(!hook_ran(&key), "no post-commit hook after a rollback ({kind})");
    }
}

async fn a_panicking_handler_is_an_internal_error(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let key = format!("panic-{backend:?}-{}", uuid::Uuid::now_v7());
    let response = server.call("test_write", json!({"key": key, "fail_with": "panic"})).await;
    assert_error(&response, -32603, "internal");
    let request_id = response["error"]["data"]["request_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{response}");
    assert!(!response.to_string().contains("panic"), "internals never leak: {response}");
    assert!(!probe_exists(&server, &key).await);
    assert!(!hook_ran(&key));
    // The server is still answering.
    let response = server.call("test_echo", json!({"text": "alive"})).await;
    assert_eq!(response["result"]["text"], "alive");
}

async fn authentication_comes_before_validation(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let response = server.call("test_private", json!({"bogus": 1})).await;
    assert_error(&response, -32001, "no_credentials");

    let with_bearer = server
        .http
        .post(format!("{}/rpc", server.base))
        .bearer_auth("not-a-real-token")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "test_private", "params": {"text": "x"}}))
        .send()
        .await
        .unwrap();
    assert_error(&with_bearer.json::<Value>().await.unwrap(), -32001, "invalid_credentials");

    let (status, _, body) = server.get("/rpc/test_private?params=%7B%7D").await;
    assert_eq!(status, 401);
    assert_error(&body, -32001, "no_credentials");

    // A stale cookie does not stop anyone from reaching a public method.
    let response = server
        .http
        .post(format!("{}/rpc", server.base))
        .header("cookie", "countersign_session=stale")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": {"text": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["result"]["text"], "x");
}

async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    // The class allows a burst of 2, then one call a minute.
    for _ in 0..2 {
        let response = server.call("test_limited", json!({"text": "x"})).await;
        assert!(response.get("result").is_some(), "{response}");
    }
    let response = server.call("test_limited", json!({"text": "x"})).await;
    assert_error(&response, -32006, "rate_limited");
    let retry = response["error"]["data"]["retry_after_s"].as_u64().unwrap();
    assert!((1..=60).contains(&retry), "{response}");

    let (status, headers, body) = server.get("/rpc/test_limited?params=%7B%22text%22%3A%22x%22%7D").await;
    assert_eq!(status, 429);
    assert_error(&body, -32006, "rate_limited");
    let header: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(Some(header), body["error"]["data"]["retry_after_s"].as_u64());

    // Every call counts, invalid ones too: the rate limit runs before params are read.
    let response = server.call("test_limited", json!({})).await;
    assert_error(&response, -32006, "rate_limited");

    server.clock.advance(std::time::Duration::from_secs(61));
    let response = server.call("test_limited", json!({"text": "x"})).await;
    assert!(response.get("result").is_some(), "the budget refills with time: {response}");
}

async fn every_error_kind_has_its_code_and_status(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let table = [
        ("parse_error", -32700, 400),
        ("invalid_request", -32600, 400),
        ("method_not_found", -32601, 404),
        ("invalid_params", -32602, 400),
        ("internal_error", -32603, 500),
        ("unauthenticated", -32001, 401),
        ("forbidden", -32002, 403),
        ("not_found", -32003, 404),
        ("conflict", -32004, 409),
        ("validation_error", -32005, 422),
        ("rate_limited", -32006, 429),
        ("service_unavailable", -32007, 503),
        ("confirmation_required", -32011, 428),
    ];
    assert_eq!(table.len(), ErrorKind::ALL.len());
    for (name, code, status) in table {
        let params = format!("%7B%22kind%22%3A%22{name}%22%7D");
        let (got_status, _, body) = server.get(&format!("/rpc/test_fail?params={params}&id=9")).await;
        assert_eq!(got_status, status, "GET status of {name}: {body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["id"], 9);
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["error"]["data"]["reason"].is_string(), "every error has data.reason: {body}");

        let response = server.call("test_fail", json!({"kind": name})).await;
        assert_eq!(response["error"]["code"], code, "POST answers 200 with the same error: {response}");
    }
    let response = server.call("test_fail", json!({"kind": "internal_error"})).await;
    assert!(response["error"]["data"]["request_id"].is_string(), "{response}");
    assert!(!response.to_string().contains("secret internal detail"), "{response}");
}

async fn database_down_is_service_unavailable(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, _, body) = server.get("/health").await;
    assert_eq!((status, body), (200, json!({"status": "ok", "database": "ok"})));

    server.env.db.close().await;
    let response = server.call("test_write", json!({"key": "down"})).await;
    assert_error(&response, -32007, "database_unavailable");
    let (status, _, body) = server.get("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "unreachable");
}

async fn parallel_writes_all_commit(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let server = std::sync::Arc::new(server);
    let prefix = format!("par-{}", uuid::Uuid::now_v7());
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let server = server.clone();
            let key = format!("{prefix}-{i}");
            tokio::spawn(async move { server.call("test_write", json!({"key": key})).await })
        })
        .collect();
    for task in tasks {
        let response = task.await.unwrap();
        assert!(response.get("result").is_some(), "no write fails under concurrency: {response}");
    }
    for i in 0..40 {
        assert!(probe_exists(&server, &format!("{prefix}-{i}")).await);
    }
}

/// A mutation that hits a PostgreSQL serialization failure (a race lost inside the
/// database) runs again in a fresh transaction: the caller sees one success, and what
/// the failed attempts wrote is gone. One that keeps failing ends as `internal_error`.
/// (SQLite runs writers one at a time, so it never has such conflicts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_transient_conflicts_are_run_again() {
    let Some(server) = start(Backend::Postgres).await else { return };
    let key = format!("transient-{}", uuid::Uuid::now_v7());
    let response = server.call("test_write", json!({"key": key, "transient_failures": 2})).await;
    assert_eq!(response["result"]["written"], format!("probe:{key}"), "{response}");
    assert_eq!(attempts(&key), 3);
    assert!(probe_exists(&server, &key).await, "one probe row, from the attempt that committed");
    assert!(hook_ran(&key));

    let key = format!("hopeless-{}", uuid::Uuid::now_v7());
    let response = server.call("test_write", json!({"key": key, "transient_failures": 99})).await;
    assert_error(&response, -32603, "internal");
    assert_eq!(attempts(&key), 5, "a mutation runs at most five times");
    assert!(!probe_exists(&server, &key).await);
    assert!(!hook_ran(&key));
}
