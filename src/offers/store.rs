//! Offer rows. Every status change is one `UPDATE … WHERE status = 'pending'`, so a row
//! leaves `pending` exactly once, whoever gets there first.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::authz::permits::PermitKey;
use crate::db::ConnRef;
use crate::error::{RpcError, RpcResult};
use crate::on_conn;

/// Where an offer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    Pending,
    Accepted,
    Declined,
    Retracted,
    Expired,
    Superseded,
}

impl OfferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Pending => "pending",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Declined => "declined",
            OfferStatus::Retracted => "retracted",
            OfferStatus::Expired => "expired",
            OfferStatus::Superseded => "superseded",
        }
    }
}

impl TryFrom<String> for OfferStatus {
    type Error = RpcError;

    fn try_from(s: String) -> RpcResult<OfferStatus> {
        [
            OfferStatus::Pending,
            OfferStatus::Accepted,
            OfferStatus::Declined,
            OfferStatus::Retracted,
            OfferStatus::Expired,
            OfferStatus::Superseded,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| RpcError::internal(format!("unknown offer status {s:?}")))
    }
}

/// A role offered to an account (docs/protocol.md §6).
#[derive(Debug, Clone, Serialize, JsonSchema, sqlx::FromRow)]
pub struct Offer {
    pub id: Uuid,
    pub from_account_id: Uuid,
    pub from_actor_id: Uuid,
    pub to_account_id: Uuid,
    pub role: String,
    pub scope_id: Option<String>,
    pub message: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: OfferStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<String>,
    /// The permit its acceptance created.
    pub permit_id: Option<Uuid>,
    /// `sibling_accepted` or `permit_revoked`.
    pub superseded_reason: Option<String>,
    /// What superseded it: the accepted sibling offer, or the revoked permit.
    pub cause_id: Option<Uuid>,
}

impl Offer {
    /// What its answers lock and what accepting it grants: recipient, role, scope.
    pub fn permit_key(&self) -> PermitKey<'_> {
        PermitKey { account_id: self.to_account_id, role: &self.role, scope: self.scope_id.as_deref() }
    }
}

const COLUMNS: &str = "id, from_account_id, from_actor_id, to_account_id, role, scope_id, message, status, \
                       created_at, expires_at, resolved_at, decline_reason, permit_id, superseded_reason, cause_id";

pub async fn find(conn: ConnRef<'_>, id: Uuid) -> RpcResult<Option<Offer>> {
    let sql = format!("SELECT {COLUMNS} FROM permit_offers WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
}

/// The pending offer from `from` to `to` of `role` at `scope`, if any (expired or not).
pub async fn pending_between(
    conn: ConnRef<'_>,
    from: Uuid,
    to: Uuid,
    role: &str,
    scope: Option<&str>,
) -> RpcResult<Option<Offer>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permit_offers WHERE status = 'pending' AND to_account_id = $1 AND role = $2 \
         AND COALESCE(scope_id, '') = $3 AND from_account_id = $4"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(to).bind(role).bind(scope.unwrap_or("")).bind(from)
        .fetch_optional(&mut *c).await)?)
}

pub async fn insert(conn: ConnRef<'_>, offer: &Offer) -> RpcResult<()> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO permit_offers (id, from_account_id, from_actor_id, to_account_id, role, scope_id, message, status, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)")
        .bind(offer.id).bind(offer.from_account_id).bind(offer.from_actor_id).bind(offer.to_account_id)
        .bind(&offer.role).bind(&offer.scope_id).bind(&offer.message).bind(offer.created_at).bind(offer.expires_at)
        .execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// Updates a pending offer's message and expiry (a repeated offer).
pub async fn renew(
    conn: ConnRef<'_>,
    id: Uuid,
    message: Option<&str>,
    expires_at: DateTime<Utc>,
) -> RpcResult<Option<Offer>> {
    let sql = format!(
        "UPDATE permit_offers SET message = $1, expires_at = $2 WHERE id = $3 AND status = 'pending' \
         RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(message).bind(expires_at).bind(id).fetch_optional(&mut *c).await)?)
}

/// How a pending offer ends.
pub struct Resolution<'a> {
    pub status: OfferStatus,
    pub decline_reason: Option<&'a str>,
    pub permit_id: Option<Uuid>,
}

/// Moves a pending offer to its final status; `None` when it was no longer pending.
pub async fn resolve(
    conn: ConnRef<'_>,
    id: Uuid,
    resolution: Resolution<'_>,
    now: DateTime<Utc>,
) -> RpcResult<Option<Offer>> {
    let sql = format!(
        "UPDATE permit_offers SET status = $1, resolved_at = $2, decline_reason = $3, permit_id = $4 \
         WHERE id = $5 AND status = 'pending' RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(resolution.status.as_str()).bind(now)
        .bind(resolution.decline_reason).bind(resolution.permit_id).bind(id).fetch_optional(&mut *c).await)?)
}

/// Marks a pending offer past its expiry `expired`; `None` when it was answered or
/// renewed meanwhile.
pub async fn expire(conn: ConnRef<'_>, id: Uuid, now: DateTime<Utc>) -> RpcResult<Option<Offer>> {
    let sql = format!(
        "UPDATE permit_offers SET status = 'expired', resolved_at = $1 \
         WHERE id = $2 AND status = 'pending' AND expires_at <= $1 RETURNING {COLUMNS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(now).bind(id).fetch_optional(&mut *c).await)?)
}

/// Supersedes every pending, unexpired offer of `key` (but `except`), naming `reason` and
/// the `cause`; returns them. Offers past their expiry are left for the sweeper, which
/// ends them as expired.
pub async fn supersede(
    conn: ConnRef<'_>,
    key: &PermitKey<'_>,
    except: Option<Uuid>,
    reason: &str,
    cause: Uuid,
    now: DateTime<Utc>,
) -> RpcResult<Vec<Offer>> {
    let sql = format!(
        "UPDATE permit_offers SET status = 'superseded', resolved_at = $1, superseded_reason = $2, cause_id = $3 \
         WHERE status = 'pending' AND to_account_id = $4 AND role = $5 AND COALESCE(scope_id, '') = $6 \
         AND expires_at > $1 AND ($7 IS NULL OR id <> $7) RETURNING {COLUMNS}"
    );
    let mut offers: Vec<Offer> = on_conn!(conn, c => sqlx::query_as(&sql).bind(now).bind(reason).bind(cause)
        .bind(key.account_id).bind(key.role).bind(key.scope.unwrap_or("")).bind(except).fetch_all(&mut *c).await)?;
    offers.sort_by_key(|o| o.id);
    Ok(offers)
}

/// Pending, unexpired offers to (`incoming`) and from (`outgoing`) an account, oldest first.
pub async fn pending_of(conn: ConnRef<'_>, account_id: Uuid, now: DateTime<Utc>) -> RpcResult<Vec<Offer>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permit_offers WHERE status = 'pending' AND expires_at > $1 \
         AND (to_account_id = $2 OR from_account_id = $2) ORDER BY id"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(now).bind(account_id).fetch_all(&mut *c).await)?)
}

/// Every offer to or from an account, newest first, older than `before` when given.
pub async fn history(conn: ConnRef<'_>, account_id: Uuid, before: Option<Uuid>, limit: i64) -> RpcResult<Vec<Offer>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permit_offers WHERE (to_account_id = $1 OR from_account_id = $1) \
         AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(account_id).bind(before).bind(limit).fetch_all(&mut *c).await)?)
}

/// Up to `limit` pending offers whose expiry has passed, oldest expiry first.
pub async fn due(conn: ConnRef<'_>, now: DateTime<Utc>, limit: i64) -> RpcResult<Vec<Offer>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM permit_offers WHERE status = 'pending' AND expires_at <= $1 \
         ORDER BY expires_at, id LIMIT $2"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(&mut *c).await)?)
}
