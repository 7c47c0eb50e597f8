//! The servers under load in a process of their own: the bench executable started again
//! as a *server process*, which runs countersign (over a given database) and, when asked,
//! the bare jsonrpsee echo beside it, until its stdin closes.
//!
//! Why a second process: the load generators are measured against a server that must
//! not share a tokio runtime with them. In one process, client tasks and server tasks
//! interleave on the same worker threads, a client task can delay the server's (and the
//! reverse), and what either costs is hard to tell apart. In two, the kernel schedules
//! them, as it would a real client and server on one machine, and each has its own
//! runtime: the server the multi-threaded one `countersign serve` uses, the client a
//! current-thread one (one core at most). Each process's CPU can be read on its own.
//!
//! The exchange: the bench process sets [`ROLE_ENV`] and the settings in the environment;
//! the server process prints one line `READY {json}` on stdout with its addresses, then
//! serves until its stdin reaches end of file (the bench process closes it, or exits),
//! and shuts countersign down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use super::servers;

/// Set (to `1`) in the environment of a server process.
const ROLE_ENV: &str = "COUNTERSIGN_BENCH_SERVER";
const DATABASE_ENV: &str = "COUNTERSIGN_BENCH_SERVER_DATABASE";
const DIR_ENV: &str = "COUNTERSIGN_BENCH_SERVER_DIR";
const ECHO_ENV: &str = "COUNTERSIGN_BENCH_SERVER_ECHO";
/// The tag of the server process's one line.
const READY: &str = "READY";
/// How long a server process may take to start (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What the server process listens on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Addrs {
    pub ours: SocketAddr,
    pub echo: Option<SocketAddr>,
}

/// A running server process; dropping it kills the process.
pub struct ServerProcess {
    process: Child,
    pub addrs: Addrs,
}

impl ServerProcess {
    /// Starts this executable as a server process: countersign over `database_url`
    /// (files such as the bootstrap token go in `dir`), and the echo too when `echo`.
    pub async fn spawn(database_url: &str, dir: &Path, echo: bool) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut process = Command::new(exe)
            .env(ROLE_ENV, "1")
            .env(DATABASE_ENV, database_url)
            .env(DIR_ENV, dir)
            .env(ECHO_ENV, if echo { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server process")?;
        let stdout = process.stdout.take().context("the server process has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .context("the server process did not start in time")??
            .context("the server process ended before it was ready; its error is above")?;
        let json = line.strip_prefix(READY).with_context(|| format!("unexpected line from the server: {line}"))?;
        let addrs = serde_json::from_str(json.trim())?;
        Ok(ServerProcess { process, addrs })
    }

    /// The server process's id, so that its CPU counts as the benchmark's own.
    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }

    /// Closes its stdin and waits for it to shut down.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.process.stdin.take());
        let status = tokio::time::timeout(START_TIMEOUT, self.process.wait()).await??;
        anyhow::ensure!(status.success(), "the server process failed: {status}");
        Ok(())
    }
}

/// When this process is a server process, runs it and returns how it ended; `None` in
/// the bench process. Call it first thing in `main`.
pub fn serve_if_server_process() -> Option<anyhow::Result<()>> {
    if std::env::var(ROLE_ENV).ok().as_deref() != Some("1") {
        return None;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    Some(runtime.map_err(anyhow::Error::from).and_then(|runtime| runtime.block_on(serve())))
}

async fn serve() -> anyhow::Result<()> {
    let url = std::env::var(DATABASE_ENV).context("no database URL given")?;
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).context("no directory given")?);
    let ours = servers::start_countersign_on(url, &dir).await.context("countersign does not start")?;
    let echo = match std::env::var(ECHO_ENV).ok().as_deref() {
        Some("1") => Some(servers::start_echo().await.context("the jsonrpsee echo does not start")?),
        _ => None,
    };
    let addrs = Addrs { ours: ours.addr, echo: echo.as_ref().map(|(addr, _)| *addr) };
    println!("{READY} {}", serde_json::to_string(&addrs)?);
    // Serve until the bench process closes stdin (or is gone).
    let mut rest = Vec::new();
    tokio::io::stdin().read_to_end(&mut rest).await?;
    ours.shutdown().await?;
    if let Some((_, handle)) = echo {
        handle.stop()?;
        handle.stopped().await;
    }
    Ok(())
}
