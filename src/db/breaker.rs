//! The database breaker: while the database is down, calls are answered
//! `service_unavailable` at once instead of each waiting out the pool's acquire timeout.
//!
//! A failed acquire only makes the database *suspect*: a pool can also time out because
//! it is busy. One background probe then opens a connection of its own, outside the pool
//! (so a busy pool does not fail it), within [`PROBE_TIMEOUT`]. While probes fail the
//! breaker stays open and every acquire fails fast; the probe repeats every
//! [`PROBE_INTERVAL`] and closes the breaker at its first success.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one probe may take to connect and answer `SELECT 1`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a down database is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// One connection attempt outside the pool, answering whether the database is up.
pub type Probe = Box<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

#[derive(Default)]
pub struct Breaker {
    /// The last probe failed: acquires fail at once.
    open: AtomicBool,
    /// A probe task is running.
    probing: AtomicBool,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker").field("open", &self.is_open()).finish()
    }
}

impl Breaker {
    /// Whether the database is known to be down.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// An acquire failed: start probing, unless a probe runs already.
    pub fn suspect(self: &Arc<Self>, probe: Probe) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let breaker = self.clone();
        tokio::spawn(async move {
            loop {
                let up = tokio::time::timeout(PROBE_TIMEOUT, probe()).await.unwrap_or(false);
                if up {
                    if breaker.open.swap(false, Ordering::AcqRel) {
                        tracing::info!("the database answers again");
                    }
                    break;
                }
                if !breaker.open.swap(true, Ordering::AcqRel) {
                    tracing::warn!("the database does not answer: calls fail fast until it does");
                }
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            breaker.probing.store(false, Ordering::Release);
        });
    }
}
