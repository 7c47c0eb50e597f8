//! The in-process wake-up board: one watch channel per account with subscribers here.
//!
//! A wake carries no data, only "look again": subscribers re-read the rows after their
//! last `seq`, so a wake can be lost, doubled or late without losing a notification. A
//! commit on this instance also hands the rows it wrote to the account's feed on the way
//! ([`Hub::deliver`]), so that its subscribers need not read them back from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use uuid::Uuid;

use super::feed::Feed;
use super::writer::{Announcement, Written};

/// One account with subscribers here: its wake counter and its shared feed.
struct Entry {
    wake: watch::Sender<u64>,
    feed: Arc<Feed>,
}

pub struct Hub {
    /// This instance, as its `pg_notify` announcements name it.
    instance: Uuid,
    accounts: Mutex<HashMap<Uuid, Entry>>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub { instance: Uuid::now_v7(), accounts: Mutex::default() }
    }
}

impl Hub {
    /// The id this instance announces its commits with (and knows its own by).
    pub fn instance(&self) -> Uuid {
        self.instance
    }

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

    /// After a commit on this instance: hands the rows it wrote to the feeds of the
    /// accounts with subscribers here, and wakes them.
    pub fn deliver(&self, mut written: Vec<Written>) {
        written.sort_unstable_by_key(|w| (w.account_id, w.row.seq));
        let accounts = self.accounts.lock().expect("hub lock");
        for rows in written.chunk_by(|a, b| a.account_id == b.account_id) {
            if let Some(entry) = accounts.get(&rows[0].account_id) {
                entry.feed.offer(rows, &entry.wake);
            }
        }
    }

    /// Wakes the accounts a `pg_notify` payload names, unless this instance sent it (it
    /// woke them itself after its commit).
    pub fn wake_announced(&self, payload: &str) {
        let Some(announcement) = Announcement::parse(payload) else { return };
        if announcement.from == self.instance {
            return;
        }
        let accounts = self.accounts.lock().expect("hub lock");
        for account_id in &announcement.accounts {
            if let Some(entry) = accounts.get(account_id) {
                entry.wake.send_modify(|n| *n += 1);
            }
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

    #[tokio::test]
    async fn announcements_wake_only_other_instances() {
        let (here, there) = (Hub::default(), Hub::default());
        let account = Uuid::now_v7();
        let (on_here, _) = here.watch(account);
        let (mut on_there, _) = there.watch(account);
        let payload = format!("{} {}", here.instance().simple(), account.simple());
        here.wake_announced(&payload);
        there.wake_announced(&payload);
        assert!(!on_here.has_changed().unwrap(), "the sender woke its own subscribers itself");
        assert!(on_there.has_changed().unwrap());
        on_there.borrow_and_update();
        there.wake_announced("garbage");
        assert!(!on_there.has_changed().unwrap());
        drop((on_here, on_there));
    }
}
