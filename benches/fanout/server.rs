//! The server under test, in the bench process: countersign with `bench_broadcast`, over a
//! SQLite file in a temporary directory or over a fresh PostgreSQL database, or the raw
//! stack it is compared with ([`Bare`]); and the accounts and tokens the sockets use,
//! created through the domain functions.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use countersign::auth::{accounts, password, tokens};
use countersign::call::Env;
use countersign::clock::Clock;
use countersign::config::Config;
use countersign::server::{self, Running};
use sqlx::Connection as _;
use uuid::Uuid;

use super::action;
use super::bare::Bare;
use super::proto::Account;

/// A rate limit no benchmark reaches.
const UNLIMITED: u32 = u32::MAX / 2;

/// Which server runs, and where it keeps its data.
pub enum Backend {
    /// The raw stack: no countersign, no data ([`Bare`]).
    Bare,
    Sqlite,
    /// A PostgreSQL server, reached with an admin URL: the bench creates a database there
    /// and drops it at the end.
    Postgres {
        admin_url: String,
    },
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Bare => RAW_STACK,
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

/// The backend name of the raw stack's rows.
pub const RAW_STACK: &str = "raw stack";

/// A running server, and the PostgreSQL database to drop after it.
pub enum Server {
    Countersign { running: Running, database: Option<(String, String)> },
    Bare(Bare),
}

impl Server {
    /// Starts the backend's server on a free loopback port; its files go in `dir`.
    pub async fn start(backend: &Backend, dir: &Path) -> anyhow::Result<Server> {
        let (database_url, database) = match backend {
            Backend::Bare => return Ok(Server::Bare(Bare::start().await?)),
            Backend::Sqlite => (format!("sqlite://{}", dir.join("fanout.db").display()), None),
            Backend::Postgres { admin_url } => {
                let (url, name) = create_database(admin_url).await?;
                (url, Some((admin_url.clone(), name)))
            }
        };
        let running = server::start(config(database_url, dir)?, action::extra(), Clock::default()).await?;
        Ok(Server::Countersign { running, database })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Countersign { running, .. } => running.addr,
            Server::Bare(bare) => bare.addr,
        }
    }

    /// `count` accounts, each with an API token (the raw stack takes any token).
    pub async fn seed(&self, count: usize) -> anyhow::Result<Vec<Account>> {
        match self {
            Server::Countersign { running, .. } => seed(&running.api.env, count).await,
            Server::Bare(_) => {
                Ok((0..count).map(|_| Account { id: Uuid::now_v7(), token: "raw".to_owned() }).collect())
            }
        }
    }

    /// Open WebSockets as the server counts them.
    fn sockets_open(&self) -> anyhow::Result<usize> {
        match self {
            Server::Countersign { running, .. } => sockets_open(&running.api.env)
                .and_then(|open| usize::try_from(open).ok())
                .with_context(|| format!("the server's metrics have no {SOCKETS_GAUGE} gauge")),
            Server::Bare(bare) => Ok(bare.sockets_open()),
        }
    }

    /// Waits until the server counts `expected` open WebSockets.
    pub async fn wait_for_sockets(&self, expected: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let open = self.sockets_open()?;
            if open == expected {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the server counts {open} open WebSockets, expected {expected} (waited {timeout:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shuts the server down and drops its PostgreSQL database, if any.
    pub async fn stop(self) -> anyhow::Result<()> {
        let (running, database) = match self {
            Server::Countersign { running, database } => (running, database),
            Server::Bare(bare) => {
                bare.stop();
                return Ok(());
            }
        };
        running.shutdown().await?;
        if let Some((admin_url, name)) = database {
            let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await?;
        }
        Ok(())
    }
}

/// The embedded default, on a free port, with every rate-limit class out of reach.
fn config(database_url: String, dir: &Path) -> anyhow::Result<Config> {
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
    Ok(config)
}

/// Creates an empty database next to the admin URL's; returns its URL and name.
async fn create_database(admin_url: &str) -> anyhow::Result<(String, String)> {
    let name = format!("countersign_fanout_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("cannot connect to BENCH_PG_URL {}", countersign::db::redact_url(admin_url)))?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
    let (base, _) = admin_url.rsplit_once('/').context("BENCH_PG_URL has no /database part")?;
    Ok((format!("{base}/{name}"), name))
}

/// Creates `count` accounts and one API token each, in one transaction. Every account
/// gets the same password hash, computed once (Argon2 per account would take minutes).
async fn seed(env: &Env, count: usize) -> anyhow::Result<Vec<Account>> {
    let started = Instant::now();
    let hash = password::hash_new("fanout-bench-password-never-used".to_owned()).await?;
    let now = env.clock.now();
    let mut tx = env.db.begin_write().await?;
    let mut seeded = Vec::with_capacity(count);
    for i in 0..count {
        let created = accounts::create(tx.conn(), &format!("fanout-{i:05}"), None, &hash, now).await?;
        let id = created.account.id;
        let (_, token) = tokens::create(tx.conn(), id, "fanout", None, None, now).await?;
        seeded.push(Account { id, token });
    }
    tx.commit().await?;
    eprintln!("seeded {count} accounts and tokens in {:.2} s", started.elapsed().as_secs_f64());
    Ok(seeded)
}

/// The server's gauge of open WebSockets, as `GET /metrics` shows it.
const SOCKETS_GAUGE: &str = "countersign_websockets_open";

/// Open WebSockets as countersign counts them.
fn sockets_open(env: &Env) -> Option<i64> {
    let metrics = env.metrics.encode(countersign::metrics::Format::Classic);
    metrics.lines().find_map(|line| line.strip_prefix(SOCKETS_GAUGE)?.strip_prefix(' ')?.trim().parse().ok())
}
