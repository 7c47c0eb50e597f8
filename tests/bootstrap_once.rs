//! The bootstrap token is issued once per database (docs/protocol.md §4.1): `serve` takes
//! its port before it issues one; a second instance or a restart that finds one pending
//! keeps it and says where it was written; `bootstrap-token --rotate` replaces it on
//! purpose; an expired one is refused, and the next start replaces it. Run on both
//! backends, with the real binary where instances are started.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::identity::PASSWORD;
use common::{Backend, assert_error, start};
use countersign::auth::bootstrap::{self, Prepared};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");

backend_tests!(
    a_port_in_use_fails_before_anything_is_issued,
    a_second_instance_keeps_the_first_instances_token,
    rotate_replaces_the_pending_token_on_purpose,
    an_expired_token_is_refused_and_the_next_start_replaces_it,
);

/// A `countersign serve` child, its log in a file; stopped with SIGTERM when dropped.
struct Serve {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Serve {
    /// Starts `serve` in `dir` (its working directory) on a free port.
    fn start(dir: &Path, database_url: &str, log: &str) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join(log);
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
            .current_dir(dir)
            .env_remove("COUNTERSIGN_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Serve { child, log, base: format!("http://127.0.0.1:{port}") }
    }

    async fn healthy(self) -> Serve {
        for _ in 0..200 {
            if reqwest::get(format!("{}/health", self.base)).await.is_ok_and(|r| r.status().is_success()) {
                return self;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not start: {}", self.base, self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn bootstrap(&self, token: &str, username: &str) -> Value {
        let params = json!({"token": token, "username": username, "password": PASSWORD});
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "account_bootstrap", "params": params});
        let response = reqwest::Client::new().post(format!("{}/rpc", self.base)).json(&body).send().await.unwrap();
        response.json().await.unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn read_token(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_owned()
}

/// A port that is taken fails `serve` at once: no database is created, no token issued or
/// written.
async fn a_port_in_use_fails_before_anything_is_issued(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .args(["serve", "--listen", &listen, "--database-url", &url])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains(&format!("cannot listen on {listen}")), "{said}");
    assert!(!said.contains("csb_"), "no token was issued: {said}");
    assert!(entries(dir.path()).is_empty(), "nothing created: {:?}", entries(dir.path()));
    if backend == Backend::Postgres {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(tables, 0, "the database was not even opened");
    }
}

/// Two instances on one empty database: the first issues and writes the token; the second
/// keeps it, names the first one's file, writes none of its own; the token the first wrote
/// bootstraps through the second, and its file is then removed.
async fn a_second_instance_keeps_the_first_instances_token(backend: Backend) {
    let shared = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, shared.path()).await else { return };
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = Serve::start(first_dir.path(), &url, "first.log").healthy().await;
    // Beside the SQLite file; in the first instance's working directory with PostgreSQL.
    let written = match backend {
        Backend::Sqlite => shared.path().join(bootstrap::TOKEN_FILE),
        Backend::Postgres => first_dir.path().join(bootstrap::TOKEN_FILE),
    };
    let token = read_token(&written);
    assert!(token.starts_with("csb_") && first.log().contains(&token), "{}", first.log());

    let second = Serve::start(second_dir.path(), &url, "second.log").healthy().await;
    let log = second.log();
    assert!(log.contains("still pending") && log.contains(&written.display().to_string()), "{log}");
    assert!(!log.contains("csb_"), "the second instance issues no token: {log}");
    assert_eq!(read_token(&written), token, "the first token's file is left as it was");
    assert_eq!(entries(second_dir.path()), ["second.log"], "the second instance writes no token file");
    // A restart of the first keeps it too.
    drop(first);
    let first = Serve::start(first_dir.path(), &url, "restart.log").healthy().await;
    assert!(first.log().contains("still pending"), "{}", first.log());
    assert_eq!(read_token(&written), token);

    let wrong = second.bootstrap(&format!("{token}x"), "mallory").await;
    assert_error(&wrong, -32002, "invalid_bootstrap_token");
    let answer = second.bootstrap(&token, "root").await;
    assert_eq!(answer["result"]["account"]["username"], "root", "{answer}");
    assert!(!written.exists(), "the used token's file is removed, wherever it was written");
    let again = first.bootstrap(&token, "other").await;
    assert_error(&again, -32004, "already_bootstrapped");
}

/// `bootstrap-token` says what is pending; `--rotate` prints a new token and writes it
/// (the old one stops working), and a server started afterwards keeps it; once an account
/// exists, rotating is a conflict.
async fn rotate_replaces_the_pending_token_on_purpose(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = common::database_url(backend, dir.path()).await else { return };
    let cli = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .args(["--database-url", &url])
            .current_dir(dir.path())
            .env_remove("COUNTERSIGN_CONFIG")
            .output()
            .unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stdout).trim().to_owned(), output.stderr)
    };
    assert!(cli(&["migrate"]).0);
    let (ok, said, _) = cli(&["bootstrap-token"]);
    assert!(ok && said.starts_with("no bootstrap token is pending"), "{said}");
    let file = dir.path().canonicalize().unwrap().join(bootstrap::TOKEN_FILE);
    let (ok, old, _) = cli(&["bootstrap-token", "--rotate"]);
    assert!(ok && old.starts_with("csb_"), "{old}");
    assert_eq!(read_token(&file), old);
    let (ok, new, stderr) = cli(&["bootstrap-token", "--rotate"]);
    assert!(ok && new.starts_with("csb_") && new != old, "{new}");
    assert!(String::from_utf8_lossy(&stderr).contains(&file.display().to_string()));
    assert_eq!(read_token(&file), new);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (ok, said, _) = cli(&["bootstrap-token"]);
    assert!(
        ok && said.starts_with("a bootstrap token is pending") && said.contains(&file.display().to_string()),
        "{said}"
    );

    let server = Serve::start(dir.path(), &url, "serve.log").healthy().await;
    assert!(server.log().contains("still pending"), "the rotated token is kept: {}", server.log());
    assert_error(&server.bootstrap(&old, "root").await, -32002, "invalid_bootstrap_token");
    let answer = server.bootstrap(&new, "root").await;
    assert_eq!(answer["result"]["account"]["username"], "root", "{answer}");
    drop(server);

    let (ok, _, stderr) = cli(&["bootstrap-token", "--rotate"]);
    assert!(!ok && String::from_utf8_lossy(&stderr).contains("already_bootstrapped"));
    assert!(!file.exists(), "a refused rotation writes nothing");
    let (ok, said, _) = cli(&["bootstrap-token"]);
    assert!(ok && said.starts_with("bootstrapped"), "{said}");
}

/// A token past its 24 hours is `forbidden/bootstrap_token_expired`; a start after that
/// issues a new one, while a start before keeps the old.
async fn an_expired_token_is_refused_and_the_next_start_replaces_it(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let token = server.bootstrap_token();
    let path = server.env.config.auth.bootstrap_token_file.clone().unwrap();
    let now = server.clock.now();
    let kept = bootstrap::prepare(&server.env.db, &path, now + chrono::Duration::hours(23)).await.unwrap();
    assert!(matches!(kept, Prepared::Kept(_)), "{kept:?}");
    assert_eq!(server.bootstrap_token(), token);

    server.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let expired = server
        .anonymous()
        .call("account_bootstrap", json!({"token": token, "username": "root", "password": PASSWORD}))
        .await;
    assert_error(&expired, -32002, "bootstrap_token_expired");

    let issued = bootstrap::prepare(&server.env.db, &path, server.clock.now()).await.unwrap();
    assert_eq!(issued, Prepared::Issued(path.clone()));
    let fresh = server.bootstrap_token();
    assert_ne!(fresh, token);
    let answer = server
        .anonymous()
        .call("account_bootstrap", json!({"token": fresh, "username": "root", "password": PASSWORD}))
        .await;
    assert_eq!(answer["result"]["account"]["username"], "root", "{answer}");
}
