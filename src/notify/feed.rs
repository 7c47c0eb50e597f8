//! The rows recently read for one account, shared by all its subscriptions on this
//! instance, each encoded once: when a commit wakes 10 sockets of one account, the
//! database is read once (or not at all, when the commit was made here and handed its rows
//! over), and each row is serialized once, not 10 times.
//!
//! Correctness rests on the wake counter. A refresh records the counter as it was
//! *before* its query; every commit that woke the account up to that value had already
//! committed, so the query saw it. A subscription woken at value `v` may use the window
//! once it was refreshed at `v` or later; otherwise it refreshes first. A subscription
//! behind the window (replaying old rows) reads the database itself. A commit made here
//! appends its own rows and wakes in one step ([`Feed::offer`]), which keeps that promise
//! only when the window was fresh and ends right before them; otherwise it just wakes.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use super::Encoded;
use super::writer::Written;
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
    rows: VecDeque<Arc<Encoded>>,
    /// The last seq read; `None` until the first subscription sets where to start.
    read_through: Option<i64>,
    /// The wake counter as it was before the last refresh that caught up.
    fresh_at: Option<u64>,
}

impl Window {
    fn append(&mut self, rows: impl IntoIterator<Item = Arc<Encoded>>) {
        for row in rows {
            self.read_through = Some(row.seq);
            self.rows.push_back(row);
        }
        while self.rows.len() > WINDOW {
            self.rows.pop_front();
        }
    }
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
    ) -> RpcResult<Vec<Arc<Encoded>>> {
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
            window.append(rows);
            if caught_up {
                window.fresh_at = Some(counter);
            }
        }
        Ok(window.rows.iter().filter(|row| row.seq > last).take(PAGE).cloned().collect())
    }

    /// Wakes the account's subscribers for `rows` (one account's, consecutive, just
    /// committed here), appending them to the window first when that keeps it complete: it
    /// was fresh at the current wake, ends right before them, and no refresh is under way
    /// (which would hold the window: then the subscribers read the rows themselves).
    pub fn offer(&self, rows: &[Written], wake: &watch::Sender<u64>) {
        let bump = |n: &mut u64| *n += 1;
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return };
        let Ok(mut window) = self.window.try_lock() else { return wake.send_modify(bump) };
        let counter = *wake.borrow();
        let consecutive = last.row.seq - first.row.seq + 1 == rows.len() as i64;
        let follows = window.read_through == Some(first.row.seq - 1);
        if consecutive && follows && window.fresh_at == Some(counter) {
            window.append(rows.iter().map(|w| Arc::new(w.row.encode())));
            wake.send_modify(bump);
            window.fresh_at = Some(counter + 1);
        } else {
            wake.send_modify(bump);
        }
    }
}

async fn read(db: &Db, account_id: Uuid, after: i64) -> RpcResult<Vec<Arc<Encoded>>> {
    let mut conn = db.read().await?;
    let rows = super::stored_after(conn.conn(), account_id, after, PAGE as i64).await?;
    Ok(rows.iter().map(|row| Arc::new(row.encode())).collect())
}
