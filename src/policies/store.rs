//! Policy rows: the policies set at scopes, as JSON, one per (scope, kind).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::kinds::Policy;
use crate::db::ConnRef;
use crate::error::{RpcError, RpcResult};
use crate::on_conn;

/// A policy set at a scope.
pub struct Stored {
    pub scope_id: String,
    pub kind: String,
    pub policy: Policy,
}

/// The policies set for `kind` (every kind when `None`) at any of `scopes`.
pub async fn at_scopes(conn: ConnRef<'_>, kind: Option<&str>, scopes: &[String]) -> RpcResult<Vec<Stored>> {
    if scopes.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..scopes.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT scope_id, kind, policy FROM policies WHERE ($1 IS NULL OR kind = $1) AND scope_id IN ({})",
        placeholders.join(", ")
    );
    let rows: Vec<(String, String, String)> = on_conn!(conn, c => {
        let mut query = sqlx::query_as(&sql).bind(kind);
        for scope in scopes {
            query = query.bind(scope);
        }
        query.fetch_all(&mut *c).await
    })?;
    rows.into_iter()
        .map(|(scope_id, kind, policy)| {
            let policy =
                serde_json::from_str(&policy).map_err(|e| RpcError::internal(format!("stored policy: {e}")))?;
            Ok(Stored { scope_id, kind, policy })
        })
        .collect()
}

/// Sets the policy of (`scope_id`, `kind`), replacing any set before.
pub async fn put(
    conn: ConnRef<'_>,
    scope_id: &str,
    kind: &str,
    policy: &Policy,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> RpcResult<()> {
    let text = serde_json::to_string(policy).map_err(RpcError::internal)?;
    on_conn!(conn, c => sqlx::query(
        "INSERT INTO policies (scope_id, kind, policy, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (scope_id, kind) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by")
        .bind(scope_id).bind(kind).bind(&text).bind(now).bind(by).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}
