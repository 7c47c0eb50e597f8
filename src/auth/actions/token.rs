//! `token_create`, `token_list`, `token_revoke`: the caller's own API tokens only.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::account::credentials_ended;
use crate::audit_log::AuditEvent;
use crate::auth::tokens::{self, TokenInfo};
use crate::call::common::{EmptyParams, OkResult, future_expiry};
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};
use crate::sockets::SocketKey;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateParams {
    /// A label to recognise the token by.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// When it stops working; `null` = never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The only methods it may call; omit for every method the account may call.
    #[schemars(length(min = 1, max = 200))]
    pub methods: Option<Vec<String>>,
}

/// The new token, and its secret, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenCreated {
    pub token: TokenInfo,
    /// Send as `Authorization: Bearer <secret>`. It cannot be shown again.
    pub secret: String,
}

pub struct Create;

impl Action for Create {
    const METHOD: &'static str = "token_create";
    type Params = TokenCreateParams;
    type Output = TokenCreated;

    async fn run(&self, ctx: &mut Ctx, p: TokenCreateParams) -> RpcResult<TokenCreated> {
        let principal = ctx.require_principal()?;
        let owner = Owner {
            account_id: principal.account_id,
            actor_id: principal.actor_id,
            limited_to: principal.token_methods().map(<[String]>::to_vec),
        };
        create(ctx, owner, p).await
    }
}

/// Whose token is made, and (when that is asked for with a limited token) the methods
/// the new token must stay within.
pub struct Owner {
    pub account_id: Uuid,
    pub actor_id: Uuid,
    pub limited_to: Option<Vec<String>>,
}

/// Creates an API token for `owner`: `token_create`, and the command line's `token
/// create` once it has checked the account's password.
pub async fn create(ctx: &mut Ctx, owner: Owner, p: TokenCreateParams) -> RpcResult<TokenCreated> {
    let now = ctx.now();
    let expires_at = future_expiry(p.expires_at, now)?;
    let mut methods = p.methods;
    if let Some(methods) = &mut methods {
        methods.sort();
        methods.dedup();
        if let Some(unknown) = methods.iter().find(|m| !ctx.env().methods.contains(*m)) {
            return Err(RpcError::validation("unknown_method").with("method", unknown.clone()));
        }
    }
    // A limited token may only mint tokens limited to (a subset of) its own methods.
    if let Some(own) = &owner.limited_to {
        let within = methods.as_ref().is_some_and(|m| m.iter().all(|x| own.contains(x)));
        if !within {
            return Err(RpcError::forbidden("token_method_not_allowed"));
        }
    }
    let (token, secret) =
        tokens::create(ctx.conn().await?, owner.account_id, &p.name, expires_at, methods, now).await?;
    let event = AuditEvent::success("token_create")
        .subject(token.id)
        .data(json!({ "name": token.name, "methods": token.methods, "expires_at": token.expires_at }));
    ctx.audit(AuditEvent { account_id: Some(owner.account_id), actor_id: Some(owner.actor_id), ..event }).await?;
    Ok(TokenCreated { token, secret })
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "token_list";
    type Params = EmptyParams;
    type Output = TokenList;

    async fn run(&self, ctx: &mut Ctx, _p: EmptyParams) -> RpcResult<TokenList> {
        let account_id = ctx.require_principal()?.account_id;
        Ok(TokenList { tokens: tokens::list(ctx.conn().await?, account_id).await? })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevokeParams {
    pub token_id: Uuid,
}

pub struct Revoke;

impl Action for Revoke {
    const METHOD: &'static str = "token_revoke";
    type Params = TokenRevokeParams;
    type Output = OkResult;

    async fn run(&self, ctx: &mut Ctx, p: TokenRevokeParams) -> RpcResult<OkResult> {
        let account_id = ctx.require_principal()?.account_id;
        let now = ctx.now();
        if !tokens::revoke(ctx.conn().await?, account_id, p.token_id, now).await? {
            return Err(RpcError::not_found());
        }
        ctx.audit(AuditEvent::success(Self::METHOD).subject(p.token_id)).await?;
        credentials_ended(ctx, account_id, vec![SocketKey::Token(p.token_id)]).await?;
        Ok(OkResult::ok())
    }
}
