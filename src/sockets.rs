//! Open WebSockets, as the rest of the server sees them.
//!
//! - [`Sockets`]: sockets by the credential that opened them, so that revoking a session
//!   or an API token can close its sockets at once (close code 4001);
//! - [`SocketLink`]: one socket's bounded outbound queue, through which subscriptions push
//!   notifications, and its signals (resync needed, closed).
//!
//! Domains use these; the WebSocket transport implements the other side. Neither knows
//! the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::db::ConnRef;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Close code for a socket whose session or token was revoked.
pub const CLOSE_REVOKED: u16 = 4001;
/// Close code for a socket that fell too far behind and must resume (`resync_required`).
pub const CLOSE_RESYNC: u16 = 4002;

/// Where an account's stream stood when its socket fell behind: its oldest kept `seq` and
/// its head (`None`: none kept, or unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResyncPoint {
    pub oldest_seq: Option<i64>,
    pub head_seq: Option<i64>,
}

/// One socket's outbound side, as handlers and subscriptions see it. Clones share it.
#[derive(Debug, Clone)]
pub struct SocketLink {
    queue: mpsc::Sender<String>,
    resync: CancellationToken,
    /// Where the stream stood when the resync was asked for: (oldest kept seq, head seq).
    resync_point: Arc<Mutex<Option<ResyncPoint>>>,
    closed: CancellationToken,
    /// Each subscription's id and the token that ends it (a child of `closed`).
    subscriptions: Arc<Mutex<Vec<(String, CancellationToken)>>>,
    /// A socket opened without credentials may get them from its first call
    /// (`session_authenticate`): open while that call runs, holding what it gave.
    first_call: Arc<Mutex<FirstCall>>,
}

#[derive(Debug, Default)]
struct FirstCall {
    open: bool,
    given: Option<Handover>,
}

/// Credentials a socket's first call proved, handed to the socket to call with from then
/// on, with the registration that closes it when they are revoked.
pub struct Handover {
    /// The token as given (an API token, or a session's secret).
    pub token: String,
    /// `true` for an API token, `false` for a session's secret.
    pub bearer: bool,
    /// When to look at the credential again (its expiry as seen now).
    pub recheck_at: Option<chrono::DateTime<chrono::Utc>>,
    pub registration: Registration,
}

impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handover(<redacted>)") // the token is a secret
    }
}

impl SocketLink {
    /// A link over `queue`, the socket's bounded queue of JSON texts to send.
    pub fn new(queue: mpsc::Sender<String>) -> SocketLink {
        SocketLink {
            queue,
            resync: CancellationToken::new(),
            resync_point: Arc::default(),
            closed: CancellationToken::new(),
            subscriptions: Arc::default(),
            first_call: Arc::default(),
        }
    }

    /// Queues a JSON text, waiting at most `patience` for room; `false` when the queue
    /// stayed full that long (the client is not reading) or the socket is gone.
    pub async fn push(&self, text: String, patience: Duration) -> bool {
        // Room now is the common case: no timer is set for it.
        match self.queue.try_send(text) {
            Ok(()) => true,
            // Boxed: this wait would otherwise sit in every idle subscription's memory.
            Err(mpsc::error::TrySendError::Full(text)) => {
                Box::pin(self.queue.send_timeout(text, patience)).await.is_ok()
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the socket to send `resync_required` and close (its client fell behind), with
    /// where the stream stands.
    pub fn request_resync(&self, at: ResyncPoint) {
        self.resync_point.lock().expect("resync lock").get_or_insert(at);
        self.resync.cancel();
    }

    /// Where the stream stood when a resync was asked for.
    pub fn resync_point(&self) -> ResyncPoint {
        self.resync_point.lock().expect("resync lock").unwrap_or_default()
    }

    /// Resolves once a resync was requested.
    pub async fn resync_requested(&self) {
        self.resync.cancelled().await
    }

    /// Marks the socket closed: its subscriptions stop.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Adds a subscription; the token that ends it (when it is removed or the socket
    /// closes), or `None` when the socket holds `max` already.
    pub fn add_subscription(&self, id: String, max: usize) -> Option<CancellationToken> {
        let mut subscriptions = self.subscriptions.lock().expect("subscriptions lock");
        if subscriptions.len() >= max {
            return None;
        }
        let ends = self.closed.child_token();
        subscriptions.push((id, ends.clone()));
        Some(ends)
    }

    /// Ends and forgets subscription `id`; `false` when this socket has none by that id.
    pub fn remove_subscription(&self, id: &str) -> bool {
        let mut subscriptions = self.subscriptions.lock().expect("subscriptions lock");
        let Some(at) = subscriptions.iter().position(|(held, _)| held == id) else { return false };
        subscriptions.remove(at).1.cancel();
        true
    }

    /// Lets the call about to run (the first of a socket without credentials) hand over
    /// credentials; [`SocketLink::end_first_call`] closes the window again.
    pub fn begin_first_call(&self) {
        self.first_call.lock().expect("first call lock").open = true;
    }

    /// Closes the window of [`SocketLink::begin_first_call`]; what the call handed over.
    pub fn end_first_call(&self) -> Option<Handover> {
        let mut first = self.first_call.lock().expect("first call lock");
        first.open = false;
        first.given.take()
    }

    /// Hands credentials to the socket; `Err` (giving them back) unless this is its first
    /// call and nothing was handed over yet.
    pub fn hand_over(&self, handover: Handover) -> Result<(), Box<Handover>> {
        let mut first = self.first_call.lock().expect("first call lock");
        if !first.open || first.given.is_some() {
            return Err(Box::new(handover));
        }
        first.given = Some(handover);
        Ok(())
    }

    /// Whether the call running now is a socket's first, able to hand over credentials.
    pub fn in_first_call(&self) -> bool {
        self.first_call.lock().expect("first call lock").open
    }

    /// The ids of the subscriptions open on this socket.
    pub fn subscriptions(&self) -> Vec<String> {
        self.subscriptions.lock().expect("subscriptions lock").iter().map(|(id, _)| id.clone()).collect()
    }
}

/// The PostgreSQL channel that carries "close the sockets of this credential" to every
/// instance; the payload is [`SocketKey::to_payload`].
pub const PG_CLOSE_CHANNEL: &str = "countersign_socket_close";

/// The credential a socket was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKey {
    Session(Uuid),
    Token(Uuid),
}

impl SocketKey {
    /// `session:<id>` or `token:<id>`.
    pub fn to_payload(self) -> String {
        match self {
            SocketKey::Session(id) => format!("session:{id}"),
            SocketKey::Token(id) => format!("token:{id}"),
        }
    }

    pub fn from_payload(payload: &str) -> Option<SocketKey> {
        let (kind, id) = payload.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "session" => Some(SocketKey::Session(id)),
            "token" => Some(SocketKey::Token(id)),
            _ => None,
        }
    }
}

/// Inside a revoking transaction on PostgreSQL: tells every instance, on commit, to close
/// the sockets opened with `key`. (The revoking instance closes its own after commit.)
pub async fn announce_close(conn: ConnRef<'_>, key: SocketKey) -> Result<(), sqlx::Error> {
    if let ConnRef::Postgres(c) = conn {
        sqlx::query("SELECT pg_notify($1, $2)").bind(PG_CLOSE_CHANNEL).bind(key.to_payload()).execute(&mut *c).await?;
    }
    Ok(())
}

/// The signed-in sockets of this instance: by credential, and how many per account.
#[derive(Default)]
struct Open {
    by_key: HashMap<SocketKey, HashMap<u64, mpsc::Sender<u16>>>,
    by_account: HashMap<Uuid, usize>,
}

#[derive(Default)]
pub struct Sockets {
    next_id: AtomicU64,
    open: Arc<Mutex<Open>>,
}

/// A registered socket; dropping it unregisters.
pub struct Registration {
    key: SocketKey,
    account_id: Uuid,
    id: u64,
    open: Arc<Mutex<Open>>,
    /// Receives the close code when the socket must close.
    pub close: mpsc::Receiver<u16>,
}

impl Sockets {
    /// Registers a socket of `account_id` opened with `key`; `None` when the account has
    /// `max_per_account` sockets open already.
    pub fn register(&self, key: SocketKey, account_id: Uuid, max_per_account: usize) -> Option<Registration> {
        let mut open = self.open.lock().expect("sockets lock");
        let count = open.by_account.entry(account_id).or_default();
        if *count >= max_per_account {
            return None;
        }
        *count += 1;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(1);
        open.by_key.entry(key).or_default().insert(id, tx);
        Some(Registration { key, account_id, id, open: self.open.clone(), close: rx })
    }

    /// Asks every socket opened with `key` to close with `code`.
    pub fn close_all(&self, key: SocketKey, code: u16) {
        if let Some(sockets) = self.open.lock().expect("sockets lock").by_key.remove(&key) {
            for sender in sockets.values() {
                let _ = sender.try_send(code);
            }
        }
    }

    /// The credentials of every signed-in socket open here.
    pub fn keys(&self) -> Vec<SocketKey> {
        self.open.lock().expect("sockets lock").by_key.keys().copied().collect()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("sockets lock");
        if let Some(sockets) = open.by_key.get_mut(&self.key) {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                open.by_key.remove(&self.key);
            }
        }
        if let Some(count) = open.by_account.get_mut(&self.account_id) {
            *count -= 1;
            if *count == 0 {
                open.by_account.remove(&self.account_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_payloads() {
        for key in [SocketKey::Session(Uuid::now_v7()), SocketKey::Token(Uuid::now_v7())] {
            assert_eq!(SocketKey::from_payload(&key.to_payload()), Some(key));
        }
        assert_eq!(SocketKey::from_payload("cookie:x"), None);
    }

    #[tokio::test]
    async fn close_reaches_every_socket_of_the_key_only() {
        let sockets = Sockets::default();
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let key = SocketKey::Session(Uuid::now_v7());
        let mut a = sockets.register(key, ann, 2).unwrap();
        let mut b = sockets.register(key, ann, 2).unwrap();
        assert!(sockets.register(SocketKey::Token(Uuid::now_v7()), ann, 2).is_none(), "two per account");
        let mut other = sockets.register(SocketKey::Token(Uuid::now_v7()), bob, 2).unwrap();
        sockets.close_all(key, CLOSE_REVOKED);
        assert_eq!(a.close.recv().await, Some(CLOSE_REVOKED));
        assert_eq!(b.close.recv().await, Some(CLOSE_REVOKED));
        assert!(other.close.try_recv().is_err());
        drop((a, b, other));
        let open = sockets.open.lock().unwrap();
        assert!(open.by_key.is_empty() && open.by_account.is_empty());
    }
}
