//! The shared state of a running server, built once by `server.rs` and handed to every
//! transport and every call.

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::login_limits::LoginLimits;
use crate::authz::Roles;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::notify::hub::Hub;
use crate::rpc::ratelimit::RateLimits;
use crate::rpc::registry::Registry;
use crate::sockets::Sockets;

pub struct App {
    pub config: Config,
    pub db: Db,
    pub clock: Clock,
    pub registry: Registry,
    /// The configured roles, compiled.
    pub roles: Roles,
    /// The OpenRPC document, built once from the registry.
    pub openrpc: Value,
    pub metrics: Metrics,
    pub rate_limits: RateLimits,
    pub login_limits: LoginLimits,
    pub sockets: Arc<Sockets>,
    /// Wakes notification subscribers after a commit.
    pub hub: Arc<Hub>,
    /// Cancelled when the server begins a graceful shutdown.
    pub shutdown: CancellationToken,
    /// Long-lived connection tasks (WebSockets) that shutdown waits for.
    pub connections: TaskTracker,
}
