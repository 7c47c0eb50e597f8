//! Storage: the two backends behind one small surface.
//!
//! SQLite is the embedded default (one file, WAL); PostgreSQL is for several instances
//! sharing one database. sqlx's `Any` driver cannot carry uuid, time or JSON values, so
//! each backend keeps its own pool type and the few queries run through [`on_conn!`](crate::on_conn),
//! which expands one query body for both connection types. SQL is written once with
//! `$1` placeholders, which both backends accept; the differences live here.
//!
//! Writes go through [`Db::begin_write`], the one transaction helper: on SQLite it takes
//! an in-process write lock and starts with `BEGIN IMMEDIATE`, so concurrent writers queue
//! instead of failing with SQLITE_BUSY. Every acquire passes the breaker (`breaker.rs`), so a
//! database that is down answers at once instead of after the acquire timeout.
//!
//! [`Db::open`] says which database it opens and, for the offline commands
//! ([`Open::Existing`]), refuses one that is missing or not migrated; its errors name the
//! database and give the driver's reason (`open.rs`).

mod breaker;
mod open;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use breaker::{Breaker, Probe};
use chrono::{DateTime, Utc};
use sqlx::{ConnectOptions, Connection};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

pub use open::{Open, OpenError, redact_url};

/// How long a call waits for a pooled connection before the database counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool of either backend, behind the breaker.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    breaker: Arc<Breaker>,
    /// Which database, for people: a SQLite file's absolute path or `PostgreSQL user@host:port/db`.
    target: Arc<str>,
    /// The SQLite file (none for PostgreSQL or an in-memory database).
    sqlite_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite { pool: SqlitePool, write_lock: Arc<Mutex<()>> },
    Postgres(PgPool),
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls it back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    Postgres(Transaction<'static, Postgres>),
}

/// A pooled connection for reads, outside any transaction.
pub enum ReadConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// A borrowed connection of either backend; run queries on it with [`on_conn!`](crate::on_conn).
pub enum ConnRef<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Runs one query body against a [`ConnRef`], whichever backend it is:
/// `on_conn!(conn, c => sqlx::query("SELECT 1").execute(&mut *c).await)`.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::ConnRef::Sqlite($c) => $body,
            $crate::db::ConnRef::Postgres($c) => $body,
        }
    };
}

impl ConnRef<'_> {
    /// A shorter-lived borrow of the same connection, to pass on and keep using after.
    pub fn reborrow(&mut self) -> ConnRef<'_> {
        match self {
            ConnRef::Sqlite(c) => ConnRef::Sqlite(c),
            ConnRef::Postgres(c) => ConnRef::Postgres(c),
        }
    }
}

impl Db {
    /// Opens a pool for `url` (`sqlite://FILE` or `postgres://…`), creating a missing
    /// SQLite file (not its directory). Logs which database it is.
    pub async fn connect(url: &str) -> Result<Db, OpenError> {
        Db::open(url, Open::Create).await
    }

    /// Opens a pool for `url` as `open` allows. With [`Open::Existing`] it creates nothing
    /// and refuses a database that is missing or has migrations not yet applied.
    pub async fn open(url: &str, open: Open) -> Result<Db, OpenError> {
        let parsed = open::parse(url)?;
        let target: Arc<str> = parsed.target().into();
        tracing::info!(database = %target, "opening the database");
        let failed = |e: sqlx::Error| OpenError::Connect { target: target.to_string(), reason: open::reason(&e) };
        let sqlite_file = match &parsed {
            open::Parsed::Sqlite { path, .. } => path.clone(),
            open::Parsed::Postgres { .. } => None,
        };
        let pool = match parsed {
            open::Parsed::Sqlite { options, path } => {
                if let Some(path) = &path {
                    open::prepare_sqlite_file(path, open)?;
                }
                if open == Open::Existing {
                    // On a plain connection first: the pool's WAL pragma would change the file.
                    let mut conn = options.clone().create_if_missing(false).connect().await.map_err(failed)?;
                    refuse_unmigrated(ConnRef::Sqlite(&mut conn), &target).await?;
                    let _ = conn.close().await;
                }
                let options = options
                    .create_if_missing(open == Open::Create)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(failed)?;
                Pool::Sqlite { pool, write_lock: Arc::new(Mutex::new(())) }
            }
            open::Parsed::Postgres { options, target } => {
                let mut conn = open::connect_postgres(&options, &target).await?;
                if open == Open::Existing {
                    refuse_unmigrated(ConnRef::Postgres(&mut conn), &target).await?;
                }
                let _ = conn.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(failed)?;
                Pool::Postgres(pool)
            }
        };
        Ok(Db { pool, breaker: Arc::default(), target, sqlite_file })
    }

    /// Which database this is, for people (never with a password).
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite database's file, when it is one (other processes may open it too).
    pub fn sqlite_file(&self) -> Option<&Path> {
        self.sqlite_file.as_deref()
    }

    /// The PostgreSQL pool, for what only PostgreSQL has (LISTEN/NOTIFY).
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite { .. } => None,
        }
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match &self.pool {
            Pool::Sqlite { pool, .. } => SQLITE_MIGRATIONS.run(pool).await,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
    }

    /// How many of this backend's migrations have not been applied, of how many.
    pub async fn pending_migrations(&self) -> Result<(usize, usize), sqlx::Error> {
        pending_migrations_on(self.read().await?.conn()).await
    }

    /// Starts a write transaction (the one way every mutation reaches the database).
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        self.fail_fast()?;
        let tx = match &self.pool {
            Pool::Sqlite { pool, write_lock } => {
                // Waiting for the lock is waiting for other writers, not for the database.
                let guard = tokio::time::timeout(ACQUIRE_TIMEOUT, write_lock.clone().lock_owned())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?;
                let tx = pool.begin_with("BEGIN IMMEDIATE").await.inspect_err(|e| self.on_error(e))?;
                Tx::Sqlite(tx, guard)
            }
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await.inspect_err(|e| self.on_error(e))?),
        };
        Ok(tx)
    }

    /// Takes a pooled connection for reads.
    pub async fn read(&self) -> Result<ReadConn, sqlx::Error> {
        self.fail_fast()?;
        let conn = match &self.pool {
            Pool::Sqlite { pool, .. } => ReadConn::Sqlite(pool.acquire().await.inspect_err(|e| self.on_error(e))?),
            Pool::Postgres(pool) => ReadConn::Postgres(pool.acquire().await.inspect_err(|e| self.on_error(e))?),
        };
        Ok(conn)
    }

    /// Whether the database answers a trivial query within `patience`; a database that
    /// does not becomes suspect (the breaker probes it).
    pub async fn ping(&self, patience: Duration) -> Result<(), sqlx::Error> {
        let ping = async {
            let mut conn = self.read().await?;
            on_conn!(conn.conn(), c => sqlx::query("SELECT 1").execute(&mut *c).await.map(|_| ()))
        };
        let answered = tokio::time::timeout(patience, ping).await.unwrap_or(Err(sqlx::Error::PoolTimedOut));
        answered.inspect_err(|e| self.on_error(e))
    }

    /// Closes the pool; later calls fail as `service_unavailable`.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { pool, .. } => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// `Err` at once while the breaker is open.
    fn fail_fast(&self) -> Result<(), sqlx::Error> {
        if self.breaker.is_open() { Err(sqlx::Error::PoolTimedOut) } else { Ok(()) }
    }

    /// An acquire failed: unless the pool was closed on purpose, the database is suspect.
    fn on_error(&self, error: &sqlx::Error) {
        if matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_)) {
            self.breaker.suspect(self.probe());
        }
    }

    /// A connection of its own, outside the pool, that answers a ping.
    fn probe(&self) -> Probe {
        match &self.pool {
            Pool::Sqlite { pool, .. } => probe_with(pool.connect_options()),
            Pool::Postgres(pool) => probe_with(pool.connect_options()),
        }
    }
}

fn probe_with<O>(options: Arc<O>) -> Probe
where
    O: ConnectOptions,
    O::Connection: Sized,
{
    Box::new(move || {
        let options = options.clone();
        Box::pin(async move {
            match options.connect().await {
                Ok(mut conn) => conn.ping().await.is_ok(),
                Err(_) => false,
            }
        })
    })
}

/// How many of the backend's migrations have not been applied to the database on `conn`,
/// of how many; a database without sqlx's table has none applied.
async fn pending_migrations_on(mut conn: ConnRef<'_>) -> Result<(usize, usize), sqlx::Error> {
    let (migrator, exists) = match conn {
        ConnRef::Sqlite(_) => (
            &SQLITE_MIGRATIONS,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        ),
        ConnRef::Postgres(_) => (
            &POSTGRES_MIGRATIONS,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()",
        ),
    };
    let tables: i64 = on_conn!(conn.reborrow(), c => sqlx::query_scalar(exists).fetch_one(&mut *c).await)?;
    let applied: Vec<i64> = if tables == 0 {
        Vec::new()
    } else {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success";
        on_conn!(conn, c => sqlx::query_scalar(sql).fetch_all(&mut *c).await)?
    };
    let ours: Vec<i64> = migrator.iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect();
    let pending = ours.iter().filter(|version| !applied.contains(version)).count();
    Ok((pending, ours.len()))
}

/// `Err` naming the database when one of its migrations has not been applied.
async fn refuse_unmigrated(conn: ConnRef<'_>, target: &str) -> Result<(), OpenError> {
    let counted = pending_migrations_on(conn).await;
    match counted.map_err(|e| OpenError::Connect { target: target.to_owned(), reason: open::reason(&e) })? {
        (0, _) => Ok(()),
        (pending, total) => Err(OpenError::NotMigrated { target: target.to_owned(), pending, total }),
    }
}

/// Serializes, until commit, every write transaction that takes the same `key`: a
/// PostgreSQL advisory transaction lock. SQLite write transactions already run one at a
/// time, so there it does nothing.
pub async fn lock_key(conn: ConnRef<'_>, key: &str) -> Result<(), sqlx::Error> {
    if let ConnRef::Postgres(c) = conn {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(&mut *c).await?;
    }
    Ok(())
}

impl Tx {
    pub fn conn(&mut self) -> ConnRef<'_> {
        match self {
            Tx::Sqlite(tx, _) => ConnRef::Sqlite(tx),
            Tx::Postgres(tx) => ConnRef::Postgres(tx),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx, _guard) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

impl ReadConn {
    pub fn conn(&mut self) -> ConnRef<'_> {
        match self {
            ReadConn::Sqlite(c) => ConnRef::Sqlite(c),
            ReadConn::Postgres(c) => ConnRef::Postgres(c),
        }
    }
}

/// The ids among `ids` that `select` still finds: `select` picks ids with `$1` bound to
/// `now` and ends with the id column, which is matched `IN` the list. Used by the session
/// and token checks of open sockets (`auth::sessions::live`, `auth::tokens::live`).
pub async fn ids_still_found(
    conn: ConnRef<'_>,
    select: &str,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!("{select} IN ({})", placeholders.join(", "));
    on_conn!(conn, c => {
        let mut query = sqlx::query_scalar(&sql).bind(now);
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(&mut *c).await
    })
}
