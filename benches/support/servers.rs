//! The two servers under load, both in this process: countersign with the bench actions,
//! and a bare jsonrpsee server whose one method returns its params (the baseline).

use std::net::SocketAddr;
use std::path::Path;

use countersign::clock::Clock;
use countersign::config::Config;
use countersign::server::{self, Running};
use jsonrpsee::RpcModule;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};

use super::actions;

/// Connections the baseline accepts (its default, 100, is too close to the load's 64).
const ECHO_MAX_CONNECTIONS: u32 = 1024;

/// A rate limit no benchmark reaches.
const UNLIMITED: u32 = u32::MAX / 2;

/// Starts countersign on a free port over a SQLite file in `dir`, with every rate-limit
/// class raised out of reach so that the load is never throttled.
pub async fn start_countersign(dir: &Path) -> anyhow::Result<Running> {
    let mut config = Config::embedded();
    config.server.listen = "127.0.0.1:0".parse()?;
    config.server.database_url = format!("sqlite://{}", dir.join("bench.db").display());
    for limit in config.rate_limits.values_mut() {
        limit.per_minute = UNLIMITED;
        limit.burst = UNLIMITED;
    }
    server::start(config, actions::extra(), Clock::default()).await
}

/// Starts the baseline: jsonrpsee over HTTP and WebSocket on one free port, method `echo`.
pub async fn start_echo() -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let mut module = RpcModule::new(());
    module.register_method("echo", |params, _, _| params.parse::<serde_json::Value>())?;
    let config = ServerConfig::builder().max_connections(ECHO_MAX_CONNECTIONS).build();
    let server = Server::builder().set_config(config).build("127.0.0.1:0").await?;
    let addr = server.local_addr()?;
    Ok((addr, server.start(module)))
}
