//! Numbers a benchmark reads from its environment (`BENCH_SECONDS` and the like).

use std::time::Duration;

use anyhow::Context as _;

/// `name` as a positive finite number, or `default` when unset.
pub fn positive(name: &str, default: f64) -> anyhow::Result<f64> {
    let Ok(text) = std::env::var(name) else { return Ok(default) };
    let value: f64 = text.trim().parse().with_context(|| format!("{name}={text:?} is not a number"))?;
    anyhow::ensure!(value.is_finite() && value > 0.0, "{name} must be positive, got {text:?}");
    Ok(value)
}

/// `name` as a count (a positive whole number), or `default` when unset.
pub fn count(name: &str, default: usize) -> anyhow::Result<usize> {
    let value = positive(name, default as f64)?;
    anyhow::ensure!(value.fract() == 0.0, "{name} must be a whole number, got {value}");
    Ok(value as usize)
}

/// `BENCH_SECONDS` (the measured time per run, fractions allowed), or `default` seconds.
pub fn measured_time(default: f64) -> anyhow::Result<Duration> {
    Ok(Duration::from_secs_f64(positive("BENCH_SECONDS", default)?))
}
