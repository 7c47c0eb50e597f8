//! `[log] format = "json"`: the real binary, serving on both backends at `debug` level,
//! writes nothing to standard error but JSON objects, one a line — every line of a run with
//! calls signed in and not, refused and not, over POST, GET and the WebSocket, start to
//! stop. Each call's line carries its request id (the answer's `X-Request-Id`) and, when
//! signed in, the account.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Backend;
use common::identity::PASSWORD;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

backend_tests!(json_logs_are_json_to_the_last_line);

async fn json_logs_are_json_to_the_last_line(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let token_file = dir.path().join("bootstrap-token");
    let config = dir.path().join("countersign.toml");
    let text =
        format!("[log]\nformat = \"json\"\n\n[auth]\nbootstrap_token_file = {:?}\n", token_file.display().to_string());
    std::fs::write(&config, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &url, "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server answers /health");

    let call = |method: &str, params: Value| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        http.post(format!("{base}/rpc")).json(&body).send()
    };
    let token = std::fs::read_to_string(&token_file).expect("the bootstrap token file").trim().to_owned();
    let bootstrap = json!({"token": token, "username": "admin", "password": PASSWORD});
    let booted: Value = call("account_bootstrap", bootstrap).await.unwrap().json().await.unwrap();
    let admin_id = booted["result"]["account"]["id"].as_str().unwrap_or_else(|| panic!("{booted}")).to_owned();
    let login = call("account_login", json!({"username": "admin", "password": PASSWORD})).await.unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let whoami = http.get(format!("{base}/rpc/whoami?id=1")).header("cookie", &cookie).send().await.unwrap();
    let signed_in_id = whoami.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(whoami.status(), 200);
    let refused = http.get(format!("{base}/rpc/whoami?id=1")).send().await.unwrap();
    let refused_id = refused.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(refused.status(), 401);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await.unwrap();
    ws.send(Message::text(r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#)).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an answer");
    drop(ws);

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(output.status.success(), "exit after SIGTERM: {:?}", output.status);
    let log = String::from_utf8(output.stderr).expect("the log is UTF-8");
    let lines: Vec<Value> = log
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line:?}", n + 1));
            assert!(value.is_object(), "line {}: not an object: {line}", n + 1);
            for key in ["timestamp", "level", "target"] {
                assert!(value[key].is_string(), "line {}: no {key}: {line}", n + 1);
            }
            value
        })
        .collect();
    assert!(lines.len() > 5, "{log}");
    assert!(log.ends_with('\n') && !log.contains('\u{1b}'), "whole lines, no colour codes: {log:?}");
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"), "RUST_LOG=debug is obeyed: {log}");

    let call_line = |request_id: &str| {
        let found = lines.iter().find(|l| l["message"] == "call" && l["request_id"] == request_id);
        found.unwrap_or_else(|| panic!("no call line for {request_id}: {log}")).clone()
    };
    let signed_in = call_line(&signed_in_id);
    assert_eq!(
        (&signed_in["method"], &signed_in["transport"], &signed_in["outcome"], &signed_in["account_id"]),
        (&json!("whoami"), &json!("get"), &json!("ok"), &json!(admin_id)),
        "{signed_in}"
    );
    assert!(signed_in["duration_ms"].is_number(), "{signed_in}");
    let anonymous = call_line(&refused_id);
    assert_eq!((&anonymous["outcome"], &anonymous["reason"]), (&json!("unauthenticated"), &json!("no_credentials")));
    assert!(anonymous.get("account_id").is_none(), "not signed in, no account: {anonymous}");
    let socket = lines.iter().find(|l| l["message"] == "call" && l["transport"] == "ws");
    assert_eq!(socket.map(|l| &l["method"]), Some(&json!("unknown")), "{log}");
}
