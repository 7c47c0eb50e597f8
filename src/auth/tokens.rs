//! API tokens for scripts and back ends: `Authorization: Bearer <secret>`. The secret is
//! shown once, at creation; only its hash is stored. A token may be limited to a list of
//! methods, and then can call nothing else.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::accounts::{self, HOLDER_COLUMNS, JOIN_DEFAULT_ACTOR};
use super::secret::{API_TOKEN_PREFIX, hash_token, new_token};
use crate::authz::permits::{JOIN_ACTIVE, JOINED_COLUMNS, JOINED_ORDER, JoinedPermit};
use crate::call::principal::Holder;
use crate::call::{Env, Principal, Via};
use crate::db::{self, ConnRef};
use crate::error::RpcResult;
use crate::on_conn;
use crate::sockets::SocketKey;

/// How often `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A token as `token_list` shows it (never the secret).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The methods it may call; `null` = every method its account may call.
    pub methods: Option<Vec<String>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    methods: Option<String>,
}

impl From<Row> for TokenInfo {
    fn from(r: Row) -> TokenInfo {
        let methods = r.methods.map(|m| serde_json::from_str(&m).unwrap_or_default());
        TokenInfo {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            methods,
        }
    }
}

/// Creates a token; returns it with its secret.
pub async fn create(
    conn: ConnRef<'_>,
    account_id: Uuid,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    methods: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> RpcResult<(TokenInfo, String)> {
    let secret = new_token(API_TOKEN_PREFIX);
    let token = TokenInfo {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        created_at: now,
        last_used_at: None,
        expires_at,
        methods,
    };
    let methods_json = token.methods.as_ref().map(|m| serde_json::to_string(m).expect("strings serialize"));
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO api_tokens (id, account_id, name, token_hash, methods, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(token.id).bind(account_id).bind(&token.name).bind(hash_token(&secret)).bind(methods_json)
        .bind(now).bind(expires_at).execute(&mut *c).await.map(|_| ()))?;
    Ok((token, secret))
}

/// Looks an API token up by its secret's hash, with its account and the account's active
/// permits (one query); `None` when unknown, revoked, expired or its account disabled.
pub async fn load(env: &Env, secret_hash: &str, now: DateTime<Utc>) -> RpcResult<Option<Principal>> {
    #[derive(sqlx::FromRow)]
    struct Found {
        id: Uuid,
        #[sqlx(flatten)]
        holder: Holder,
        methods: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
        #[sqlx(flatten)]
        permit: JoinedPermit,
    }
    let sql = format!(
        "SELECT t.id, t.methods, t.expires_at, t.last_used_at, {HOLDER_COLUMNS}, {JOINED_COLUMNS} \
               FROM api_tokens t JOIN accounts a ON a.id = t.account_id {JOIN_DEFAULT_ACTOR} {JOIN_ACTIVE} \
               WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND a.disabled_at IS NULL {JOINED_ORDER}"
    );
    let rows: Vec<Found> = {
        let mut conn = env.db.read().await?;
        on_conn!(conn.conn(), c => sqlx::query_as(&sql).bind(secret_hash).bind(now).fetch_all(&mut *c).await)?
    };
    let Some(first) = rows.first().filter(|f| f.expires_at.is_none_or(|at| at > now)) else { return Ok(None) };
    let (id, holder, expires_at, last_used_at) = (first.id, first.holder.clone(), first.expires_at, first.last_used_at);
    let methods = first.methods.as_deref().map(|m| serde_json::from_str(m).unwrap_or_default());
    let permits: Vec<_> =
        rows.into_iter().filter_map(|r| r.permit.active(holder.account_id, holder.actor_id, now)).collect();
    let via = Via::Token { id, methods };
    let shown = accounts::shown(&env.roles, &holder, &permits);
    Ok(Some(Principal::new(&env.roles, holder, via, permits, shown, expires_at, last_used_at)))
}

/// Whether a token last noted as used at `last_used_at` is due to be noted again at `now`.
pub fn touch_due(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY)
}

/// Notes the token as used at `now`; `false` when it was revoked meanwhile.
pub async fn touch(env: &Env, id: Uuid, now: DateTime<Utc>) -> RpcResult<bool> {
    let mut tx = env.db.begin_write().await?;
    let touched = on_conn!(tx.conn(), c => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now).bind(id).execute(&mut *c).await.map(|r| r.rows_affected() == 1))?;
    tx.commit().await?;
    Ok(touched)
}

/// Which of the API tokens among `keys` still work at `now` (not revoked, not expired,
/// their account enabled).
pub async fn live(conn: ConnRef<'_>, keys: &[SocketKey], now: DateTime<Utc>) -> RpcResult<Vec<SocketKey>> {
    let ids: Vec<Uuid> =
        keys.iter().filter_map(|key| if let SocketKey::Token(id) = key { Some(*id) } else { None }).collect();
    let select = "SELECT t.id FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.revoked_at IS NULL \
                  AND (t.expires_at IS NULL OR t.expires_at > $1) AND a.disabled_at IS NULL AND t.id";
    let live = db::ids_still_found(conn, select, &ids, now).await?;
    Ok(live.into_iter().map(SocketKey::Token).collect())
}

/// The account's tokens that are not revoked, newest first.
pub async fn list(conn: ConnRef<'_>, account_id: Uuid) -> RpcResult<Vec<TokenInfo>> {
    let sql = "SELECT id, name, created_at, last_used_at, expires_at, methods FROM api_tokens \
               WHERE account_id = $1 AND revoked_at IS NULL ORDER BY id DESC";
    let rows: Vec<Row> = on_conn!(conn, c => sqlx::query_as(sql).bind(account_id).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(TokenInfo::from).collect())
}

/// Revokes one of the account's tokens; `false` when there is no such live token.
pub async fn revoke(conn: ConnRef<'_>, account_id: Uuid, token_id: Uuid, now: DateTime<Utc>) -> RpcResult<bool> {
    let affected = on_conn!(conn, c => sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
        .bind(now).bind(token_id).bind(account_id).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// Revokes every live token of the account; returns the ids revoked.
pub async fn revoke_all(mut conn: ConnRef<'_>, account_id: Uuid, now: DateTime<Utc>) -> RpcResult<Vec<Uuid>> {
    let ids: Vec<Uuid> = on_conn!(&mut conn, c => sqlx::query_scalar(
        "SELECT id FROM api_tokens WHERE account_id = $1 AND revoked_at IS NULL")
        .bind(account_id).fetch_all(&mut **c).await)?;
    on_conn!(conn, c => sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
        .bind(now).bind(account_id).execute(&mut *c).await.map(|_| ()))?;
    Ok(ids)
}
