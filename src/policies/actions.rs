//! `policy_get`, `policy_list`, `policy_set`.
//!
//! Reading a scope's policies needs a permit that covers the scope (any role: a member
//! about to make a request may see its rules); setting one needs `manage:policies` there.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Effective, effective, kind, nearest, store};
use crate::audit_log::AuditEvent;
use crate::authz::scope::{self, SCOPE_MAX_LENGTH, SCOPE_PATTERN};
use crate::call::{Action, Ctx};
use crate::config::kinds::{Limits, Policy};
use crate::error::{RpcError, RpcResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyGetParams {
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: String,
    #[schemars(length(min = 1, max = 64))]
    pub kind: String,
}

pub struct Get;

impl Action for Get {
    const METHOD: &'static str = "policy_get";
    type Params = PolicyGetParams;
    type Output = Effective;

    async fn run(&self, ctx: &mut Ctx, p: PolicyGetParams) -> RpcResult<Effective> {
        may_read(ctx, &p.scope_id)?;
        effective(ctx, &p.scope_id, &p.kind).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyListParams {
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: String,
}

/// A kind's policy in force at the scope asked about.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KindPolicy {
    pub kind: String,
    pub policy: Policy,
    /// The scope that set it; `null`: the kind's configured default.
    pub source_scope_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyList {
    /// Every configured kind, by name.
    pub policies: Vec<KindPolicy>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "policy_list";
    type Params = PolicyListParams;
    type Output = PolicyList;

    async fn run(&self, ctx: &mut Ctx, p: PolicyListParams) -> RpcResult<PolicyList> {
        may_read(ctx, &p.scope_id)?;
        let scopes = scope::ancestors(&p.scope_id);
        let set = store::at_scopes(ctx.conn().await?, None, &scopes).await?;
        let policies = ctx
            .env()
            .config
            .kinds
            .iter()
            .map(|(name, config)| {
                let of_kind = set.iter().filter(|stored| stored.kind == *name);
                let found = nearest(of_kind, &scopes, config.policy.clone());
                KindPolicy { kind: name.clone(), policy: found.policy, source_scope_id: found.source_scope_id }
            })
            .collect();
        Ok(PolicyList { policies })
    }
}

/// A change to the policy in force at a scope: each field given replaces the one in
/// force; `limits`, when given, replaces all the limits.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySetParams {
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: String,
    #[schemars(length(min = 1, max = 64))]
    pub kind: String,
    pub enabled: Option<bool>,
    pub requires_confirmation: Option<bool>,
    #[schemars(range(max = 100))]
    pub approvals_required: Option<u32>,
    #[schemars(range(max = 100))]
    pub rejections_to_deny: Option<u32>,
    pub allow_self_approval: Option<bool>,
    pub limits: Option<Limits>,
    #[schemars(range(min = 1, max = 8760))]
    pub request_ttl_hours: Option<u32>,
    #[schemars(range(max = 8760))]
    pub cancel_window_hours: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicySet {
    /// The policy now set at the scope.
    pub policy: Policy,
}

pub struct Set;

impl Action for Set {
    const METHOD: &'static str = "policy_set";
    type Params = PolicySetParams;
    type Output = PolicySet;

    async fn run(&self, ctx: &mut Ctx, p: PolicySetParams) -> RpcResult<PolicySet> {
        let principal = ctx.require_principal()?;
        let account_id = principal.account_id;
        if !principal.grants.allows("manage", "policies", Some(&p.scope_id)) {
            return Err(RpcError::forbidden("not_permitted").scoped(&p.scope_id, Some(p.kind.clone())));
        }
        kind(ctx.env(), &p.kind)?;
        crate::db::lock_key(ctx.conn().await?, &format!("policy/{}/{}", p.scope_id, p.kind)).await?;
        let before = effective(ctx, &p.scope_id, &p.kind).await?;
        let policy = changed(before.policy.clone(), &p);
        if let Some((field, reason)) = policy.problem() {
            return Err(RpcError::validation("invalid_policy")
                .message(format!("{field} {reason}"))
                .with("field", field)
                .scoped(&p.scope_id, Some(p.kind.clone())));
        }
        let now = ctx.now();
        store::put(ctx.conn().await?, &p.scope_id, &p.kind, &policy, Some(account_id), now).await?;
        let event = AuditEvent::success(Self::METHOD).scope(Some(p.scope_id.clone())).subject(&p.kind).data(json!({
            "kind": p.kind,
            "before": before.policy,
            "before_source_scope_id": before.source_scope_id,
            "after": policy,
        }));
        ctx.audit(event).await?;
        Ok(PolicySet { policy })
    }
}

/// `policy` with the fields `p` gives replaced.
fn changed(mut policy: Policy, p: &PolicySetParams) -> Policy {
    policy.enabled = p.enabled.unwrap_or(policy.enabled);
    policy.requires_confirmation = p.requires_confirmation.unwrap_or(policy.requires_confirmation);
    policy.approvals_required = p.approvals_required.unwrap_or(policy.approvals_required);
    policy.rejections_to_deny = p.rejections_to_deny.unwrap_or(policy.rejections_to_deny);
    policy.allow_self_approval = p.allow_self_approval.unwrap_or(policy.allow_self_approval);
    policy.request_ttl_hours = p.request_ttl_hours.unwrap_or(policy.request_ttl_hours);
    policy.cancel_window_hours = p.cancel_window_hours.unwrap_or(policy.cancel_window_hours);
    if let Some(limits) = &p.limits {
        policy.limits = limits.clone();
    }
    policy
}

/// A scope's policies may be read by anyone holding a permit that covers the scope.
fn may_read(ctx: &Ctx, scope_id: &str) -> RpcResult<()> {
    let principal = ctx.require_principal()?;
    if principal.permits.iter().any(|p| scope::covers(p.scope_id.as_deref(), Some(scope_id))) {
        return Ok(());
    }
    Err(RpcError::forbidden("not_permitted").scoped(scope_id, None))
}
