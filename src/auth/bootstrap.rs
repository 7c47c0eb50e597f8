//! The first admin. On a start with no account, the server issues a one-time token, logs
//! it and writes it to a file (mode 0600) beside the database; `account_bootstrap` (or
//! `countersign account create --admin`) consumes it. Each start without an account
//! replaces the token, so an old one never works.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::accounts::{self, Account};
use super::password;
use super::secret::{BOOTSTRAP_PREFIX, constant_time_eq, hash_token, new_token};
use crate::audit_log::AuditEvent;
use crate::authz::{ADMIN, permits};
use crate::call::{Action, Ctx};
use crate::config::Config;
use crate::db::{ConnRef, Db};
use crate::error::{RpcError, RpcResult};
use crate::on_conn;

/// The file the token is written to.
pub const TOKEN_FILE: &str = "countersign.bootstrap-token";
const META_KEY: &str = "bootstrap_token_hash";

/// Where the token file goes: as configured, else beside a SQLite file, else in the
/// working directory.
pub fn token_path(config: &Config) -> PathBuf {
    match &config.auth.bootstrap_token_file {
        Some(path) => path.clone(),
        None => default_token_path(&config.server.database_url),
    }
}

fn default_token_path(database_url: &str) -> PathBuf {
    let file = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"));
    let dir = file
        .map(|f| f.split('?').next().unwrap_or(f))
        .filter(|f| !f.is_empty() && !f.contains(":memory:"))
        .and_then(|f| Path::new(f).parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(TOKEN_FILE)
}

/// At start: when no account exists, issues a fresh token, writes it to `path` and logs it.
pub async fn prepare(db: &Db, path: &Path, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let mut tx = db.begin_write().await?;
    if accounts::count(tx.conn()).await? > 0 {
        return Ok(false);
    }
    let token = new_token(BOOTSTRAP_PREFIX);
    on_conn!(tx.conn(), c => sqlx::query("DELETE FROM countersign_meta WHERE key = $1").bind(META_KEY).execute(&mut *c).await.map(|_| ()))?;
    on_conn!(tx.conn(), c => sqlx::query("INSERT INTO countersign_meta (key, value, updated_at) VALUES ($1, $2, $3)")
        .bind(META_KEY).bind(hash_token(&token)).bind(now).execute(&mut *c).await.map(|_| ()))?;
    write_private(path, &format!("{token}\n"))?;
    tx.commit().await?;
    tracing::warn!(
        file = %path.display(),
        "no account exists yet: call account_bootstrap with the one-time token {token} (also in the file) to create the first admin"
    );
    Ok(true)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

/// Takes the pending token inside the caller's transaction. With `token`, it must match
/// (constant-time); without, the token is simply retired (the command line's path).
async fn consume(mut conn: ConnRef<'_>, token: Option<&str>) -> RpcResult<()> {
    let already = || RpcError::conflict("already_bootstrapped").message("An account exists already; sign in instead.");
    if accounts::count(conn.reborrow()).await? > 0 {
        return Err(already());
    }
    let stored: Option<String> = on_conn!(conn, c => sqlx::query_scalar(
        "DELETE FROM countersign_meta WHERE key = $1 RETURNING value").bind(META_KEY).fetch_optional(&mut *c).await)?;
    match (stored, token) {
        (Some(stored), Some(token)) if !constant_time_eq(&stored, &hash_token(token)) => {
            Err(RpcError::forbidden("invalid_bootstrap_token").message("That is not the current bootstrap token."))
        }
        (None, Some(_)) => Err(already()),
        _ => Ok(()),
    }
}

/// The first admin to make, or another one.
pub struct NewAdmin<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub password: String,
    /// The pending one-time token, which must match; `None` for the command line, which
    /// retires a pending token instead (and on a database with accounts simply adds an
    /// admin).
    pub token: Option<&'a str>,
}

/// Creates an account holding the global `admin` role, in the call's transaction:
/// `account_bootstrap`, and the command line's `account create --admin`.
pub async fn create_admin(ctx: &mut Ctx, new: NewAdmin<'_>, event_type: &str) -> RpcResult<Account> {
    let now = ctx.now();
    let hash = password::hash_new(new.password).await?;
    if new.token.is_some() || accounts::count(ctx.conn().await?).await? == 0 {
        consume(ctx.conn().await?, new.token).await?;
    }
    let created = accounts::create(ctx.conn().await?, new.username, new.email, &hash, now).await?;
    let admin = permits::NewPermit {
        account_id: created.account.id,
        actor_id: created.actor_id,
        role: ADMIN,
        scope_id: None,
        granted_by: None,
        source_offer_id: None,
        expires_at: None,
    };
    permits::grant(ctx.conn().await?, admin, now).await?;
    let event = AuditEvent::success(event_type)
        .target(created.account.id)
        .subject(created.account.id)
        .data(json!({ "admin": true }));
    ctx.audit(AuditEvent { account_id: Some(created.account.id), actor_id: Some(created.actor_id), ..event }).await?;
    let path = token_path(&ctx.env().config);
    ctx.after_commit(move || {
        let _ = std::fs::remove_file(path);
    });
    Ok(created.account)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BootstrapParams {
    /// The one-time token from the log or the token file.
    #[schemars(length(max = 200))]
    pub token: String,
    #[schemars(regex(pattern = accounts::USERNAME_PATTERN))]
    pub username: String,
    /// At least 12 characters.
    #[schemars(length(max = 1024))]
    pub password: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountResult {
    pub account: Account,
}

pub struct AccountBootstrap;

impl Action for AccountBootstrap {
    const METHOD: &'static str = "account_bootstrap";
    type Params = BootstrapParams;
    type Output = AccountResult;

    async fn run(&self, ctx: &mut Ctx, p: BootstrapParams) -> RpcResult<AccountResult> {
        let new = NewAdmin { username: &p.username, email: None, password: p.password, token: Some(&p.token) };
        Ok(AccountResult { account: create_admin(ctx, new, Self::METHOD).await? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_sits_beside_the_sqlite_file() {
        assert_eq!(
            default_token_path("sqlite:///var/lib/cs/countersign.db"),
            Path::new("/var/lib/cs").join(TOKEN_FILE)
        );
        assert_eq!(default_token_path("sqlite://countersign.db?mode=rwc"), Path::new(TOKEN_FILE));
        assert_eq!(default_token_path("postgres://u@h/db"), Path::new(TOKEN_FILE));
    }
}
