//! An open-loop load generator (and, with no rate, a closed-loop one) over the raw
//! HTTP/1.1 client of [`http1`](super::http1), with latencies in an HDR histogram.
//!
//! **Open loop.** Call `i` (counting from 0 over the whole run, warm-up included) is due
//! at `t0 + i / rate` and goes to connection `i mod K`. Its latency runs from that *due
//! time* to the moment its whole answer is read: when the connection is still busy with
//! an earlier call, or the client itself is late, the wait counts. A server stall
//! therefore shows as the latency of every call due during it — no coordinated omission —
//! instead of as fewer calls sent (what a closed loop does).
//!
//! **Pacing.** tokio's timers round up to the millisecond, which alone would add up to a
//! millisecond to latencies measured from the due time. Each connection instead waits on
//! its own `timerfd` (absolute `CLOCK_MONOTONIC` deadline, nanosecond resolution),
//! registered with tokio's reactor, and skips the wait when the call is already due.
//!
//! **Checking.** Every answer must be HTTP 200 with exactly the body given (the caller
//! takes it from one probe call that it parsed and checked). Anything else is an error
//! (warm-up included): counted, the first kept, and the connection reopened for the next
//! call.
//!
//! **Ending.** Calls due after the measured time are not sent. Calls due inside it that
//! have not been answered [`DRAIN`] after its end (only when the server is far behind)
//! are counted as *unfinished*.
//!
//! **Closed loop** (`rate: None`): each connection sends its next call as soon as the
//! last is answered; latency runs from the send; a call counts when sent in the measured
//! time.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::unix::AsyncFd;

use super::http1;

/// How long after the measured time the calls due inside it may still finish.
const DRAIN: Duration = Duration::from_secs(5);
/// A call not answered in this time is an error (a hung server must not hang the bench).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The histogram's range: 1 µs to 100 s, three significant digits.
const LOWEST_NS: u64 = 1_000;
const HIGHEST_NS: u64 = 100_000_000_000;

/// How much load, of which kind.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    /// Calls per second over all connections; `None`: closed loop.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub measure: Duration,
}

/// The same call again and again: where, what bytes, and the answer's expected body.
pub struct Call {
    pub addr: SocketAddr,
    pub request: Vec<u8>,
    pub expected: Vec<u8>,
}

impl Call {
    /// The call whose answer must be what one probe call answers now, provided that
    /// answer is HTTP 200 with a JSON-RPC `result` to id 1 that passes `check`.
    pub async fn probed(
        addr: SocketAddr,
        request: Vec<u8>,
        check: impl Fn(&serde_json::Value) -> Result<(), String>,
    ) -> anyhow::Result<Call> {
        let mut conn = http1::Conn::open(addr).await.map_err(anyhow::Error::msg)?;
        let answer = conn.call(&request).await.map_err(anyhow::Error::msg)?;
        let body = String::from_utf8_lossy(answer.body);
        anyhow::ensure!(answer.status == 200, "the probe call got HTTP {}: {body}", answer.status);
        let json: serde_json::Value = serde_json::from_slice(answer.body)?;
        let result = json.get("result").filter(|_| json["id"] == 1 && json.get("error").is_none());
        let result = result.ok_or_else(|| anyhow::anyhow!("the probe call got no result to id 1: {body}"))?;
        check(result).map_err(|e| anyhow::anyhow!("the probe call's answer is wrong ({e}): {body}"))?;
        let expected = answer.body.to_vec();
        Ok(Call { addr, request, expected })
    }
}

/// What one run measured.
pub struct Outcome {
    /// Latencies (ns) of the measured calls that succeeded.
    pub histogram: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Measured calls due but not answered by the end of the drain.
    pub unfinished: u64,
    /// Calls answered successfully, warm-up included (to share out the client's CPU).
    pub answered: u64,
    /// Successful measured calls per second: over the measured time, or until the last of
    /// them was answered when that was later.
    pub achieved: f64,
}

impl Outcome {
    /// The `q`-th quantile (0 to 1) latency in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1e6
    }

    pub fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1e6
    }
}

/// The run's clock, in nanoseconds of `CLOCK_MONOTONIC`.
#[derive(Clone, Copy)]
struct Window {
    start: u64,
    measure_from: u64,
    end: u64,
    /// Due calls not answered by then are unfinished.
    give_up: u64,
    /// Nanoseconds between due times; `None`: closed loop.
    period: Option<f64>,
    connections: usize,
}

/// One connection's tally.
struct Tally {
    histogram: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    unfinished: u64,
    answered: u64,
    last_done: u64,
}

/// Runs `load` with `call`; must run inside a tokio runtime with I/O enabled (a
/// current-thread runtime keeps the client to one core).
pub async fn run(call: Rc<Call>, load: Load) -> Outcome {
    let start = now_ns() + 20_000_000; // 20 ms for every connection's task to start
    let measure_from = start + load.warmup.as_nanos() as u64;
    let end = measure_from + load.measure.as_nanos() as u64;
    let window = Window {
        start,
        measure_from,
        end,
        give_up: end + DRAIN.as_nanos() as u64,
        period: load.rate.map(|rate| 1e9 / rate),
        connections: load.connections,
    };
    let local = tokio::task::LocalSet::new();
    let tasks: Vec<_> = (0..load.connections).map(|c| local.spawn_local(drive(call.clone(), window, c))).collect();
    let tallies = local.run_until(futures::future::join_all(tasks)).await;
    let mut outcome =
        Outcome { histogram: new_histogram(), errors: 0, first_error: None, unfinished: 0, answered: 0, achieved: 0.0 };
    let mut last_done = end;
    for tally in tallies {
        let tally = tally.expect("a load task panicked");
        outcome.histogram.add(&tally.histogram).expect("histograms of one range add up");
        outcome.errors += tally.errors;
        outcome.unfinished += tally.unfinished;
        outcome.answered += tally.answered;
        outcome.first_error = outcome.first_error.or(tally.first_error);
        last_done = last_done.max(tally.last_done);
    }
    let seconds = (last_done - measure_from) as f64 / 1e9;
    outcome.achieved = outcome.histogram.len() as f64 / seconds;
    outcome
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, 3).expect("valid histogram bounds")
}

/// Connection `c`'s calls, until the window closes.
async fn drive(call: Rc<Call>, window: Window, c: usize) -> Tally {
    let mut tally =
        Tally { histogram: new_histogram(), errors: 0, first_error: None, unfinished: 0, answered: 0, last_done: 0 };
    let timer = match window.period.map(|_| Timer::new()).transpose() {
        Ok(timer) => timer,
        Err(e) => return tally.failed(format!("cannot make a timerfd: {e}")),
    };
    let mut conn = None;
    for j in 0.. {
        let due = match window.period {
            Some(period) => window.start + ((j * window.connections + c) as f64 * period) as u64,
            None => now_ns(),
        };
        if due >= window.end {
            break;
        }
        let measured = due >= window.measure_from;
        if let Some(period) = window.period.filter(|_| now_ns() >= window.give_up) {
            // This call and every later one of this connection inside the measured time.
            let left = (window.end - due.max(window.measure_from)) as f64 / (period * window.connections as f64);
            tally.unfinished += left.ceil() as u64;
            break;
        }
        if let Some(timer) = &timer {
            if let Err(e) = timer.wait_until(due).await {
                return tally.failed(format!("the timerfd failed: {e}"));
            }
        }
        let outcome = tokio::time::timeout(CALL_TIMEOUT, one_call(&mut conn, &call))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {CALL_TIMEOUT:?}")));
        let done = now_ns();
        match outcome {
            Ok(()) => {
                tally.answered += 1;
                if measured {
                    tally.histogram.saturating_record(done.saturating_sub(due));
                    tally.last_done = done;
                }
            }
            Err(e) => {
                conn = None;
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
            }
        }
    }
    tally
}

impl Tally {
    fn failed(mut self, error: String) -> Tally {
        self.errors += 1;
        self.first_error = Some(error);
        self
    }
}

/// One call on `conn`, opened first when there is none; checks status and body.
async fn one_call(conn: &mut Option<http1::Conn>, call: &Call) -> Result<(), String> {
    if conn.is_none() {
        *conn = Some(http1::Conn::open(call.addr).await?);
    }
    let answer = conn.as_mut().expect("opened above").call(&call.request).await?;
    if answer.status != 200 || answer.body != call.expected.as_slice() {
        return Err(format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(answer.body)));
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` in nanoseconds (the clock `Instant` uses on Linux).
fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A `timerfd` on `CLOCK_MONOTONIC`, awaited through tokio's reactor.
struct Timer {
    fd: AsyncFd<OwnedFd>,
}

impl Timer {
    fn new() -> std::io::Result<Timer> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the `OwnedFd` keeps the descriptor open, unchanged, for the `AsyncFd`'s life.
        let fd = unsafe { AsyncFd::register(owned) }.map_err(std::io::Error::from)?;
        Ok(Timer { fd })
    }

    /// Returns at `deadline_ns` (`CLOCK_MONOTONIC`), at once when it has passed.
    async fn wait_until(&self, deadline_ns: u64) -> std::io::Result<()> {
        if now_ns() >= deadline_ns {
            return Ok(());
        }
        let at = libc::timespec {
            tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
        };
        let spec = libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: at };
        let fd = self.fd.get_ref().as_raw_fd();
        // SAFETY: valid descriptor and specs; the old value is not asked for.
        if unsafe { libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = 0u64;
            // SAFETY: reads 8 bytes into a u64, as timerfd requires.
            let read = unsafe { libc::read(fd, (&raw mut expirations).cast(), 8) };
            if read == 8 {
                return Ok(());
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::WouldBlock {
                return Err(error);
            }
            guard.clear_ready();
        }
    }
}
