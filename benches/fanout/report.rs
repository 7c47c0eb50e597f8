//! Summaries and the Markdown table.

use std::time::Duration;

use super::proto::Delivery;
use super::server::RAW_STACK;

/// One table row: one backend, one socket count.
pub struct Row {
    pub backend: &'static str,
    pub sockets: usize,
    pub delivery: Delivery,
    pub open_secs: f64,
    /// The client process's RSS growth per socket.
    pub client_kib: f64,
    /// The bench (server) process's RSS growth per socket.
    pub server_kib: f64,
}

/// Summarizes every measured latency (all sockets, all rounds) and the calls' latencies.
pub fn summarize(mut latencies: Vec<Duration>, commits: &[Duration], rounds: usize) -> Delivery {
    latencies.sort_unstable();
    Delivery {
        rounds,
        samples: latencies.len(),
        p50_ms: percentile_ms(&latencies, 50.0),
        p99_ms: percentile_ms(&latencies, 99.0),
        max_ms: latencies.last().map_or(f64::NAN, ms),
        commit_ms: commits.iter().map(ms).collect(),
    }
}

/// The `p`-th percentile of sorted `values` (nearest rank), in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    ms(&sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// The results table; *p99 / raw* is a row's p99 over the raw stack's at the same socket
/// count in this run.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| backend | N sockets | rounds | p50 ms | p99 ms | p99 / raw | max ms | commit ms | KiB/socket total \
         | KiB/socket client | KiB/socket server |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let d = &row.delivery;
        let raw = rows.iter().find(|raw| raw.backend == RAW_STACK && raw.sockets == row.sockets);
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            row.backend,
            row.sockets,
            d.rounds,
            d.p50_ms,
            d.p99_ms,
            raw.map_or(f64::NAN, |raw| d.p99_ms / raw.delivery.p99_ms),
            d.max_ms,
            median(&d.commit_ms),
            row.client_kib + row.server_kib,
            row.client_kib,
            row.server_kib,
        ));
    }
    out
}

/// The details behind each row: time to open the sockets, every round's call latency.
pub fn details(rows: &[Row]) -> String {
    let mut out = String::from("| backend | N sockets | open + subscribe s | samples | commit ms per round |\n");
    out.push_str("|---|--:|--:|--:|---|\n");
    for row in rows {
        let commits: Vec<String> = row.delivery.commit_ms.iter().map(|c| format!("{c:.1}")).collect();
        out.push_str(&format!(
            "| {} | {} | {:.1} | {} | {} |\n",
            row.backend,
            row.sockets,
            row.open_secs,
            row.delivery.samples,
            commits.join(", "),
        ));
    }
    out
}
