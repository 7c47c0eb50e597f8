//! # Open-loop latency: signed-in `permission_check` at a fixed offered rate (issue 15, R4)
//!
//! **What is measured.** Latency percentiles (p50, p95, p99, max, from an HDR histogram),
//! errors and the achieved rate when calls are *offered at a fixed rate*, whatever the
//! server does: call `i` is due at `t0 + i / rate`, goes to keep-alive connection
//! `i mod K`, and its latency runs from its due time to its answer
//! (`benches/support/openloop.rs`). Three cases, each on SQLite and (with `BENCH_PG_URL`)
//! PostgreSQL:
//!
//! | case | call | offered |
//! |---|---|---|
//! | echo | `POST /` `echo` on a bare jsonrpsee 0.26 server | [`DEFAULT_RATE`] over [`DEFAULT_CONNECTIONS`] connections |
//! | check | `POST /rpc` `permission_check`, one question, API token | the same |
//! | batch | `POST /rpc` `permission_check`, [`BATCH`] questions, API token | [`DEFAULT_BATCH_RATE`] over [`BATCH_CONNECTIONS`] connections |
//!
//! The token's account holds four permits at different scopes (`support/servers.rs`, as
//! in `rpc_throughput`); the single question is answered yes through a scoped permit; the
//! batch repeats `rpc_throughput`'s ten questions (yes and no, global and scoped) a hundred
//! times (1,000 is the documented maximum of one call).
//!
//! **Why.** Issue 15's R4: a signed-in permission question at 20,000 calls/s should be
//! answered with p95 < 1 ms and p99 < 2 ms, without errors. A closed loop (each client
//! waits for its answer before sending the next) cannot show that: when the server stalls
//! it stops sending, so the stall is one slow call instead of every call due meanwhile
//! (coordinated omission). The echo case is the floor — what the machine, the loopback
//! and this client cost at the same rate — and shows that the generator keeps its
//! schedule. The batch's p50, at a rate far below saturation, is the time one 1,000-question
//! answer takes.
//!
//! **Setup.** The servers run in a *server process* (`support/child.rs`: this executable
//! started again): countersign over a fresh database with the bench actions and every
//! rate-limit class out of reach, and the echo beside it. The client runs in this process
//! on a current-thread tokio runtime (one core at most) with a raw HTTP/1.1 client
//! (`support/http1.rs`: one write and one read per call; no per-call allocation). Every
//! answer must equal, byte for byte, the answer of a probe call made first, which was
//! parsed and checked.
//!
//! **Method.** Per backend, [`ROUNDS`] rounds of the three cases, odd rounds in reverse
//! order; each run is [`WARMUP`] of load (not recorded, schedule continuing) then the
//! measured time. Tables: medians over rounds (max: the largest), then every run.
//!
//! **Caveats.** Client and server share two cores: the client's CPU is in every figure,
//! equally for echo and countersign. Other processes disturb the runs badly (a compile
//! next door doubles the tail); each run records their CPU (`support/interference.rs`;
//! the server process and a local PostgreSQL count as the benchmark's own) and the tables
//! mark disturbed runs with `*`. No tracing subscriber is installed (logs are off).
//!
//! **Running.** `cargo bench --bench openloop` (SQLite, about 1 minute; with
//! `BENCH_PG_URL=postgres://user@host:port/postgres`, a database created there and dropped
//! at the end, about 2.5 minutes; a run the server cannot keep up with takes up to 5 s
//! more, to let the calls due in it finish). `BENCH_SECONDS` sets the measured time per run (default
//! 5), `OPENLOOP_RATE` the offered rate (default 20,000), `OPENLOOP_CONNECTIONS` the
//! connections (default 64), `OPENLOOP_BATCH_RATE` the batch's rate (default 50). The
//! report (Markdown) goes to stdout, progress to stderr.

mod support;

use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};
use support::backend::{Backend, Kind};
use support::openloop::{self, Call, Load, Outcome};
use support::report::{DISTURBED_CORES, median};
use support::{child, http1, servers, settings};

const DEFAULT_RATE: f64 = 20_000.0;
const DEFAULT_CONNECTIONS: usize = 64;
const DEFAULT_BATCH_RATE: f64 = 50.0;
const BATCH_CONNECTIONS: usize = 4;
/// Questions in the batch case.
const BATCH: usize = 1000;
const ROUNDS: usize = 3;
const WARMUP: Duration = Duration::from_secs(1);
const DEFAULT_SECONDS: f64 = 5.0;
/// Issue 15's goals for the single question.
const P95_GOAL_MS: f64 = 1.0;
const P99_GOAL_MS: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Echo,
    Check,
    Batch,
}

const CASES: [Case; 3] = [Case::Echo, Case::Check, Case::Batch];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Echo => "POST echo (jsonrpsee)",
            Case::Check => "permission_check, 1 question, token",
            Case::Batch => "permission_check, 1,000 questions, token",
        }
    }
}

struct Settings {
    rate: f64,
    connections: usize,
    batch_rate: f64,
    measure: Duration,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        Ok(Settings {
            rate: settings::positive("OPENLOOP_RATE", DEFAULT_RATE)?,
            connections: settings::count("OPENLOOP_CONNECTIONS", DEFAULT_CONNECTIONS)?,
            batch_rate: settings::positive("OPENLOOP_BATCH_RATE", DEFAULT_BATCH_RATE)?,
            measure: settings::measured_time(DEFAULT_SECONDS)?,
        })
    }

    fn load(&self, case: Case) -> Load {
        let (connections, rate) = match case {
            Case::Echo | Case::Check => (self.connections, self.rate),
            Case::Batch => (BATCH_CONNECTIONS, self.batch_rate),
        };
        Load { connections, rate: Some(rate), warmup: WARMUP, measure: self.measure }
    }
}

/// One measured run.
struct Row {
    backend: &'static str,
    case: Case,
    offered: f64,
    outcome: Outcome,
    others_cores: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    if let Some(result) = child::serve_if_server_process() {
        return result;
    }
    let settings = Settings::from_env()?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(bench(settings))
}

async fn bench(settings: Settings) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let mut databases = Vec::new();
    for kind in Kind::from_env() {
        databases.push(kind.describe().await?);
        let backend = Backend::start(&kind, dir.path(), "openloop", true).await?;
        let token = servers::bench_account_token(&backend.db).await?;
        let calls = [
            (Case::Echo, Rc::new(echo_call(&backend).await?)),
            (Case::Check, Rc::new(check_call(&backend, &token, 1).await?)),
            (Case::Batch, Rc::new(check_call(&backend, &token, BATCH).await?)),
        ];
        for round in 0..ROUNDS {
            eprintln!("{}: round {}/{ROUNDS}", kind.name(), round + 1);
            let mut order: Vec<&(Case, Rc<Call>)> = calls.iter().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for (case, call) in order {
                rows.push(measure(&backend, *case, call, settings.load(*case)).await?);
            }
        }
        backend.stop().await?;
    }
    print_report(&rows, &settings, &databases);
    Ok(())
}

async fn measure(backend: &Backend, case: Case, call: &Rc<Call>, load: Load) -> anyhow::Result<Row> {
    let mark = backend.cpu_mark();
    let outcome = openloop::run(call.clone(), load).await;
    let others_cores = mark.and_then(|mark| mark.others_since());
    anyhow::ensure!(
        !outcome.histogram.is_empty(),
        "{case:?}: no call was answered; first error: {:?}",
        outcome.first_error
    );
    eprintln!(
        "  {case:?}: offered {:.0}/s, achieved {:.0}/s, p50 {:.3} p95 {:.3} p99 {:.3} max {:.3} ms, {} errors{}; \
         other processes {:.2} cores",
        load.rate.unwrap_or(f64::NAN),
        outcome.achieved,
        outcome.ms(0.5),
        outcome.ms(0.95),
        outcome.ms(0.99),
        outcome.max_ms(),
        outcome.errors,
        outcome.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default(),
        others_cores.unwrap_or(f64::NAN),
    );
    let offered = load.rate.unwrap_or(f64::NAN);
    Ok(Row { backend: backend.kind.name(), case, offered, outcome, others_cores })
}

async fn echo_call(backend: &Backend) -> anyhow::Result<Call> {
    let addr = backend.addrs().echo.expect("the server process runs the echo");
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "echo", "params": { "text": "hello" } }).to_string();
    let request = http1::post(addr, "/", body.as_bytes(), None);
    Call::probed(addr, request, |result| expect(result == &json!({ "text": "hello" }), "not the text sent")).await
}

/// `permission_check` with `count` questions; every answer must have `count` booleans.
async fn check_call(backend: &Backend, token: &str, count: usize) -> anyhow::Result<Call> {
    let addr = backend.addrs().ours;
    let checks: Vec<Value> = questions().into_iter().cycle().take(count).collect();
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "permission_check", "params": { "checks": checks } });
    let request = http1::post(addr, "/rpc", body.to_string().as_bytes(), Some(token));
    Call::probed(addr, request, move |result| {
        let results = result["results"].as_array().map_or(&[][..], Vec::as_slice);
        expect(results.len() == count && results.iter().all(Value::is_boolean), "not one boolean per question")?;
        expect(results[0] == true, "the first question should be answered yes")
    })
    .await
}

fn expect(ok: bool, why: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why.to_owned()) }
}

/// Ten questions a UI might ask at once, the first answered yes through a scoped permit.
fn questions() -> Vec<Value> {
    let scopes =
        [Some("org:acme/store:berlin"), None, Some("org:acme"), Some("org:acme/unit:CF1234"), Some("org:other")];
    let asks = [("purchase", "approve"), ("module.status", "edit")];
    asks.iter()
        .flat_map(|(resource, verb)| {
            scopes.iter().map(move |scope| json!({ "resource": resource, "verb": verb, "scope_id": scope }))
        })
        .collect()
}

fn print_report(rows: &[Row], settings: &Settings, databases: &[String]) {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!("## Open-loop latency: signed-in permission_check (issue 15, R4)\n");
    println!("Machine: {}. Date: {date}. Databases: {}.\n", support::machine::machine(), databases.join("; "));
    println!(
        "Load: open loop, latency from each call's due time; echo and check offered {:.0} calls/s over {} \
         connections, batch {:.0} calls/s over {BATCH_CONNECTIONS}; per run {:.1} s warm-up + {:.1} s measured; \
         {ROUNDS} rounds. Goal for the single question: p95 < {P95_GOAL_MS} ms, p99 < {P99_GOAL_MS} ms, no errors.\n",
        settings.rate,
        settings.connections,
        settings.batch_rate,
        WARMUP.as_secs_f64(),
        settings.measure.as_secs_f64(),
    );
    println!("| backend | case | offered/s | achieved/s | p50 ms | p95 ms | p99 ms | max ms | errors | unfinished |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for backend in unique(rows.iter().map(|r| r.backend)) {
        for case in CASES {
            let runs: Vec<&Row> = rows.iter().filter(|r| r.backend == backend && r.case == case).collect();
            let med = |f: &dyn Fn(&Row) -> f64| median(runs.iter().map(|r| f(r)).collect());
            println!(
                "| {backend} | {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |",
                case.name(),
                med(&|r| r.offered),
                med(&|r| r.outcome.achieved),
                med(&|r| r.outcome.ms(0.5)),
                med(&|r| r.outcome.ms(0.95)),
                med(&|r| r.outcome.ms(0.99)),
                runs.iter().map(|r| r.outcome.max_ms()).fold(0.0, f64::max),
                runs.iter().map(|r| r.outcome.errors).sum::<u64>(),
                runs.iter().map(|r| r.outcome.unfinished).sum::<u64>(),
            );
        }
    }
    println!("\nEvery run (`*`: other processes used at least {DISTURBED_CORES} cores meanwhile):\n");
    println!("| backend | case | achieved/s | p50 ms | p95 ms | p99 ms | max ms | errors | others' cores |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let mark = if r.others_cores.is_some_and(|c| c >= DISTURBED_CORES) { " *" } else { "" };
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {:.2}{mark} |",
            r.backend,
            r.case.name(),
            r.outcome.achieved,
            r.outcome.ms(0.5),
            r.outcome.ms(0.95),
            r.outcome.ms(0.99),
            r.outcome.max_ms(),
            r.outcome.errors,
            r.others_cores.unwrap_or(f64::NAN),
        );
    }
}

/// The distinct values, in first-seen order.
fn unique<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}
