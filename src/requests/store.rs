//! Request rows and their decisions: one SQL text for both databases. A request is read
//! whole ([`find`]), changed in memory by the lifecycle, and written back whole ([`save`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::{Approvals, Decision, DecisionInfo, Execution, Held, Request, Status};
use crate::authz::scope;
use crate::db::ConnRef;
use crate::error::{RpcError, RpcResult};
use crate::money::{Amount, Currency, Percentage};
use crate::on_conn;

const COLUMNS: &str = "id, kind, scope_id, title, amount, currency, percentage, payload, status, requested_by, \
    created_at, expires_at, policy, confirmed_at, confirmed_by, bypassed_by, executed_by, executed_at, \
    pre_approval_skip_reason, cancel_until, execution_attempts, execution_started_at, execution_last_error, \
    execution_response, execution_response_truncated, cancelled_by, cancelled_at, cancel_reason";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    scope_id: String,
    title: String,
    amount: Option<String>,
    currency: Option<String>,
    percentage: Option<String>,
    payload: String,
    #[sqlx(try_from = "String")]
    status: Status,
    requested_by: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    policy: String,
    confirmed_at: Option<DateTime<Utc>>,
    confirmed_by: Option<Uuid>,
    bypassed_by: Option<Uuid>,
    executed_by: Option<Uuid>,
    executed_at: Option<DateTime<Utc>>,
    pre_approval_skip_reason: Option<String>,
    cancel_until: Option<DateTime<Utc>>,
    execution_attempts: Option<i32>,
    execution_started_at: Option<DateTime<Utc>>,
    execution_last_error: Option<String>,
    execution_response: Option<String>,
    execution_response_truncated: Option<bool>,
    cancelled_by: Option<Uuid>,
    cancelled_at: Option<DateTime<Utc>>,
    cancel_reason: Option<String>,
}

/// A stored value that no longer parses is a fault, never a client's error.
fn stored<T>(what: &str, parsed: Result<T, String>) -> RpcResult<T> {
    parsed.map_err(|e| RpcError::internal(format!("stored request {what}: {e}")))
}

impl Row {
    fn into_held(self, decisions: Vec<DecisionInfo>) -> RpcResult<Held> {
        let policy: crate::config::kinds::Policy =
            stored("policy", serde_json::from_str(&self.policy).map_err(|e| e.to_string()))?;
        let payload: Map<String, Value> =
            stored("payload", serde_json::from_str(&self.payload).map_err(|e| e.to_string()))?;
        let mut request = Request {
            id: self.id,
            kind: self.kind,
            scope_id: self.scope_id,
            title: self.title,
            amount: self.amount.map(|a| stored("amount", Amount::try_from(a))).transpose()?,
            currency: self.currency.map(|c| stored("currency", Currency::try_from(c))).transpose()?,
            percentage: self.percentage.map(|p| stored("percentage", Percentage::try_from(p))).transpose()?,
            payload,
            status: self.status,
            requested_by: self.requested_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            confirmed_at: self.confirmed_at,
            confirmed_by: self.confirmed_by,
            approvals: Approvals { required: policy.approvals_required, approved: 0, rejected: 0, decisions },
            bypassed_by: self.bypassed_by,
            executed_by: self.executed_by,
            executed_at: self.executed_at,
            pre_approval_skip_reason: self.pre_approval_skip_reason,
            cancel_until: self.cancel_until,
            execution: self.execution_attempts.map(|attempts| Execution {
                attempts: attempts.max(0) as u32,
                started_at: self.execution_started_at,
                last_error: self.execution_last_error,
                response: self.execution_response,
                response_truncated: self.execution_response_truncated.unwrap_or(false),
            }),
            cancelled_by: self.cancelled_by,
            cancelled_at: self.cancelled_at,
            cancel_reason: self.cancel_reason,
        };
        request.recount();
        Ok(Held { request, policy })
    }
}

/// Writes a new request, in whatever status it reached as it was made (its decisions
/// are written by [`decide`]).
pub async fn insert(conn: ConnRef<'_>, held: &Held, idempotency: Option<(&str, &str)>) -> RpcResult<()> {
    let r = &held.request;
    let (key, hash) = idempotency.unzip();
    let policy = serde_json::to_string(&held.policy).map_err(RpcError::internal)?;
    let payload = serde_json::to_string(&r.payload).map_err(RpcError::internal)?;
    let placeholders: Vec<String> = (1..=30).map(|i| format!("${i}")).collect();
    let sql =
        format!("INSERT INTO requests ({COLUMNS}, idempotency_key, params_hash) VALUES ({})", placeholders.join(", "));
    let execution = r.execution.as_ref();
    on_conn!(conn, c => sqlx::query(&sql)
        .bind(r.id).bind(&r.kind).bind(&r.scope_id).bind(&r.title)
        .bind(r.amount.map(String::from)).bind(r.currency.map(String::from)).bind(r.percentage.map(String::from))
        .bind(&payload).bind(r.status.as_str()).bind(r.requested_by).bind(r.created_at).bind(r.expires_at)
        .bind(&policy).bind(r.confirmed_at).bind(r.confirmed_by).bind(r.bypassed_by).bind(r.executed_by)
        .bind(r.executed_at).bind(&r.pre_approval_skip_reason).bind(r.cancel_until)
        .bind(execution.map(|e| e.attempts as i32)).bind(execution.and_then(|e| e.started_at))
        .bind(execution.and_then(|e| e.last_error.clone())).bind(execution.and_then(|e| e.response.clone()))
        .bind(execution.map(|e| e.response_truncated))
        .bind(r.cancelled_by).bind(r.cancelled_at).bind(&r.cancel_reason)
        .bind(key).bind(hash)
        .execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// Writes back everything about a request that can change after it was made.
pub async fn save(conn: ConnRef<'_>, request: &Request) -> RpcResult<()> {
    let r = request;
    let execution = r.execution.as_ref();
    let sql = "UPDATE requests SET status = $2, confirmed_at = $3, confirmed_by = $4, bypassed_by = $5, \
               executed_by = $6, executed_at = $7, pre_approval_skip_reason = $8, cancel_until = $9, \
               execution_attempts = $10, execution_started_at = $11, execution_last_error = $12, \
               execution_response = $13, execution_response_truncated = $14, \
               cancelled_by = $15, cancelled_at = $16, cancel_reason = $17 WHERE id = $1";
    on_conn!(conn, c => sqlx::query(sql)
        .bind(r.id).bind(r.status.as_str()).bind(r.confirmed_at).bind(r.confirmed_by).bind(r.bypassed_by)
        .bind(r.executed_by).bind(r.executed_at).bind(&r.pre_approval_skip_reason).bind(r.cancel_until)
        .bind(execution.map(|e| e.attempts as i32)).bind(execution.and_then(|e| e.started_at))
        .bind(execution.and_then(|e| e.last_error.clone())).bind(execution.and_then(|e| e.response.clone()))
        .bind(execution.map(|e| e.response_truncated))
        .bind(r.cancelled_by).bind(r.cancelled_at).bind(&r.cancel_reason)
        .execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// The request `id` with its decisions and policy.
pub async fn find(mut conn: ConnRef<'_>, id: Uuid) -> RpcResult<Option<Held>> {
    let sql = format!("SELECT {COLUMNS} FROM requests WHERE id = $1");
    let row: Option<Row> = on_conn!(&mut conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?;
    let Some(row) = row else { return Ok(None) };
    let mut decisions = decisions(conn, &[id]).await?;
    row.into_held(decisions.remove(&id).unwrap_or_default()).map(Some)
}

/// The requests a query built from [`select`] finds, in its order, with their decisions
/// and policies.
pub async fn find_many(mut conn: ConnRef<'_>, sql: &str, binds: &[Bound]) -> RpcResult<Vec<Held>> {
    let rows: Vec<Row> = on_conn!(&mut conn, c => {
        let mut query = sqlx::query_as(sql);
        for bind in binds {
            query = match bind {
                Bound::Text(text) => query.bind(text.clone()),
                Bound::Id(id) => query.bind(*id),
                Bound::Int(n) => query.bind(*n),
                Bound::Time(at) => query.bind(*at),
            };
        }
        query.fetch_all(&mut **c).await
    })?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut decisions = decisions(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let of_row = decisions.remove(&row.id).unwrap_or_default();
            row.into_held(of_row)
        })
        .collect()
}

/// A value bound into a query built at run time.
#[derive(Debug, Clone)]
pub enum Bound {
    Text(String),
    Id(Uuid),
    Int(i64),
    Time(DateTime<Utc>),
}

/// The select list and table every listing of requests starts from.
pub fn select() -> String {
    format!("SELECT {COLUMNS} FROM requests r")
}

/// The decisions on each of `ids`, oldest first.
async fn decisions(conn: ConnRef<'_>, ids: &[Uuid]) -> RpcResult<HashMap<Uuid, Vec<DecisionInfo>>> {
    #[derive(sqlx::FromRow)]
    struct DecisionRow {
        request_id: Uuid,
        account_id: Uuid,
        username: String,
        decision: String,
        comment: Option<String>,
        decided_at: DateTime<Utc>,
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT d.request_id, d.account_id, a.username, d.decision, d.comment, d.decided_at \
         FROM request_decisions d JOIN accounts a ON a.id = d.account_id WHERE d.request_id IN ({}) \
         ORDER BY d.decided_at, d.account_id",
        placeholders.join(", ")
    );
    let rows: Vec<DecisionRow> = on_conn!(conn, c => {
        let mut query = sqlx::query_as(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(&mut *c).await
    })?;
    let mut by_request: HashMap<Uuid, Vec<DecisionInfo>> = HashMap::new();
    for r in rows {
        let decision = match r.decision.as_str() {
            "approve" => Decision::Approve,
            "reject" => Decision::Reject,
            other => return Err(RpcError::internal(format!("unknown decision {other:?}"))),
        };
        let info = DecisionInfo {
            account_id: r.account_id,
            username: r.username,
            decision,
            comment: r.comment,
            decided_at: r.decided_at,
        };
        by_request.entry(r.request_id).or_default().push(info);
    }
    Ok(by_request)
}

/// Records `account_id`'s vote, replacing an earlier one.
pub async fn decide(conn: ConnRef<'_>, request_id: Uuid, vote: &DecisionInfo) -> RpcResult<()> {
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO request_decisions (request_id, account_id, decision, comment, decided_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, account_id) DO UPDATE SET \
         decision = excluded.decision, comment = excluded.comment, decided_at = excluded.decided_at")
        .bind(request_id).bind(vote.account_id).bind(vote.decision.as_str()).bind(&vote.comment)
        .bind(vote.decided_at).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// The request `requested_by` made with `key`, and the hash of its params.
pub async fn by_key(conn: ConnRef<'_>, requested_by: Uuid, key: &str) -> RpcResult<Option<(Uuid, String)>> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "SELECT id, params_hash FROM requests WHERE requested_by = $1 AND idempotency_key = $2")
        .bind(requested_by).bind(key).fetch_optional(&mut *c).await)?)
}

/// The amounts of the requests of `kind` made at and below `within` (everywhere when
/// `None`) since `since`, not cancelled or revoked (`None` for one without an amount).
pub async fn window(
    conn: ConnRef<'_>,
    within: Option<&str>,
    kind: &str,
    since: DateTime<Utc>,
) -> RpcResult<Vec<Option<String>>> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT amount FROM requests WHERE kind = $2 AND created_at > $3 AND status NOT IN ('cancelled', 'revoked') \
         AND ($1 IS NULL OR scope_id = $1 OR substr(scope_id, 1, length($1) + 1) = $1 || '/')")
        .bind(within).bind(kind).bind(since).fetch_all(&mut *c).await)?)
}

/// Enabled accounts other than `except` holding, now, a permit of one of `roles` at or
/// above `scope_id`.
pub async fn holders(
    conn: ConnRef<'_>,
    roles: &[&str],
    scope_id: &str,
    except: Uuid,
    now: DateTime<Utc>,
) -> RpcResult<Vec<Uuid>> {
    if roles.is_empty() {
        return Ok(Vec::new());
    }
    // The scope and each scope above it, or the global scope (''): index
    // `permits_role_scope_active` then finds exactly the permits that count.
    let scopes: Vec<String> = std::iter::once(String::new()).chain(scope::ancestors(scope_id)).collect();
    let role_marks: Vec<String> = (0..roles.len()).map(|i| format!("${}", i + 3)).collect();
    let scope_marks: Vec<String> = (0..scopes.len()).map(|i| format!("${}", i + 3 + roles.len())).collect();
    let sql = format!(
        "SELECT DISTINCT p.account_id FROM permits p JOIN accounts a ON a.id = p.account_id \
         WHERE p.role IN ({}) AND COALESCE(p.scope_id, '') IN ({}) AND p.revoked_at IS NULL \
         AND (p.expires_at IS NULL OR p.expires_at > $1) AND a.disabled_at IS NULL AND p.account_id <> $2",
        role_marks.join(", "),
        scope_marks.join(", ")
    );
    Ok(on_conn!(conn, c => {
        let mut query = sqlx::query_scalar(&sql).bind(now).bind(except);
        for role in roles {
            query = query.bind(*role);
        }
        for scope in &scopes {
            query = query.bind(scope);
        }
        query.fetch_all(&mut *c).await
    })?)
}

/// Up to `limit` requests still waiting for a person past their expiry, earliest expiry first.
pub async fn due(conn: ConnRef<'_>, now: DateTime<Utc>, limit: i64) -> RpcResult<Vec<Uuid>> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT id FROM requests WHERE status IN ('awaiting_confirmation', 'pending_approval') \
         AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2")
        .bind(now).bind(limit).fetch_all(&mut *c).await)?)
}

/// Up to `limit` requests still executing whose delivery began before `began_before`,
/// oldest delivery first: their id, kind and when it began.
pub async fn executing(
    conn: ConnRef<'_>,
    began_before: DateTime<Utc>,
    limit: i64,
) -> RpcResult<Vec<(Uuid, String, Option<DateTime<Utc>>)>> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "SELECT id, kind, execution_started_at FROM requests WHERE status = 'executing' \
         AND (execution_started_at IS NULL OR execution_started_at < $1) ORDER BY execution_started_at, id LIMIT $2")
        .bind(began_before).bind(limit).fetch_all(&mut *c).await)?)
}
