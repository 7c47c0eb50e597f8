//! Browser sessions: a random token in an `HttpOnly; SameSite=Strict` cookie, stored only
//! as its hash. A session ends `session_ttl_hours` after its last use; each use (at most
//! once a minute) slides that forward.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::accounts::{self, HOLDER_COLUMNS, JOIN_DEFAULT_ACTOR};
use super::secret::{hash_token, new_token};
use crate::authz::permits::{JOIN_ACTIVE, JOINED_COLUMNS, JOINED_ORDER, JoinedPermit};
use crate::call::principal::Holder;
use crate::call::{Env, Principal, Via};
use crate::db::{self, ConnRef};
use crate::error::RpcResult;
use crate::on_conn;
use crate::sockets::SocketKey;

/// How often a session's expiry is written forward at most.
const RENEW_EVERY: Duration = Duration::seconds(60);

/// A session as `session_list` shows it.
#[derive(Debug, Clone, Serialize, JsonSchema, sqlx::FromRow)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether this is the session making the call.
    #[sqlx(skip)]
    pub current: bool,
}

/// A new session and its secret (which goes into the cookie, never into storage).
pub struct NewSession {
    pub id: Uuid,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

pub fn ttl(env: &Env) -> Duration {
    Duration::hours(i64::from(env.config.auth.session_ttl_hours))
}

pub async fn create(conn: ConnRef<'_>, account_id: Uuid, ttl: Duration, now: DateTime<Utc>) -> RpcResult<NewSession> {
    let session = NewSession { id: Uuid::now_v7(), token: new_token(""), expires_at: now + ttl };
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)")
        .bind(session.id).bind(account_id).bind(hash_token(&session.token)).bind(now).bind(session.expires_at)
        .execute(&mut *c).await.map(|_| ()))?;
    Ok(session)
}

/// Looks a session up by its token's hash, with its account and the account's active
/// permits (one query); `None` when unknown, revoked, expired or its account disabled.
pub async fn load(env: &Env, token_hash: &str, now: DateTime<Utc>) -> RpcResult<Option<Principal>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        #[sqlx(flatten)]
        holder: Holder,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        #[sqlx(flatten)]
        permit: JoinedPermit,
    }
    let sql = format!(
        "SELECT s.id, s.last_seen_at, s.expires_at, {HOLDER_COLUMNS}, {JOINED_COLUMNS} \
               FROM sessions s JOIN accounts a ON a.id = s.account_id {JOIN_DEFAULT_ACTOR} {JOIN_ACTIVE} \
               WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND a.disabled_at IS NULL {JOINED_ORDER}"
    );
    let rows: Vec<Row> = {
        let mut conn = env.db.read().await?;
        on_conn!(conn.conn(), c => sqlx::query_as(&sql).bind(token_hash).bind(now).fetch_all(&mut *c).await)?
    };
    let Some(first) = rows.first().filter(|r| r.expires_at > now) else { return Ok(None) };
    let (id, holder, last_seen_at, expires_at) = (first.id, first.holder.clone(), first.last_seen_at, first.expires_at);
    let permits: Vec<_> =
        rows.into_iter().filter_map(|r| r.permit.active(holder.account_id, holder.actor_id, now)).collect();
    let via = Via::Session { id, renewed_until: None };
    let (expires_at, used_at) = (Some(expires_at), Some(last_seen_at));
    let shown = accounts::shown(&env.roles, &holder, &permits);
    Ok(Some(Principal::new(&env.roles, holder, via, permits, shown, expires_at, used_at)))
}

/// Whether a session last renewed at `last_seen_at` is due for renewal at `now`.
pub fn renewal_due(last_seen_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_seen_at.is_none_or(|at| now - at >= RENEW_EVERY)
}

/// Slides the session's expiry forward from `now`; `None` when it was revoked meanwhile.
pub async fn renew(env: &Env, id: Uuid, now: DateTime<Utc>) -> RpcResult<Option<DateTime<Utc>>> {
    let expires_at = now + ttl(env);
    let mut tx = env.db.begin_write().await?;
    let renewed = on_conn!(tx.conn(), c => sqlx::query(
        "UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now).bind(expires_at).bind(id).execute(&mut *c).await.map(|r| r.rows_affected() == 1))?;
    tx.commit().await?;
    Ok(renewed.then_some(expires_at))
}

/// Which of the sessions among `keys` still work at `now` (not revoked, not expired, their
/// account enabled).
pub async fn live(conn: ConnRef<'_>, keys: &[SocketKey], now: DateTime<Utc>) -> RpcResult<Vec<SocketKey>> {
    let ids: Vec<Uuid> =
        keys.iter().filter_map(|key| if let SocketKey::Session(id) = key { Some(*id) } else { None }).collect();
    let select = "SELECT s.id FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.revoked_at IS NULL \
                  AND s.expires_at > $1 AND a.disabled_at IS NULL AND s.id";
    let live = db::ids_still_found(conn, select, &ids, now).await?;
    Ok(live.into_iter().map(SocketKey::Session).collect())
}

/// The account's live sessions, newest first.
pub async fn list(conn: ConnRef<'_>, account_id: Uuid, now: DateTime<Utc>) -> RpcResult<Vec<SessionInfo>> {
    let sql = "SELECT id, created_at, last_seen_at, expires_at FROM sessions \
               WHERE account_id = $1 AND revoked_at IS NULL ORDER BY id DESC";
    let sessions: Vec<SessionInfo> =
        on_conn!(conn, c => sqlx::query_as(sql).bind(account_id).fetch_all(&mut *c).await)?;
    Ok(sessions.into_iter().filter(|s| s.expires_at > now).collect())
}

/// Revokes one live session of the account; `false` when there is no such session.
pub async fn revoke(conn: ConnRef<'_>, account_id: Uuid, session_id: Uuid, now: DateTime<Utc>) -> RpcResult<bool> {
    let affected = on_conn!(conn, c => sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL AND expires_at > $1")
        .bind(now).bind(session_id).bind(account_id).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// Revokes every live session of the account except `keep`; returns the ids revoked.
pub async fn revoke_others(
    mut conn: ConnRef<'_>,
    account_id: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
) -> RpcResult<Vec<Uuid>> {
    let ids: Vec<Uuid> = on_conn!(&mut conn, c => sqlx::query_scalar(
        "SELECT id FROM sessions WHERE account_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)")
        .bind(account_id).bind(keep).fetch_all(&mut **c).await)?;
    for id in &ids {
        on_conn!(&mut conn, c => sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
            .bind(now).bind(id).execute(&mut **c).await.map(|_| ()))?;
    }
    Ok(ids)
}
