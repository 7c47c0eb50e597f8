//! The PostgreSQL listener of one instance. On [`PG_CHANNEL`] it wakes
//! the hub for each account named by another instance (the committing instance woke its
//! own subscribers already); after (re)connecting it wakes everyone, since
//! notifications sent while it was away are lost, and subscribers then re-read from their
//! last `seq` and miss nothing. On [`PG_CLOSE_CHANNEL`] it closes the local sockets of a
//! credential revoked through another instance. A close sent while it was away is lost
//! too: after every gap, before waking anyone, it has the credentials of the local sockets
//! checked again (`after_gap`), so no push reaches a socket whose credential ended.
//!
//! On [`credential_cache::PG_CHANNEL`] it drops what this instance's credential cache
//! holds of the account named. The cache is trusted only while the listener is known to be
//! connected: about every second it asks its connection a trivial query, and each answer
//! renews the cache's lease (`credential_cache::LEASE`); a connection that fails, or stops
//! answering (a network cut sends no error), loses it at once or within the lease, and on
//! reconnecting everything the cache held is dropped, since changes made meanwhile went
//! unheard.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::PG_CHANNEL;
use super::hub::Hub;
use crate::credential_cache::{self, Freshness};
use crate::sockets::{CLOSE_REVOKED, PG_CLOSE_CHANNEL, SocketKey, Sockets};

/// What to do after a gap, before anyone is woken: check the open sockets' credentials.
pub type AfterGap = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// What the listener serves: the hub to wake, the sockets to close, the credential cache
/// to keep fresh, and what to run after a gap.
pub struct Served {
    pub hub: Arc<Hub>,
    pub sockets: Arc<Sockets>,
    pub credentials: Arc<Freshness>,
    pub after_gap: AfterGap,
}

/// Runs until `shutdown`, reconnecting after any error.
pub async fn run(pool: PgPool, served: Served, shutdown: CancellationToken) {
    let Served { hub, sockets, credentials, after_gap } = served;
    while !shutdown.is_cancelled() {
        credentials.distrust();
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            // Named, so that operators (and tests) can tell it in `pg_stat_activity`.
            sqlx::query("SET application_name = 'countersign listener'").execute(&mut listener).await?;
            listener.listen_all([PG_CHANNEL, PG_CLOSE_CHANNEL, credential_cache::PG_CHANNEL]).await?;
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
        credentials.changed_all();
        credentials.alive();
        after_gap().await;
        hub.wake_all();
        let mut beat = tokio::time::interval(HEARTBEAT);
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = beat.tick() => match heartbeat(&mut listener).await {
                    Ok(()) => {
                        credentials.alive();
                        continue;
                    }
                    Err(e) => Err(e),
                },
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) if notification.channel() == credential_cache::PG_CHANNEL => {
                    match Uuid::parse_str(notification.payload()) {
                        Ok(account_id) => credentials.changed_elsewhere(account_id),
                        Err(_) => credentials.changed_all(),
                    }
                }
                Ok(Some(notification)) if notification.channel() == PG_CLOSE_CHANNEL => {
                    if let Some(key) = SocketKey::from_payload(notification.payload()) {
                        sockets.close_all(key, CLOSE_REVOKED);
                    }
                }
                Ok(Some(notification)) => hub.wake_announced(notification.payload()),
                // The connection dropped: reconnect here (not inside `try_recv`), so that the
                // cache is distrusted until the channels are listened to again.
                Ok(None) => {
                    credentials.distrust();
                    tracing::warn!("notification listener lost its connection; reconnecting");
                    break;
                }
                Err(e) => {
                    credentials.distrust();
                    tracing::warn!(error = %e, "notification listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

/// How often the listener proves its connection alive (renewing the credential cache's
/// lease, which lasts a few of these).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A trivial query on the listener's own connection, answered within a second, or an error.
async fn heartbeat(listener: &mut PgListener) -> Result<(), sqlx::Error> {
    match tokio::time::timeout(HEARTBEAT, sqlx::query("SELECT 1").execute(&mut *listener)).await {
        Ok(done) => done.map(|_| ()),
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the listener's connection did not answer within a second",
        ))),
    }
}
