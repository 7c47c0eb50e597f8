//! Authorization: permits (a role held by an actor, optionally at a scope).
//!
//! This module holds what identity needs today: the permit object, the active permits of
//! an actor, and granting a global role (bootstrap and `account create --admin`). Roles,
//! scopes, the permissions map and permit offers build on it (issue 5).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::db::ConnRef;
use crate::on_conn;
use crate::rpc::RpcResult;

/// The role that may do everything.
pub const ADMIN: &str = "admin";
/// The role of service accounts.
pub const KEEPER: &str = "keeper";

/// A role held by an actor at a scope (`scope_id: null` = everywhere).
#[derive(Debug, Clone, Serialize, JsonSchema, sqlx::FromRow)]
pub struct Permit {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub account_id: Uuid,
    pub role: String,
    pub scope_id: Option<String>,
    pub granted_by: Option<Uuid>,
    pub source_offer_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<Uuid>,
    pub revoked_reason: Option<String>,
}

const COLUMNS: &str = "id, actor_id, account_id, role, scope_id, granted_by, source_offer_id, created_at, \
                       expires_at, revoked_at, revoked_by, revoked_reason";

/// The permits of `actor_id` that grant something now: not revoked, not expired.
pub async fn active_permits(conn: ConnRef<'_>, actor_id: Uuid, now: DateTime<Utc>) -> RpcResult<Vec<Permit>> {
    let sql =
        format!("SELECT {COLUMNS} FROM permits WHERE actor_id = $1 AND revoked_at IS NULL ORDER BY created_at, id");
    let permits: Vec<Permit> = on_conn!(conn, c => sqlx::query_as(&sql).bind(actor_id).fetch_all(&mut *c).await)?;
    Ok(permits.into_iter().filter(|p| p.expires_at.is_none_or(|at| at > now)).collect())
}

/// Grants `role` everywhere to an account's actor.
pub async fn grant_global(
    conn: ConnRef<'_>,
    account_id: Uuid,
    actor_id: Uuid,
    role: &str,
    granted_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> RpcResult<Permit> {
    let permit = Permit {
        id: Uuid::now_v7(),
        actor_id,
        account_id,
        role: role.to_owned(),
        scope_id: None,
        granted_by,
        source_offer_id: None,
        created_at: now,
        expires_at: None,
        revoked_at: None,
        revoked_by: None,
        revoked_reason: None,
    };
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO permits (id, actor_id, account_id, role, scope_id, granted_by, created_at) VALUES ($1, $2, $3, $4, NULL, $5, $6)")
        .bind(permit.id).bind(actor_id).bind(account_id).bind(role).bind(granted_by).bind(now)
        .execute(&mut *c).await.map(|_| ()))?;
    Ok(permit)
}
