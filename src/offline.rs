//! What the CLI changes straight on the database, without a running server: create an
//! account (with `--admin`, the offline bootstrap), disable or enable one, create an API
//! token, grant a permit (the only way to make a `keeper`), replace the bootstrap token;
//! and verifying the audit log. These open an existing, migrated database only
//! ([`Open::Existing`](crate::db::Open)): a command run in the wrong directory creates nothing.
//!
//! A change here is the API's change: its params pass the same method's schema
//! ([`Api::params`]), then the same domain function runs in a [`Ctx::command_line`]
//! context, with the same checks, audit row and notifications, in one transaction.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::audit_log::{self, VerifyReport};
use crate::auth::accounts::{self, Account};
use crate::auth::actions::account::{self, CreateAccountParams};
use crate::auth::actions::disable::{self, AccountDisableParams, AccountDisabled, AccountEnableParams, AccountEnabled};
use crate::auth::actions::token::{self, Owner, TokenCreateParams, TokenCreated};
use crate::auth::bootstrap::{self, NewAdmin};
use crate::auth::password;
use crate::authz::Permit;
use crate::call::Ctx;
use crate::error::{RpcError, RpcResult};
use crate::permits::{self, Grantor, PermitGrantParams};
use crate::rpc::Api;

/// Creates an account (as `account_create` does); with `admin`, it holds the admin role
/// and retires any pending bootstrap token (this is the offline bootstrap).
pub async fn create_account(
    api: &Api,
    username: &str,
    email: Option<&str>,
    password: String,
    admin: bool,
) -> RpcResult<Account> {
    let params = json!({ "username": username, "password": password, "email": email });
    let p: CreateAccountParams = api.params("account_create", named(params))?;
    let mut ctx = Ctx::command_line(api.env.clone());
    let account = if admin {
        let new = NewAdmin { username: &p.username, email: p.email.as_deref(), password: p.password, token: None };
        bootstrap::create_admin(&mut ctx, new, "account_create").await?
    } else {
        account::create_account(&mut ctx, p, "account_create").await?.account
    };
    ctx.commit().await?;
    Ok(account)
}

/// Creates an API token (as `token_create` does) for an account, after checking its
/// password.
pub async fn create_token(
    api: &Api,
    username: &str,
    password: String,
    name: &str,
    methods: Option<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
) -> RpcResult<TokenCreated> {
    let params = json!({ "name": name, "methods": methods, "expires_at": expires_at });
    let p: TokenCreateParams = api.params("token_create", named(params))?;
    let mut ctx = Ctx::command_line(api.env.clone());
    let found = accounts::find_for_login(ctx.reader().await?.conn(), username).await?;
    let valid = password::verify(password, found.as_ref().map(|f| f.password_hash.clone())).await?;
    let Some(found) = found.filter(|_| valid) else {
        return Err(RpcError::unauthenticated("invalid_credentials").message("Wrong username or password."));
    };
    let owner = Owner { account_id: found.account.id, actor_id: found.actor_id, limited_to: None };
    let created = token::create(&mut ctx, owner, p).await?;
    ctx.commit().await?;
    Ok(created)
}

/// Grants a configured role (any, `keeper` included) to an enabled account, at `scope`
/// when given, as `permit_grant` does: checked, audited, the holder notified.
pub async fn grant_permit(
    api: &Api,
    username: &str,
    role: &str,
    scope: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> RpcResult<Permit> {
    let mut ctx = Ctx::command_line(api.env.clone());
    let holder = accounts::find_for_login(ctx.reader().await?.conn(), username)
        .await?
        .ok_or_else(|| RpcError::not_found().message(format!("no enabled account named {username}")))?;
    let params =
        json!({ "to_account_id": holder.account.id, "role": role, "scope_id": scope, "expires_at": expires_at });
    let p: PermitGrantParams = api.params("permit_grant", named(params))?;
    let permit = permits::grant(&mut ctx, p, Grantor::Operator).await?;
    ctx.commit().await?;
    Ok(permit)
}

/// Disables an account (as `account_disable` does): its sessions and tokens revoked, its
/// sockets on a running server closed, the last lasting admin kept.
pub async fn disable_account(api: &Api, username: &str, reason: Option<&str>) -> RpcResult<AccountDisabled> {
    let mut ctx = Ctx::command_line(api.env.clone());
    let id = account_id(&mut ctx, username).await?;
    let p: AccountDisableParams =
        api.params("account_disable", named(json!({ "account_id": id, "reason": reason })))?;
    let disabled = disable::disable(&mut ctx, p).await?;
    ctx.commit().await?;
    Ok(disabled)
}

/// Lets a disabled account sign in again (as `account_enable` does).
pub async fn enable_account(api: &Api, username: &str) -> RpcResult<AccountEnabled> {
    let mut ctx = Ctx::command_line(api.env.clone());
    let id = account_id(&mut ctx, username).await?;
    let p: AccountEnableParams = api.params("account_enable", json!({ "account_id": id }))?;
    let enabled = disable::enable(&mut ctx, p).await?;
    ctx.commit().await?;
    Ok(enabled)
}

/// The id of the account named `username`, enabled or not.
async fn account_id(ctx: &mut Ctx, username: &str) -> RpcResult<uuid::Uuid> {
    accounts::id_by_username(ctx.reader().await?.conn(), username)
        .await?
        .ok_or_else(|| RpcError::not_found().message(format!("no account named {username}")))
}

/// Params as a client sends them: options left out rather than `null`.
fn named(mut params: Value) -> Value {
    if let Some(object) = params.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    params
}

/// `countersign bootstrap-token --rotate`: a new bootstrap token in place of the pending
/// one, written to the configured file; the token, and that file.
pub async fn rotate_bootstrap_token(api: &Api) -> anyhow::Result<(String, std::path::PathBuf)> {
    let path = bootstrap::token_path(&api.env.config);
    let token = bootstrap::rotate(&api.env.db, &path, api.env.clock.now()).await?;
    Ok((token, path))
}

/// `countersign bootstrap-token`: where the bootstrap stands.
pub async fn bootstrap_state(api: &Api) -> anyhow::Result<bootstrap::State> {
    let mut conn = api.env.db.read().await?;
    bootstrap::state(conn.conn()).await
}

/// Checks the audit log's hash chain.
pub async fn verify_audit(api: &Api) -> RpcResult<VerifyReport> {
    let mut conn = api.env.db.read().await?;
    audit_log::verify(conn.conn()).await
}
