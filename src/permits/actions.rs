//! `role_list`, `permission_check`, `permit_list`, `permit_grant`, `permit_revoke`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Grantor, PermitGrantParams, grant};
use crate::audit_log::AuditEvent;
use crate::auth::{account_in_view, accounts};
use crate::authz::Grants;
use crate::authz::permits::{self, Permit, PermitKey, PermitRevokedNotice};
use crate::authz::roles::RoleInfo;
use crate::authz::scope::{SCOPE_MAX_LENGTH, SCOPE_PATTERN};
use crate::call::common::EmptyParams;
use crate::call::{Action, Ctx};
use crate::config::vocabulary::Vocabulary;
use crate::error::{RpcError, RpcResult};
use crate::offers;

#[derive(Debug, Serialize, JsonSchema)]
pub struct RoleList {
    pub roles: Vec<RoleInfo>,
}

pub struct RoleListAction;

impl Action for RoleListAction {
    const METHOD: &'static str = "role_list";
    type Params = EmptyParams;
    type Output = RoleList;

    async fn run(&self, ctx: &mut Ctx, _p: EmptyParams) -> RpcResult<RoleList> {
        Ok(RoleList { roles: ctx.env().roles.all().map(|r| r.info.clone()).collect() })
    }
}

/// One question: may this account do `verb` on `resource` at `scope_id`?
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionQuestion {
    #[schemars(length(min = 1, max = 200))]
    pub resource: String,
    #[schemars(length(min = 1, max = 64))]
    pub verb: String,
    /// Omit to ask about the global scope.
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: Option<String>,
    /// Omit to ask about yourself; asking about another account needs `check:permissions`.
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionCheckParams {
    /// At most 1000 questions, answered in order.
    #[schemars(length(max = 1000))]
    pub checks: Vec<PermissionQuestion>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PermissionCheckResult {
    /// One answer per question, in order.
    pub results: Vec<bool>,
}

pub struct PermissionCheck;

impl Action for PermissionCheck {
    const METHOD: &'static str = "permission_check";
    type Params = PermissionCheckParams;
    type Output = PermissionCheckResult;

    async fn run(&self, ctx: &mut Ctx, p: PermissionCheckParams) -> RpcResult<PermissionCheckResult> {
        let principal = ctx.require_principal()?.clone();
        let env = ctx.shared_env();
        let roles = &env.roles;
        ask_known(&env.vocabulary, &p.checks)?;
        let asks_about_others = p.checks.iter().any(|c| c.account_id.is_some_and(|id| id != principal.account_id));
        if asks_about_others && !principal.grants.allows("check", "permissions", None) {
            return Err(RpcError::forbidden("not_permitted"));
        }
        let now = ctx.now();
        let mut grants_of: HashMap<Uuid, Arc<Grants>> =
            HashMap::from([(principal.account_id, principal.grants.clone())]);
        let mut results = Vec::with_capacity(p.checks.len());
        for check in &p.checks {
            let account_id = check.account_id.unwrap_or(principal.account_id);
            if let Entry::Vacant(slot) = grants_of.entry(account_id) {
                // An unknown or disabled account holds nothing.
                let enabled = accounts::find_enabled(ctx.conn().await?, account_id).await?.is_some();
                let held = if enabled {
                    permits::active_of_account(ctx.conn().await?, account_id, now).await?
                } else {
                    vec![]
                };
                slot.insert(Arc::new(Grants::compile(roles, &held)));
            }
            let held = &grants_of[&account_id];
            results.push(held.allows(&check.verb, &check.resource, check.scope_id.as_deref()));
        }
        Ok(PermissionCheckResult { results })
    }
}

/// `validation_error/unknown_resource` or `unknown_verb` for the first question naming what no
/// grant can hold (a misspelt `aprove` would otherwise be answered a silent `false`), with the
/// question's index and the known resources, or the resource's verbs, in `data`.
fn ask_known(vocabulary: &Vocabulary, checks: &[PermissionQuestion]) -> RpcResult<()> {
    for (index, check) in checks.iter().enumerate() {
        if let Err(unknown) = vocabulary.check(&check.verb, &check.resource) {
            return Err(RpcError::validation(unknown.reason())
                .message(format!("checks[{index}]: {unknown}"))
                .with("index", index)
                .with("known", unknown.known().to_vec()));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermitListParams {
    /// Omit for your own; another account's needs admin.
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PermitList {
    /// The active permits (not revoked, not expired), oldest first.
    pub permits: Vec<Permit>,
}

pub struct PermitListAction;

impl Action for PermitListAction {
    const METHOD: &'static str = "permit_list";
    type Params = PermitListParams;
    type Output = PermitList;

    async fn run(&self, ctx: &mut Ctx, p: PermitListParams) -> RpcResult<PermitList> {
        let account_id = account_in_view(ctx, p.account_id).await?;
        let now = ctx.now();
        Ok(PermitList { permits: permits::active_of_account(ctx.conn().await?, account_id, now).await? })
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PermitResult {
    pub permit: Permit,
}

pub struct PermitGrant;

impl Action for PermitGrant {
    const METHOD: &'static str = "permit_grant";
    type Params = PermitGrantParams;
    type Output = PermitResult;

    async fn run(&self, ctx: &mut Ctx, p: PermitGrantParams) -> RpcResult<PermitResult> {
        let grantor = ctx.require_principal()?.account_id;
        Ok(PermitResult { permit: grant(ctx, p, Grantor::Admin(grantor)).await? })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermitRevokeParams {
    pub permit_id: Uuid,
    /// Recorded on the permit and in the audit log.
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PermitRevoked {
    pub permit: Permit,
    /// Pending offers of the same role and scope to the same account, now superseded.
    pub superseded_offer_ids: Vec<Uuid>,
}

pub struct PermitRevoke;

impl Action for PermitRevoke {
    const METHOD: &'static str = "permit_revoke";
    type Params = PermitRevokeParams;
    type Output = PermitRevoked;

    async fn run(&self, ctx: &mut Ctx, p: PermitRevokeParams) -> RpcResult<PermitRevoked> {
        let revoker = ctx.require_principal()?.account_id;
        let now = ctx.now();
        let found = permits::find(ctx.conn().await?, p.permit_id).await?.ok_or_else(RpcError::not_found)?;
        let key = PermitKey { account_id: found.account_id, role: &found.role, scope: found.scope_id.as_deref() };
        key.lock(ctx.conn().await?).await?;
        let current = permits::find(ctx.conn().await?, p.permit_id).await?.ok_or_else(RpcError::not_found)?;
        if !current.is_active(now) {
            return Err(RpcError::conflict("permit_not_active")
                .message("This permit is already revoked or expired.")
                .with("revoked_at", json!(current.revoked_at))
                .with("expires_at", json!(current.expires_at)));
        }
        let permit = permits::revoke(ctx.conn().await?, p.permit_id, revoker, p.reason.as_deref(), now)
            .await?
            .ok_or_else(|| RpcError::conflict("permit_not_active"))?;
        ctx.credentials_changed(permit.account_id).await?;
        let superseded = offers::supersede(ctx, &key, None, "permit_revoked", permit.id).await?;
        let event = AuditEvent::success(Self::METHOD)
            .target(permit.account_id)
            .scope(permit.scope_id.clone())
            .subject(permit.id)
            .data(json!({ "role": permit.role, "reason": p.reason, "superseded_offer_ids": superseded }));
        ctx.audit(event).await?;
        ctx.notify(permit.account_id, &PermitRevokedNotice { permit: &permit }).await?;
        Ok(PermitRevoked { permit, superseded_offer_ids: superseded })
    }
}
