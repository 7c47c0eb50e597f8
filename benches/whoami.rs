//! # Signed-in read against the bare echo, from outside: `whoami` over GET (issue 15, R1)
//!
//! **What is measured.** Calls per second and latency (p50, p99) of `GET
//! /rpc/whoami?id=1` with `Authorization: Bearer <API token>`, for an account holding
//! four scoped permits (`support/servers.rs`, as in `rpc_throughput`), from
//! [`CONNECTIONS`] keep-alive connections in a closed loop (each sends its next call when
//! the last is answered); against, in the same run, `POST /` `echo` on a bare jsonrpsee
//! 0.26 server. On SQLite, and on PostgreSQL when `BENCH_PG_URL` is set.
//!
//! **Why.** Issue 15's R1: a signed-in call should cost at least 0.8× the bare echo, i.e.
//! authentication (credential and permits) must not read the database on every call. The
//! ratio ours/echo is the figure to compare across commits.
//!
//! **Two load generators.** A slow client hides the server's cost, and on two cores it
//! takes CPU from the server too. Each round therefore measures both calls with `wrk`
//! (`benches/whoami/wrk.rs`: a separate process, [`WRK_THREADS`] thread(s), a Lua script
//! for the POST, results read from the script's JSON line) and with this crate's raw
//! HTTP/1.1 client (`support/openloop.rs` in closed-loop mode: one thread, a prepared
//! request, one write and one read per call, every answer compared byte for byte with a
//! checked probe answer). The report shows both ratios and what each client spent per
//! call (its CPU time over the calls it made, warm-up included), to say which is lighter.
//!
//! **Setup.** countersign (every rate-limit class out of reach, the bench actions) and the
//! echo run together in a *server process* (`support/child.rs`); wrk is a child of this
//! process; the own client runs in this process on a current-thread runtime.
//!
//! **Method.** Per backend, [`ROUNDS`] rounds of four runs (wrk whoami, wrk echo, own
//! whoami, own echo), odd rounds in reverse order. A run is [`WARMUP`] of load (not
//! recorded; for wrk a separate 1 s run) then the measured time. Medians over rounds;
//! ratios are medians of per-round ratios.
//!
//! **Caveats.** Everything shares two cores, the client included. Other processes disturb
//! the runs (`support/interference.rs`; the server process, wrk and a local PostgreSQL count
//! as the benchmark's own CPU) and disturbed runs are marked `*`. wrk checks status codes
//! only (a refused GET call is a 4xx there); the own client checks every body. wrk's
//! measured time is whole seconds (`BENCH_SECONDS` is rounded up). Logs are off.
//!
//! **Running.** `cargo bench --bench whoami` (SQLite only, about 90 s; with
//! `BENCH_PG_URL=postgres://user@host:port/postgres` about 3 minutes). `BENCH_SECONDS` sets
//! the measured time per run (default 5); `WHOAMI_CLIENT=wrk` or `own` runs one client
//! only. Needs `wrk` (Debian package `wrk`) unless `WHOAMI_CLIENT=own`.

mod support;
#[path = "whoami/wrk.rs"]
mod wrk;

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use support::backend::{Backend, Kind};
use support::openloop::{self, Call, Load};
use support::report::{self, Baseline, CaseResult, RunStats};
use support::{child, http1, interference, servers, settings};

const CONNECTIONS: usize = 64;
/// wrk's threads: one, like the own client, so that the two compare like for like.
const WRK_THREADS: usize = 1;
const ROUNDS: usize = 3;
const WARMUP: Duration = Duration::from_secs(1);
const DEFAULT_SECONDS: f64 = 5.0;
const ECHO: Baseline = Baseline { name: "echo", unit: "calls/s" };
const WHOAMI_TARGET: &str = "/rpc/whoami?id=1";
const ECHO_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"hello"}}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Wrk,
    Own,
}

/// Which of the two calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Whoami,
    Echo,
}

/// A measured run and what its client spent per call.
#[derive(Clone, Copy)]
struct Measured {
    client: Client,
    method: Method,
    stats: RunStats,
    client_us_per_call: f64,
}

/// The calls of one backend, for both clients.
struct Prepared {
    whoami: Rc<Call>,
    echo: Rc<Call>,
    whoami_script: std::path::PathBuf,
    echo_script: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    if let Some(result) = child::serve_if_server_process() {
        return result;
    }
    let measure = settings::measured_time(DEFAULT_SECONDS)?;
    let clients = match std::env::var("WHOAMI_CLIENT").as_deref() {
        Ok("wrk") => vec![Client::Wrk],
        Ok("own") => vec![Client::Own],
        Ok(other) if !other.is_empty() => anyhow::bail!("WHOAMI_CLIENT must be wrk or own, not {other:?}"),
        _ => vec![Client::Wrk, Client::Own],
    };
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(bench(&clients, measure))
}

async fn bench(clients: &[Client], measure: Duration) -> anyhow::Result<()> {
    if clients.contains(&Client::Wrk) {
        wrk::check_installed().await?;
    }
    let dir = tempfile::tempdir()?;
    let mut cases = Vec::new();
    let mut efficiency = Vec::new();
    let mut databases = Vec::new();
    for kind in Kind::from_env() {
        databases.push(kind.describe().await?);
        let backend = Backend::start(&kind, dir.path(), "whoami", true).await?;
        let token = servers::bench_account_token(&backend.db).await?;
        let prepared = prepare(&backend, dir.path(), &token).await?;
        let mut rounds = Vec::new();
        for round in 0..ROUNDS {
            eprintln!("{}: round {}/{ROUNDS}", kind.name(), round + 1);
            rounds.push(run_round(round, clients, &backend, &prepared, measure).await?);
        }
        // Probed again: the same answers after the load.
        let again = prepare(&backend, dir.path(), &token).await?;
        anyhow::ensure!(again.whoami.expected == prepared.whoami.expected, "whoami answers differently after the load");
        backend.stop().await?;
        for &client in clients {
            cases.push(case_of(&kind, client, &rounds));
        }
        efficiency.push((kind.name(), rounds));
    }
    print_report(&cases, &efficiency, clients, measure, &databases);
    Ok(())
}

/// Probes both calls with the own client (checking the answers) and writes wrk's scripts.
async fn prepare(backend: &Backend, dir: &Path, token: &str) -> anyhow::Result<Prepared> {
    let ours = backend.addrs().ours;
    let echo = backend.addrs().echo.context("the server process runs the echo")?;
    let whoami = Call::probed(ours, http1::get(ours, WHOAMI_TARGET, Some(token)), |result| {
        let permits = result["permits"].as_array().map_or(0, Vec::len);
        if result["account"]["username"].is_string() && permits == 4 {
            Ok(())
        } else {
            Err("not the bench account with four permits".to_owned())
        }
    });
    let echo_call = Call::probed(echo, http1::post(echo, "/", ECHO_BODY.as_bytes(), None), |result| {
        if result == &json!({ "text": "hello" }) { Ok(()) } else { Err("not the text sent".to_owned()) }
    });
    let whoami_request = wrk::Request { post_body: None, bearer: Some(token.to_owned()) };
    let echo_request = wrk::Request { post_body: Some(ECHO_BODY.to_owned()), bearer: None };
    Ok(Prepared {
        whoami: Rc::new(whoami.await?),
        echo: Rc::new(echo_call.await?),
        whoami_script: wrk::write_script(dir, "whoami", &whoami_request)?,
        echo_script: wrk::write_script(dir, "echo", &echo_request)?,
    })
}

async fn run_round(
    round: usize,
    clients: &[Client],
    backend: &Backend,
    prepared: &Prepared,
    measure: Duration,
) -> anyhow::Result<Vec<Measured>> {
    let mut order: Vec<(Client, Method)> =
        clients.iter().flat_map(|&client| [(client, Method::Whoami), (client, Method::Echo)]).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    let mut done = Vec::new();
    for (client, call) in order {
        let mark = backend.cpu_mark();
        let (throughput, p50_ms, p99_ms, client_us_per_call) = match client {
            Client::Wrk => run_wrk(backend, prepared, call, measure).await?,
            Client::Own => run_own(prepared, call, measure).await?,
        };
        let others_cores = mark.and_then(|mark| mark.others_since());
        let stats = RunStats { throughput, p50_ms, p99_ms, others_cores };
        eprintln!(
            "  {client:?} {call:?}: {throughput:.0} calls/s, p50 {p50_ms:.3} ms, p99 {p99_ms:.3} ms, client \
             {client_us_per_call:.1} µs CPU/call; other processes {:.2} cores",
            others_cores.unwrap_or(f64::NAN)
        );
        done.push(Measured { client, method: call, stats, client_us_per_call });
    }
    Ok(done)
}

/// A warm-up wrk run, then the measured one: (calls/s, p50 ms, p99 ms, wrk's CPU µs/call).
async fn run_wrk(
    backend: &Backend,
    prepared: &Prepared,
    call: Method,
    measure: Duration,
) -> anyhow::Result<(f64, f64, f64, f64)> {
    let (script, url) = match call {
        Method::Whoami => (&prepared.whoami_script, format!("http://{}{WHOAMI_TARGET}", backend.addrs().ours)),
        Method::Echo => (&prepared.echo_script, format!("http://{}/", prepared.echo.addr)),
    };
    let cpu_before = interference::ended_children_cpu_seconds();
    let warm = wrk::run(script, &url, CONNECTIONS, WRK_THREADS, WARMUP).await?;
    let result = wrk::run(script, &url, CONNECTIONS, WRK_THREADS, measure).await?;
    let cpu = cpu_before.zip(interference::ended_children_cpu_seconds()).map(|(a, b)| b - a);
    anyhow::ensure!(warm.errors + result.errors == 0, "{call:?}: wrk counted {} errors", warm.errors + result.errors);
    let per_call = cpu.map_or(f64::NAN, |cpu| cpu * 1e6 / (warm.requests + result.requests) as f64);
    Ok((result.throughput(), result.p50_us / 1e3, result.p99_us / 1e3, per_call))
}

/// A closed-loop run of the own client: (calls/s, p50 ms, p99 ms, its CPU µs/call).
async fn run_own(prepared: &Prepared, call: Method, measure: Duration) -> anyhow::Result<(f64, f64, f64, f64)> {
    let target = match call {
        Method::Whoami => prepared.whoami.clone(),
        Method::Echo => prepared.echo.clone(),
    };
    let load = Load { connections: CONNECTIONS, rate: None, warmup: WARMUP, measure };
    let cpu_before = interference::own_cpu_seconds();
    let outcome = openloop::run(target, load).await;
    let cpu = cpu_before.zip(interference::own_cpu_seconds()).map(|(a, b)| b - a);
    anyhow::ensure!(outcome.errors == 0, "{call:?}: {} errors; first: {:?}", outcome.errors, outcome.first_error);
    let per_call = cpu.map_or(f64::NAN, |cpu| cpu * 1e6 / outcome.answered as f64);
    Ok((outcome.achieved, outcome.ms(0.5), outcome.ms(0.99), per_call))
}

fn case_of(kind: &Kind, client: Client, rounds: &[Vec<Measured>]) -> CaseResult {
    let pick = |method: Method| -> Vec<RunStats> {
        rounds
            .iter()
            .map(|round| {
                round
                    .iter()
                    .find(|m| m.client == client && m.method == method)
                    .expect("every round runs every call")
                    .stats
            })
            .collect()
    };
    let name = match (kind, client) {
        (Kind::Sqlite, Client::Wrk) => "SQLite, wrk: GET whoami (token, 4 permits) vs POST echo",
        (Kind::Sqlite, Client::Own) => "SQLite, own client: GET whoami vs POST echo",
        (Kind::Postgres { .. }, Client::Wrk) => "PostgreSQL, wrk: GET whoami (token, 4 permits) vs POST echo",
        (Kind::Postgres { .. }, Client::Own) => "PostgreSQL, own client: GET whoami vs POST echo",
    };
    CaseResult { name, ours: pick(Method::Whoami), baseline: pick(Method::Echo) }
}

fn print_report(
    cases: &[CaseResult],
    efficiency: &[(&str, Vec<Vec<Measured>>)],
    clients: &[Client],
    measure: Duration,
    databases: &[String],
) {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!("## Signed-in GET whoami vs bare jsonrpsee echo (issue 15, R1)\n");
    println!("Machine: {}. Date: {date}. Databases: {}.\n", support::machine::machine(), databases.join("; "));
    println!(
        "Load: closed loop, {CONNECTIONS} connections; per run {:.1} s warm-up + {:.1} s measured; {ROUNDS} rounds. \
         Medians over rounds; ratios are medians of per-round whoami/echo. Goal: ≥ 0.8.\n",
        WARMUP.as_secs_f64(),
        measure.as_secs_f64()
    );
    println!("{}", report::summary_table(cases, ECHO));
    println!("{}", report::runs_table(cases, ECHO));
    println!("{}\n", report::disturbance(cases));
    println!(
        "Load generators: CPU each spent per call (µs, median over rounds; wrk {WRK_THREADS} thread, own client 1 thread):\n"
    );
    println!(
        "| backend | client | whoami calls/s | whoami µs/call | echo calls/s | echo µs/call |\n|---|---|--:|--:|--:|--:|"
    );
    for (backend, rounds) in efficiency {
        for &client in clients {
            let of = |method: Method, f: fn(&Measured) -> f64| {
                report::median(
                    rounds.iter().flatten().filter(|m| m.client == client && m.method == method).map(f).collect(),
                )
            };
            println!(
                "| {backend} | {client:?} | {:.0} | {:.1} | {:.0} | {:.1} |",
                of(Method::Whoami, |m| m.stats.throughput),
                of(Method::Whoami, |m| m.client_us_per_call),
                of(Method::Echo, |m| m.stats.throughput),
                of(Method::Echo, |m| m.client_us_per_call),
            );
        }
    }
}
