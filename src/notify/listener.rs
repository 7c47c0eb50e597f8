//! The PostgreSQL listener of one instance: `LISTEN` on [`PG_CHANNEL`](super::PG_CHANNEL)
//! and wake the hub for each account named. After (re)connecting it wakes everyone, since
//! notifications sent while it was away are lost; subscribers then re-read from their
//! last `seq` and miss nothing.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::PG_CHANNEL;
use super::hub::Hub;

/// Runs until `shutdown`, reconnecting after any error.
pub async fn run(pool: PgPool, hub: Arc<Hub>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(PG_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "notification listener cannot connect; retrying in 1 s");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        hub.wake_all();
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    if let Ok(account_id) = Uuid::parse_str(notification.payload()) {
                        hub.wake(account_id);
                    }
                }
                // The connection dropped and came back: anything in between was lost.
                Ok(None) => hub.wake_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "notification listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}
