//! The PostgreSQL listener of one instance. On [`PG_CHANNEL`] it wakes
//! the hub for each account named; after (re)connecting it wakes everyone, since
//! notifications sent while it was away are lost, and subscribers then re-read from their
//! last `seq` and miss nothing. On [`PG_CLOSE_CHANNEL`] it closes the local sockets of a
//! credential revoked through another instance. A close sent while it was away is lost
//! too: after every gap, before waking anyone, it has the credentials of the local sockets
//! checked again (`after_gap`), so no push reaches a socket whose credential ended.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::PG_CHANNEL;
use super::hub::Hub;
use crate::sockets::{CLOSE_REVOKED, PG_CLOSE_CHANNEL, SocketKey, Sockets};

/// What to do after a gap, before anyone is woken: check the open sockets' credentials.
pub type AfterGap = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Runs until `shutdown`, reconnecting after any error.
pub async fn run(pool: PgPool, hub: Arc<Hub>, sockets: Arc<Sockets>, after_gap: AfterGap, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all([PG_CHANNEL, PG_CLOSE_CHANNEL]).await?;
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
        after_gap().await;
        hub.wake_all();
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) if notification.channel() == PG_CLOSE_CHANNEL => {
                    if let Some(key) = SocketKey::from_payload(notification.payload()) {
                        sockets.close_all(key, CLOSE_REVOKED);
                    }
                }
                Ok(Some(notification)) => {
                    if let Ok(account_id) = Uuid::parse_str(notification.payload()) {
                        hub.wake(account_id);
                    }
                }
                // The connection dropped and came back: anything in between was lost.
                Ok(None) => {
                    after_gap().await;
                    hub.wake_all();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notification listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}
