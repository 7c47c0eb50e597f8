//! # RPC throughput: countersign against a bare jsonrpsee server
//!
//! **What is measured.** Calls per second and per-call latency (p50, p99) when
//! [`CONNECTIONS`] clients each make sequential calls (send, await the answer, send the
//! next) on their own keep-alive connection. Two servers run in this process on loopback:
//!
//! - countersign, started with `server::start` over a SQLite file in a temporary
//!   directory, with two bench-only read actions (`benches/support/actions.rs`):
//!   `bench_echo` (returns its `text`) and `bench_db_read` (one query on the call's pooled
//!   connection). Every rate-limit class is raised out of reach, so nothing is throttled.
//! - a bare jsonrpsee 0.26 server whose one method `echo` returns its params: the least a
//!   JSON-RPC server can do (parse, dispatch, serialize).
//!
//! **Why.** The ratio ours/echo is the price of countersign's pipeline (declaration lookup,
//! authentication, schema validation, rate limiting, metrics, the call log) and of its
//! axum transports, against a well-known floor. Absolute numbers only describe this
//! machine; the ratios are what to compare across commits.
//!
//! **Cases** (each countersign run is paired with a baseline run of the same round):
//!
//! | case | countersign | baseline |
//! |---|---|---|
//! | POST | `POST /rpc` `bench_echo` | `POST /` `echo` |
//! | WebSocket | `/ws` `bench_echo` | `/` (WebSocket) `echo` |
//! | GET | `GET /rpc/bench_echo?params=…&id=1` | `POST /` `echo` (jsonrpsee has no GET) |
//! | database read | `POST /rpc` `bench_db_read` | `POST /` `echo` |
//! | permission check | `POST /rpc` `permission_check`, 10 questions, with an API token | `POST /` `echo` |
//!
//! The permission check is the signed-in path every real call takes: the token and the
//! account's permits are resolved (from the credential cache after the first call), then
//! the questions are answered against four permits at different scopes.
//!
//! **Method.** A round runs each of the seven distinct runs once, in [`ROUND_ORDER`]; odd
//! rounds run that order backwards so that drift (heat, background load) does not always
//! favour the same side. The cases sharing the POST baseline use the same baseline run of
//! a round (this keeps the whole benchmark near two and a half minutes on two cores). A run is
//! [`WARMUP`] (connections open, caches fill; not recorded) then the measured time; a
//! call counts when it starts inside the measured time. Every answer is parsed and
//! checked; a single failed call makes the benchmark fail. The table shows medians over
//! [`ROUNDS`] rounds; the ratios are the medians of the per-round ratios.
//!
//! **Caveats.** The load generator and both servers share the machine's cores (one tokio
//! runtime), so client cost is in every number, equally for both sides. Other processes
//! disturb a two-core machine badly: each run records how much CPU they took meanwhile
//! (`support/interference.rs`) and the per-run table marks disturbed runs. No tracing
//! subscriber is installed: countersign's per-call `info!` log is disabled, so logging
//! costs (almost) nothing here, unlike a deployment that logs every call.
//!
//! **Running.** `cargo bench --bench rpc_throughput` (about 2.5 minutes). `BENCH_SECONDS`
//! sets the measured time per run (default 5; `BENCH_SECONDS=1` for a smoke run).
//! Arguments, such as the `--bench` cargo passes, are ignored. The report (Markdown) goes
//! to stdout, progress to stderr.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use serde_json::{Value, json};
use support::interference::CpuMark;
use support::load::{self, Plan, Target};
use support::report::{self, Baseline, CaseResult, RunStats};
use support::servers;

/// Concurrent client connections, each with one call in flight.
const CONNECTIONS: usize = 64;
/// Rounds of runs; the table shows medians over them.
const ROUNDS: usize = 3;
/// Load before the measured time of each run, not recorded.
const WARMUP: Duration = Duration::from_secs(1);
/// Measured seconds per run unless `BENCH_SECONDS` says otherwise.
const DEFAULT_SECONDS: f64 = 5.0;
/// The text every echo call sends.
const TEXT: &str = "hello from the load generator";
/// How the report names the baseline.
const ECHO: Baseline = Baseline { name: "echo", unit: "calls/s" };

/// One kind of run. Cases refer to runs, so several cases can share a baseline run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    OursGet,
    OursPost,
    EchoPost,
    OursDbRead,
    OursWs,
    EchoWs,
    OursCheck,
}

/// The order of runs in even rounds (odd rounds go backwards); each countersign run sits
/// next to, or one away from, its baseline run.
const ROUND_ORDER: [Run; 7] =
    [Run::OursGet, Run::OursPost, Run::EchoPost, Run::OursDbRead, Run::OursCheck, Run::OursWs, Run::EchoWs];

struct Case {
    name: &'static str,
    ours: Run,
    echo: Run,
}

const CASES: [Case; 5] = [
    Case { name: "POST bench_echo vs POST echo", ours: Run::OursPost, echo: Run::EchoPost },
    Case { name: "WS bench_echo vs WS echo", ours: Run::OursWs, echo: Run::EchoWs },
    Case { name: "GET bench_echo vs POST echo", ours: Run::OursGet, echo: Run::EchoPost },
    Case { name: "POST bench_db_read vs POST echo", ours: Run::OursDbRead, echo: Run::EchoPost },
    Case {
        name: "POST permission_check (token, 10 questions) vs POST echo",
        ours: Run::OursCheck,
        echo: Run::EchoPost,
    },
];

/// Where the two servers listen, and the signed-in account's API token.
struct Addrs {
    ours: SocketAddr,
    echo: SocketAddr,
    token: String,
}

fn main() -> anyhow::Result<()> {
    let plan = Plan { connections: CONNECTIONS, warmup: WARMUP, measure: measured_time()? };
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench(plan))
}

/// `BENCH_SECONDS` (fractions allowed), or [`DEFAULT_SECONDS`].
fn measured_time() -> anyhow::Result<Duration> {
    let Ok(text) = std::env::var("BENCH_SECONDS") else {
        return Ok(Duration::from_secs_f64(DEFAULT_SECONDS));
    };
    let seconds: f64 = text.trim().parse().with_context(|| format!("BENCH_SECONDS={text:?} is not a number"))?;
    anyhow::ensure!(seconds.is_finite() && seconds > 0.0, "BENCH_SECONDS must be positive, got {text:?}");
    Ok(Duration::from_secs_f64(seconds))
}

async fn bench(plan: Plan) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ours = servers::start_countersign(dir.path()).await.context("countersign does not start")?;
    let (echo_addr, echo) = servers::start_echo().await.context("the jsonrpsee baseline does not start")?;
    let token = servers::signed_in_token(&ours.api.env).await.context("cannot sign the bench account in")?;
    let addrs = Addrs { ours: ours.addr, echo: echo_addr, token };
    eprintln!("countersign on {}, jsonrpsee echo on {}; {plan:?}, {ROUNDS} rounds", addrs.ours, addrs.echo);

    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        eprintln!("round {}/{ROUNDS}", round + 1);
        rounds.push(run_round(round, &addrs, plan).await?);
    }
    let cases: Vec<CaseResult> = CASES
        .iter()
        .map(|case| CaseResult {
            name: case.name,
            ours: rounds.iter().map(|round| stats_of(round, case.ours)).collect(),
            baseline: rounds.iter().map(|round| stats_of(round, case.echo)).collect(),
        })
        .collect();
    print_report(&cases, plan);

    ours.shutdown().await?;
    echo.stop()?;
    echo.stopped().await;
    Ok(())
}

/// Runs every kind of run once; returns each run's stats.
async fn run_round(round: usize, addrs: &Addrs, plan: Plan) -> anyhow::Result<Vec<(Run, RunStats)>> {
    let mut order = ROUND_ORDER.to_vec();
    if round % 2 == 1 {
        order.reverse();
    }
    let mut done = Vec::with_capacity(order.len());
    for run in order {
        done.push((run, measure(run, addrs, plan).await?));
    }
    Ok(done)
}

fn stats_of(round: &[(Run, RunStats)], run: Run) -> RunStats {
    round.iter().find(|(r, _)| *r == run).map(|(_, stats)| *stats).expect("every round runs every kind of run")
}

/// One run; fails on any failed call.
async fn measure(run: Run, addrs: &Addrs, plan: Plan) -> anyhow::Result<RunStats> {
    let before = CpuMark::now();
    let sample = load::run(target(run, addrs), plan).await;
    let others_cores = before.and_then(|mark| mark.others_since());
    if sample.errors > 0 {
        let first = sample.first_error.as_deref().unwrap_or("?");
        anyhow::bail!("{run:?}: {} call(s) failed; first: {first}", sample.errors);
    }
    anyhow::ensure!(!sample.latencies.is_empty(), "{run:?}: no call completed in the measured time");
    let stats = RunStats::new(&sample, others_cores);
    eprintln!(
        "  {run:?}: {:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms; other processes {:.2} cores",
        stats.throughput,
        stats.p50_ms,
        stats.p99_ms,
        others_cores.unwrap_or(f64::NAN)
    );
    Ok(stats)
}

/// What the connections of `run` call, and where.
fn target(run: Run, addrs: &Addrs) -> Target {
    let echo_params = json!({ "text": TEXT });
    let (ours, echo) = (addrs.ours, addrs.echo);
    match run {
        Run::OursPost => post(format!("http://{ours}/rpc"), "bench_echo", echo_params),
        Run::OursCheck => Target::Post {
            url: format!("http://{ours}/rpc"),
            body: Bytes::from(call_text("permission_check", json!({ "checks": questions() }))),
            bearer: Some(addrs.token.clone()),
        },
        Run::OursDbRead => post(format!("http://{ours}/rpc"), "bench_db_read", json!({})),
        Run::EchoPost => post(format!("http://{echo}/"), "echo", echo_params),
        Run::OursGet => {
            let params: String = form_urlencoded::byte_serialize(echo_params.to_string().as_bytes()).collect();
            Target::Get { url: format!("http://{ours}/rpc/bench_echo?params={params}&id=1") }
        }
        Run::OursWs => {
            Target::Ws { url: format!("ws://{ours}/ws"), message: call_text("bench_echo", echo_params).into() }
        }
        Run::EchoWs => Target::Ws { url: format!("ws://{echo}/"), message: call_text("echo", echo_params).into() },
    }
}

fn post(url: String, method: &str, params: Value) -> Target {
    Target::Post { url, body: Bytes::from(call_text(method, params)), bearer: None }
}

/// Ten questions a UI might ask at once, answered yes and no, global and scoped.
fn questions() -> Value {
    let scopes =
        [None, Some("org:acme"), Some("org:acme/store:berlin"), Some("org:acme/unit:CF1234"), Some("org:other")];
    let asks = [("purchase", "approve"), ("module.status", "edit")];
    let all: Vec<Value> = asks
        .iter()
        .flat_map(|(resource, verb)| {
            scopes.iter().map(move |scope| json!({ "resource": resource, "verb": verb, "scope_id": scope }))
        })
        .collect();
    Value::Array(all)
}

/// A JSON-RPC call with id 1 (calls on one connection are sequential, so one id will do).
fn call_text(method: &str, params: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string()
}

fn print_report(cases: &[CaseResult], plan: Plan) {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!("## RPC throughput: countersign vs bare jsonrpsee 0.26 echo\n");
    println!("Machine: {}. Date: {date}.\n", support::machine::machine());
    println!(
        "Load: {} connections, one call in flight each; per run {:.1} s warm-up + {:.1} s measured; {ROUNDS} rounds. \
         Values are medians over rounds; ratios are medians of per-round ours/echo.\n",
        plan.connections,
        plan.warmup.as_secs_f64(),
        plan.measure.as_secs_f64(),
    );
    println!("{}", report::summary_table(cases, ECHO));
    println!("{}", report::runs_table(cases, ECHO));
    println!("{}", report::disturbance(cases));
}
