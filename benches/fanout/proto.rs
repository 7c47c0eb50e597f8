//! What the bench process and its client process tell each other.
//!
//! The bench process writes a [`Plan`] (JSON) to a file and starts its own executable
//! with [`ROLE_ENV`]`=`[`ROLE_CLIENT`] and the file's path as the only argument. The
//! client answers on its stdout with one line per step, `<tag> <json>`:
//!
//! 1. `opened` [`Opened`]: every socket is open and subscribed, and has settled;
//! 2. then it waits for a `go` line on its stdin (the bench process measures its own
//!    memory meanwhile), runs the rounds, and answers `result` [`Delivery`], and exits.
//!
//! Progress and errors go to stderr, which the client shares with the bench process.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The variable that makes the executable the client process.
pub const ROLE_ENV: &str = "FANOUT_ROLE";
pub const ROLE_CLIENT: &str = "client";
/// The line the bench process sends when the client may start the rounds.
pub const GO: &str = "go";
pub const TAG_OPENED: &str = "opened";
pub const TAG_RESULT: &str = "result";

/// What the client process does.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    pub addr: SocketAddr,
    /// Sockets to open; socket `i` belongs to `accounts[i % accounts.len()]`.
    pub sockets: usize,
    /// Rounds whose latencies are discarded (the first ones).
    pub warmup_rounds: usize,
    pub rounds: usize,
    /// Every account the broadcast notifies, with an API token of each.
    pub accounts: Vec<Account>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub token: String,
}

/// Sent once every socket is open and subscribed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Opened {
    /// The client process's RSS after opening, minus before.
    pub rss_delta_bytes: i64,
    /// Time to open and subscribe every socket.
    pub open_secs: f64,
}

/// Delivery latencies over every socket of every measured round, and the broadcast call's
/// own latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub rounds: usize,
    /// Sockets × measured rounds.
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The broadcast call's latency (POST sent → answer read) in each measured round.
    pub commit_ms: Vec<f64>,
}
