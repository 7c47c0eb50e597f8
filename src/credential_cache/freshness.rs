//! Whether a cached credential may still be used: the change counter and per-account
//! marks every lookup is checked against, the PostgreSQL listener's lease, and the SQLite
//! change file that carries changes between processes (the module doc of
//! `credential_cache` explains the rules).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::confirmations::Confirmations;

/// Whether what was read at a ticket is still current. Shared by the cache, the code that
/// changes credentials and the PostgreSQL listener.
pub struct Freshness {
    changes: AtomicU64,
    marks: Mutex<Marks>,
    /// With PostgreSQL: entries are used only until the listener's lease runs out.
    lease: Option<Lease>,
    change_file: Option<ChangeFile>,
    /// With PostgreSQL: the other instances' acknowledgements of this one's changes.
    confirmations: Arc<Confirmations>,
}

/// How long the cache is trusted after the listener last proved its connection alive.
pub const LEASE: Duration = Duration::from_secs(3);

pub(super) struct Lease {
    origin: Instant,
    /// Milliseconds after `origin` until which entries may be used (0: not at all).
    until_ms: AtomicU64,
}

impl Lease {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

struct Marks {
    /// The number of each account's latest change (bounded: past [`MAX_MARKS`] accounts,
    /// everything is dropped at once instead).
    by_account: HashMap<Uuid, u64>,
    /// Everything read at a ticket below this is stale.
    floor: u64,
}

/// Accounts whose latest change is remembered one by one.
const MAX_MARKS: usize = 100_000;

impl Freshness {
    /// `listened`: changes by other instances arrive through a listener (PostgreSQL), so
    /// entries are used only while it holds a lease ([`alive`](Self::alive)).
    /// `change_file`: the SQLite database's change file.
    pub fn new(listened: bool, change_file: Option<PathBuf>) -> Freshness {
        let lease = listened.then(|| Lease { origin: Instant::now(), until_ms: AtomicU64::new(0) });
        Freshness {
            changes: AtomicU64::new(0),
            marks: Mutex::new(Marks { by_account: HashMap::new(), floor: 0 }),
            lease,
            change_file: change_file.map(ChangeFile::new),
            confirmations: Arc::default(),
        }
    }

    /// What the other instances acknowledged of this one's changes (PostgreSQL).
    pub fn confirmations(&self) -> &Arc<Confirmations> {
        &self.confirmations
    }

    /// Taken before reading a credential from the database.
    pub fn ticket(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// After the commit of a change to `account_id`'s credentials or permits: what was
    /// read of it before is stale here, and (SQLite) in other processes.
    pub fn changed(&self, account_id: Uuid) {
        self.mark(Some(account_id));
        if let Some(file) = &self.change_file {
            file.bump();
        }
    }

    /// Heard from another instance: `account_id`'s credentials changed.
    pub fn changed_elsewhere(&self, account_id: Uuid) {
        self.mark(Some(account_id));
    }

    /// Everything read so far is stale (a gap in what this instance could hear).
    pub fn changed_all(&self) {
        self.mark(None);
    }

    /// The listener's connection just proved alive: entries may be used for [`LEASE`].
    pub fn alive(&self) {
        if let Some(lease) = &self.lease {
            let until = lease.now_ms().saturating_add(LEASE.as_millis() as u64);
            lease.until_ms.store(until, Ordering::SeqCst);
        }
    }

    /// The listener's connection is gone: no entry is used until it is back.
    pub fn distrust(&self) {
        if let Some(lease) = &self.lease {
            lease.until_ms.store(0, Ordering::SeqCst);
        }
    }

    /// Ends the lease now, as if the listener had stopped answering.
    #[cfg(test)]
    pub(super) fn lease_runs_out(&self) {
        let lease = self.lease.as_ref().expect("a listened freshness");
        lease.until_ms.store(lease.now_ms(), Ordering::SeqCst);
    }

    /// Whether entries may be used at all (not while the PostgreSQL listener is away).
    pub fn is_trusted(&self) -> bool {
        self.lease.as_ref().is_none_or(|lease| lease.now_ms() < lease.until_ms.load(Ordering::SeqCst))
    }

    fn mark(&self, account_id: Option<Uuid>) {
        let mut marks = self.marks.lock().expect("freshness lock");
        let number = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        match account_id {
            Some(id) if marks.by_account.len() < MAX_MARKS || marks.by_account.contains_key(&id) => {
                marks.by_account.insert(id, number);
            }
            _ => {
                marks.by_account.clear();
                marks.floor = number;
            }
        }
    }

    /// Whether what was read of `account_id` at `ticket` may still be used.
    pub(super) fn is_current(&self, account_id: Uuid, ticket: u64) -> bool {
        if !self.is_trusted() {
            return false;
        }
        if self.change_file.as_ref().is_some_and(ChangeFile::moved) {
            self.changed_all();
            return false;
        }
        let marks = self.marks.lock().expect("freshness lock");
        let latest = marks.by_account.get(&account_id).copied().unwrap_or(0).max(marks.floor);
        ticket >= latest
    }
}

/// A file beside a SQLite database that grows by a byte per credential change made by any
/// process on it; a process that sees its length move drops its cache.
struct ChangeFile {
    path: PathBuf,
    seen: Mutex<u64>,
}

impl ChangeFile {
    fn new(path: PathBuf) -> ChangeFile {
        let seen = Mutex::new(length(&path));
        ChangeFile { path, seen }
    }

    /// Whether another process changed something since the last look.
    fn moved(&self) -> bool {
        let now = length(&self.path);
        let mut seen = self.seen.lock().expect("change file lock");
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }

    /// Tells the other processes; this one's own change does not count as theirs unless
    /// another's came in between.
    fn bump(&self) {
        let mut seen = self.seen.lock().expect("change file lock");
        let appended =
            OpenOptions::new().create(true).append(true).open(&self.path).and_then(|mut f| f.write_all(b"."));
        if let Err(e) = appended {
            tracing::error!(path = %self.path.display(), error = %e, "cannot record a credential change for other processes");
            return;
        }
        let now = length(&self.path);
        if now == *seen + 1 {
            *seen = now;
        }
    }
}

fn length(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The change file of the SQLite database at `database`.
pub fn change_file_of(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-credential-changes");
    PathBuf::from(name)
}
