//! Policies per (scope, kind) (docs/protocol.md §7.1): the methods `policy_get`,
//! `policy_list` and `policy_set`, and [`effective`], the policy every request is judged
//! by. A policy set at a scope holds there and at every scope below it, unless a nearer
//! scope sets its own; where none does, the kind's configured default holds.

pub mod actions;
pub mod store;

use schemars::JsonSchema;
use serde::Serialize;

use crate::authz::scope;
use crate::call::{Ctx, Env};
use crate::config::kinds::{KindConfig, Policy};
use crate::error::{RpcError, RpcResult};

/// A policy in force, and the scope that set it (`None`: the kind's default).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Effective {
    pub policy: Policy,
    pub source_scope_id: Option<String>,
}

/// The configured kind named `kind`; `validation_error/unknown_kind` when there is none.
pub fn kind<'a>(env: &'a Env, kind: &str) -> RpcResult<&'a KindConfig> {
    env.config.kinds.get(kind).ok_or_else(|| {
        RpcError::validation("unknown_kind").message("No such action kind; policy_list names them.").with("kind", kind)
    })
}

/// The policy in force for `kind` at `scope_id`.
pub async fn effective(ctx: &mut Ctx, scope_id: &str, kind_name: &str) -> RpcResult<Effective> {
    let default = kind(ctx.env(), kind_name)?.policy.clone();
    let scopes = scope::ancestors(scope_id);
    let set = store::at_scopes(ctx.conn().await?, Some(kind_name), &scopes).await?;
    Ok(nearest(&set, &scopes, default))
}

/// The nearest of `set` (policies at some of `scopes`, nearest first), else `default`.
pub fn nearest<'a>(set: impl IntoIterator<Item = &'a store::Stored>, scopes: &[String], default: Policy) -> Effective {
    let position = |stored: &&store::Stored| scopes.iter().position(|s| *s == stored.scope_id);
    match set.into_iter().min_by_key(position) {
        Some(found) => Effective { policy: found.policy.clone(), source_scope_id: Some(found.scope_id.clone()) },
        None => Effective { policy: default, source_scope_id: None },
    }
}
