//! The first admin. On a start with no account, the server issues a one-time token, logs
//! it and writes it to a file (mode 0600) beside the database; `account_bootstrap` (or
//! `countersign account create --admin`) consumes it. A token is issued once per
//! database, not once per start: a restart or a second instance that finds one pending and
//! unexpired keeps it (so the one first printed goes on working) and says which file it was
//! written to. `countersign bootstrap-token --rotate` replaces it on purpose.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
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
use crate::db::{self, ConnRef, Db, Tx};
use crate::error::{RpcError, RpcResult};
use crate::on_conn;

/// The file the token is written to.
pub const TOKEN_FILE: &str = "countersign.bootstrap-token";
/// How long an issued token works; a start after that issues a new one.
pub const TOKEN_TTL_HOURS: i64 = 24;
/// Instances starting at once on one PostgreSQL database issue one token between them.
const LOCK_KEY: &str = "bootstrap_token";

/// Where the token file goes: as configured, else beside a SQLite file, else in the
/// working directory; always absolute, so that other instances can say where it is.
pub fn token_path(config: &Config) -> PathBuf {
    let path = match &config.auth.bootstrap_token_file {
        Some(path) => path.clone(),
        None => default_token_path(&config.server.database_url),
    };
    std::path::absolute(&path).unwrap_or(path)
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

/// The token waiting to be used, as the database records it (its hash aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The file its issuer wrote it to (on the issuer's host).
    pub file: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Where the bootstrap stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// An account exists: there is nothing to bootstrap.
    Done,
    /// No account, and no token issued (or the last one retired).
    NoToken,
    /// No account; a token was issued. Expired when `expires_at` has passed.
    Issued(Pending),
}

/// Where the bootstrap stands at `now`.
pub async fn state(mut conn: ConnRef<'_>) -> anyhow::Result<State> {
    if accounts::any(conn.reborrow()).await? {
        return Ok(State::Done);
    }
    let row: Option<(String, DateTime<Utc>, DateTime<Utc>)> = on_conn!(conn, c => sqlx::query_as(
        "SELECT file, issued_at, expires_at FROM bootstrap_token").fetch_optional(&mut *c).await)?;
    Ok(match row {
        Some((file, issued_at, expires_at)) => State::Issued(Pending { file, issued_at, expires_at }),
        None => State::NoToken,
    })
}

/// What [`prepare`] did at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// An account exists.
    NotNeeded,
    /// A new token, logged and written to this file.
    Issued(PathBuf),
    /// An unexpired token issued earlier, left as it was.
    Kept(Pending),
}

/// At start, when no account exists: issues a token, writes it to `path` and logs it,
/// unless an unexpired one is pending already, which is kept (and where it was written,
/// logged).
pub async fn prepare(db: &Db, path: &Path, now: DateTime<Utc>) -> anyhow::Result<Prepared> {
    let mut tx = db.begin_write().await?;
    db::lock_key(tx.conn(), LOCK_KEY).await?;
    match state(tx.conn()).await? {
        State::Done => return Ok(Prepared::NotNeeded),
        State::Issued(pending) if pending.expires_at > now => {
            tracing::warn!(
                file = %pending.file,
                issued_at = %pending.issued_at.to_rfc3339(),
                expires_at = %pending.expires_at.to_rfc3339(),
                "no account exists yet; a bootstrap token issued earlier is still pending, and is kept: it is in the \
                 file named here (on the host of the instance that issued it) and in that instance's log. \
                 `countersign bootstrap-token --rotate` issues a new one"
            );
            return Ok(Prepared::Kept(pending));
        }
        State::Issued(_) | State::NoToken => {}
    }
    let (token, replaced) = issue(&mut tx, path, now).await?;
    tx.commit().await?;
    forget_file(replaced, path);
    tracing::warn!(
        file = %path.display(),
        expires_at = %(now + chrono::Duration::hours(TOKEN_TTL_HOURS)).to_rfc3339(),
        "no account exists yet: call account_bootstrap with the one-time token {token} (also in the file) to create the first admin"
    );
    Ok(Prepared::Issued(path.to_path_buf()))
}

/// `countersign bootstrap-token --rotate`: a new token in place of any pending one,
/// written to `path`; refused once an account exists.
pub async fn rotate(db: &Db, path: &Path, now: DateTime<Utc>) -> anyhow::Result<String> {
    let mut tx = db.begin_write().await?;
    db::lock_key(tx.conn(), LOCK_KEY).await?;
    if state(tx.conn()).await? == State::Done {
        return Err(RpcError::conflict("already_bootstrapped")
            .message("An account exists already: there is nothing to bootstrap; sign in instead.")
            .into());
    }
    let (token, replaced) = issue(&mut tx, path, now).await?;
    tx.commit().await?;
    forget_file(replaced, path);
    Ok(token)
}

/// Replaces any recorded token with a new one written to `path`: the token, and the file
/// the replaced one was in.
async fn issue(tx: &mut Tx, path: &Path, now: DateTime<Utc>) -> anyhow::Result<(String, Option<String>)> {
    let token = new_token(BOOTSTRAP_PREFIX);
    let replaced: Option<String> = on_conn!(tx.conn(), c => sqlx::query_scalar(
        "DELETE FROM bootstrap_token RETURNING file").fetch_optional(&mut *c).await)?;
    let expires_at = now + chrono::Duration::hours(TOKEN_TTL_HOURS);
    let file = path.display().to_string();
    on_conn!(tx.conn(), c => sqlx::query(
        "INSERT INTO bootstrap_token (id, token_hash, file, issued_at, expires_at) VALUES (1, $1, $2, $3, $4)")
        .bind(hash_token(&token)).bind(&file).bind(now).bind(expires_at).execute(&mut *c).await.map(|_| ()))?;
    write_private(path, &format!("{token}\n"))
        .with_context(|| format!("cannot write the bootstrap token file {}", path.display()))?;
    Ok((token, replaced))
}

/// Removes the file a replaced token was written to, when it is another file on this host.
fn forget_file(replaced: Option<String>, kept: &Path) {
    if let Some(old) = replaced.filter(|old| Path::new(old) != kept) {
        let _ = std::fs::remove_file(old);
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

/// Takes the pending token inside the caller's transaction: the file it was written to.
/// With `token`, it must match (constant-time) and be unexpired; without, the token is
/// simply retired (the command line's path).
async fn consume(mut conn: ConnRef<'_>, token: Option<&str>, now: DateTime<Utc>) -> RpcResult<Option<String>> {
    let already = || RpcError::conflict("already_bootstrapped").message("An account exists already; sign in instead.");
    if accounts::any(conn.reborrow()).await? {
        return Err(already());
    }
    let stored: Option<(String, String, DateTime<Utc>)> = on_conn!(conn.reborrow(), c => sqlx::query_as(
        "DELETE FROM bootstrap_token RETURNING token_hash, file, expires_at").fetch_optional(&mut *c).await)?;
    let Some(token) = token else { return Ok(stored.map(|(_, file, _)| file)) };
    match stored {
        Some((hash, _, _)) if !constant_time_eq(&hash, &hash_token(token)) => {
            Err(RpcError::forbidden("invalid_bootstrap_token").message("That is not the current bootstrap token."))
        }
        Some((_, _, expires_at)) if expires_at <= now => Err(RpcError::forbidden("bootstrap_token_expired")
            .message("That bootstrap token has expired: restart the server or run `countersign bootstrap-token --rotate` for a new one.")
            .with("expires_at", expires_at.to_rfc3339())),
        Some((_, file, _)) => Ok(Some(file)),
        // A bootstrap that committed while this one waited for the row took it.
        None if accounts::any(conn).await? => Err(already()),
        None => Err(RpcError::forbidden("invalid_bootstrap_token")
            .message("No bootstrap token is pending: restart the server or run `countersign bootstrap-token --rotate`.")),
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
    let mut written = None;
    if new.token.is_some() || !accounts::any(ctx.conn().await?).await? {
        written = consume(ctx.conn().await?, new.token, now).await?;
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
    ctx.credentials_changed(created.account.id).await?;
    let event = AuditEvent::success(event_type)
        .target(created.account.id)
        .subject(created.account.id)
        .data(json!({ "admin": true }));
    ctx.audit(AuditEvent { account_id: Some(created.account.id), actor_id: Some(created.actor_id), ..event }).await?;
    let configured = token_path(&ctx.env().config);
    ctx.after_commit(move || {
        for file in written.into_iter().map(PathBuf::from).chain([configured]) {
            let _ = std::fs::remove_file(file);
        }
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
        let mut config = Config::embedded();
        config.server.database_url = "postgres://u@h/db".into();
        assert!(token_path(&config).is_absolute(), "other instances name it: {:?}", token_path(&config));
    }
}
