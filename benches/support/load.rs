//! The load generator: `connections` clients, each on its own connection, each making
//! sequential calls (send, await the answer, send the next) until the window closes.
//!
//! A call is measured when it starts inside the measured part of the window; its latency
//! is from just before the request is written to just after the whole answer is read and
//! checked. Every answer is parsed: anything but HTTP 200 with a JSON-RPC `result` and
//! `id` 1 counts as an error, and the run's caller is expected to refuse a run with any.

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

/// Runs `plan` against `target` and returns what was measured.
pub async fn run(target: Target, plan: Plan) -> Sample {
    let target = Arc::new(target);
    let measure_from = Instant::now() + plan.warmup;
    let window = Window { measure_from, end: measure_from + plan.measure };
    let workers: Vec<_> = (0..plan.connections).map(|_| tokio::spawn(drive(target.clone(), window))).collect();
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

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// One connection's loop. It stops at its first error: the run is void anyway.
async fn drive(target: Arc<Target>, window: Window) -> Tally {
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
        if started >= window.end {
            break;
        }
        match conn.call(&target).await {
            Ok(()) if started >= window.measure_from => tally.latencies.push(started.elapsed()),
            Ok(()) => {}
            Err(e) => {
                tally.errors += 1;
                tally.first_error = Some(e);
                break;
            }
        }
    }
    tally
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

    async fn call(&mut self, target: &Target) -> Result<(), String> {
        match (self, target) {
            (Conn::Http(client), Target::Post { url, body, bearer }) => {
                let request = client.post(url).header(CONTENT_TYPE, "application/json").body(body.clone());
                http_call(match bearer {
                    Some(secret) => request.bearer_auth(secret),
                    None => request,
                })
                .await
            }
            (Conn::Http(client), Target::Get { url }) => http_call(client.get(url)).await,
            (Conn::Ws(stream), Target::Ws { message, .. }) => ws_call(stream, message.clone()).await,
            _ => unreachable!("a connection is opened for its own target"),
        }
    }
}

async fn http_call(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("cannot read the body: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    check_answer(&body)
}

async fn ws_call(stream: &mut WsStream, message: Utf8Bytes) -> Result<(), String> {
    stream.send(Message::Text(message)).await.map_err(|e| format!("cannot send: {e}"))?;
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => return check_answer(text.as_bytes()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => return Err(format!("unexpected message: {other:?}")),
            Some(Err(e)) => return Err(format!("cannot receive: {e}")),
            None => return Err("the socket closed".to_owned()),
        }
    }
}

/// Accepts a JSON-RPC success answer to id 1.
fn check_answer(body: &[u8]) -> Result<(), String> {
    let answer: Value = serde_json::from_slice(body).map_err(|e| format!("answer is not JSON ({e})"))?;
    let ok = answer.get("error").is_none() && answer.get("result").is_some() && answer["id"] == 1;
    if ok { Ok(()) } else { Err(format!("not a success answer to id 1: {answer}")) }
}
