//! The `countersign` binary itself: `serve` on both backends until SIGTERM, `migrate`,
//! `schemas --check`, config errors that name the file and key, and the offline changes
//! on a migrated database. (Offline commands on a missing or unmigrated one: `cli_offline.rs`.)

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Backend;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

backend_tests!(
    serve_answers_then_stops_on_sigterm,
    offline_bootstrap_token_and_call,
    offline_permit_grant_makes_a_keeper,
    offline_disable_and_enable_keep_a_lasting_admin,
);

async fn serve_answers_then_stops_on_sigterm(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut health = None;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{base}/health")).send().await {
            health = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(health, Some(json!({"status": "ok", "database": "ok"})));
    let body = json!([{"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}]);
    let batch: Value = http.post(format!("{base}/rpc")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(batch[0]["result"]["openrpc"], "1.3.2");
    let get: Value = http.get(format!("{base}/rpc/rpc.discover?id=3")).send().await.unwrap().json().await.unwrap();
    assert_eq!(get["id"], 3);

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(status.status.success(), "exit after SIGTERM: {:?}", status.status);
    let log = String::from_utf8_lossy(&status.stderr);
    assert!(log.contains("countersign listening") && log.contains("shutting down"), "{log}");
    // Which database, named at start: the SQLite file's absolute path, or PostgreSQL's
    // user@host:port/db, never a password.
    let named = match backend {
        Backend::Sqlite => dir.path().join("countersign.db").display().to_string(),
        Backend::Postgres => url.clone(), // the harness's URL has no password
    };
    assert!(log.contains(&format!("database={named}")), "{log}");
    assert!(log.contains("method=\"rpc.discover\"") && log.contains("outcome=\"ok\""), "one line per call: {log}");
    // First start on an empty database: a one-time bootstrap token, logged and written
    // to a file only its owner can read (beside the SQLite file; here the working dir too).
    let token_file = dir.path().join("countersign.bootstrap-token");
    let token = std::fs::read_to_string(&token_file).expect("the bootstrap token file exists");
    assert!(token.starts_with("csb_") && log.contains(token.trim()), "{log}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    if backend == Backend::Sqlite {
        assert!(dir.path().join("countersign.db").exists());
    }
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN).args(["migrate"]).current_dir(dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("countersign.db").exists(), "the default database is countersign.db here");
}

#[test]
fn schemas_check_passes_on_the_checked_in_folder_and_fails_on_a_stale_one() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(BIN).args(["schemas", "--check"]).current_dir(root).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schemas");
    let output = Command::new(BIN).args(["schemas", "--dir"]).arg(&out).output().unwrap();
    assert!(output.status.success());
    std::fs::write(out.join("openrpc.json"), "{}").unwrap();
    let output = Command::new(BIN).args(["schemas", "--check", "--dir"]).arg(&out).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("openrpc.json (stale)"));
}

#[test]
fn a_bad_config_fails_at_start_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nlisten = \"not an address\"\n").unwrap();
    let output = Command::new(BIN).args(["serve", "--config"]).arg(&file).current_dir(dir.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml") && stderr.contains("server.listen"), "{stderr}");
    assert!(!dir.path().join("countersign.db").exists(), "nothing is created before the config is valid");
}

/// The JSON-RPC error object a refused offline change prints on standard error, after the
/// log lines (the one naming the database).
fn refusal_of(output: &std::process::Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let start = stderr.find("\n{").map(|at| at + 1).or_else(|| stderr.starts_with('{').then_some(0));
    let object = start.map(|at| &stderr[at..]).unwrap_or_else(|| panic!("no error object in: {stderr}"));
    serde_json::from_str(object).unwrap_or_else(|e| panic!("the refusal is a JSON-RPC error object ({e}): {stderr}"))
}

/// Runs the binary in `dir` with `stdin` piped in.
fn run_with_stdin(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `account create --admin` bootstraps offline (retiring the token file), `token create`
/// prints a secret that `call` then uses against a running server, `audit verify` passes.
async fn offline_bootstrap_token_and_call(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let db = ["--database-url", url.as_str()];
    let password = "a long enough password\n";

    let output = run_with_stdin(dir.path(), &[&["migrate"][..], &db].concat(), "");
    assert!(output.status.success());
    let create = [&["account", "create", "--admin", "--username", "root"][..], &db].concat();
    let output = run_with_stdin(dir.path(), &create, password);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let account: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(account["username"], "root");
    let output = run_with_stdin(dir.path(), &create, password);
    assert!(!output.status.success(), "a taken username fails");
    assert!(String::from_utf8_lossy(&output.stderr).contains("username_taken"));
    let short = [&["account", "create", "--username", "shorty"][..], &db].concat();
    let output = run_with_stdin(dir.path(), &short, "short\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("password_too_short"));

    // The same checks as token_create: a method the API does not have is refused.
    let unknown = ["token", "create", "--username", "root", "--name", "ci", "--methods", "whoami,no_such_method"];
    let output = run_with_stdin(dir.path(), &[&unknown[..], &db].concat(), password);
    assert!(!output.status.success(), "an unknown method makes no token");
    let refusal = refusal_of(&output);
    assert_eq!((refusal["code"].as_i64(), &refusal["data"]["reason"]), (Some(-32005), &json!("unknown_method")));
    assert_eq!(refusal["data"]["method"], "no_such_method");
    let token = [&["token", "create", "--username", "root", "--name", "ci", "--methods", "whoami"][..], &db].concat();
    let output = run_with_stdin(dir.path(), &token, "wrong password here\n");
    assert!(!output.status.success(), "a wrong password makes no token");
    let output = run_with_stdin(dir.path(), &token, password);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let secret = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("cst_"), "{secret}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Command::new(BIN)
        .args([&["serve", "--listen", &listen][..], &db].concat())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let call = |method: &str| {
        Command::new(BIN).args(["call", method, "{}", "--url", &base, "--token", &secret]).output().unwrap()
    };
    let mut whoami = call("whoami");
    for _ in 0..100 {
        if whoami.status.success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        whoami = call("whoami");
    }
    assert!(whoami.status.success(), "{}", String::from_utf8_lossy(&whoami.stderr));
    let me: Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(me["account"]["username"], "root");
    assert_eq!(me["permissions"], json!({"*": ["*"]}));
    let denied = call("token_list");
    assert_eq!(denied.status.code(), Some(5), "forbidden");
    assert!(String::from_utf8_lossy(&denied.stderr).contains("token_method_not_allowed"));
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().unwrap();

    // Three rows: the account, the token, and the denied token_list call.
    let verify = Command::new(BIN).args([&["audit", "verify"][..], &db].concat()).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(
        String::from_utf8_lossy(&verify.stdout).starts_with("ok: 3 rows"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// `permit grant` is the operator's way to hand out roles the API never grants (keeper),
/// with the same checks on role and scope, and an audit row.
async fn offline_permit_grant_makes_a_keeper(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let db = ["--database-url", url.as_str()];
    assert!(run_with_stdin(dir.path(), &[&["migrate"][..], &db].concat(), "").status.success());
    let create = [&["account", "create", "--username", "svc"][..], &db].concat();
    let output = run_with_stdin(dir.path(), &create, "a long enough password\n");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let grant = |args: &[&str]| {
        let all = [&["permit", "grant", "--username"][..], args, &db].concat();
        run_with_stdin(dir.path(), &all, "")
    };
    let output = grant(&["svc", "--role", "keeper"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let permit: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((permit["role"].as_str(), &permit["scope_id"]), (Some("keeper"), &Value::Null), "{permit}");

    let refused = [
        (vec!["svc", "--role", "principal"], "scope_not_applicable"),
        (vec!["svc", "--role", "principal", "--scope", "unit:CF 1"], "/scope_id"),
        (vec!["svc", "--role", "overlord"], "unknown_role"),
        (vec!["nobody", "--role", "member"], "not_found"),
    ];
    for (args, reason) in refused {
        let output = grant(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(reason),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = grant(&["svc", "--role", "principal", "--scope", "org:acme/unit:CF1234"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The account, and the two grants: nothing for the refusals.
    let verify = Command::new(BIN).args([&["audit", "verify"][..], &db].concat()).output().unwrap();
    assert!(
        String::from_utf8_lossy(&verify.stdout).starts_with("ok: 3 rows"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// `account disable` / `account enable` run the API's kill switch: the last lasting admin
/// cannot be disabled, and refusals are JSON-RPC error objects.
async fn offline_disable_and_enable_keep_a_lasting_admin(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let db = ["--database-url", url.as_str()];
    let password = "a long enough password\n";
    let run = |args: &[&str], stdin: &str| run_with_stdin(dir.path(), &[args, &db[..]].concat(), stdin);
    assert!(run(&["migrate"], "").status.success());
    assert!(run(&["account", "create", "--admin", "--username", "root"], password).status.success());
    assert!(run(&["account", "create", "--username", "ann"], password).status.success());

    let output = run(&["account", "disable", "--username", "ann", "--reason", "left the company"], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let disabled: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(disabled["account"]["disabled_at"].is_string(), "{disabled}");
    let refusal = |output: std::process::Output| -> Value {
        assert!(!output.status.success());
        refusal_of(&output)
    };
    let again = refusal(run(&["account", "disable", "--username", "ann"], ""));
    assert_eq!(again["data"]["reason"], "already_disabled");
    let last = refusal(run(&["account", "disable", "--username", "root"], ""));
    assert_eq!(last["data"]["reason"], "last_admin");
    let unknown = refusal(run(&["account", "disable", "--username", "nobody"], ""));
    assert_eq!(unknown["data"]["reason"], "not_found");
    let output = run(&["account", "enable", "--username", "ann"], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let enabled: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(enabled["account"]["disabled_at"], Value::Null);
}
