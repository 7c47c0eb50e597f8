//! Permit rows: a role held by an actor, globally or at a scope.
//!
//! At most one permit per (actor, role, scope) is unrevoked at a time: a partial unique
//! index says so, and [`grant`] closes the previous one (`revoked_reason = "replaced"`)
//! before it inserts. Expiry is never written: a permit past `expires_at` simply stops
//! counting, on the very next call.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::config::roles::ADMIN;
use crate::db::{self, ConnRef};
use crate::error::{RpcError, RpcResult};
use crate::notify::Notice;
use crate::on_conn;

/// A role held by an actor at a scope (`scope_id: null` = everywhere).
#[derive(Debug, Clone, Serialize, JsonSchema, sqlx::FromRow)]
pub struct Permit {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub account_id: Uuid,
    pub role: String,
    pub scope_id: Option<String>,
    /// The account that granted it (the offer's grantor when accepted from an offer).
    pub granted_by: Option<Uuid>,
    pub source_offer_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<Uuid>,
    pub revoked_reason: Option<String>,
}

impl Permit {
    /// Whether it grants anything at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[cfg(test)]
impl Permit {
    /// An active permit of `role` at `scope`, for tests of what permits allow.
    pub fn held(role: &str, scope: Option<&str>) -> Permit {
        Permit {
            id: Uuid::now_v7(),
            actor_id: Uuid::nil(),
            account_id: Uuid::nil(),
            role: role.to_owned(),
            scope_id: scope.map(str::to_owned),
            granted_by: None,
            source_offer_id: None,
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            revoked_by: None,
            revoked_reason: None,
        }
    }
}

/// You were granted a permit: by an admin, by the command line, or by accepting an offer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PermitGrantedNotice<'a> {
    pub permit: &'a Permit,
}

impl Notice for PermitGrantedNotice<'_> {
    const KIND: &'static str = "permit_granted";
}

/// A permit you held was revoked; it grants nothing from now on.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PermitRevokedNotice<'a> {
    pub permit: &'a Permit,
}

impl Notice for PermitRevokedNotice<'_> {
    const KIND: &'static str = "permit_revoked";
}

const COLUMNS: &str = "id, actor_id, account_id, role, scope_id, granted_by, source_offer_id, created_at, \
                       expires_at, revoked_at, revoked_by, revoked_reason";

/// The active permits of every actor of `account_id`.
pub async fn active_of_account(conn: ConnRef<'_>, account_id: Uuid, now: DateTime<Utc>) -> RpcResult<Vec<Permit>> {
    let sql =
        format!("SELECT {COLUMNS} FROM permits WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id");
    let permits: Vec<Permit> = on_conn!(conn, c => sqlx::query_as(&sql).bind(account_id).fetch_all(&mut *c).await)?;
    Ok(permits.into_iter().filter(|p| p.is_active(now)).collect())
}

/// Select-list items for the permits joined as `p` by [`JOIN_ACTIVE`]: one row per
/// permit, all `p_…` columns null when the account holds none. Lets a credential lookup
/// read the caller's permits in the same query.
pub const JOINED_COLUMNS: &str = "p.id AS p_id, p.actor_id AS p_actor_id, p.role AS p_role, \
    p.scope_id AS p_scope_id, p.granted_by AS p_granted_by, p.source_offer_id AS p_source_offer_id, \
    p.created_at AS p_created_at, p.expires_at AS p_expires_at";

/// Joins the active permits of the account aliased `a` at the time bound as `$2`; order by
/// [`JOINED_ORDER`]. Index `permits_account_active` serves both, so a lookup reads exactly
/// the active rows, in order, however many revoked or expired ones the account has.
pub const JOIN_ACTIVE: &str = "LEFT JOIN permits p ON p.account_id = a.id AND p.revoked_at IS NULL \
                               AND (p.expires_at IS NULL OR p.expires_at > $2)";

/// Permits in grant order, oldest first.
pub const JOINED_ORDER: &str = "ORDER BY p.created_at, p.id";

/// The [`JOINED_COLUMNS`] of one row.
#[derive(Debug, sqlx::FromRow)]
pub struct JoinedPermit {
    p_id: Option<Uuid>,
    p_actor_id: Option<Uuid>,
    p_role: Option<String>,
    p_scope_id: Option<String>,
    p_granted_by: Option<Uuid>,
    p_source_offer_id: Option<Uuid>,
    p_created_at: Option<DateTime<Utc>>,
    p_expires_at: Option<DateTime<Utc>>,
}

impl JoinedPermit {
    /// The row's permit, when it has one held by `actor_id` and active at `now`.
    pub fn active(self, account_id: Uuid, actor_id: Uuid, now: DateTime<Utc>) -> Option<Permit> {
        let permit = Permit {
            id: self.p_id?,
            actor_id: self.p_actor_id.filter(|id| *id == actor_id)?,
            account_id,
            role: self.p_role?,
            scope_id: self.p_scope_id,
            granted_by: self.p_granted_by,
            source_offer_id: self.p_source_offer_id,
            created_at: self.p_created_at?,
            expires_at: self.p_expires_at,
            revoked_at: None,
            revoked_by: None,
            revoked_reason: None,
        };
        permit.is_active(now).then_some(permit)
    }
}

pub async fn find(conn: ConnRef<'_>, id: Uuid) -> RpcResult<Option<Permit>> {
    let sql = format!("SELECT {COLUMNS} FROM permits WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
}

/// What "one active permit" is counted by: an account, a role, a scope.
#[derive(Debug, Clone, Copy)]
pub struct PermitKey<'a> {
    pub account_id: Uuid,
    pub role: &'a str,
    pub scope: Option<&'a str>,
}

impl PermitKey<'_> {
    /// Serializes, until commit, every transaction that changes the permits or offers of
    /// this key: grants, revocations, offers and their answers. Call it before reading
    /// what the change depends on.
    pub async fn lock(&self, conn: ConnRef<'_>) -> RpcResult<()> {
        Ok(db::lock_key(conn, &self.lock_name()).await?)
    }

    /// The name of its lock. A transaction that takes several takes them in this order,
    /// so two such transactions cannot deadlock.
    pub fn lock_name(&self) -> String {
        format!("permit/{}/{}/{}", self.account_id, self.role, self.scope.unwrap_or(""))
    }
}

/// What a new permit is made of.
pub struct NewPermit<'a> {
    pub account_id: Uuid,
    pub actor_id: Uuid,
    pub role: &'a str,
    pub scope_id: Option<&'a str>,
    pub granted_by: Option<Uuid>,
    pub source_offer_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Inserts a permit, first closing any unrevoked one for the same (actor, role, scope),
/// whose id it returns beside the new permit. Take [`PermitKey::lock`] first, and call
/// `Ctx::credentials_changed` for the account in the same transaction (cached
/// resolutions of its permits must not outlive the commit).
pub async fn grant(mut conn: ConnRef<'_>, new: NewPermit<'_>, now: DateTime<Utc>) -> RpcResult<(Permit, Option<Uuid>)> {
    let replaced: Option<Uuid> = on_conn!(conn.reborrow(), c => sqlx::query_scalar(
        "UPDATE permits SET revoked_at = $1, revoked_by = $2, revoked_reason = 'replaced' \
         WHERE actor_id = $3 AND role = $4 AND COALESCE(scope_id, '') = $5 AND revoked_at IS NULL RETURNING id")
        .bind(now).bind(new.granted_by).bind(new.actor_id).bind(new.role).bind(new.scope_id.unwrap_or(""))
        .fetch_optional(&mut *c).await)?;
    let permit = Permit {
        id: Uuid::now_v7(),
        actor_id: new.actor_id,
        account_id: new.account_id,
        role: new.role.to_owned(),
        scope_id: new.scope_id.map(str::to_owned),
        granted_by: new.granted_by,
        source_offer_id: new.source_offer_id,
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        revoked_by: None,
        revoked_reason: None,
    };
    on_conn!(conn.reborrow(), c => sqlx::query(
        "INSERT INTO permits (id, actor_id, account_id, role, scope_id, granted_by, source_offer_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(permit.id).bind(permit.actor_id).bind(permit.account_id).bind(&permit.role).bind(&permit.scope_id)
        .bind(permit.granted_by).bind(permit.source_offer_id).bind(now).bind(permit.expires_at)
        .execute(&mut *c).await.map(|_| ()))?;
    if permit.role == ADMIN && permit.scope_id.is_none() {
        // It may have replaced a permanent admin permit with one that expires.
        ensure_an_admin_remains(conn).await?;
    }
    Ok((permit, replaced))
}

/// Marks a permit revoked; `None` when it was already revoked (or does not exist). Call
/// `Ctx::credentials_changed` for its account in the same transaction.
pub async fn revoke(
    mut conn: ConnRef<'_>,
    id: Uuid,
    by: Uuid,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> RpcResult<Option<Permit>> {
    let sql = format!(
        "UPDATE permits SET revoked_at = $1, revoked_by = $2, revoked_reason = $3 \
         WHERE id = $4 AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    let revoked: Option<Permit> = on_conn!(conn.reborrow(), c =>
        sqlx::query_as(&sql).bind(now).bind(by).bind(reason).bind(id).fetch_optional(&mut *c).await)?;
    if revoked.as_ref().is_some_and(|p| p.role == ADMIN && p.scope_id.is_none()) {
        ensure_an_admin_remains(conn).await?;
    }
    Ok(revoked)
}

/// The one rule about admins: at every moment some enabled account holds `admin`
/// globally with no expiry — otherwise nobody could ever grant anything again, and an
/// expiring admin permit would take the last admin away by itself. Every change that
/// could break it (granting or revoking a global admin permit, which covers replacing a
/// permanent one with one that expires; disabling an account) checks it here, after the
/// change and inside its transaction, under one lock taken last, so that two changes made
/// at once cannot break it together: `conflict/last_admin`.
pub async fn ensure_an_admin_remains(mut conn: ConnRef<'_>) -> RpcResult<()> {
    db::lock_key(conn.reborrow(), "permit/global-admins").await?;
    // `COALESCE(scope_id, '') = ''` lets index `permits_role_scope_active` find the global
    // admin permits alone; the first that counts ends the search.
    let remains: bool = on_conn!(conn, c => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM permits p JOIN accounts a ON a.id = p.account_id WHERE p.role = $1 \
         AND COALESCE(p.scope_id, '') = '' AND p.scope_id IS NULL AND p.revoked_at IS NULL \
         AND p.expires_at IS NULL AND a.disabled_at IS NULL)")
        .bind(ADMIN).fetch_one(&mut *c).await)?;
    if !remains {
        return Err(RpcError::conflict("last_admin").message(
            "This would leave no admin for good (an enabled account with a global admin permit that never \
             expires); grant one to another account first.",
        ));
    }
    Ok(())
}
