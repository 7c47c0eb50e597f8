//! The credential cache: what a session or API token resolved to (its principal and
//! permits), kept in memory so that a signed-in call does not read the database, while a
//! revocation still bites on the very next call.
//!
//! Nothing is ever trusted because it is recent; an entry is used only while nothing that
//! could change it has happened since it was read:
//!
//! - Every change to an account's credentials or permits (a revoked session or token, a
//!   permit granted or revoked, the account disabled or re-enabled, a new password) calls
//!   [`Freshness::changed`] for that account after its commit and before its call answers.
//!   Each change takes the next number of one counter; a lookup takes a *ticket* (the
//!   counter) before it reads the database, and its entry is used only while no change to
//!   its account has a higher number. So a read that raced a change is never used, however
//!   the two interleave.
//! - Across PostgreSQL instances the change also travels on [`PG_CHANNEL`] (sent inside the
//!   changing transaction, so delivered only on commit), and the changing call answers only
//!   once every other instance has acknowledged it ([`CredentialChanges::made_known`]), so
//!   there too the very next call is refused. The cache is trusted only on a short lease
//!   ([`LEASE`]) that the listener renews each time it proves its connection alive
//!   ([`Freshness::alive`], about every second): while the listener is disconnected, or
//!   silently cut off, the cache is not used; on reconnecting it drops everything it read
//!   before. An instance that does not acknowledge is waited for until its lease has run
//!   out.
//! - With SQLite, other processes on the same file (the command line, a second server)
//!   cannot be heard; each bumps a *change file* beside the database (one byte appended per
//!   change), and every lookup compares its length with the last seen (one `fstat`: the
//!   file is held open; a removed or replaced file, or one that cannot be opened, counts
//!   as a change).
//! - Expiry is never cached: the caller checks the credential's and permits' expiry
//!   against the clock on every call ([`CredentialCache::get`] hands back the value; the
//!   auth layer decides).
//!
//! Memory is bounded: at most `capacity` entries, least recently used evicted first, with
//! hits, misses and evictions counted in the metrics.

mod changes;
mod confirmations;
mod freshness;

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use uuid::Uuid;

pub use self::changes::CredentialChanges;
pub use self::confirmations::{Ack, Announcement, Confirmations, Expected, PG_ACK_CHANNEL, PG_CHANNEL, listener_name};
pub use self::freshness::{Freshness, LEASE, change_file_of};
use crate::metrics::CacheCounters;

/// Which kind of secret a cache key is the hash of (a session secret is never an API
/// token, whatever its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Session,
    Token,
}

/// A cache key: the kind and the SHA-256 of the secret (never the secret itself).
pub type Key = (Kind, [u8; 32]);

struct Entry<V> {
    account_id: Uuid,
    ticket: u64,
    value: V,
}

/// Resolved credentials by key, bounded, used only while [`Freshness`] says so.
pub struct CredentialCache<V> {
    entries: Option<Mutex<LruCache<Key, Entry<V>>>>,
    freshness: Arc<Freshness>,
    counters: CacheCounters,
}

impl<V: Clone> CredentialCache<V> {
    /// A cache of at most `capacity` entries (0: no cache, every call reads the database).
    pub fn new(capacity: usize, freshness: Arc<Freshness>, counters: CacheCounters) -> CredentialCache<V> {
        let entries = NonZeroUsize::new(capacity).map(|cap| Mutex::new(LruCache::new(cap)));
        CredentialCache { entries, freshness, counters }
    }

    pub fn freshness(&self) -> &Arc<Freshness> {
        &self.freshness
    }

    /// Taken before reading what will be [`insert`](Self::insert)ed.
    pub fn ticket(&self) -> u64 {
        self.freshness.ticket()
    }

    /// The value under `key`, when it is still current.
    pub fn get(&self, key: &Key) -> Option<V> {
        let entries = self.entries.as_ref()?;
        let mut entries = entries.lock().expect("credential cache lock");
        let found = match entries.get(key) {
            Some(entry) if self.freshness.is_current(entry.account_id, entry.ticket) => Some(entry.value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        };
        drop(entries);
        if found.is_some() {
            self.counters.hits.inc()
        } else {
            self.counters.misses.inc()
        };
        found
    }

    /// Keeps `value`, read for `account_id` after taking `ticket`.
    pub fn insert(&self, key: Key, account_id: Uuid, ticket: u64, value: V) {
        let Some(entries) = &self.entries else { return };
        if !self.freshness.is_current(account_id, ticket) {
            return;
        }
        let mut entries = entries.lock().expect("credential cache lock");
        if let Some((evicted, _)) = entries.push(key, Entry { account_id, ticket, value }) {
            if evicted != key {
                self.counters.evictions.inc();
            }
        }
        self.counters.entries.set(entries.len() as i64);
    }

    /// Replaces the value under `key` (a session's renewed expiry), keeping when it was
    /// read; nothing when it is gone meanwhile.
    pub fn refresh(&self, key: &Key, value: V) {
        let Some(entries) = &self.entries else { return };
        if let Some(entry) = entries.lock().expect("credential cache lock").peek_mut(key) {
            entry.value = value;
        }
    }

    /// Forgets `key` (its credential expired, or was found revoked).
    pub fn remove(&self, key: &Key) {
        let Some(entries) = &self.entries else { return };
        let mut entries = entries.lock().expect("credential cache lock");
        entries.pop(key);
        self.counters.entries.set(entries.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> CredentialCache<u32> {
        CredentialCache::new(capacity, Arc::new(Freshness::new(false, None)), CacheCounters::default())
    }

    fn key(byte: u8) -> Key {
        (Kind::Token, [byte; 32])
    }

    #[test]
    fn a_read_that_raced_a_change_is_never_used() {
        let cache = cache(10);
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let ticket = cache.ticket();
        cache.freshness().changed(ann);
        cache.insert(key(1), ann, ticket, 1);
        assert_eq!(cache.get(&key(1)), None, "read before the change, inserted after");
        let ticket = cache.ticket();
        cache.insert(key(1), ann, ticket, 2);
        cache.insert(key(2), bob, ticket, 3);
        assert_eq!(cache.get(&key(1)), Some(2));
        cache.freshness().changed_elsewhere(ann);
        assert_eq!(cache.get(&key(1)), None, "changed after it was read");
        assert_eq!(cache.get(&key(2)), Some(3), "another account's entry stays");
        cache.freshness().changed_all();
        assert_eq!(cache.get(&key(2)), None);
    }

    #[test]
    fn a_listened_cache_serves_only_on_a_lease() {
        let cache = CredentialCache::new(10, Arc::new(Freshness::new(true, None)), CacheCounters::default());
        let ann = Uuid::now_v7();
        cache.insert(key(1), ann, cache.ticket(), 1);
        assert_eq!(cache.get(&key(1)), None, "no lease before the listener is connected");
        cache.freshness().alive();
        cache.insert(key(1), ann, cache.ticket(), 1);
        assert_eq!(cache.get(&key(1)), Some(1));
        cache.freshness().distrust();
        assert_eq!(cache.get(&key(1)), None);
        cache.insert(key(2), ann, cache.ticket(), 2);
        cache.freshness().alive();
        assert_eq!(cache.get(&key(2)), None, "nothing was kept while untrusted");
        cache.freshness().lease_runs_out();
        cache.insert(key(3), ann, cache.ticket(), 3);
        assert_eq!(cache.get(&key(3)), None, "a lease not renewed runs out");
    }

    #[test]
    fn it_holds_at_most_its_capacity_and_counts() {
        let cache = cache(2);
        let ann = Uuid::now_v7();
        for byte in 0..3 {
            cache.insert(key(byte), ann, cache.ticket(), u32::from(byte));
        }
        assert_eq!(cache.get(&key(0)), None, "the least recently used went first");
        assert_eq!(cache.get(&key(2)), Some(2));
        assert_eq!(cache.counters.evictions.get(), 1);
        assert_eq!((cache.counters.hits.get(), cache.counters.misses.get()), (1, 1));
        assert_eq!(cache.counters.entries.get(), 2);
        let off = self::cache(0);
        off.insert(key(1), ann, off.ticket(), 1);
        assert_eq!(off.get(&key(1)), None);
    }

    #[test]
    fn another_process_changing_the_database_empties_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let file = change_file_of(&dir.path().join("db.sqlite"));
        let server =
            CredentialCache::new(10, Arc::new(Freshness::new(false, Some(file.clone()))), CacheCounters::default());
        let command_line = Freshness::new(false, Some(file));
        let ann = Uuid::now_v7();
        server.insert(key(1), ann, server.ticket(), 1);
        server.freshness().changed(Uuid::now_v7());
        assert_eq!(server.get(&key(1)), Some(1), "its own change to another account does not empty it");
        command_line.changed(Uuid::now_v7());
        assert_eq!(server.get(&key(1)), None, "any change by another process does");
        server.insert(key(1), ann, server.ticket(), 2);
        assert_eq!(server.get(&key(1)), Some(2));
    }

    #[test]
    fn a_change_file_removed_and_made_again_empties_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let file = change_file_of(&dir.path().join("db.sqlite"));
        let server =
            CredentialCache::new(10, Arc::new(Freshness::new(false, Some(file.clone()))), CacheCounters::default());
        server.insert(key(1), Uuid::now_v7(), server.ticket(), 1);
        assert_eq!(server.get(&key(1)), Some(1));
        std::fs::remove_file(&file).unwrap();
        // A process started after the removal makes a new file, which the server's open one is not.
        Freshness::new(false, Some(file)).changed(Uuid::now_v7());
        assert_eq!(server.get(&key(1)), None, "the server looks at the file by its path again");
    }

    #[test]
    fn a_change_file_that_cannot_be_opened_keeps_the_cache_unused() {
        let dir = tempfile::tempdir().unwrap();
        let file = change_file_of(&dir.path().join("no such directory").join("db.sqlite"));
        let server = CredentialCache::new(10, Arc::new(Freshness::new(false, Some(file))), CacheCounters::default());
        server.insert(key(1), Uuid::now_v7(), server.ticket(), 1);
        assert_eq!(server.get(&key(1)), None, "another process's change could go unseen");
    }
}
