//! The load generator: `connections` clients, each on its own connection, each making
//! sequential calls (send, await the answer, send the next) until the window closes
//! ([`run`], [`run_checked`]); or, for a baseline without a network, `connections` tasks
//! in this process, each running one piece of work after the other ([`run_tasks`]).
//!
//! A call is measured when it starts inside the measured part of the window; its latency
//! is from just before the request is written to just after the whole answer is read and
//! checked (for in-process work: from just before the work starts to just after it
//! returns). Every answer is parsed: anything but HTTP 200 with a JSON-RPC `result` and
//! `id` 1 counts as an error, as does a `result` that fails the run's [`Check`]; the run's
//! caller is expected to refuse a run with any.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::{SinkExt, StreamExt};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What every connection calls, and how.
pub enum Target {
    /// POST this JSON-RPC body to `url`, with `Authorization: Bearer <bearer>` when given.
    Post { url: String, body: Bytes, bearer: Option<String> },
    /// GET `url`, whose query holds the call.
    Get { url: String },
    /// Send this JSON-RPC message over a WebSocket opened at `url`.
    Ws { url: String, message: Utf8Bytes },
}

/// How much load, for how long.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub connections: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// The measured part of one run.
pub struct Sample {
    /// Latencies of the measured calls that succeeded, sorted.
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub measure: Duration,
}

impl Sample {
    /// Successful measured calls per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.measure.as_secs_f64()
    }

    /// The `p`-th percentile latency (nearest rank), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (p / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1].as_secs_f64() * 1000.0
    }
}

/// What a successful answer's `result` must also be, or why it is not.
pub type Check = fn(&Value) -> Result<(), String>;

/// Accepts any `result`.
fn any_result(_: &Value) -> Result<(), String> {
    Ok(())
}

/// Runs `plan` against `target` and returns what was measured.
pub async fn run(target: Target, plan: Plan) -> Sample {
    run_checked(target, any_result, plan).await
}

/// Like [`run`], and every answer's `result` must pass `check`.
pub async fn run_checked(target: Target, check: Check, plan: Plan) -> Sample {
    let target = Arc::new(target);
    let window = Window::of(plan);
    let workers = (0..plan.connections).map(|_| tokio::spawn(drive(target.clone(), check, window))).collect();
    gather(workers, plan).await
}

/// Runs `plan` without a network: `plan.connections` tasks in this process, each calling
/// `work` and awaiting what it returns, again and again; `Err` is a failed call.
pub async fn run_tasks<W, F>(work: W, plan: Plan) -> Sample
where
    W: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    let work = Arc::new(work);
    let window = Window::of(plan);
    let workers = (0..plan.connections)
        .map(|_| {
            let work = work.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let started = Instant::now();
                    if started >= window.end || !tally.record(started, work().await, window) {
                        break tally;
                    }
                }
            })
        })
        .collect();
    gather(workers, plan).await
}

/// Waits for every worker and merges their tallies.
async fn gather(workers: Vec<tokio::task::JoinHandle<Tally>>, plan: Plan) -> Sample {
    let mut sample = Sample { latencies: Vec::new(), errors: 0, first_error: None, measure: plan.measure };
    for worker in futures::future::join_all(workers).await {
        let tally = worker.expect("a load worker panicked");
        sample.latencies.extend(tally.latencies);
        sample.errors += tally.errors;
        sample.first_error = sample.first_error.or(tally.first_error);
    }
    sample.latencies.sort_unstable();
    sample
}

#[derive(Debug, Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

impl Window {
    /// The warm-up starts now; the measured time follows it.
    fn of(plan: Plan) -> Window {
        let measure_from = Instant::now() + plan.warmup;
        Window { measure_from, end: measure_from + plan.measure }
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    /// Records a call that started at `started` and just ended with `outcome`; false when
    /// the worker should stop (at its first error: the run is void anyway).
    fn record(&mut self, started: Instant, outcome: Result<(), String>, window: Window) -> bool {
        match outcome {
            Ok(()) if started >= window.measure_from => self.latencies.push(started.elapsed()),
            Ok(()) => {}
            Err(e) => {
                self.errors += 1;
                self.first_error = Some(e);
                return false;
            }
        }
        true
    }
}

/// One connection's loop.
async fn drive(target: Arc<Target>, check: Check, window: Window) -> Tally {
    let mut tally = Tally::default();
    let mut conn = match Conn::open(&target).await {
        Ok(conn) => conn,
        Err(e) => {
            tally.errors = 1;
            tally.first_error = Some(e);
            return tally;
        }
    };
    loop {
        let started = Instant::now();
        if started >= window.end || !tally.record(started, conn.call(&target, check).await, window) {
            break tally;
        }
    }
}

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The client's WebSocket read buffer. tungstenite zero-fills its whole read buffer
/// (128 KiB by default) before every read; answers here are under 200 bytes, so a small
/// buffer keeps that cost out of the client, whose CPU both servers share.
const WS_READ_BUFFER: usize = 4 * 1024;

/// One client connection: a keep-alive HTTP/1.1 connection or a WebSocket.
enum Conn {
    /// A client of its own, so each worker keeps its own connection.
    Http(reqwest::Client),
    Ws(Box<WsStream>),
}

impl Conn {
    async fn open(target: &Target) -> Result<Conn, String> {
        match target {
            Target::Post { .. } | Target::Get { .. } => {
                let client = reqwest::Client::builder().pool_max_idle_per_host(1).build();
                Ok(Conn::Http(client.map_err(|e| format!("cannot build an HTTP client: {e}"))?))
            }
            Target::Ws { url, .. } => {
                let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
                let (stream, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
                    .await
                    .map_err(|e| format!("cannot open a WebSocket to {url}: {e}"))?;
                Ok(Conn::Ws(Box::new(stream)))
            }
        }
    }

    async fn call(&mut self, target: &Target, check: Check) -> Result<(), String> {
        match (self, target) {
            (Conn::Http(client), Target::Post { url, body, bearer }) => {
                let request = client.post(url).header(CONTENT_TYPE, "application/json").body(body.clone());
                let request = match bearer {
                    Some(secret) => request.bearer_auth(secret),
                    None => request,
                };
                http_call(request, check).await
            }
            (Conn::Http(client), Target::Get { url }) => http_call(client.get(url), check).await,
            (Conn::Ws(stream), Target::Ws { message, .. }) => ws_call(stream, message.clone(), check).await,
            _ => unreachable!("a connection is opened for its own target"),
        }
    }
}

async fn http_call(request: reqwest::RequestBuilder, check: Check) -> Result<(), String> {
    let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("cannot read the body: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    check_answer(&body, check)
}

async fn ws_call(stream: &mut WsStream, message: Utf8Bytes, check: Check) -> Result<(), String> {
    stream.send(Message::Text(message)).await.map_err(|e| format!("cannot send: {e}"))?;
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => return check_answer(text.as_bytes(), check),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => return Err(format!("unexpected message: {other:?}")),
            Some(Err(e)) => return Err(format!("cannot receive: {e}")),
            None => return Err("the socket closed".to_owned()),
        }
    }
}

/// Accepts a JSON-RPC success answer to id 1 whose `result` passes `check`.
fn check_answer(body: &[u8], check: Check) -> Result<(), String> {
    let answer: Value = serde_json::from_slice(body).map_err(|e| format!("answer is not JSON ({e})"))?;
    match answer.get("result") {
        Some(result) if answer.get("error").is_none() && answer["id"] == 1 => {
            check(result).map_err(|e| format!("{e}: {answer}"))
        }
        _ => Err(format!("not a success answer to id 1: {answer}")),
    }
}
