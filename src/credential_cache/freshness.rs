//! Whether a cached credential may still be used: the change counter and per-account
//! marks every lookup is checked against, the PostgreSQL listener's lease, and the SQLite
//! change file that carries changes between processes (the module doc of
//! `credential_cache` explains the rules).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
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
        if let Some(file) = &self.change_file {
            file.if_moved(|| self.changed_all());
        }
        let marks = self.marks.lock().expect("freshness lock");
        let latest = marks.by_account.get(&account_id).copied().unwrap_or(0).max(marks.floor);
        ticket >= latest
    }
}

/// A file beside a SQLite database that grows by a byte per credential change made by any
/// process on it; a process that sees its length move drops its cache.
///
/// The file is held open, so that the look every cached lookup takes is an `fstat`, not a
/// path lookup (which cost about 2 % of the server's CPU on `GET whoami`). A file that
/// was removed or replaced meanwhile (no links left) is opened again by its path, and that
/// counts as a move; so does every look while it cannot be opened at all, so the cache is
/// not used while another process's change could go unseen.
struct ChangeFile {
    path: PathBuf,
    seen: Mutex<Seen>,
}

struct Seen {
    /// `None` while it cannot be opened (then every look opens it again).
    file: Option<File>,
    length: u64,
}

impl Seen {
    /// The file's length now; `None` when it had to be opened again (it may have moved).
    fn look(&mut self, path: &Path) -> Option<u64> {
        let held = self.file.as_ref().and_then(|file| file.metadata().ok()).filter(|meta| meta.nlink() > 0);
        if let Some(meta) = held {
            return Some(meta.len());
        }
        self.file = open(path);
        self.length = self.file.as_ref().and_then(|file| file.metadata().ok()).map_or(0, |meta| meta.len());
        None
    }
}

impl ChangeFile {
    fn new(path: PathBuf) -> ChangeFile {
        let mut seen = Seen { file: None, length: 0 };
        seen.look(&path);
        ChangeFile { path, seen: Mutex::new(seen) }
    }

    /// Runs `then` when another process changed something since the last look, before
    /// any other lookup may look (so none is answered from the cache in between).
    fn if_moved(&self, then: impl FnOnce()) {
        let mut seen = self.seen.lock().expect("change file lock");
        match seen.look(&self.path) {
            Some(now) if now == seen.length => return,
            Some(now) => seen.length = now,
            None => {}
        }
        then();
    }

    /// Tells the other processes; this one's own change does not count as theirs unless
    /// another's came in between (or the file was replaced).
    fn bump(&self) {
        let mut seen = self.seen.lock().expect("change file lock");
        let before = seen.look(&self.path);
        let appended = match seen.file.as_mut() {
            Some(file) => file.write_all(b"."),
            None => Err(std::io::Error::other("it cannot be opened")),
        };
        if let Err(e) = appended {
            tracing::error!(path = %self.path.display(), error = %e, "cannot record a credential change for other processes");
            return;
        }
        let mine = seen.length + 1;
        if before == Some(seen.length) && seen.look(&self.path) == Some(mine) {
            seen.length = mine;
        }
    }
}

/// Opens (creating) the change file for appending.
fn open(path: &Path) -> Option<File> {
    OpenOptions::new().create(true).append(true).open(path).ok()
}

/// The change file of the SQLite database at `database`.
pub fn change_file_of(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-credential-changes");
    PathBuf::from(name)
}
