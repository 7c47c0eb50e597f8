//! Revocation across PostgreSQL instances: a change to an account's credentials answers
//! only once no other instance can still answer from what it cached before the change.
//!
//! The change is announced on [`PG_CHANNEL`] inside its transaction (so it is delivered
//! exactly when it commits). Every other instance's listener drops the account's entries
//! and then acknowledges on [`PG_ACK_CHANNEL`], naming the change and itself. After the
//! commit, the changing instance asks the database which listeners are connected to it
//! (each is named [`listener_name`] in `pg_stat_activity`, set only once it listens, so a
//! listener found there hears the change) and waits for each one's acknowledgement.
//!
//! An instance that does not acknowledge (cut off, stalled) is waited for until its lease
//! (`credential_cache::LEASE`) must have run out: it stops answering from its cache within
//! the lease of its last proof of life, which came before this wait began. When this
//! process cannot hear acknowledgements at all (the command line; a server whose own
//! listener is down), it waits that long whenever another listener is connected. Either way
//! the wait is bounded by the lease plus a small margin, and the common case is one round
//! trip.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

/// The PostgreSQL channel carrying "the credentials of this account changed" to every
/// instance; the payload is an [`Announcement`].
pub const PG_CHANNEL: &str = "countersign_credentials";

/// The PostgreSQL channel on which instances acknowledge an [`Announcement`]; the payload
/// is an [`Ack`].
pub const PG_ACK_CHANNEL: &str = "countersign_credential_acks";

/// What the listener of `instance` is called in `pg_stat_activity` (under 64 bytes).
pub fn listener_name(instance: Uuid) -> String {
    format!("{LISTENER_PREFIX}{instance}")
}

pub(super) const LISTENER_PREFIX: &str = "countersign listener ";

/// "`account_id`'s credentials changed", change `change` made by instance `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub from: Uuid,
    pub change: Uuid,
    pub account_id: Uuid,
}

/// "Instance `by` no longer holds anything read before change `change` of instance `to`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub to: Uuid,
    pub change: Uuid,
    pub by: Uuid,
}

impl Announcement {
    pub fn payload(&self) -> String {
        format!("{} {} {}", self.from, self.change, self.account_id)
    }

    pub fn parse(payload: &str) -> Option<Announcement> {
        let [from, change, account_id] = three_ids(payload)?;
        Some(Announcement { from, change, account_id })
    }

    /// This instance's (`by`) acknowledgement of it.
    pub fn ack(&self, by: Uuid) -> Ack {
        Ack { to: self.from, change: self.change, by }
    }
}

impl Ack {
    pub fn payload(&self) -> String {
        format!("{} {} {}", self.to, self.change, self.by)
    }

    pub fn parse(payload: &str) -> Option<Ack> {
        let [to, change, by] = three_ids(payload)?;
        Some(Ack { to, change, by })
    }
}

fn three_ids(payload: &str) -> Option<[Uuid; 3]> {
    let mut parts = payload.split(' ').map(Uuid::parse_str);
    let ids = [parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?];
    parts.next().is_none().then_some(ids)
}

/// The acknowledgements of this instance's changes still being waited for.
#[derive(Default)]
pub struct Confirmations {
    /// By change: the instances that acknowledged it so far. Only changes expected here are
    /// kept (an acknowledgement of anything else is dropped), and each only while expected.
    heard: Mutex<HashMap<Uuid, HashSet<Uuid>>>,
    arrived: Notify,
}

/// A change whose acknowledgements are being collected; forgotten when dropped (after the
/// wait, or when its transaction rolls back).
pub struct Expected {
    confirmations: Arc<Confirmations>,
    pub change: Uuid,
}

impl Drop for Expected {
    fn drop(&mut self) {
        self.confirmations.heard.lock().expect("confirmations lock").remove(&self.change);
    }
}

impl Confirmations {
    /// A new change, before it is announced: its acknowledgements will be kept.
    pub fn expect(self: &Arc<Self>) -> Expected {
        let change = Uuid::now_v7();
        self.heard.lock().expect("confirmations lock").insert(change, HashSet::new());
        Expected { confirmations: self.clone(), change }
    }

    /// Heard by the listener: an acknowledgement addressed to this instance.
    pub fn acknowledged(&self, ack: Ack) {
        if let Some(by) = self.heard.lock().expect("confirmations lock").get_mut(&ack.change) {
            by.insert(ack.by);
        }
        self.arrived.notify_waiters();
    }

    /// Waits until each of `others` has acknowledged every one of `changes`, or until
    /// `deadline`; whether they all did.
    pub(super) async fn wait(&self, changes: &[Expected], others: &[Uuid], deadline: Instant) -> bool {
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.all_heard(changes, others) {
                return true;
            }
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(deadline) => return self.all_heard(changes, others),
            }
        }
    }

    fn all_heard(&self, changes: &[Expected], others: &[Uuid]) -> bool {
        let heard = self.heard.lock().expect("confirmations lock");
        changes
            .iter()
            .all(|expected| heard.get(&expected.change).is_some_and(|by| others.iter().all(|other| by.contains(other))))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn payloads_read_back_and_nothing_else_reads() {
        let announcement = Announcement { from: Uuid::now_v7(), change: Uuid::now_v7(), account_id: Uuid::now_v7() };
        assert_eq!(Announcement::parse(&announcement.payload()), Some(announcement));
        let ack = announcement.ack(Uuid::now_v7());
        assert_eq!(Ack::parse(&ack.payload()), Some(ack));
        assert_eq!(Announcement::parse(&Uuid::now_v7().to_string()), None, "an older instance's payload");
        assert_eq!(Ack::parse(&format!("{} extra", ack.payload())), None);
    }

    #[tokio::test]
    async fn a_wait_ends_when_everyone_acknowledged_or_at_the_deadline() {
        let confirmations = Arc::new(Confirmations::default());
        let (me, bob, cat) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let changes = [confirmations.expect(), confirmations.expect()];
        for expected in &changes {
            confirmations.acknowledged(Ack { to: me, change: expected.change, by: bob });
        }
        confirmations.acknowledged(Ack { to: me, change: changes[0].change, by: cat });
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!confirmations.wait(&changes, &[bob, cat], deadline).await, "cat never acknowledged the second");
        assert!(Instant::now() >= deadline, "it waited until the deadline");

        let waiting = confirmations.clone();
        let second = changes[1].change;
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            waiting.acknowledged(Ack { to: me, change: second, by: cat });
        });
        let started = Instant::now();
        assert!(confirmations.wait(&changes, &[bob, cat], started + Duration::from_secs(3)).await);
        assert!(started.elapsed() < Duration::from_secs(3), "it ended when the last one arrived, not at the deadline");
        late.await.unwrap();

        let gone = changes[0].change;
        drop(changes);
        confirmations.acknowledged(Ack { to: me, change: gone, by: bob });
        assert!(confirmations.heard.lock().unwrap().is_empty(), "nothing kept once no longer expected");
    }
}
