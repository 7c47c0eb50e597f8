//! One database backend ready for load: a fresh database (a SQLite file in a temporary
//! directory, or a PostgreSQL database next to `BENCH_PG_URL`'s), countersign serving it
//! from a server process (`support/child.rs`), and a pool on the same database in the
//! bench process, for setting data up and checking it.

use std::path::Path;

use anyhow::Context as _;
use countersign::db::{Db, Open};

use super::child::{Addrs, ServerProcess};
use super::interference::CpuMark;
use super::pg::{self, PgDatabase};

/// Which database.
#[derive(Debug, Clone)]
pub enum Kind {
    Sqlite,
    /// A PostgreSQL server reached with an admin URL, which may create databases.
    Postgres {
        admin_url: String,
    },
}

impl Kind {
    /// SQLite, and PostgreSQL when `BENCH_PG_URL` is set.
    pub fn from_env() -> Vec<Kind> {
        let mut kinds = vec![Kind::Sqlite];
        kinds.extend(pg::admin_url().map(|admin_url| Kind::Postgres { admin_url }));
        kinds
    }

    pub fn name(&self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres { .. } => "PostgreSQL",
        }
    }

    /// What the report says about the database's durability.
    pub async fn describe(&self) -> anyhow::Result<String> {
        match self {
            Kind::Sqlite => Ok("SQLite: WAL, synchronous = NORMAL".to_owned()),
            Kind::Postgres { admin_url } => Ok(format!("PostgreSQL: {}", pg::settings(admin_url).await?)),
        }
    }
}

/// A running backend.
pub struct Backend {
    pub kind: Kind,
    pub server: ServerProcess,
    /// The same database, opened by this process.
    pub db: Db,
    pg: Option<PgDatabase>,
    /// A local PostgreSQL's main process, whose CPU counts as the benchmark's.
    pg_main: Option<u32>,
}

impl Backend {
    /// A fresh database of `kind` (`label` names it: a file in `dir`, or part of the
    /// PostgreSQL database's name), served by a new server process, with the echo beside
    /// countersign when `echo`.
    pub async fn start(kind: &Kind, dir: &Path, label: &str, echo: bool) -> anyhow::Result<Backend> {
        let (url, pg, pg_main) = match kind {
            Kind::Sqlite => (format!("sqlite://{}", dir.join(format!("{label}.db")).display()), None, None),
            Kind::Postgres { admin_url } => {
                let database = PgDatabase::create(admin_url, label).await?;
                (database.url.clone(), Some(database), pg::main_process(admin_url).await?)
            }
        };
        let server = ServerProcess::spawn(&url, dir, echo).await?;
        let db = Db::open(&url, Open::Existing).await.with_context(|| format!("cannot open the {label} database"))?;
        Ok(Backend { kind: kind.clone(), server, db, pg, pg_main })
    }

    pub fn addrs(&self) -> Addrs {
        self.server.addrs
    }

    /// A mark from which to measure how much CPU other processes took: this process, its
    /// children (the server process) and a local PostgreSQL count as the benchmark's.
    pub fn cpu_mark(&self) -> Option<CpuMark> {
        CpuMark::with_server(self.pg_main)
    }

    /// Stops the server process, closes the pool, drops a PostgreSQL database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop().await?;
        self.db.close().await;
        if let Some(database) = self.pg {
            database.drop().await?;
        }
        Ok(())
    }
}
