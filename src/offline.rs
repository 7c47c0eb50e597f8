//! What the CLI does straight on the database, without a running server: create an
//! account (the offline bootstrap), create an API token, grant a permit (the only way
//! to make a `keeper`), verify the audit log. Each
//! change goes through the same domain code and the same audit writer as the RPC
//! methods, in one transaction.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, AuditEvent, VerifyReport};
use crate::auth::accounts::{self, Account};
use crate::auth::tokens::{self, TokenInfo};
use crate::auth::{bootstrap, password};
use crate::authz::permits::{self, NewPermit, Permit, PermitKey};
use crate::authz::{self, Roles, scope};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::notify;
use crate::rpc::{RpcError, RpcResult};

/// Opens and migrates the configured database.
pub async fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.server.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

fn cli_origin() -> audit::Origin {
    audit::Origin { account_id: None, actor_id: None, ip: Some("cli".to_owned()), request_id: Uuid::now_v7() }
}

/// Creates an account; with `admin`, it holds the admin role and retires any pending
/// bootstrap token (this is the offline bootstrap).
pub async fn create_account(
    config: &Config,
    db: &Db,
    username: &str,
    email: Option<&str>,
    password: String,
    admin: bool,
) -> RpcResult<Account> {
    let now = Clock::default().now();
    let hash = password::hash_new(password).await?;
    let mut tx = db.begin_write().await?;
    let created = if admin {
        if accounts::count(tx.conn()).await? == 0 {
            bootstrap::consume(tx.conn(), None).await?;
        }
        bootstrap::create_admin(tx.conn(), username, email, &hash, now).await?
    } else {
        accounts::create(tx.conn(), username, email, &hash, now).await?
    };
    let event = AuditEvent::success("account_create")
        .target(created.account.id)
        .subject(created.account.id)
        .data(json!({ "via": "cli", "admin": admin }));
    audit::append(tx.conn(), event, &cli_origin(), now).await?;
    tx.commit().await?;
    if admin {
        let _ = std::fs::remove_file(bootstrap::token_path(config));
    }
    Ok(created.account)
}

/// Creates an API token for an account after checking its password.
pub async fn create_token(
    db: &Db,
    username: &str,
    password: String,
    name: &str,
    methods: Option<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
) -> RpcResult<(TokenInfo, String)> {
    let now = Clock::default().now();
    let found = accounts::find_for_login(db.read().await?.conn(), username).await?;
    let stored = found.as_ref().map(|f| f.password_hash.clone());
    let valid = password::verify(password, stored).await?;
    let mut tx = db.begin_write().await?;
    let Some(found) = found.filter(|_| valid) else {
        return Err(RpcError::unauthenticated("invalid_credentials").message("Wrong username or password."));
    };
    let (token, secret) = tokens::create(tx.conn(), found.account.id, name, expires_at, methods, now).await?;
    let event = AuditEvent::success("token_create")
        .subject(token.id)
        .data(json!({ "via": "cli", "name": token.name, "methods": token.methods, "expires_at": token.expires_at }));
    let origin = audit::Origin { account_id: Some(found.account.id), actor_id: Some(found.actor_id), ..cli_origin() };
    audit::append(tx.conn(), event, &origin, now).await?;
    tx.commit().await?;
    Ok((token, secret))
}

/// Grants a configured role (any, `keeper` included) to an enabled account, at `scope`
/// when given; the holder is notified as with `permit_grant`.
pub async fn grant_permit(
    config: &Config,
    db: &Db,
    username: &str,
    role: &str,
    scope: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> RpcResult<Permit> {
    let now = Clock::default().now();
    let roles = Roles::new(&config.roles, &config.kinds)
        .map_err(|(key, reason)| RpcError::validation("bad_config").message(format!("{key}: {reason}")))?;
    if scope.is_some_and(|s| !scope::is_valid(s)) {
        return Err(RpcError::validation("invalid_scope").message("scopes look like org:acme/store:berlin"));
    }
    roles.named(role)?.check_scope(scope)?;
    let mut tx = db.begin_write().await?;
    let found = accounts::find_for_login(tx.conn(), username)
        .await?
        .ok_or_else(|| RpcError::not_found().message(format!("no enabled account named {username}")))?;
    let key = PermitKey { account_id: found.account.id, role, scope };
    key.lock(tx.conn()).await?;
    let new = NewPermit {
        account_id: found.account.id,
        actor_id: found.actor_id,
        role,
        scope_id: scope,
        granted_by: None,
        source_offer_id: None,
        expires_at,
    };
    let (permit, replaced) = permits::grant(tx.conn(), new, now).await?;
    let mut event = authz::grant_event(&permit, replaced);
    event.data["via"] = json!("cli");
    audit::append(tx.conn(), event, &cli_origin(), now).await?;
    notify::push(tx.conn(), permit.account_id, "permit_granted", &json!({ "permit": permit }), now).await?;
    notify::announce(tx.conn(), permit.account_id).await?;
    tx.commit().await?;
    Ok(permit)
}

/// Checks the audit log's hash chain.
pub async fn verify_audit(db: &Db) -> RpcResult<VerifyReport> {
    let mut conn = db.read().await?;
    audit::verify(conn.conn()).await
}
