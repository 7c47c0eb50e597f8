//! Running `wrk` (Debian package `wrk`, 4.1) as the closed-loop load generator: a Lua
//! script sets the request (method, body, headers) and, when the run is done, prints one
//! line of JSON with what wrk counted, so nothing is scraped from its human output.
//!
//! wrk does not read bodies for meaning: a run counts as failed when wrk reports any
//! socket error or any answer outside 2xx/3xx. (countersign answers a refused GET call
//! with 401/403/4xx, so a lost credential shows; the bench also probes both calls with its
//! own client, which checks the body, before and after.)

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tokio::process::Command;

/// The tag of the script's result line.
const TAG: &str = "WRK_RESULT ";

/// What to ask wrk to send (the URL is given to [`run`]).
pub struct Request {
    /// `None`: GET.
    pub post_body: Option<String>,
    pub bearer: Option<String>,
}

/// What one wrk run counted.
#[derive(Debug, Deserialize)]
pub struct WrkResult {
    pub requests: u64,
    pub duration_us: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
}

impl WrkResult {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

/// Fails, naming the package, when `wrk` cannot be run.
pub async fn check_installed() -> anyhow::Result<()> {
    let found = Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    match found {
        Ok(_) => Ok(()),
        Err(e) => bail!("cannot run `wrk` ({e}): install it (Debian: `apt-get install wrk`) or set WHOAMI_CLIENT=own"),
    }
}

/// Writes the Lua script for `request` into `dir`; returns its path.
pub fn write_script(dir: &Path, name: &str, request: &Request) -> anyhow::Result<PathBuf> {
    let mut lua = String::new();
    if let Some(body) = &request.post_body {
        lua.push_str(&format!("wrk.method = \"POST\"\nwrk.body = {}\n", lua_string(body)));
        lua.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
    }
    if let Some(secret) = &request.bearer {
        lua.push_str(&format!("wrk.headers[\"Authorization\"] = {}\n", lua_string(&format!("Bearer {secret}"))));
    }
    lua.push_str(&format!(
        r#"function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{TAG}{{"requests":%d,"duration_us":%d,"p50_us":%f,"p99_us":%f,"errors":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(99.0),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#
    ));
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua)?;
    Ok(path)
}

/// A Lua string literal holding `text` (a long bracket needs no escaping).
fn lua_string(text: &str) -> String {
    format!("[==[{text}]==]")
}

/// Runs wrk for `seconds` (whole seconds, at least one) with `connections` over
/// `threads`, and returns what its script printed.
pub async fn run(
    script: &Path,
    url: &str,
    connections: usize,
    threads: usize,
    time: Duration,
) -> anyhow::Result<WrkResult> {
    let seconds = time.as_secs_f64().ceil().max(1.0) as u64;
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string(), "-d", &format!("{seconds}s")])
        .args(["--timeout", "10s", "-s"])
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line =
        stdout.lines().find_map(|l| l.strip_prefix(TAG)).with_context(|| format!("no result from wrk: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}
