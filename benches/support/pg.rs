//! Throwaway PostgreSQL databases for benchmarks, next to the database of an admin URL
//! (`BENCH_PG_URL`): created empty, dropped at the end; and what the report says about
//! the server (version, durability) and which local process is its main one, so that its
//! CPU counts as the benchmark's own (`support/interference.rs`).

use anyhow::Context as _;
use sqlx::Connection as _;
use uuid::Uuid;

use super::interference;

/// `BENCH_PG_URL`, when set and not empty.
pub fn admin_url() -> Option<String> {
    std::env::var("BENCH_PG_URL").ok().filter(|url| !url.is_empty())
}

/// A database created for the benchmark; [`PgDatabase::drop`] removes it.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// Creates an empty database named `countersign_bench_<label>_<uuid>`.
    pub async fn create(admin_url: &str, label: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("countersign_bench_{label}_{}", Uuid::now_v7().simple());
        let mut conn = admin(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        Ok(PgDatabase { url: sibling_url(admin_url, &name)?, admin_url: admin_url.to_owned(), name })
    }

    /// Drops it, closing whatever is still connected.
    pub async fn drop(self) -> anyhow::Result<()> {
        let mut conn = admin(&self.admin_url).await?;
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).execute(&mut conn).await?;
        Ok(())
    }
}

async fn admin(admin_url: &str) -> anyhow::Result<sqlx::PgConnection> {
    sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("cannot connect to BENCH_PG_URL {}", countersign::db::redact_url(admin_url)))
}

/// The admin URL with its database (the last path segment) replaced by `name`; a query
/// string (`?sslmode=…`) is kept.
fn sibling_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.ends_with(|c| c != '/'))
        .with_context(|| format!("BENCH_PG_URL {} has no /database part", countersign::db::redact_url(admin_url)))?;
    Ok(format!("{server}/{name}{query}"))
}

/// The server's version and the settings that decide what a commit costs.
pub async fn settings(admin_url: &str) -> anyhow::Result<String> {
    let mut conn = admin(admin_url).await?;
    let mut shown = Vec::new();
    for setting in ["server_version", "fsync", "synchronous_commit", "shared_buffers"] {
        let value: String = sqlx::query_scalar(&format!("SHOW {setting}")).fetch_one(&mut conn).await?;
        shown.push(format!("{setting} = {value}"));
    }
    Ok(shown.join(", "))
}

/// The server's main process when it runs on this machine: the parent of our backend
/// process, if that is a `postgres`.
pub async fn main_process(admin_url: &str) -> anyhow::Result<Option<u32>> {
    let mut conn = admin(admin_url).await?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await?;
    let Ok(backend) = u32::try_from(backend) else { return Ok(None) };
    Ok(interference::parent_of(backend).filter(|(_, name)| name == "postgres").map(|(pid, _)| pid))
}
