//! The integration-test harness: a real server on an ephemeral port, over a real SQLite
//! file or a real PostgreSQL database, with real HTTP and WebSocket clients.
//!
//! Write a test as `async fn name(backend: Backend)` and list it in [`backend_tests!`]; it
//! then runs once per backend (`sqlite::name`, `postgres::name`).

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod doubles;
pub mod identity;
pub mod node;
pub mod notices;
pub mod party;
pub mod pg;
pub mod receiver;

use std::net::SocketAddr;
use std::sync::Arc;

use countersign::app::Extra;
use countersign::call::Env;
use countersign::clock::Clock;
use countersign::config::{Config, RateLimit};
use countersign::rpc::Api;
use countersign::server::{self, Running};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::common::Backend::Postgres).await }
            )*
        }
    };
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub api: Arc<Api>,
    /// The server's environment (`api.env`): its database, config, clock.
    pub env: Arc<Env>,
    pub clock: Clock,
    pub http: reqwest::Client,
    pub database_url: String,
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

/// A database URL for `backend`, or `None` when PostgreSQL is unavailable (skipped).
pub async fn database_url(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.join("countersign.db").display())),
        Backend::Postgres => pg::fresh_database().await,
    }
}

/// Starts a server with the test doubles and the default config.
pub async fn start(backend: Backend) -> Option<TestServer> {
    start_with(backend, |_| {}).await
}

/// Starts a server with the test doubles, after `tweak` edits the config.
pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestServer> {
    start_custom(backend, doubles::extra(), tweak).await
}

pub async fn start_custom(backend: Backend, extra: Extra, tweak: impl FnOnce(&mut Config)) -> Option<TestServer> {
    let dir = tempfile::tempdir().unwrap();
    let database_url = database_url(backend, dir.path()).await?;
    Some(start_on(backend, database_url, dir, extra, tweak).await)
}

impl TestServer {
    /// A second server instance on the same database (as behind a load balancer).
    pub async fn another_instance(&self) -> TestServer {
        let backend = match self.env.db.backend() {
            countersign::db::Backend::Sqlite => Backend::Sqlite,
            countersign::db::Backend::Postgres => Backend::Postgres,
        };
        let dir = tempfile::tempdir().unwrap();
        start_on(backend, self.database_url.clone(), dir, doubles::extra(), |_| {}).await
    }
}

async fn start_on(
    backend: Backend,
    database_url: String,
    dir: tempfile::TempDir,
    extra: Extra,
    tweak: impl FnOnce(&mut Config),
) -> TestServer {
    capture_logs();
    let mut config = Config::embedded();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.database_url = database_url.clone();
    config.server.shutdown_grace_s = 10;
    // Tests run housekeeping themselves (`sweep_offers`), at the moment they choose.
    config.server.housekeeping_interval_s = 3600;
    config.auth.bootstrap_token_file = Some(dir.path().join("bootstrap-token"));
    doubles::add_rate_limit_class(&mut config);
    // Tests make many calls from one IP; the `read`, `write` and `refused` classes must
    // not get in the way (rate limiting itself is tested with the tight class of the test
    // doubles, and `refused` by the tests of floods).
    for class in ["read", "write", "refused"] {
        config.rate_limits.insert(class.into(), RateLimit { per_minute: 1_000_000, burst: 100_000 });
    }
    tweak(&mut config);
    let clock = Clock::default();
    let running = server::start(config, extra, clock.clone()).await.expect("server starts");
    let addr = running.addr;
    let expected = match backend {
        Backend::Sqlite => countersign::db::Backend::Sqlite,
        Backend::Postgres => countersign::db::Backend::Postgres,
    };
    assert_eq!(running.api.env.db.backend(), expected);
    TestServer {
        addr,
        base: format!("http://{addr}"),
        api: running.api.clone(),
        env: running.api.env.clone(),
        clock,
        http: reqwest::Client::new(),
        database_url,
        running: Some(running),
        _dir: dir,
    }
}

impl TestServer {
    /// POSTs a raw body to /rpc: (status, body text).
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}/rpc", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// POSTs a JSON body to /rpc: (status, parsed body or Null when empty).
    pub async fn post(&self, body: &Value) -> (u16, Value) {
        let (status, text) = self.post_raw(body.to_string()).await;
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// Calls `method` over POST; returns the whole response object.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.post(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// GETs `path` (with query): (status, headers, parsed body).
    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Opens a WebSocket to /ws.
    pub async fn ws(&self) -> WsClient {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", self.addr)).await.unwrap();
        WsClient { stream }
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn shutdown(mut self) {
        self.running.take().unwrap().shutdown().await.unwrap();
    }

    /// Starts a graceful shutdown and returns at once; `finish` waits for it.
    pub fn begin_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        let running = self.running.take().unwrap();
        tokio::spawn(async move { running.shutdown().await.unwrap() })
    }
}

/// A test's server, as it goes: every notification it stored must match its type's
/// schema. (Skipped when the test is failing anyway, or runs on a single-threaded runtime
/// that cannot block here.)
impl Drop for TestServer {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if std::thread::panicking() || runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        let env = self.env.clone();
        tokio::task::block_in_place(|| runtime.block_on(notices::check_stream(&env)));
    }
}

/// Everything the servers of this test binary logged, at every level.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends all log output (trace level, every target, under the server's secret-safe caps) to
/// a buffer [`captured_logs`] reads.
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(countersign::logging::secret_safe(tracing_subscriber::EnvFilter::new("trace")))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

/// The log output of this test binary so far.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    pub stream: WsStream,
}

impl WsClient {
    pub async fn send(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// The next text message as JSON (fails after 10 s or on anything else). A pushed
    /// notification is checked against its type's schema.
    pub async fn next_json(&mut self) -> Value {
        let value: Value = match self.next().await {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected a text message, got {other:?}"),
        };
        if value["method"] == "notification" {
            notices::check_push(&value["params"]["result"]);
        }
        value
    }

    /// The next message of any kind other than ping/pong.
    pub async fn next(&mut self) -> Message {
        loop {
            let message = tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.next())
                .await
                .expect("a WebSocket message within 10 s")
                .expect("the socket is open")
                .expect("a valid message");
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                return message;
            }
        }
    }

    /// The socket's next messages must be `session_revoked`, then a close with 4001.
    pub async fn closed_as_revoked(&mut self) {
        let told = self.next_json().await;
        assert_eq!(told["params"]["result"], json!({"type": "session_revoked"}), "{told}");
        match self.next().await {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4001),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Sends one call and returns its response.
    pub async fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()).await;
        self.next_json().await
    }
}

/// The `error` object of a response, or a panic naming what came instead.
pub fn error_of(response: &Value) -> &Value {
    response.get("error").unwrap_or_else(|| panic!("expected an error, got {response}"))
}

/// Asserts a response is an error with `code` and `data.reason`, carrying its request's
/// correlation id as `data.request_id` (as every error the server answers does).
pub fn assert_error(response: &Value, code: i64, reason: &str) {
    let error = error_of(response);
    assert_eq!(error["code"], code, "{response}");
    assert_eq!(error["data"]["reason"], reason, "{response}");
    request_id_of(response);
}

/// The `data.request_id` of an error response, which must be a UUID.
pub fn request_id_of(response: &Value) -> uuid::Uuid {
    let id = error_of(response)["data"]["request_id"].as_str();
    id.and_then(|id| uuid::Uuid::parse_str(id).ok()).unwrap_or_else(|| panic!("no request_id in data: {response}"))
}

/// A response's error object less its `data.request_id` (checked to be there): what two
/// answers must agree on when they should say the same thing, each request having its own id.
pub fn error_less_request_id(response: &Value) -> Value {
    request_id_of(response);
    let mut error = error_of(response).clone();
    error["data"].as_object_mut().map(|data| data.remove("request_id"));
    error
}
