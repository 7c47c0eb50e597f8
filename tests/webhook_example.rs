//! The example receiver users start from (`examples/webhook_receiver.py`), run as they
//! would run it: countersign's deliveries pass its signature check, a repeated key is
//! answered again without acting twice, a forged or stale signature is refused, and a
//! revoke reaches it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Backend;
use common::receiver::SECRET;
use countersign::config::kinds::{Executor, Policy, Secret};
use countersign::executors::signature;
use serde_json::{Value, json};

/// `python3`, when there is one; CI (`COUNTERSIGN_REQUIRE_PYTHON`) insists.
fn python() -> Option<&'static str> {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("COUNTERSIGN_REQUIRE_PYTHON").is_some() {
        panic!("python3 is required here (COUNTERSIGN_REQUIRE_PYTHON)");
    }
    if !found {
        eprintln!("SKIPPED: no python3 to run examples/webhook_receiver.py with");
    }
    found.then_some("python3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receiver_checks_signatures_and_acts_once_per_key() {
    let Some(python) = python() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webhook_receiver.py");
    let receiver = Command::new(python)
        .args([example, "--port", &port.to_string()])
        .env("COUNTERSIGN_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let executor: Executor =
        serde_json::from_value(json!({"type": "webhook", "url": url, "secret": SECRET, "timeout_ms": 5000})).unwrap();
    let server = common::start_with(Backend::Sqlite, move |config| {
        let kind = config.kinds.get_mut("purchase").unwrap();
        kind.executor = executor;
        kind.policy =
            Policy { enabled: true, requires_confirmation: false, approvals_required: 0, ..Policy::default() };
    })
    .await
    .unwrap();
    let admin = server.admin().await;
    let params = json!({"kind": "purchase", "scope_id": "org:acme", "title": "Reserved instances"});
    let id = admin.ok("request_create", params).await["request"]["id"].clone();
    let mut done = Value::Null;
    for _ in 0..500 {
        done = admin.ok("request_get", json!({"request_id": id})).await["request"].clone();
        if done["status"] != "executing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done["status"], "executed", "{done}");
    let first: Value = serde_json::from_str(done["execution"]["response"].as_str().unwrap()).unwrap();
    assert_eq!(first["receipt"], format!("rcpt-{}", id.as_str().unwrap()));

    // The same delivery again, signed as countersign signs: the first answer, not a second act.
    let secret: Secret = serde_json::from_value(json!(SECRET)).unwrap();
    let body = serde_json::to_vec(&json!({"event": "request.execute", "request": done, "attempt": 1})).unwrap();
    let now = chrono::Utc::now().timestamp();
    let post = |signed: String| {
        server
            .http
            .post(&url)
            .header("Countersign-Signature", signed)
            .header("Idempotency-Key", format!("{}:1", id.as_str().unwrap()))
            .body(body.clone())
            .send()
    };
    let replay = post(signature(&secret, now, &body)).await.unwrap();
    assert_eq!(replay.status(), 200);
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!((&replayed["receipt"], &replayed["replayed"]), (&first["receipt"], &json!(true)));
    assert_eq!(post(signature(&secret, now - 3600, &body)).await.unwrap().status(), 401, "stale");
    let forged: Secret = serde_json::from_value(json!("not-the-secret-at-all")).unwrap();
    assert_eq!(post(signature(&forged, now, &body)).await.unwrap().status(), 401, "forged");

    let revoked = admin.ok("request_cancel", json!({"request_id": id})).await;
    assert_eq!(revoked["request"]["status"], "revoked");

    let mut receiver = receiver;
    receiver.kill().unwrap();
    let printed = String::from_utf8(receiver.wait_with_output().unwrap().stdout).unwrap();
    let id = id.as_str().unwrap();
    assert_eq!(printed.matches(&format!("executing purchase {id}")).count(), 1, "{printed}");
    assert_eq!(printed.matches(&format!("revoking purchase {id}")).count(), 1, "{printed}");
}
