//! Retention: notifications older than `notifications.retention_days` are deleted. The
//! head remembers the last pruned `seq`, so a client resuming from before it is told to
//! resync instead of silently missing rows.
//!
//! The old rows are found by their creation time (index `notifications_created`), then
//! pruned account by account through the primary key: the work is what there is to delete,
//! not the size of the table — it runs in a write transaction, which on SQLite holds every
//! other writer back meanwhile.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Db;
use crate::error::RpcResult;
use crate::on_conn;

/// How many old rows one round reads (the prune goes round until none is left).
const ROUND: i64 = 10_000;

/// Deletes notifications created before `cutoff`, and every earlier row of their accounts
/// (a kept stream has no gaps); returns how many.
pub async fn prune(db: &Db, cutoff: DateTime<Utc>) -> RpcResult<u64> {
    let mut tx = db.begin_write().await?;
    let mut deleted = 0;
    loop {
        let old: Vec<(Uuid, i64)> = on_conn!(tx.conn(), c => sqlx::query_as(
            "SELECT account_id, seq FROM notifications WHERE created_at < $1 ORDER BY created_at LIMIT $2")
            .bind(cutoff).bind(ROUND).fetch_all(&mut *c).await)?;
        if old.is_empty() {
            break;
        }
        let mut through: HashMap<Uuid, i64> = HashMap::new();
        for (account_id, seq) in old {
            let last = through.entry(account_id).or_default();
            *last = (*last).max(seq);
        }
        for (account_id, seq) in through {
            deleted += on_conn!(tx.conn(), c => {
                sqlx::query(
                    "UPDATE notification_heads SET pruned_through = $2 WHERE account_id = $1 AND pruned_through < $2")
                    .bind(account_id).bind(seq).execute(&mut *c).await?;
                sqlx::query("DELETE FROM notifications WHERE account_id = $1 AND seq <= $2")
                    .bind(account_id).bind(seq).execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
    }
    tx.commit().await?;
    Ok(deleted)
}
