//! # request_create throughput: countersign against a bare transaction writing the same rows
//!
//! **What is measured.** Calls per second and per-call latency (p50, p99) of
//! `request_create` when [`CONNECTIONS`] clients each make sequential calls (send, await
//! the answer, send the next) on their own keep-alive connection; beside it, transactions
//! per second and per-transaction latency when [`CONNECTIONS`] tasks in this process each
//! write the same rows in one bare transaction, one after the other. On SQLite always, and
//! on PostgreSQL when `BENCH_PG_URL` is set.
//!
//! - countersign (ours): started with `server::start` as in `rpc_throughput`
//!   (`support/servers.rs`, every rate-limit class out of reach), over a fresh database.
//!   One account holds `member` at `org:bench` (so it may create purchases there) and has
//!   an API token; exactly one other account holds `approver` at `org:bench`. Every call
//!   is `POST /rpc` with that token:
//!   `request_create {"kind":"purchase","scope_id":"org:bench","title":…,"amount":"100","currency":"USD"}`.
//!   Purchase's default policy is enabled, no confirmation, one approval, no limits, so a
//!   call authenticates (token and permits, one query), reads the policy in force, inserts
//!   the request as `pending_approval`, appends one audit row, finds the approvers (one
//!   query) and notifies the one there is, then commits. Every answer is checked: a JSON-RPC
//!   result whose `request.status` is `pending_approval`.
//! - the bare transaction (`benches/request_create/bare.rs`): on a separate, freshly
//!   migrated database of the same kind, holding the same two accounts, `Db::begin_write`,
//!   then countersign's own writers: `requests::store::insert` (the same row),
//!   `audit_log::append` (lock `audit_head`, insert the row with its real hash, update the
//!   head), `notify::writer::write` to the approver and `notify::writer::announce`
//!   (`pg_notify`), commit.
//!   No HTTP, no JSON-RPC, no authentication, no policy read, no approver lookup.
//!
//! **Why.** A create is the first write of every gated action. The ratio ours/bare is
//! what the API around those rows costs — transport, pipeline, authentication, the policy
//! and approver reads, answering in JSON — against the least any server could do to
//! record them with the same guarantees (one transaction, a hash-chained audit row, a
//! durable notification). The goal is at least 0.5×. Absolute numbers only describe this
//! machine; the ratios are what to compare across commits.
//!
//! **Method.** A round runs, for each backend, countersign then the bare transaction; odd
//! rounds run the whole order backwards so that drift (heat, background load, tables
//! growing) does not always favour the same side. A run is [`WARMUP`] (connections open,
//! caches fill; not recorded) then the measured time; a call counts when it starts inside
//! the measured time, and its latency runs from just before the request is written to
//! just after the answer is read and checked (bare: from just before the task makes the
//! next request's rows to just after their commit returns). A single failed call or transaction makes the benchmark fail. The table shows
//! medians over [`ROUNDS`] rounds; the ratios are the medians of the per-round ratios.
//! After the runs both databases are checked: one request, one `request_create` audit row
//! and one notification (to the approver) per create, and an audit chain that verifies.
//!
//! **Caveats.** Everything shares the machine's cores: on the countersign side the load
//! generator's HTTP client is in every number, and the bare side has no client; that is
//! part of the price measured. A local PostgreSQL server also shares them; its processes
//! (found as the parent of the bench's backend process and its children) count as the
//! benchmark's own CPU, not as a disturbance; a PostgreSQL in a container or on another
//! host is not seen that way. Other processes disturb a two-core machine badly: each run
//! records how much CPU they took meanwhile (`support/interference.rs`) and the per-run
//! table marks disturbed runs. The tables grow during the benchmark (each side writes its
//! own database), so later rounds write into larger indexes, on both sides alike. No
//! tracing subscriber is installed: countersign's per-call log costs (almost) nothing here.
//! What a commit costs depends on the database's durability settings (SQLite here: WAL,
//! `synchronous = NORMAL`; PostgreSQL: its `fsync` and `synchronous_commit`, printed in the
//! report), and weighs on both sides alike.
//!
//! **Running.** `cargo bench --bench request_create` (SQLite only, about 40 s).
//! `BENCH_PG_URL=postgres://user@host:port/postgres cargo bench --bench request_create`
//! adds PostgreSQL (about 80 s in all): the URL must let the bench create and drop
//! databases; two fresh ones (`countersign_bench_ours_…`, `countersign_bench_bare_…`) are
//! created next to the URL's database and dropped at the end. `BENCH_SECONDS` sets the
//! measured time per run (default 5; `BENCH_SECONDS=1` for a smoke run). Arguments, such
//! as the `--bench` cargo passes, are ignored. The report (Markdown) goes to stdout,
//! progress to stderr.

mod support;

#[path = "request_create/bare.rs"]
mod bare;
#[path = "request_create/setup.rs"]
mod setup;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use bare::Bare;
use countersign::server::Running;
use serde_json::{Value, json};
use setup::{Database, Kind, People};
use support::interference::CpuMark;
use support::load::{self, Plan, Sample, Target};
use support::report::{self, Baseline, CaseResult, RunStats};
use support::servers;

/// Concurrent client connections (countersign) and tasks (bare), each with one call or
/// transaction in flight.
const CONNECTIONS: usize = 64;
/// Rounds of runs; the table shows medians over them.
const ROUNDS: usize = 3;
/// Load before the measured time of each run, not recorded.
const WARMUP: Duration = Duration::from_secs(1);
/// Measured seconds per run unless `BENCH_SECONDS` says otherwise.
const DEFAULT_SECONDS: f64 = 5.0;
/// What every request asks for.
const TITLE: &str = "Reserved instances for the bench cluster";
const AMOUNT: &str = "100";
const CURRENCY: &str = "USD";
/// The throughput ratio ours/bare the issue asks for.
const GOAL: f64 = 0.5;
/// How the report names the baseline.
const BARE: Baseline = Baseline { name: "bare", unit: "tx/s" };

/// Which side of a backend a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Bare,
}

/// One backend, ready to run: countersign over one fresh database, the bare writer over
/// another.
struct Backend {
    kind: Kind,
    ours: Running,
    ours_people: People,
    bare: Arc<Bare>,
    /// A local PostgreSQL's main process, whose CPU counts as the benchmark's.
    db_server: Option<u32>,
    /// PostgreSQL's version and durability settings, for the report.
    settings: Option<String>,
    /// The SQLite files and the bootstrap token file.
    _dir: tempfile::TempDir,
}

fn main() -> anyhow::Result<()> {
    let plan = Plan { connections: CONNECTIONS, warmup: WARMUP, measure: measured_time()? };
    let pg_url = std::env::var("BENCH_PG_URL").ok().filter(|url| !url.is_empty());
    let mut kinds = vec![Kind::Sqlite];
    kinds.extend(pg_url.map(|admin_url| Kind::Postgres { admin_url }));
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench(kinds, plan))
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

/// Runs the benchmark; the PostgreSQL databases it created are dropped whatever happens.
async fn bench(kinds: Vec<Kind>, plan: Plan) -> anyhow::Result<()> {
    let mut databases = Vec::new();
    let result = run(kinds, plan, &mut databases).await;
    for database in databases {
        if let Err(e) = database.drop().await {
            eprintln!("cannot drop a bench database: {e:#}");
        }
    }
    result
}

async fn run(kinds: Vec<Kind>, plan: Plan, databases: &mut Vec<Database>) -> anyhow::Result<()> {
    let mut backends = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let name = kind.name();
        backends.push(prepare(kind, databases).await.with_context(|| format!("{name}: cannot set up"))?);
    }
    eprintln!("{plan:?}, {ROUNDS} rounds");

    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        eprintln!("round {}/{ROUNDS}", round + 1);
        let mut done = Vec::new();
        for (backend, side) in round_order(backends.len(), round) {
            done.push(((backend, side), measure(&backends[backend], side, plan).await?));
        }
        rounds.push(done);
    }
    let stats_of = |round: &[((usize, Side), RunStats)], run: (usize, Side)| {
        round.iter().find(|(r, _)| *r == run).map(|(_, stats)| *stats).expect("every round runs every run")
    };
    let cases: Vec<CaseResult> = (0..backends.len())
        .map(|b| CaseResult {
            name: backends[b].kind.case(),
            ours: rounds.iter().map(|round| stats_of(round, (b, Side::Ours))).collect(),
            baseline: rounds.iter().map(|round| stats_of(round, (b, Side::Bare))).collect(),
        })
        .collect();

    let mut written = Vec::with_capacity(backends.len());
    for backend in &backends {
        let name = backend.kind.name();
        let ours = setup::check_rows(&backend.ours.api.env.db, &backend.ours_people)
            .await
            .with_context(|| format!("{name}: countersign's rows"))?;
        let bare = setup::check_rows(backend.bare.db(), backend.bare.people())
            .await
            .with_context(|| format!("{name}: the bare transactions' rows"))?;
        written.push((ours, bare));
    }
    print_report(&backends, &cases, &written, plan);

    for backend in backends {
        backend.bare.db().close().await;
        backend.ours.shutdown().await?;
    }
    Ok(())
}

/// Creates the two databases (recorded in `databases`, to drop at the end), starts
/// countersign over one and opens the bare writer over the other, each with its accounts.
async fn prepare(kind: Kind, databases: &mut Vec<Database>) -> anyhow::Result<Backend> {
    let dir = tempfile::tempdir()?;
    let ours_db = Database::create(&kind, dir.path(), "ours").await?;
    let ours_url = ours_db.url.clone();
    databases.push(ours_db);
    let bare_db = Database::create(&kind, dir.path(), "bare").await?;
    let bare_url = bare_db.url.clone();
    databases.push(bare_db);

    let ours = servers::start_countersign_on(ours_url, dir.path()).await.context("countersign does not start")?;
    let ours_people = setup::seed(&ours.api.env.db).await.context("cannot create countersign's accounts")?;
    let bare = Bare::open(&bare_url, TITLE, AMOUNT, CURRENCY).await.context("cannot open the bare database")?;
    let (db_server, settings) = match &kind {
        Kind::Sqlite => (None, None),
        Kind::Postgres { admin_url } => {
            (support::pg::main_process(admin_url).await?, Some(support::pg::settings(admin_url).await?))
        }
    };
    eprintln!(
        "{}: countersign on {}; PostgreSQL's processes counted as ours: {}",
        kind.name(),
        ours.addr,
        db_server.map_or_else(|| "none".to_owned(), |pid| format!("{pid} and its children"))
    );
    Ok(Backend { kind, ours, ours_people, bare: Arc::new(bare), db_server, settings, _dir: dir })
}

/// Every backend's two runs, countersign first; odd rounds backwards.
fn round_order(backends: usize, round: usize) -> Vec<(usize, Side)> {
    let mut order: Vec<(usize, Side)> = (0..backends).flat_map(|b| [(b, Side::Ours), (b, Side::Bare)]).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// One run; fails on any failed call or transaction.
async fn measure(backend: &Backend, side: Side, plan: Plan) -> anyhow::Result<RunStats> {
    let name = format!("{} {side:?}", backend.kind.name());
    let before = CpuMark::with_server(backend.db_server);
    let sample = run_side(backend, side, plan).await;
    let others_cores = before.and_then(|mark| mark.others_since());
    if sample.errors > 0 {
        let first = sample.first_error.as_deref().unwrap_or("?");
        anyhow::bail!("{name}: {} call(s) failed; first: {first}", sample.errors);
    }
    anyhow::ensure!(!sample.latencies.is_empty(), "{name}: no call completed in the measured time");
    let stats = RunStats::new(&sample, others_cores);
    eprintln!(
        "  {name}: {:.0}/s, p50 {:.3} ms, p99 {:.3} ms; other processes {:.2} cores",
        stats.throughput,
        stats.p50_ms,
        stats.p99_ms,
        others_cores.unwrap_or(f64::NAN)
    );
    Ok(stats)
}

async fn run_side(backend: &Backend, side: Side, plan: Plan) -> Sample {
    match side {
        Side::Ours => {
            let target = Target::Post {
                url: format!("http://{}/rpc", backend.ours.addr),
                body: Bytes::from(create_call()),
                bearer: Some(backend.ours_people.token.clone()),
            };
            load::run_checked(target, pending_approval, plan).await
        }
        Side::Bare => {
            let bare = backend.bare.clone();
            let work = move || {
                let bare = bare.clone();
                async move { bare.create().await }
            };
            load::run_tasks(work, plan).await
        }
    }
}

/// The call every connection makes (id 1: calls on one connection are sequential).
fn create_call() -> String {
    let params = json!({
        "kind": setup::KIND,
        "scope_id": setup::SCOPE,
        "title": TITLE,
        "amount": AMOUNT,
        "currency": CURRENCY,
    });
    json!({ "jsonrpc": "2.0", "id": 1, "method": setup::METHOD, "params": params }).to_string()
}

/// Accepts a result holding a request waiting for approval.
fn pending_approval(result: &Value) -> Result<(), String> {
    match result.pointer("/request/status").and_then(Value::as_str) {
        Some("pending_approval") => Ok(()),
        other => Err(format!("request status {other:?}, expected \"pending_approval\"")),
    }
}

fn print_report(backends: &[Backend], cases: &[CaseResult], written: &[(i64, i64)], plan: Plan) {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!("## request_create throughput: countersign vs a bare transaction writing the same rows\n");
    println!("Machine: {}. Date: {date}.\n", support::machine::machine());
    for backend in backends {
        if let Some(settings) = &backend.settings {
            println!("PostgreSQL: {settings}.\n");
        }
    }
    println!(
        "Load: {} connections (countersign, `POST /rpc` with an API token) and {} tasks (bare: one transaction \
         in this process), one call or transaction in flight each; per run {:.1} s warm-up + {:.1} s measured; \
         {ROUNDS} rounds, alternating order. Each create writes one request, one audit row and one notification. \
         Values are medians over rounds; ratios are medians of per-round ours/bare.\n",
        plan.connections,
        plan.connections,
        plan.warmup.as_secs_f64(),
        plan.measure.as_secs_f64(),
    );
    println!("{}", report::summary_table(cases, BARE));
    let verdicts: Vec<String> = cases
        .iter()
        .map(|case| {
            let ratio = case.throughput_ratio();
            let verdict = if ratio >= GOAL { "met" } else { "not met" };
            format!("{} {ratio:.2}× ({verdict})", case.name.split(':').next().unwrap_or(case.name))
        })
        .collect();
    println!("Goal: ours ≥ {GOAL}× bare throughput. {}.\n", verdicts.join("; "));
    println!("{}", report::runs_table(cases, BARE));
    let checked: Vec<String> = backends
        .iter()
        .zip(written)
        .map(|(backend, (ours, bare))| {
            format!("{}: {ours} creates by countersign, {bare} by the bare transaction", backend.kind.name())
        })
        .collect();
    println!(
        "Rows checked after the runs (warm-up included): {}; each with one request pending approval, one \
         audit row and one notification to the approver; both audit chains verify.\n",
        checked.join("; ")
    );
    println!("{}", report::disturbance(cases));
}
