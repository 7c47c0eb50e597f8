//! Open WebSockets by the credential that opened them, so that revoking a session or an
//! API token can close its sockets at once (close code 4001).
//!
//! Domains ask for a close through [`Sockets::close_all`]; the WebSocket transport
//! registers each socket and listens for the request. Neither knows the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use uuid::Uuid;

/// Close code for a socket whose session or token was revoked.
pub const CLOSE_REVOKED: u16 = 4001;

/// The credential a socket was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKey {
    Session(Uuid),
    Token(Uuid),
}

type Open = HashMap<SocketKey, HashMap<u64, mpsc::Sender<u16>>>;

#[derive(Default)]
pub struct Sockets {
    next_id: AtomicU64,
    open: Arc<Mutex<Open>>,
}

/// A registered socket; dropping it unregisters.
pub struct Registration {
    key: SocketKey,
    id: u64,
    open: Arc<Mutex<Open>>,
    /// Receives the close code when the socket must close.
    pub close: mpsc::Receiver<u16>,
}

impl Sockets {
    pub fn register(&self, key: SocketKey) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(1);
        self.open.lock().expect("sockets lock").entry(key).or_default().insert(id, tx);
        Registration { key, id, open: self.open.clone(), close: rx }
    }

    /// Asks every socket opened with `key` to close with `code`.
    pub fn close_all(&self, key: SocketKey, code: u16) {
        if let Some(sockets) = self.open.lock().expect("sockets lock").remove(&key) {
            for sender in sockets.values() {
                let _ = sender.try_send(code);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("sockets lock");
        if let Some(sockets) = open.get_mut(&self.key) {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn close_reaches_every_socket_of_the_key_only() {
        let sockets = Sockets::default();
        let key = SocketKey::Session(Uuid::now_v7());
        let mut a = sockets.register(key);
        let mut b = sockets.register(key);
        let mut other = sockets.register(SocketKey::Token(Uuid::now_v7()));
        sockets.close_all(key, CLOSE_REVOKED);
        assert_eq!(a.close.recv().await, Some(CLOSE_REVOKED));
        assert_eq!(b.close.recv().await, Some(CLOSE_REVOKED));
        assert!(other.close.try_recv().is_err());
        drop(other);
        assert!(sockets.open.lock().unwrap().is_empty());
    }
}
