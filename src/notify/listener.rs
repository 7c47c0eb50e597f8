//! The PostgreSQL listener of one instance. On [`PG_CHANNEL`] it wakes
//! the hub for each account named by another instance (the committing instance woke its
//! own subscribers already); after (re)connecting it wakes everyone, since
//! notifications sent while it was away are lost, and subscribers then re-read from their
//! last `seq` and miss nothing. On [`PG_CLOSE_CHANNEL`] it closes the local sockets of a
//! credential revoked through another instance. A close sent while it was away is lost
//! too: after every gap, before waking anyone, it has the credentials of the local sockets
//! checked again (`after_gap`), so no push reaches a socket whose credential ended.
//!
//! On [`credential_cache::PG_CHANNEL`] it drops what this instance's credential cache holds
//! of the account named by another instance and acknowledges it on
//! [`credential_cache::PG_ACK_CHANNEL`], on which it also collects the acknowledgements of
//! this instance's own changes (their calls wait for them). It is named in
//! `pg_stat_activity` ([`credential_cache::listener_name`]) only once it listens, which is
//! how a changing instance knows whom to wait for. The cache is trusted only while the
//! listener is known to be connected: about every second it asks its connection a trivial
//! query, and each answer renews the cache's lease (`credential_cache::LEASE`); a
//! connection that fails, or stops answering (a network cut sends no error), loses it at
//! once or within the lease, and on reconnecting everything the cache held is dropped,
//! since changes made meanwhile went unheard.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgNotification};
use tokio_util::sync::CancellationToken;

use super::PG_CHANNEL;
use super::hub::Hub;
use crate::credential_cache::{self, Ack, Announcement, Freshness};
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
    let instance = served.hub.instance();
    while !shutdown.is_cancelled() {
        served.credentials.distrust();
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            let channels =
                [PG_CHANNEL, PG_CLOSE_CHANNEL, credential_cache::PG_CHANNEL, credential_cache::PG_ACK_CHANNEL];
            listener.listen_all(channels).await?;
            // Named once it listens: instances changing credentials wait for those named.
            sqlx::query("SELECT set_config('application_name', $1, false)")
                .bind(credential_cache::listener_name(instance))
                .execute(&mut listener)
                .await?;
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
        served.credentials.changed_all();
        served.credentials.alive();
        (served.after_gap)().await;
        served.hub.wake_all();
        let Some(lost) = serve(&mut listener, &served, &shutdown).await else { return };
        // Reconnect here (not inside `try_recv`), so that the cache is distrusted until the
        // channels are listened to again.
        served.credentials.distrust();
        tracing::warn!(error = %lost, "notification listener lost its connection; reconnecting");
    }
}

/// Handles what arrives and proves the connection alive every [`HEARTBEAT`], until the
/// connection is lost (its error) or `shutdown` (`None`).
async fn serve(listener: &mut PgListener, served: &Served, shutdown: &CancellationToken) -> Option<sqlx::Error> {
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        let handled = tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = beat.tick() => heartbeat(listener).await.map(|()| served.credentials.alive()),
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => handle(listener, served, &notification).await,
                Ok(None) => Err(sqlx::Error::Protocol("the connection closed".into())),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = handled {
            return Some(e);
        }
    }
}

/// One notification: a commit to announce, a socket to close, a credential change to
/// drop and acknowledge, or an acknowledgement of one of this instance's changes.
async fn handle(listener: &mut PgListener, served: &Served, notification: &PgNotification) -> Result<(), sqlx::Error> {
    let instance = served.hub.instance();
    let payload = notification.payload();
    match notification.channel() {
        credential_cache::PG_CHANNEL => match Announcement::parse(payload) {
            // Made here: dropped before its call went on to wait for the others.
            Some(change) if change.from == instance => {}
            Some(change) => {
                served.credentials.changed_elsewhere(change.account_id);
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(credential_cache::PG_ACK_CHANNEL)
                    .bind(change.ack(instance).payload())
                    .execute(&mut *listener)
                    .await?;
            }
            None => served.credentials.changed_all(),
        },
        credential_cache::PG_ACK_CHANNEL => {
            if let Some(ack) = Ack::parse(payload).filter(|ack| ack.to == instance) {
                served.credentials.confirmations().acknowledged(ack);
            }
        }
        PG_CLOSE_CHANNEL => {
            if let Some(key) = SocketKey::from_payload(payload) {
                served.sockets.close_all(key, CLOSE_REVOKED);
            }
        }
        _ => served.hub.wake_announced(payload),
    }
    Ok(())
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
