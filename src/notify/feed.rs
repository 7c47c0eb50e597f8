//! The rows recently read for one account, shared by all its subscriptions on this
//! instance: when a commit wakes 10 sockets of one account, the database is read once,
//! not 10 times.
//!
//! Correctness rests on the wake counter. A refresh records the counter as it was
//! *before* its query; every commit that woke the account up to that value had already
//! committed, so the query saw it. A subscription woken at value `v` may use the window
//! once it was refreshed at `v` or later; otherwise it refreshes first. A subscription
//! behind the window (replaying old rows) reads the database itself.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use super::Notification;
use crate::db::Db;
use crate::error::RpcResult;

/// Rows read per query, and most rows handed out per call.
pub const PAGE: usize = 256;
/// Most rows kept in the window.
const WINDOW: usize = 1024;

#[derive(Default)]
pub struct Feed {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    /// Consecutive rows, oldest first, ending at `read_through`.
    rows: VecDeque<Arc<Notification>>,
    /// The last seq read; `None` until the first subscription sets where to start.
    read_through: Option<i64>,
    /// The wake counter as it was before the last refresh that caught up.
    fresh_at: Option<u64>,
}

impl Feed {
    /// Up to [`PAGE`] rows of `account_id` after `last`, including everything committed
    /// before the wake `woken_at` that `wake` last saw.
    pub async fn after(
        &self,
        db: &Db,
        account_id: Uuid,
        last: i64,
        woken_at: u64,
        wake: &watch::Receiver<u64>,
    ) -> RpcResult<Vec<Arc<Notification>>> {
        let mut window = self.window.lock().await;
        let read_through = *window.read_through.get_or_insert(last);
        let first = window.rows.front().map_or(read_through + 1, |row| row.seq);
        if last + 1 < first {
            drop(window);
            return read(db, account_id, last).await; // behind the window: replay alone
        }
        if window.fresh_at.is_none_or(|fresh| fresh < woken_at) {
            let counter = *wake.borrow();
            let rows = read(db, account_id, read_through).await?;
            let caught_up = rows.len() < PAGE;
            if let Some(row) = rows.last() {
                window.read_through = Some(row.seq);
            }
            window.rows.extend(rows);
            while window.rows.len() > WINDOW {
                window.rows.pop_front();
            }
            if caught_up {
                window.fresh_at = Some(counter);
            }
        }
        Ok(window.rows.iter().filter(|row| row.seq > last).take(PAGE).cloned().collect())
    }
}

async fn read(db: &Db, account_id: Uuid, after: i64) -> RpcResult<Vec<Arc<Notification>>> {
    let mut conn = db.read().await?;
    let rows = super::after(conn.conn(), account_id, after, PAGE as i64).await?;
    Ok(rows.into_iter().map(Arc::new).collect())
}
