//! `account_disable`, `account_enable`: the admin's kill switch for a compromised account
//! (docs/protocol.md §4.4). Disabling ends every session and API token of the account and
//! closes its sockets on every instance, in the same transaction as the audit row; a
//! disabled account cannot sign in and holds nothing. Enabling lets it sign in again, with
//! fresh credentials only. The command line's `account disable` / `account enable` run the
//! same functions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::account::credentials_ended;
use crate::audit_log::AuditEvent;
use crate::auth::accounts::{self, Account};
use crate::auth::{sessions, tokens};
use crate::authz::permits::ensure_an_admin_remains;
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};
use crate::sockets::SocketKey;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDisableParams {
    pub account_id: Uuid,
    /// Why, for the audit log.
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountDisabled {
    pub account: Account,
    /// Sessions and API tokens that were live and are now revoked.
    pub sessions_ended: usize,
    pub tokens_revoked: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountEnableParams {
    pub account_id: Uuid,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountEnabled {
    pub account: Account,
}

pub struct Disable;

impl Action for Disable {
    const METHOD: &'static str = "account_disable";
    type Params = AccountDisableParams;
    type Output = AccountDisabled;

    async fn run(&self, ctx: &mut Ctx, p: AccountDisableParams) -> RpcResult<AccountDisabled> {
        if ctx.principal().is_some_and(|me| me.account_id == p.account_id) {
            return Err(RpcError::validation("self_target").message("Another admin must disable your account."));
        }
        disable(ctx, p).await
    }
}

/// Disables the account, revokes its credentials and closes its sockets after commit:
/// `account_disable` and the command line's `account disable`.
pub async fn disable(ctx: &mut Ctx, p: AccountDisableParams) -> RpcResult<AccountDisabled> {
    let now = ctx.now();
    if !accounts::set_disabled(ctx.conn().await?, p.account_id, Some(now)).await? {
        return Err(unchanged(ctx, p.account_id, "already_disabled").await?);
    }
    let ended = sessions::revoke_others(ctx.conn().await?, p.account_id, None, now).await?;
    let revoked = tokens::revoke_all(ctx.conn().await?, p.account_id, now).await?;
    ensure_an_admin_remains(ctx.conn().await?).await?;
    let account = accounts::find(ctx.conn().await?, p.account_id).await?.ok_or_else(RpcError::not_found)?;
    let event = AuditEvent::success(Disable::METHOD).target(p.account_id).subject(p.account_id).data(json!({
        "reason": p.reason, "sessions_ended": ended.len(), "tokens_revoked": revoked.len(),
    }));
    ctx.audit(event).await?;
    let (sessions_ended, tokens_revoked) = (ended.len(), revoked.len());
    let keys = ended.into_iter().map(SocketKey::Session).chain(revoked.into_iter().map(SocketKey::Token));
    credentials_ended(ctx, p.account_id, keys.collect()).await?;
    Ok(AccountDisabled { account, sessions_ended, tokens_revoked })
}

pub struct Enable;

impl Action for Enable {
    const METHOD: &'static str = "account_enable";
    type Params = AccountEnableParams;
    type Output = AccountEnabled;

    async fn run(&self, ctx: &mut Ctx, p: AccountEnableParams) -> RpcResult<AccountEnabled> {
        enable(ctx, p).await
    }
}

/// Lets a disabled account sign in again: `account_enable` and `account enable`.
pub async fn enable(ctx: &mut Ctx, p: AccountEnableParams) -> RpcResult<AccountEnabled> {
    if !accounts::set_disabled(ctx.conn().await?, p.account_id, None).await? {
        return Err(unchanged(ctx, p.account_id, "not_disabled").await?);
    }
    ctx.credentials_changed(p.account_id).await?;
    let account = accounts::find(ctx.conn().await?, p.account_id).await?.ok_or_else(RpcError::not_found)?;
    ctx.audit(AuditEvent::success(Enable::METHOD).target(p.account_id).subject(p.account_id)).await?;
    Ok(AccountEnabled { account })
}

/// Why nothing changed: no such account, or it is already as asked (`reason`).
async fn unchanged(ctx: &mut Ctx, account_id: Uuid, reason: &'static str) -> RpcResult<RpcError> {
    let exists = accounts::find(ctx.conn().await?, account_id).await?.is_some();
    Ok(if exists { RpcError::conflict(reason) } else { RpcError::not_found() })
}
