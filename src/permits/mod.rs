//! Roles held and handed out (docs/protocol.md §5): the methods `role_list`,
//! `permission_check`, `permit_list`, `permit_grant` and `permit_revoke`, and [`grant`],
//! the one way a permit is granted directly (by an admin over the API, or by an operator
//! at the command line). Consentful grants are in `offers/`; the rules of what a permit
//! allows are the authorization engine's (`authz/`).

pub mod actions;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::audit_log::AuditEvent;
use crate::auth::accounts;
use crate::authz::permits::{self, NewPermit, Permit, PermitGrantedNotice, PermitKey};
use crate::authz::scope::{SCOPE_MAX_LENGTH, SCOPE_PATTERN};
use crate::call::Ctx;
use crate::call::common::future_expiry;
use crate::error::{RpcError, RpcResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermitGrantParams {
    pub to_account_id: Uuid,
    #[schemars(length(min = 1, max = 64))]
    pub role: String,
    /// Omit to grant globally.
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: Option<String>,
    /// When it stops granting; omit for never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who grants a permit, which decides the roles they may grant.
#[derive(Debug, Clone, Copy)]
pub enum Grantor {
    /// An admin over the API: web-grantable roles only.
    Admin(Uuid),
    /// An operator at the command line, with the database in hand: any configured role,
    /// `keeper` included.
    Operator,
}

/// Grants `p.role` to `p.to_account_id` (an enabled account), replacing an unrevoked
/// permit of the same role and scope; audits it and tells the holder.
pub async fn grant(ctx: &mut Ctx, p: PermitGrantParams, by: Grantor) -> RpcResult<Permit> {
    let now = ctx.now();
    let scope = p.scope_id.as_deref();
    let roles = &ctx.env().roles;
    let granted_by = match by {
        Grantor::Admin(account_id) => {
            roles.grantable(&p.role, scope)?;
            Some(account_id)
        }
        Grantor::Operator => {
            roles.named(&p.role)?.check_scope(scope)?;
            None
        }
    };
    let expires_at = future_expiry(p.expires_at, now)?;
    let holder = accounts::find_enabled(ctx.conn().await?, p.to_account_id).await?.ok_or_else(RpcError::not_found)?;
    let key = PermitKey { account_id: holder.account.id, role: &p.role, scope };
    key.lock(ctx.conn().await?).await?;
    let new = NewPermit {
        account_id: holder.account.id,
        actor_id: holder.actor_id,
        role: &p.role,
        scope_id: scope,
        granted_by,
        source_offer_id: None,
        expires_at,
    };
    let (permit, replaced) = permits::grant(ctx.conn().await?, new, now).await?;
    ctx.credentials_changed(permit.account_id).await?;
    let event = AuditEvent::success("permit_grant")
        .target(permit.account_id)
        .scope(permit.scope_id.clone())
        .subject(permit.id)
        .data(json!({ "role": permit.role, "expires_at": permit.expires_at, "replaced_permit_id": replaced }));
    ctx.audit(event).await?;
    ctx.notify(permit.account_id, &PermitGrantedNotice { permit: &permit }).await?;
    Ok(permit)
}
