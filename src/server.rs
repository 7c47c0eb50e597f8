//! Assembles a server: database (migrated), registry, shared state and transports on one
//! port; and takes it down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::auth::bootstrap;
use crate::auth::login_limits::LoginLimits;
use crate::authz::Roles;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::notify::{listener, retention};
use crate::rpc::ratelimit::RateLimits;
use crate::rpc::registry::Registry;
use crate::rpc::spec::{self, ActionSpec};
use crate::rpc::{Handler, openrpc};
use crate::{handlers, offers, transport};

/// Actions added to the built-in ones (tests and benchmarks register doubles this way;
/// they pass through the same declaration parser and the same binding checks).
#[derive(Default)]
pub struct Extra {
    pub specs: Vec<ActionSpec>,
    pub handlers: Vec<Box<dyn Handler>>,
}

/// Binds the built-in declarations (plus `extra`) to their handlers.
pub fn registry(config: &Config, extra: Extra) -> anyhow::Result<Registry> {
    let mut specs = spec::builtin()?;
    specs.extend(extra.specs);
    let mut all = handlers::all();
    all.extend(extra.handlers);
    Ok(Registry::bind(specs, all, config.rate_limits.keys())?)
}

/// Connects to and migrates the database, and builds the shared state.
pub async fn build(config: Config, extra: Extra, clock: Clock) -> anyhow::Result<Arc<App>> {
    let registry = registry(&config, extra)?;
    let roles = Roles::new(&config.roles, &config.kinds)
        .map_err(|(key, reason)| anyhow::anyhow!("config key `{key}`: {reason}"))?;
    let db = Db::connect(&config.server.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&config.server.database_url)))?;
    db.migrate().await.context("cannot migrate the database")?;
    bootstrap::prepare(&db, &bootstrap::token_path(&config), clock.now())
        .await
        .context("cannot issue the bootstrap token")?;
    let openrpc = openrpc::document(&registry);
    let rate_limits = RateLimits::new(&config.rate_limits, clock.clone());
    let login_limits = LoginLimits::new(config.auth.login_limits);
    Ok(Arc::new(App {
        config,
        db,
        clock,
        registry,
        roles,
        openrpc,
        metrics: Metrics::default(),
        rate_limits,
        login_limits,
        sockets: Arc::default(),
        hub: Arc::default(),
        shutdown: CancellationToken::new(),
        connections: TaskTracker::new(),
    }))
}

/// A server listening on its port.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    serve: JoinHandle<std::io::Result<()>>,
}

/// Builds the server and starts listening on `config.server.listen` (port 0 = any free port).
pub async fn start(config: Config, extra: Extra, clock: Clock) -> anyhow::Result<Running> {
    let listen = config.server.listen;
    let app = build(config, extra, clock).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let router = transport::router(app.clone());
    let shutdown = app.shutdown.clone();
    let serve = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    if let Db::Postgres(pool) = &app.db {
        tokio::spawn(listener::run(pool.clone(), app.hub.clone(), app.sockets.clone(), app.shutdown.clone()));
    }
    tokio::spawn(sweep(app.clone()));
    tracing::info!(%addr, backend = ?app.db.backend(), "countersign listening");
    Ok(Running { addr, app, serve })
}

/// Periodic housekeeping: forget idle rate-limit buckets, prune old notifications,
/// expire permit offers.
async fn sweep(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(app.config.server.housekeeping_interval_s));
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => break,
            _ = tick.tick() => {
                let now = app.clock.now();
                app.rate_limits.forget_idle();
                app.login_limits.forget_old(now);
                let retention = chrono::Duration::days(i64::from(app.config.notifications.retention_days));
                if let Err(e) = retention::prune(&app.db, now - retention).await {
                    tracing::warn!(error = %e, "pruning old notifications failed; will retry");
                }
                match offers::expiry::sweep(&app).await {
                    Ok(0) => {}
                    Ok(expired) => tracing::info!(expired, "expired permit offers"),
                    Err(e) => tracing::warn!(error = %e, "expiring permit offers failed; will retry"),
                }
            }
        }
    }
}

impl Running {
    /// Graceful shutdown: stop accepting, finish in-flight calls, close sockets with 1001.
    /// Gives up waiting after `server.shutdown_grace_s`.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.app.shutdown.cancel();
        let grace = Duration::from_secs(self.app.config.server.shutdown_grace_s);
        let app = self.app.clone();
        let drained = tokio::time::timeout(grace, async move {
            let served = self.serve.await;
            app.connections.close();
            app.connections.wait().await;
            served
        })
        .await;
        match drained {
            Ok(served) => served??,
            Err(_) => tracing::warn!(?grace, "shutdown grace period ended with calls still running"),
        }
        self.app.db.close().await;
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

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://countersign.db"), "sqlite://countersign.db");
    }

    #[test]
    fn builtin_declarations_bind_to_builtin_handlers() {
        registry(&Config::embedded(), Extra::default()).unwrap();
    }
}
