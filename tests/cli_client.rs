//! The command line as a script uses it against a running server: `call`'s exit status for
//! each kind of failure, `--get` and `--compact`; `login` saving a token (mode 0600) that
//! `call` and `watch` then use without flags; and `watch` printing notifications as JSON
//! lines, resuming across a server restart without a gap, and exiting 4 when its token is
//! revoked.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Backend;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

backend_tests!(call_exits_with_the_kind_of_failure, login_then_call_and_watch_across_a_restart);

/// `countersign call ARGS…` against `url`, with no saved credentials in the way.
fn call(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("call")
        .args(args)
        .args(["--url", url, "--credentials", "/nonexistent/credentials.json"])
        .env_remove("COUNTERSIGN_TOKEN")
        .output()
        .unwrap()
}

async fn call_exits_with_the_kind_of_failure(backend: Backend) {
    let Some(server) = common::start(backend).await else { return };
    let url = server.base.clone();
    let cases = [
        ("unauthenticated", 4),
        ("forbidden", 5),
        ("not_found", 6),
        ("conflict", 7),
        ("invalid_params", 8),
        ("validation_error", 8),
        ("method_not_found", 8),
        ("confirmation_required", 8),
        ("rate_limited", 9),
        ("service_unavailable", 9),
        ("internal_error", 10),
    ];
    for (kind, status) in cases {
        let output = call(&url, &["test_fail", &json!({"kind": kind}).to_string()]);
        assert_eq!(output.status.code(), Some(status), "{kind}: {}", String::from_utf8_lossy(&output.stderr));
        let error: Value = serde_json::from_slice(&output.stderr).unwrap();
        let reason = if kind == "internal_error" { "internal" } else { "test_failure" };
        assert_eq!(error["data"]["reason"], reason, "the error object on stderr");
    }
    assert_eq!(call(&url, &["whoami"]).status.code(), Some(4), "no token");
    assert_eq!(call(&url, &["no_such_method"]).status.code(), Some(8));
    assert_eq!(call(&url, &["test_echo", "{not json"]).status.code(), Some(2), "usage");
    assert_eq!(call(&url, &["test_write", "{}", "--get"]).status.code(), Some(8), "GET of a mutation");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = call(&format!("http://127.0.0.1:{closed}"), &["whoami"]);
    assert_eq!(unreachable.status.code(), Some(3), "{}", String::from_utf8_lossy(&unreachable.stderr));

    let echoed = call(&url, &["test_echo", r#"{"text":"hi"}"#, "--get", "--compact"]);
    assert_eq!(echoed.status.code(), Some(0));
    assert_eq!(String::from_utf8(echoed.stdout).unwrap(), "{\"n\":null,\"text\":\"hi\"}\n", "one line");
}

/// A server process on `port` over `database_url`, logging to `log`.
fn serve(dir: &std::path::Path, port: u16, database_url: &str, log: &str) -> std::process::Child {
    Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

async fn until_healthy(url: &str) {
    for _ in 0..200 {
        if reqwest::get(format!("{url}/health")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not start");
}

async fn login_then_call_and_watch_across_a_restart(backend: Backend) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = common::database_url(backend, dir.path()).await else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let creds = dir.path().join("config/credentials.json");
    let creds_arg = creds.to_str().unwrap();
    let mut server = serve(dir.path(), port, &database_url, "first.log");
    until_healthy(&url).await;
    let token = std::fs::read_to_string(dir.path().join("countersign.bootstrap-token")).unwrap();
    let bootstrap = json!({"token": token.trim(), "username": "root", "password": common::identity::PASSWORD});
    let answer: Value = reqwest::Client::new()
        .post(format!("{url}/rpc"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "account_bootstrap", "params": bootstrap}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root_id = answer["result"]["account"]["id"].clone();
    assert!(root_id.is_string(), "{answer}");

    let mut login = Command::new(BIN)
        .args(["login", "--url", &url, "--username", "root", "--credentials", creds_arg])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(login.stdin.take().unwrap(), "{}", common::identity::PASSWORD).unwrap();
    let login = login.wait_with_output().unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", String::from_utf8_lossy(&login.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap();
    assert!(saved["token"].as_str().unwrap().starts_with("cst_"));
    let with_saved = |args: &[&str]| {
        Command::new(BIN)
            .arg("call")
            .args(args)
            .args(["--credentials", creds_arg])
            .env_remove("COUNTERSIGN_URL")
            .output()
    };
    let me = with_saved(&["whoami", "{}", "--compact"]).unwrap();
    assert_eq!(me.status.code(), Some(0), "{}", String::from_utf8_lossy(&me.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&me.stdout).unwrap()["account"]["username"], "root");

    let mut watch = tokio::process::Command::new(BIN)
        .args(["watch", "--credentials", creds_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.expect("a line within 30 s");
        serde_json::from_str::<Value>(&line.unwrap().expect("watch is running")).unwrap()
    };
    let grant = |scope: &str| {
        let params = json!({"to_account_id": root_id, "role": "member", "scope_id": scope}).to_string();
        let output = with_saved(&["permit_grant", &params]).unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    };
    tokio::time::sleep(Duration::from_millis(500)).await; // watch is subscribed
    grant("org:a");
    let first = next_line().await;
    assert_eq!((&first["seq"], &first["type"]), (&json!(1), &json!("permit_granted")), "{first}");

    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().unwrap();
    server = serve(dir.path(), port, &database_url, "second.log");
    until_healthy(&url).await;
    grant("org:b");
    let second = next_line().await;
    assert_eq!((&second["seq"], &second["data"]["permit"]["scope_id"]), (&json!(2), &json!("org:b")), "{second}");

    // The token revoked: watch ends, saying so with 4.
    let tokens = with_saved(&["token_list", "{}", "--compact"]).unwrap();
    let tokens: Value = serde_json::from_slice(&tokens.stdout).unwrap();
    let token_id = tokens["tokens"][0]["id"].as_str().unwrap().to_owned();
    let revoked = with_saved(&["token_revoke", &json!({"token_id": token_id}).to_string()]).unwrap();
    assert_eq!(revoked.status.code(), Some(0), "{}", String::from_utf8_lossy(&revoked.stderr));
    let status = tokio::time::timeout(Duration::from_secs(30), watch.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(4), "watch exits as unauthenticated");
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().unwrap();
}
