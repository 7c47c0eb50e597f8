//! The client process: opens the sockets and subscribes each, then runs the rounds. A
//! round sends one `bench_broadcast` call and waits until every socket has received its
//! notification, exactly once; anything else fails the benchmark.
//!
//! Each socket has a task that reads it and notes, with `Instant::now()`, when each
//! notification arrived; the round's start is an `Instant` taken just before the call is
//! sent, in this same process, so latencies never mix clocks.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::{SinkExt, StreamExt};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::action;
use super::proto::{self, Delivery, Opened, Plan};
use super::{report, sys};

/// Sockets being opened at once.
const OPEN_CONCURRENCY: usize = 200;
/// How long one socket may take to open and subscribe.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long every socket of a round may take to receive its notification.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause after the sockets are open (and between rounds), so that the server is idle.
const SETTLE: Duration = Duration::from_secs(1);
/// After the last round: any notification arriving within this is one too many.
const QUIET: Duration = Duration::from_millis(500);
/// The client's WebSocket read buffer. tungstenite zero-fills the whole buffer (128 KiB
/// by default) before each read; notifications are under 300 bytes, and a small buffer
/// keeps the client's memory and CPU out of the server's way.
const READ_BUFFER: usize = 4 * 1024;

const SUBSCRIBE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"notifications_subscribe","params":{}}"#;

/// A plain TCP stream, not `MaybeTlsStream`: with the TLS feature on, that enum is as large
/// as its TLS variant, which would count in every socket's memory.
type WsStream = WebSocketStream<TcpStream>;

/// An open, subscribed socket.
struct Socket {
    index: usize,
    stream: WsStream,
    subscription: String,
}

/// What a socket's task reports.
enum Event {
    Received { index: usize, sent_at_micros: i64, at: Instant },
    Failed { index: usize, error: String },
}

/// The client process's entry point: `plan_path` names the [`Plan`] file.
///
/// One thread: with a multi-threaded runtime, the client's two workers woke each other
/// (futex) for most deliveries and competed with the server's two for the two cores; in
/// back-to-back runs at 10,000 sockets one thread lowered p99 by about 10 % (the raw stack's
/// too: 120–128 → 108–115 ms), the client's own CPU per delivery included.
pub fn main(plan_path: &str) -> anyhow::Result<()> {
    sys::raise_fd_limit()?;
    let plan: Plan = serde_json::from_slice(&std::fs::read(plan_path).with_context(|| format!("read {plan_path}"))?)
        .context("the plan file is not a plan")?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run(plan))
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let before = sys::settled_rss(Duration::ZERO).await?;
    let started = Instant::now();
    open_all(&plan, events_tx).await?;
    let open_secs = started.elapsed().as_secs_f64();
    let after = sys::settled_rss(SETTLE).await?;
    eprintln!("  client: {} sockets open and subscribed in {open_secs:.1} s", plan.sockets);
    say(proto::TAG_OPENED, &Opened { rss_delta_bytes: after - before, open_secs })?;
    wait_for_go().await?;
    let delivery = rounds(&plan, &http, &mut events).await?;
    say(proto::TAG_RESULT, &delivery)
}

/// Writes one `<tag> <json>` line to stdout, for the bench process.
fn say(tag: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{tag} {}", serde_json::to_string(value)?)?;
    Ok(out.flush()?)
}

async fn wait_for_go() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    match lines.next_line().await? {
        Some(line) if line.trim() == proto::GO => Ok(()),
        other => bail!("expected `{}` from the bench process, got {other:?}", proto::GO),
    }
}

/// Opens every socket, [`OPEN_CONCURRENCY`] at a time, and starts its reading task.
async fn open_all(plan: &Plan, events: mpsc::UnboundedSender<Event>) -> anyhow::Result<()> {
    let url = format!("ws://{}/ws", plan.addr);
    let mut opening = futures::stream::iter(0..plan.sockets)
        .map(|index| {
            let token = &plan.accounts[index % plan.accounts.len()].token;
            let url = &url;
            async move {
                tokio::time::timeout(OPEN_TIMEOUT, open_one(index, plan.addr, url, token))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {OPEN_TIMEOUT:?}")))
                    .with_context(|| format!("socket {index}"))
            }
        })
        .buffer_unordered(OPEN_CONCURRENCY);
    while let Some(socket) = opening.next().await {
        tokio::spawn(listen(socket?, events.clone()));
    }
    Ok(())
}

/// Opens one socket with the account's token and subscribes (live only).
async fn open_one(index: usize, addr: std::net::SocketAddr, url: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let tcp = TcpStream::connect(addr).await.context("cannot connect")?;
    tcp.set_nodelay(true)?;
    let (mut stream, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .context("cannot open the WebSocket")?;
    stream.send(Message::Text(Utf8Bytes::from_static(SUBSCRIBE))).await.context("cannot send the subscribe call")?;
    let subscription = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => break subscription_id(&text)?,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => bail!("unexpected answer to the subscribe call: {other:?}"),
            Some(Err(e)) => bail!("cannot read the subscribe answer: {e}"),
            None => bail!("the socket closed before the subscribe answer"),
        }
    };
    Ok(Socket { index, stream, subscription })
}

/// The subscription id of a successful `notifications_subscribe` answer.
fn subscription_id(text: &str) -> anyhow::Result<String> {
    let answer: Value = serde_json::from_str(text).context("the subscribe answer is not JSON")?;
    match answer.get("result").and_then(Value::as_str) {
        Some(id) if answer["id"] == 1 => Ok(id.to_owned()),
        _ => bail!("the subscribe call failed: {answer}"),
    }
}

/// Reads a socket until it fails; reports each notification's arrival.
async fn listen(socket: Socket, events: mpsc::UnboundedSender<Event>) {
    let Socket { index, mut stream, subscription } = socket;
    loop {
        let event = match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                let at = Instant::now();
                match sent_at_of(&text, &subscription) {
                    Some(sent_at_micros) => Event::Received { index, sent_at_micros, at },
                    None => Event::Failed { index, error: format!("unexpected message: {text}") },
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => Event::Failed { index, error: format!("unexpected message: {other:?}") },
            Some(Err(e)) => Event::Failed { index, error: format!("cannot read: {e}") },
            None => Event::Failed { index, error: "the server closed the socket".to_owned() },
        };
        let failed = matches!(event, Event::Failed { .. });
        if events.send(event).is_err() || failed {
            return;
        }
    }
}

/// The `sent_at_micros` of a `bench_broadcast` notification pushed for `subscription`.
/// Read into borrowed, typed fields (not a `Value` tree): the client shares the cores with
/// the server, so its parsing must cost as little as it can.
fn sent_at_of(text: &str, subscription: &str) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Push<'a> {
        method: &'a str,
        #[serde(borrow)]
        params: Params<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        subscription: &'a str,
        #[serde(borrow)]
        result: Row<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Row<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        sent_at_micros: i64,
    }
    let push: Push = serde_json::from_str(text).ok()?;
    let ours = push.method == "notification"
        && push.params.subscription == subscription
        && push.params.result.kind == action::KIND;
    ours.then_some(push.params.result.data.sent_at_micros)
}

/// The warm-up and measured rounds; then checks that nothing more arrives.
async fn rounds(
    plan: &Plan,
    http: &reqwest::Client,
    events: &mut mpsc::UnboundedReceiver<Event>,
) -> anyhow::Result<Delivery> {
    let epoch = Instant::now();
    let mut latencies = Vec::with_capacity(plan.sockets * plan.rounds);
    let mut commits = Vec::with_capacity(plan.rounds);
    for round in 0..plan.warmup_rounds + plan.rounds {
        let warmup = round < plan.warmup_rounds;
        let (commit, delivered) =
            one_round(plan, http, events, epoch).await.with_context(|| format!("round {}", round + 1))?;
        let mut sorted = delivered.clone();
        sorted.sort_unstable();
        eprintln!(
            "  client: round {}{}: commit {:.1} ms, delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            round + 1,
            if warmup { " (warm-up)" } else { "" },
            commit.as_secs_f64() * 1000.0,
            report::percentile_ms(&sorted, 50.0),
            report::percentile_ms(&sorted, 99.0),
            report::percentile_ms(&sorted, 100.0),
        );
        if !warmup {
            latencies.extend(delivered);
            commits.push(commit);
        }
        tokio::time::sleep(SETTLE).await;
    }
    expect_quiet(events).await?;
    Ok(report::summarize(latencies, &commits, plan.rounds))
}

/// One broadcast: the call's latency, and each socket's delivery latency by socket index.
async fn one_round(
    plan: &Plan,
    http: &reqwest::Client,
    events: &mut mpsc::UnboundedReceiver<Event>,
    epoch: Instant,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let sent_at_micros = i64::try_from(epoch.elapsed().as_micros())?;
    let account_ids: Vec<_> = plan.accounts.iter().map(|a| a.id).collect();
    let params = json!({ "account_ids": account_ids, "sent_at_micros": sent_at_micros });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": action::METHOD, "params": params }).to_string();
    let request = http.post(format!("http://{}/rpc", plan.addr)).header(CONTENT_TYPE, "application/json").body(body);
    let start = Instant::now();
    let answer = request.send().await.context("the broadcast call failed")?;
    let status = answer.status();
    let answer: Value = answer.json().await.context("the broadcast answer is not JSON")?;
    let commit = start.elapsed();
    ensure!(
        status.is_success() && answer["result"]["notified"] == plan.accounts.len(),
        "the broadcast call failed: HTTP {status}: {answer}"
    );
    let delivered = collect(events, plan.sockets, sent_at_micros, start).await?;
    Ok((commit, delivered))
}

/// Waits until every socket has received the notification of `sent_at_micros` once.
async fn collect(
    events: &mut mpsc::UnboundedReceiver<Event>,
    sockets: usize,
    sent_at_micros: i64,
    start: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let deadline = tokio::time::Instant::from_std(start + ROUND_TIMEOUT);
    let mut arrivals: Vec<Option<Instant>> = vec![None; sockets];
    let mut received = 0;
    while received < sockets {
        let Ok(event) = tokio::time::timeout_at(deadline, events.recv()).await else {
            let first = arrivals.iter().position(Option::is_none).unwrap_or(0);
            bail!(
                "{} of {sockets} sockets received nothing within {ROUND_TIMEOUT:?} (the first: socket {first})",
                sockets - received
            );
        };
        match event.context("every socket task has ended")? {
            Event::Received { index, sent_at_micros: sent, at } => {
                ensure!(sent == sent_at_micros, "socket {index} received a notification of another round ({sent})");
                ensure!(arrivals[index].replace(at).is_none(), "socket {index} received the notification twice");
                received += 1;
            }
            Event::Failed { index, error } => bail!("socket {index}: {error}"),
        }
    }
    Ok(arrivals.into_iter().map(|at| at.expect("every socket received").duration_since(start)).collect())
}

/// Fails if any socket hears anything more after the last round.
async fn expect_quiet(events: &mut mpsc::UnboundedReceiver<Event>) -> anyhow::Result<()> {
    match tokio::time::timeout(QUIET, events.recv()).await {
        Err(_) => Ok(()),
        Ok(None) => bail!("every socket task has ended"),
        Ok(Some(Event::Received { index, sent_at_micros, .. })) => {
            bail!("socket {index} received an extra notification ({sent_at_micros}) after the last round")
        }
        Ok(Some(Event::Failed { index, error })) => bail!("socket {index}: {error}"),
    }
}
