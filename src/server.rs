//! Runs a server: the assembled API (`app.rs`) on one port, its background jobs, and its
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;

use crate::app::{self, Extra};
use crate::auth::{self, bootstrap};
use crate::call::Env;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Open;
use crate::notify::{listener, retention};
use crate::rpc::Api;
use crate::{offers, requests, transport};

/// A server listening on its port.
pub struct Running {
    pub addr: SocketAddr,
    pub api: Arc<Api>,
    serve: JoinHandle<()>,
}

/// Takes the port `config.server.listen` (0 = any free port) first, so that a port in use
/// fails before anything is created or issued; then opens (creating and migrating) the
/// database, issues the bootstrap token when it is needed, and starts serving.
pub async fn start(config: Config, extra: Extra, clock: Clock) -> anyhow::Result<Running> {
    let listen = config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let api = app::assemble(config, extra, clock, Open::Create).await?;
    let env = &api.env;
    bootstrap::prepare(&env.db, &bootstrap::token_path(&env.config), env.clock.now())
        .await
        .context("cannot issue the bootstrap token")?;
    let serve = tokio::spawn(transport::listen::serve(listener, api.clone()));
    if let Some(pool) = env.db.postgres() {
        let after_gap = close_stale_sockets_of(env.clone());
        let served = listener::Served {
            hub: env.hub.clone(),
            sockets: env.sockets.clone(),
            credentials: env.credentials.freshness().clone(),
            after_gap,
        };
        tokio::spawn(listener::run(pool.clone(), served, api.shutdown.clone()));
    }
    tokio::spawn(housekeeping(api.clone()));
    tracing::info!(%addr, database = %env.db.target(), "countersign listening");
    Ok(Running { addr, api, serve })
}

/// What the PostgreSQL listener runs after a gap: the open sockets' credentials checked.
fn close_stale_sockets_of(env: Arc<Env>) -> listener::AfterGap {
    Box::new(move || {
        let env = env.clone();
        Box::pin(async move {
            match auth::close_stale_sockets(&env).await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "closed sockets whose credential ended during a listener gap"),
                Err(e) => tracing::warn!(error = %e, "cannot check the open sockets' credentials after a gap"),
            }
        })
    })
}

/// Periodic housekeeping, first at start-up: forget idle rate-limit buckets, prune old
/// notifications, expire permit offers and requests, fail executions that were interrupted
/// (as the system, through the same context as any call).
async fn housekeeping(api: Arc<Api>) {
    let env = &api.env;
    let mut tick = tokio::time::interval(Duration::from_secs(env.config.server.housekeeping_interval_s));
    loop {
        tokio::select! {
            _ = api.shutdown.cancelled() => break,
            _ = tick.tick() => {
                let now = env.clock.now();
                api.rate_limits.forget_idle();
                env.login_limits.forget_old(now);
                let retention = chrono::Duration::days(i64::from(env.config.notifications.retention_days));
                if let Err(e) = retention::prune(&env.db, now - retention).await {
                    tracing::warn!(error = %e, "pruning old notifications failed; will retry");
                }
                match offers::expiry::sweep(env).await {
                    Ok(0) => {}
                    Ok(expired) => tracing::info!(expired, "expired permit offers"),
                    Err(e) => tracing::warn!(error = %e, "expiring permit offers failed; will retry"),
                }
                match requests::expiry::sweep(env).await {
                    Ok(0) => {}
                    Ok(expired) => tracing::info!(expired, "expired requests"),
                    Err(e) => tracing::warn!(error = %e, "expiring requests failed; will retry"),
                }
                match requests::execution::sweep_interrupted(env).await {
                    Ok(0) => {}
                    Ok(failed) => tracing::info!(failed, "executions interrupted before they were recorded"),
                    Err(e) => tracing::warn!(error = %e, "checking for interrupted executions failed; will retry"),
                }
            }
        }
    }
}

impl Running {
    /// Graceful shutdown: stop accepting, finish in-flight calls and webhook deliveries,
    /// close sockets with 1001.
    /// Gives up waiting after `server.shutdown_grace_s`.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.api.shutdown.cancel();
        let grace = Duration::from_secs(self.api.env.config.server.shutdown_grace_s);
        let api = self.api.clone();
        let drained = tokio::time::timeout(grace, async move {
            let served = self.serve.await;
            api.connections.close();
            api.connections.wait().await;
            // Deliveries under way are heard out and recorded, not left to the sweeper.
            api.env.deliveries.close();
            api.env.deliveries.wait().await;
            served
        })
        .await;
        match drained {
            Ok(served) => served?,
            Err(_) => tracing::warn!(?grace, "shutdown grace period ended with calls still running"),
        }
        self.api.env.db.close().await;
        Ok(())
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    let running = start(config, Extra::default(), Clock::default()).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("can install a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
