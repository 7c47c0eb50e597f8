//! Authorization (SPEC.md §5): roles, scopes, permits, and what they allow.
//!
//! - [`roles`]: the configured role catalogue, compiled once (`verb:*` expanded to every
//!   action kind);
//! - [`scope`]: scope paths, and which scopes a permit covers;
//! - [`permits`]: permit rows — grant, revoke, the active permits of an actor;
//! - [`access`]: the one permission check, and the permissions map `whoami` returns;
//! - [`actions`]: `role_list`, `permission_check`, `permit_list`, `permit_grant`,
//!   `permit_revoke`.
//!
//! Nothing here is cached across calls: the pipeline reads the caller's active permits on
//! every call, so a revoked or expired permit stops granting on the very next call of
//! every open session and socket.

pub mod access;
pub mod actions;
pub mod permits;
pub mod roles;
pub mod scope;

pub use permits::Permit;
pub use roles::{ADMIN, KEEPER, Roles};

use serde_json::json;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::rpc::{Ctx, RpcError, RpcResult};

/// The audit row of a grant (by `permit_grant` or by the CLI), naming the permit it
/// replaced, if any.
pub fn grant_event(permit: &Permit, replaced: Option<Uuid>) -> AuditEvent {
    AuditEvent::success("permit_grant")
        .target(permit.account_id)
        .scope(permit.scope_id.clone())
        .subject(permit.id)
        .data(json!({ "role": permit.role, "expires_at": permit.expires_at, "replaced_permit_id": replaced }))
}

/// The account a listing is about: the caller's own when `requested` is absent; another
/// account's only for admins (`forbidden` otherwise, whether or not it exists), and
/// `not_found` when no such account exists.
pub async fn account_in_view(ctx: &mut Ctx, requested: Option<Uuid>) -> RpcResult<Uuid> {
    let principal = ctx.require_principal()?;
    let own = principal.account_id;
    let admin = principal.admin;
    match requested {
        None => Ok(own),
        Some(id) if id == own => Ok(own),
        Some(_) if !admin => Err(RpcError::forbidden("not_permitted")),
        Some(id) => {
            crate::auth::accounts::find(ctx.conn().await?, id).await?.ok_or_else(RpcError::not_found)?;
            Ok(id)
        }
    }
}
