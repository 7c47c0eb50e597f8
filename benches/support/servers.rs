//! The servers under load, in this process: countersign with the bench actions (over
//! SQLite or any database URL), and a bare jsonrpsee server whose one method returns its
//! params (the baseline of `rpc_throughput`).

use std::net::SocketAddr;
use std::path::Path;

use countersign::auth::{accounts, password, tokens};
use countersign::authz::permits::{self, NewPermit};
use countersign::call::Env;
use countersign::clock::Clock;
use countersign::config::Config;
use countersign::db::Db;
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
    start_countersign_on(format!("sqlite://{}", dir.join("bench.db").display()), dir).await
}

/// Like [`start_countersign`], over `database_url` (`sqlite://…` or `postgres://…`); the
/// bootstrap token file goes in `dir` (with PostgreSQL it would go in the working
/// directory otherwise).
pub async fn start_countersign_on(database_url: String, dir: &Path) -> anyhow::Result<Running> {
    let mut config = Config::embedded();
    config.server.listen = "127.0.0.1:0".parse()?;
    config.server.database_url = database_url;
    config.auth.bootstrap_token_file = Some(dir.join("bootstrap-token"));
    // Every load connection comes from this one address: the caps must not be what is measured.
    config.server.max_connections = 1_000_000;
    config.server.max_connections_per_ip = 1_000_000;
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

/// The permits the signed-in bench account holds: the permission check walks all of them.
const BENCH_PERMITS: [(&str, Option<&str>); 4] = [
    ("member", None),
    ("approver", Some("org:acme")),
    ("manager", Some("org:acme/store:berlin")),
    ("principal", Some("org:acme/unit:CF1234")),
];

/// Creates an account holding [`BENCH_PERMITS`] straight in the database, and an API
/// token for it; returns the token's secret.
pub async fn signed_in_token(env: &Env) -> anyhow::Result<String> {
    bench_account_token(&env.db).await
}

/// [`signed_in_token`] for a database this process opened itself (when countersign runs
/// in a server process, `support/child.rs`).
pub async fn bench_account_token(db: &Db) -> anyhow::Result<String> {
    let now = Clock::default().now();
    let hash = password::hash_new("bench account password".to_owned()).await?;
    let mut tx = db.begin_write().await?;
    let created = accounts::create(tx.conn(), "bench", None, &hash, now).await?;
    for (role, scope) in BENCH_PERMITS {
        let new = NewPermit {
            account_id: created.account.id,
            actor_id: created.actor_id,
            role,
            scope_id: scope,
            granted_by: None,
            source_offer_id: None,
            expires_at: None,
        };
        permits::grant(tx.conn(), new, now).await?;
    }
    let (_, secret) = tokens::create(tx.conn(), created.account.id, "bench", None, None, now).await?;
    tx.commit().await?;
    Ok(secret)
}
