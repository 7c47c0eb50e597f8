//! # Notification fan-out: one commit, many sockets
//!
//! **What is measured.** With N WebSockets open and subscribed (`notifications_subscribe`,
//! live only), spread evenly over [`ACCOUNTS`] accounts, one call commits one transaction
//! that notifies all [`ACCOUNTS`] accounts. For each socket, the *delivery latency* is the
//! time from just before that call is sent to the moment the socket's notification is read;
//! the table gives its p50, p99 and maximum over every socket of every measured round,
//! and the call's own latency (the *commit* column: POST sent → answer read, median over
//! rounds; it includes writing the [`ACCOUNTS`] notifications). Separately, the *memory
//! per idle socket*: the growth of the resident set (`VmRSS`) while the N sockets are
//! opened, divided by N.
//!
//! **Why.** `Ctx::notify` only wakes subscribers after the commit; each woken subscription
//! then reads its account's new rows and queues them on its socket. A broadcast is the
//! worst case of that path (every subscription wakes at once), so it shows how delivery
//! time grows with the number of sockets, and what an idle subscriber costs to keep.
//!
//! **Setup.** countersign runs in this process (`server::start`) over a SQLite file in a
//! temporary directory, and also over PostgreSQL when `BENCH_PG_URL` (an admin URL) is
//! set: a fresh database is created there and dropped at the end. Every rate-limit class
//! is raised out of reach. The accounts and one API token each are created with the domain
//! functions in one transaction, all with one precomputed password hash. The broadcast is
//! the bench-only action `bench_broadcast` (`benches/fanout/action.rs`): one `ctx.notify`
//! per account, in one transaction. No tracing subscriber is installed (logs are off).
//!
//! **Two processes.** The clients run in a second process: this executable started again
//! as a client (`benches/fanout/client.rs`, `proto.rs`). Each loopback connection takes
//! two file descriptors, one per end, so in one process 10,000 sockets need over 20,000;
//! the hard `RLIMIT_NOFILE` is often lower (20,000 on the machine this was written on),
//! and only `CAP_SYS_RESOURCE` may raise it. Each process raises its soft limit to the
//! hard one and needs only N plus a few descriptors. The split also separates the memory:
//! the server's per-socket cost is this process's RSS growth and the client's is the
//! client process's, each measured directly, so no estimate of the client's share (such
//! as the same client code against a bare WebSocket server) is needed to take it out;
//! *total* is their sum.
//!
//! **Method.** For each N (1,000 and 10,000 by default): the client process opens the N
//! sockets, 200 at a time, socket `i` with the token of account `i mod 1000`, each
//! subscribing and waiting for its subscription id. Both processes measure their RSS
//! before and after, each after a settling pause and `malloc_trim` (so that memory an
//! earlier phase freed is not counted, and live memory is); the server's own
//! `websockets_open` gauge must show exactly N. Then the client runs one warm-up round and
//! [`ROUNDS`] measured rounds, a second apart. Delivery is timed in the client process, by
//! one monotonic clock: the round starts just before the POST, and each socket's task
//! takes `Instant::now()` as it reads the notification. Every socket must receive exactly
//! one notification per round (told apart by the call's `sent_at_micros`), within 60 s,
//! and nothing after the last round; anything else fails the benchmark.
//!
//! **The raw stack.** Before countersign, the same client runs the same rounds against
//! [`bare`]: axum's WebSocket on tokio with nothing of countersign (no database, no commit,
//! no credentials, one task per socket woken by a broadcast channel), which sends each
//! socket a notification framed as countersign's. Its p99 is about the least this stack,
//! this client and this machine allow; the table gives each row's p99 over the raw stack's
//! at the same socket count (*p99 / raw*).
//!
//! **Caveats.** Both processes share the machine's cores, so the client's work (reading
//! and parsing N messages) is in every delivery latency, as it is in the CPU the server
//! had. The client reads with a 4 KiB WebSocket buffer; the server's buffers are its own.
//! RSS also counts what grows with use rather than with sockets (SQLite's page cache, the
//! allocator's arenas), so small N give noisier per-socket figures.
//!
//! **Running.** `cargo bench --bench fanout` (well under 3 minutes on 2 cores).
//! `FANOUT_SOCKETS=1000,5000` chooses the socket counts; `BENCH_QUICK=1` is a smoke run
//! (200 sockets, 1 round); `BENCH_PG_URL=postgres://…` adds PostgreSQL. Arguments, such as
//! the `--bench` cargo passes, are ignored. The report (Markdown) goes to stdout, progress
//! to stderr.

#[path = "fanout/action.rs"]
mod action;
#[path = "fanout/bare.rs"]
mod bare;
#[path = "fanout/child.rs"]
mod child;
#[path = "fanout/client.rs"]
mod client;
#[path = "support/machine.rs"]
mod machine;
#[path = "fanout/proto.rs"]
mod proto;
#[path = "fanout/report.rs"]
mod report;
#[path = "fanout/server.rs"]
mod server;
#[path = "fanout/sys.rs"]
mod sys;

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use proto::{Account, Delivery, Opened, Plan};
use report::Row;
use server::{Backend, Server};

/// Accounts notified by every broadcast; the sockets are spread over them.
const ACCOUNTS: usize = 1000;
/// Socket counts unless `FANOUT_SOCKETS` says otherwise.
const DEFAULT_SOCKETS: [usize; 2] = [1_000, 10_000];
/// Measured rounds per socket count (after [`WARMUP_ROUNDS`]).
const ROUNDS: usize = 5;
const WARMUP_ROUNDS: usize = 1;
/// Socket count and rounds of `BENCH_QUICK=1`.
const QUICK_SOCKETS: usize = 200;
const QUICK_ROUNDS: usize = 1;
/// File descriptors a process needs besides its sockets (database files, pipes, epoll).
const FD_MARGIN: u64 = 64;
/// Pause before reading this process's RSS, so that background work has finished.
const SETTLE: Duration = Duration::from_millis(500);
/// How long the server may take to see every socket open, or closed.
const SOCKETS_TIMEOUT: Duration = Duration::from_secs(30);

/// What to run, from the environment.
struct Settings {
    sockets: Vec<usize>,
    rounds: usize,
    pg_url: Option<String>,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let sockets = match std::env::var("FANOUT_SOCKETS") {
            Ok(text) => parse_counts(&text)?,
            Err(_) if quick => vec![QUICK_SOCKETS],
            Err(_) => DEFAULT_SOCKETS.to_vec(),
        };
        let rounds = if quick { QUICK_ROUNDS } else { ROUNDS };
        let pg_url = std::env::var("BENCH_PG_URL").ok().filter(|url| !url.is_empty());
        Ok(Settings { sockets, rounds, pg_url })
    }

    fn backends(&self) -> Vec<Backend> {
        let mut backends = vec![Backend::Bare, Backend::Sqlite];
        if let Some(admin_url) = &self.pg_url {
            backends.push(Backend::Postgres { admin_url: admin_url.clone() });
        }
        backends
    }
}

/// `1000,5000` → `[1000, 5000]`.
fn parse_counts(text: &str) -> anyhow::Result<Vec<usize>> {
    let counts = text
        .split(',')
        .map(|part| part.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("FANOUT_SOCKETS={text:?} is not a list of positive counts such as 1000,5000"))?;
    anyhow::ensure!(!counts.is_empty(), "FANOUT_SOCKETS is empty");
    Ok(counts)
}

fn main() -> anyhow::Result<()> {
    if std::env::var(proto::ROLE_ENV).is_ok_and(|role| role == proto::ROLE_CLIENT) {
        let plan_path = std::env::args().nth(1).context("the client process needs the plan file's path")?;
        return client::main(&plan_path);
    }
    let settings = Settings::from_env()?;
    let fd_limit = sys::raise_fd_limit()?;
    eprintln!("RLIMIT_NOFILE raised to {fd_limit} (per process)");
    let most = settings.sockets.iter().copied().max().unwrap_or(0) as u64;
    anyhow::ensure!(
        most + FD_MARGIN <= fd_limit,
        "{most} sockets need about {} file descriptors per process; the hard RLIMIT_NOFILE is {fd_limit}",
        most + FD_MARGIN
    );
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench(settings, fd_limit))
}

async fn bench(settings: Settings, fd_limit: u64) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for backend in settings.backends() {
        rows.extend(run_backend(&backend, &settings).await.with_context(|| backend.name())?);
    }
    print_report(&rows, &settings, fd_limit);
    Ok(())
}

/// Every socket count against one backend, on one server.
async fn run_backend(backend: &Backend, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(backend, dir.path()).await.context("the server does not start")?;
    eprintln!("{}: serving on {}", backend.name(), server.addr());
    let accounts = server.seed(ACCOUNTS).await.context("cannot create the accounts")?;
    let mut rows = Vec::with_capacity(settings.sockets.len());
    for &sockets in &settings.sockets {
        eprintln!("{}: {sockets} sockets", backend.name());
        let row = run_case(&server, backend, &accounts, sockets, settings.rounds, dir.path())
            .await
            .with_context(|| format!("{sockets} sockets"))?;
        rows.push(row);
    }
    server.stop().await?;
    Ok(rows)
}

/// One socket count: a client process opens the sockets and runs the rounds.
async fn run_case(
    server: &Server,
    backend: &Backend,
    accounts: &[Account],
    sockets: usize,
    rounds: usize,
    dir: &Path,
) -> anyhow::Result<Row> {
    let plan = Plan { addr: server.addr(), sockets, warmup_rounds: WARMUP_ROUNDS, rounds, accounts: accounts.to_vec() };
    let plan_path = dir.join(format!("plan-{sockets}.json"));
    std::fs::write(&plan_path, serde_json::to_vec(&plan)?)?;

    server.wait_for_sockets(0, SOCKETS_TIMEOUT).await?;
    let before = sys::settled_rss(SETTLE).await?;
    let mut client = child::Client::spawn(&plan_path)?;
    let opened: Opened = client.expect(proto::TAG_OPENED).await?;
    server.wait_for_sockets(sockets, SOCKETS_TIMEOUT).await?;
    let after = sys::settled_rss(SETTLE).await?;
    client.go().await?;
    let delivery: Delivery = client.expect(proto::TAG_RESULT).await?;
    client.finish().await?;

    let per_socket_kib = |bytes: i64| bytes as f64 / sockets as f64 / 1024.0;
    Ok(Row {
        backend: backend.name(),
        sockets,
        delivery,
        open_secs: opened.open_secs,
        client_kib: per_socket_kib(opened.rss_delta_bytes),
        server_kib: per_socket_kib(after - before),
    })
}

fn print_report(rows: &[Row], settings: &Settings, fd_limit: u64) {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!("## Notification fan-out: one commit notifying {ACCOUNTS} accounts\n");
    println!("Machine: {}. Date: {date}. RLIMIT_NOFILE: {fd_limit} per process.\n", machine::machine());
    println!(
        "Per socket count: {WARMUP_ROUNDS} warm-up round, then {} measured; latencies over every socket of every \
         measured round; commit = the broadcast call's latency, median over rounds. Memory: RSS growth while \
         opening the sockets, per socket, server process + client process.\n",
        settings.rounds
    );
    println!("{}", report::table(rows));
    println!("{}", report::details(rows));
}
