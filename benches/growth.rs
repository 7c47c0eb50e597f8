//! # Growth: offer create + accept on an empty database against a preloaded one (issue 15)
//!
//! **What is measured.** Pairs per second and pair latency (p50, p99) when [`PAIRS`]
//! workers each run, one after the other, *pairs*: the offerer calls
//! `permit_offer_create {to_account_id, role: "approver", scope_id: "org:bench"}` and the
//! recipient then calls `permit_offer_accept {offer_id}` (which replaces the recipient's
//! earlier permit of that role and scope) — `POST /rpc`, API tokens, every answer parsed
//! and checked (`pending`, then `accepted` with a permit). Each worker has its own
//! recipient, so pairs never contend for one offer. Two databases per backend: one
//! *empty* (only the people), one *preloaded* with 100,000 settled offers and 10,000
//! permits of 1,016 holders (`benches/growth/setup.rs` says exactly what). On SQLite, and
//! on PostgreSQL when `BENCH_PG_URL` is set.
//!
//! **Why.** Issue 15: countersign's create + accept rate fell about 30 % over three
//! 10-second rounds as offers and permits piled up (50 % on SQLite), i.e. a call's cost
//! grew with data it should not look at. The goal is the same rate on both databases
//! (± noise): ratio preloaded/empty ≈ 1.
//!
//! **Setup.** Each database is served by its own server process (`support/child.rs`;
//! countersign with every rate-limit class out of reach); the people and the preload are
//! written by this process with the domain functions and direct `INSERT`s, before any
//! load. The client is this crate's raw HTTP/1.1 client (`support/http1.rs`), two
//! keep-alive connections per worker (offerer's, recipient's).
//!
//! **Method.** [`ROUNDS`] rounds; a round runs empty then preloaded, odd rounds the other
//! way round. A run is [`WARMUP`] (not recorded) then the measured time
//! (`support/load.rs`: a pair counts when it starts inside it). Medians over rounds; the
//! ratio is the median of per-round preloaded/empty.
//!
//! **Caveats.** The runs add data too: each pair leaves an accepted offer, a revoked
//! permit, two audit rows and notifications, on both databases alike (a few thousand rows
//! per run, small beside the preload). Writes serialize (SQLite's one writer; on
//! PostgreSQL the commit), so the rate is a commit rate as much as anything. Other processes
//! disturb the runs (`support/interference.rs`; the server processes and a local PostgreSQL
//! count as the benchmark's own CPU); disturbed runs are marked `*`. Logs are off.
//!
//! **Running.** `cargo bench --bench growth` (SQLite, about 40 s; with
//! `BENCH_PG_URL=postgres://user@host:port/postgres` about 75 s: two databases are
//! created there and dropped at the end; the preload takes 2 to 4 s each). `BENCH_SECONDS` sets the measured time per run
//! (default 5).

#[path = "growth/setup.rs"]
mod setup;
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use setup::{People, Person};
use support::backend::{Backend, Kind};
use support::load::{self, Plan};
use support::report::{self, Baseline, CaseResult, RunStats};
use support::{child, http1, settings};
use uuid::Uuid;

/// Concurrent pairs (workers).
const PAIRS: usize = 16;
const ROUNDS: usize = 3;
const WARMUP: Duration = Duration::from_secs(1);
const DEFAULT_SECONDS: f64 = 5.0;
const PRELOADED: Baseline = Baseline { name: "preloaded", unit: "pairs/s" };
const EMPTY: Baseline = Baseline { name: "empty", unit: "pairs/s" };

/// A backend's two databases, each ready for load.
struct Side {
    backend: Backend,
    people: People,
}

/// One worker's connections and recipient.
struct Worker {
    offerer: http1::Conn,
    recipient: http1::Conn,
    create: Vec<u8>,
    recipient_token: String,
    addr: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    if let Some(result) = child::serve_if_server_process() {
        return result;
    }
    let measure = settings::measured_time(DEFAULT_SECONDS)?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(bench(measure))
}

async fn bench(measure: Duration) -> anyhow::Result<()> {
    let plan = Plan { connections: PAIRS, warmup: WARMUP, measure };
    let dir = tempfile::tempdir()?;
    let (mut cases, mut databases) = (Vec::new(), Vec::new());
    for kind in Kind::from_env() {
        databases.push(kind.describe().await?);
        let empty = side(&kind, dir.path(), "growth_empty", false).await?;
        let preloaded = side(&kind, dir.path(), "growth_preloaded", true).await?;
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            eprintln!("{}: round {}/{ROUNDS}", kind.name(), round + 1);
            let order = if round % 2 == 0 { [&empty, &preloaded] } else { [&preloaded, &empty] };
            for side in order {
                let stats = measure_side(side, plan).await?;
                if std::ptr::eq(side, &preloaded) { ours.push(stats) } else { base.push(stats) }
            }
        }
        let name = match kind {
            Kind::Sqlite => "SQLite: offer create + accept, preloaded vs empty",
            Kind::Postgres { .. } => "PostgreSQL: offer create + accept, preloaded vs empty",
        };
        cases.push(CaseResult { name, ours, baseline: base });
        empty.backend.stop().await?;
        preloaded.backend.stop().await?;
    }
    print_report(&cases, plan, &databases);
    Ok(())
}

/// A fresh database with the people, preloaded when `preload`, and its server.
async fn side(kind: &Kind, dir: &std::path::Path, label: &str, preload: bool) -> anyhow::Result<Side> {
    let backend = Backend::start(kind, dir, label, false).await?;
    let people = setup::people(&backend.db, PAIRS).await?;
    if preload {
        let started = Instant::now();
        setup::preload(&backend.db, &people).await?;
        let (offers, permits) = setup::counts(&backend.db).await?;
        anyhow::ensure!(offers >= setup::OFFERS as i64 && permits >= setup::PERMITS as i64, "the preload is missing");
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("{}: preloaded {offers} offers and {permits} permits in {seconds:.1} s", kind.name());
    }
    Ok(Side { backend, people })
}

async fn measure_side(side: &Side, plan: Plan) -> anyhow::Result<RunStats> {
    let addr = side.backend.addrs().ours;
    let mut workers = Vec::new();
    for recipient in &side.people.recipients {
        workers.push(worker(addr, &side.people.offerer, recipient).await?);
    }
    let pool = Arc::new(Mutex::new(workers));
    let mark = side.backend.cpu_mark();
    let sample = load::run_tasks(
        move || {
            let pool = pool.clone();
            async move {
                let mut worker = pool.lock().expect("pool lock").pop().ok_or("no free worker")?;
                let outcome = pair(&mut worker).await;
                pool.lock().expect("pool lock").push(worker);
                outcome
            }
        },
        plan,
    )
    .await;
    let others_cores = mark.and_then(|mark| mark.others_since());
    if sample.errors > 0 {
        anyhow::bail!("{} pair(s) failed; first: {}", sample.errors, sample.first_error.as_deref().unwrap_or("?"));
    }
    let stats = RunStats::new(&sample, others_cores);
    eprintln!(
        "  {}: {:.0} pairs/s, p50 {:.1} ms, p99 {:.1} ms; other processes {:.2} cores",
        side.backend.db.target(),
        stats.throughput,
        stats.p50_ms,
        stats.p99_ms,
        others_cores.unwrap_or(f64::NAN)
    );
    Ok(stats)
}

async fn worker(addr: SocketAddr, offerer: &Person, recipient: &Person) -> anyhow::Result<Worker> {
    let params = json!({ "to_account_id": recipient.account, "role": setup::ROLE, "scope_id": setup::SCOPE });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "permit_offer_create", "params": params }).to_string();
    Ok(Worker {
        offerer: http1::Conn::open(addr).await.map_err(anyhow::Error::msg)?,
        recipient: http1::Conn::open(addr).await.map_err(anyhow::Error::msg)?,
        create: http1::post(addr, "/rpc", body.as_bytes(), Some(&offerer.token)),
        recipient_token: recipient.token.clone(),
        addr,
    })
}

/// One offer made and accepted; `Err` says what went wrong.
async fn pair(worker: &mut Worker) -> Result<(), String> {
    let created = result_of(worker.offerer.call(&worker.create).await?)?;
    let offer = &created["offer"];
    let id: Uuid = serde_json::from_value(offer["id"].clone()).map_err(|e| format!("no offer id: {e}: {created}"))?;
    if offer["status"] != "pending" {
        return Err(format!("the new offer is not pending: {created}"));
    }
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "permit_offer_accept", "params": { "offer_id": id } });
    let accept = http1::post(worker.addr, "/rpc", body.to_string().as_bytes(), Some(&worker.recipient_token));
    let accepted = result_of(worker.recipient.call(&accept).await?)?;
    if accepted["offer"]["status"] != "accepted" || !accepted["permit"]["id"].is_string() {
        return Err(format!("the offer was not accepted into a permit: {accepted}"));
    }
    Ok(())
}

/// The `result` of a JSON-RPC success answer to id 1.
fn result_of(answer: http1::Answer<'_>) -> Result<Value, String> {
    let text = String::from_utf8_lossy(answer.body);
    let mut json: Value = serde_json::from_slice(answer.body).map_err(|e| format!("not JSON ({e}): {text}"))?;
    let failed = answer.status != 200 || json.get("error").is_some() || json["id"] != 1;
    match json.get_mut("result") {
        Some(result) if !failed => Ok(result.take()),
        _ => Err(format!("HTTP {}, not a result: {text}", answer.status)),
    }
}

fn print_report(cases: &[CaseResult], plan: Plan, databases: &[String]) {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!("## Growth: offer create + accept, preloaded vs empty database\n");
    println!("Machine: {}. Date: {date}. Databases: {}.\n", support::machine::machine(), databases.join("; "));
    println!(
        "Load: {} concurrent pairs (create, then accept); per run {:.1} s warm-up + {:.1} s measured; {ROUNDS} rounds. \
         Preloaded: {} settled offers, {} permits, {} filler accounts. Medians over rounds; the ratio is the median of \
         per-round preloaded/empty (goal: 1 ± noise).\n",
        plan.connections,
        plan.warmup.as_secs_f64(),
        plan.measure.as_secs_f64(),
        setup::OFFERS,
        setup::PERMITS,
        setup::FILLERS,
    );
    println!("{}", report::summary_table_of(cases, PRELOADED, EMPTY));
    println!("{}", report::runs_table_of(cases, PRELOADED, EMPTY));
    println!("{}", report::disturbance(cases));
}
