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
//! instead of failing with SQLITE_BUSY.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a call waits for a pooled connection before the database counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool of either backend.
#[derive(Debug, Clone)]
pub enum Db {
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
    /// Opens a pool for `url` (`sqlite://FILE` or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite { pool, write_lock: Arc::new(Mutex::new(())) })
        } else {
            let options = PgConnectOptions::from_str(url)?;
            let pool =
                PgPoolOptions::new().max_connections(16).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?;
            Ok(Db::Postgres(pool))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Sqlite { pool, .. } => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        }
    }

    /// Starts a write transaction (the one way every mutation reaches the database).
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Sqlite { pool, write_lock } => {
                let guard = tokio::time::timeout(ACQUIRE_TIMEOUT, write_lock.clone().lock_owned())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)?;
                let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx::Sqlite(tx, guard))
            }
            Db::Postgres(pool) => Ok(Tx::Postgres(pool.begin().await?)),
        }
    }

    /// Takes a pooled connection for reads.
    pub async fn read(&self) -> Result<ReadConn, sqlx::Error> {
        match self {
            Db::Sqlite { pool, .. } => Ok(ReadConn::Sqlite(pool.acquire().await?)),
            Db::Postgres(pool) => Ok(ReadConn::Postgres(pool.acquire().await?)),
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.read().await?;
        on_conn!(conn.conn(), c => sqlx::query("SELECT 1").execute(&mut *c).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool; later calls fail as `service_unavailable`.
    pub async fn close(&self) {
        match self {
            Db::Sqlite { pool, .. } => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
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
