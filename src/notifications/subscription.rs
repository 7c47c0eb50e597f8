//! One `notifications_subscribe` on one socket: replay after `after`, then live, in `seq`
//! order, never a duplicate. Rows come through the account's shared
//! [`Feed`](crate::notify::feed::Feed), encoded once for all its subscriptions; each push
//! only wraps a row's text in this subscription's envelope. It pushes through the socket's
//! bounded queue; when the queue stays full for `websocket.slow_client_timeout_s` the
//! client is not keeping up, and the socket is asked to send `resync_required` and close.
//! Only this subscription waits meanwhile: nothing else is slowed.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::call::Env;
use crate::notify::feed::PAGE;
use crate::notify::{ResyncRequired, StreamEnvelope, envelope, head};
use crate::sockets::SocketLink;

/// Where a subscription starts.
pub struct Start {
    pub account_id: Uuid,
    /// The last `seq` the client has; rows after it are sent.
    pub after: i64,
    /// Send this `resync_required` first: rows the client wanted are gone (pruned, or its
    /// `seq` is from a stream that no longer exists).
    pub resync_first: Option<ResyncRequired>,
    /// Cancelled when the subscription ends (unsubscribed, or the socket closed).
    pub ends: CancellationToken,
}

/// Runs the subscription until its socket closes or falls behind.
pub async fn run(env: Arc<Env>, id: String, start: Start, link: SocketLink) {
    let (mut wake, feed) = env.hub.watch(start.account_id);
    let patience = Duration::from_secs(env.config.websocket.slow_client_timeout_s);
    if let Some(resync) = &start.resync_first
        && !link.push(envelope(Some(&id), resync), patience).await
    {
        link.request_resync(resync.into());
        return;
    }
    let stream = StreamEnvelope::new(&id);
    let mut last = start.after;
    loop {
        // Mark the wake seen before reading, so a commit after the read wakes us again.
        let woken_at = *wake.borrow_and_update();
        loop {
            // Boxed: a future awaited here is part of every idle subscription's memory.
            let rows = match Box::pin(feed.after(&env.db, start.account_id, last, woken_at, &wake)).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, subscription = %id, "cannot read notifications; retrying in 1 s");
                    tokio::select! {
                        _ = start.ends.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let full = rows.len() == PAGE;
            for row in rows {
                let seq = row.seq;
                if start.ends.is_cancelled() {
                    return;
                }
                if !link.push(stream.frame(&row.json), patience).await {
                    fell_behind(&env, start.account_id, &link).await;
                    return;
                }
                env.metrics.notification_sent();
                last = seq;
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            changed = wake.changed() => if changed.is_err() { return },
            _ = start.ends.cancelled() => return,
        }
    }
}

/// Asks the socket to resync, telling where the stream stands (both `None` when the
/// database does not answer).
async fn fell_behind(env: &Env, account_id: Uuid, link: &SocketLink) {
    let point = match env.db.read().await {
        Ok(mut conn) => head(conn.conn(), account_id).await.ok(),
        Err(_) => None,
    };
    let resync = point.map_or_else(ResyncRequired::default, |(head_seq, pruned)| ResyncRequired::at(head_seq, pruned));
    link.request_resync((&resync).into());
}
