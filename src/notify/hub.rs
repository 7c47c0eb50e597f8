//! The in-process wake-up board: one watch channel per account with subscribers here.
//!
//! A wake carries no data, only "look again": subscribers re-read the rows after their
//! last `seq`, so a wake can be lost, doubled or late without losing a notification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use uuid::Uuid;

use super::feed::Feed;

/// One account with subscribers here: its wake counter and its shared feed.
struct Entry {
    wake: watch::Sender<u64>,
    feed: Arc<Feed>,
}

#[derive(Default)]
pub struct Hub {
    accounts: Mutex<HashMap<Uuid, Entry>>,
}

impl Hub {
    /// A receiver that changes whenever `account_id` is woken, and the account's feed.
    pub fn watch(&self, account_id: Uuid) -> (watch::Receiver<u64>, Arc<Feed>) {
        let mut accounts = self.accounts.lock().expect("hub lock");
        accounts.retain(|_, entry| entry.wake.receiver_count() > 0);
        let entry =
            accounts.entry(account_id).or_insert_with(|| Entry { wake: watch::channel(0).0, feed: Arc::default() });
        (entry.wake.subscribe(), entry.feed.clone())
    }

    /// Tells `account_id`'s subscribers to look for new rows.
    pub fn wake(&self, account_id: Uuid) {
        if let Some(entry) = self.accounts.lock().expect("hub lock").get(&account_id) {
            entry.wake.send_modify(|n| *n += 1);
        }
    }

    /// Wakes every subscriber (after the PostgreSQL listener reconnects).
    pub fn wake_all(&self) {
        for entry in self.accounts.lock().expect("hub lock").values() {
            entry.wake.send_modify(|n| *n += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_reach_only_the_account_and_unused_channels_go() {
        let hub = Hub::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (mut wa, _) = hub.watch(a);
        let (wb, _) = hub.watch(b);
        hub.wake(a);
        assert!(wa.has_changed().unwrap());
        assert!(!wb.has_changed().unwrap());
        wa.borrow_and_update();
        hub.wake_all();
        assert!(wa.has_changed().unwrap() && wb.has_changed().unwrap());
        drop((wa, wb));
        let (_c, _) = hub.watch(Uuid::now_v7());
        assert_eq!(hub.accounts.lock().unwrap().len(), 1, "channels without receivers are dropped");
    }
}
