//! Retention: notifications older than `notifications.retention_days` are deleted. The
//! head remembers the last pruned `seq`, so a client resuming from before it is told to
//! resync instead of silently missing rows.

use chrono::{DateTime, Utc};

use crate::db::Db;
use crate::error::RpcResult;
use crate::on_conn;

/// Deletes notifications created before `cutoff`; returns how many.
pub async fn prune(db: &Db, cutoff: DateTime<Utc>) -> RpcResult<u64> {
    let mut tx = db.begin_write().await?;
    let deleted = on_conn!(tx.conn(), c => {
        sqlx::query(
            "UPDATE notification_heads SET pruned_through = \
               (SELECT MAX(seq) FROM notifications n WHERE n.account_id = notification_heads.account_id AND n.created_at < $1) \
             WHERE EXISTS (SELECT 1 FROM notifications n WHERE n.account_id = notification_heads.account_id AND n.created_at < $1)")
            .bind(cutoff).execute(&mut *c).await?;
        sqlx::query(
            "DELETE FROM notifications WHERE seq <= \
               (SELECT pruned_through FROM notification_heads h WHERE h.account_id = notifications.account_id)")
            .execute(&mut *c).await.map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok(deleted)
}
