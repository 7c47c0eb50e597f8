//! What a transaction's credential changes oblige after it commits: drop what this instance
//! cached of the accounts, and (PostgreSQL) wait until the other instances have heard, as
//! `confirmations` describes.

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::confirmations::{Confirmations, Expected, LISTENER_PREFIX};
use super::freshness::{Freshness, LEASE};
use crate::db::Db;

/// Beyond the lease: how much longer an unacknowledged change waits, so that clocks
/// running at slightly different rates cannot cut it short.
const MARGIN: Duration = Duration::from_millis(100);

/// The credential changes one transaction made, made known once it commits.
#[derive(Default)]
pub struct CredentialChanges {
    accounts: Vec<Uuid>,
    /// PostgreSQL: the announced changes, whose acknowledgements are waited for.
    announced: Vec<Expected>,
}

impl CredentialChanges {
    /// `account_id`'s credentials or permits change in the transaction.
    pub fn changed(&mut self, account_id: Uuid) {
        self.accounts.push(account_id);
    }

    /// A change announced to the other instances (PostgreSQL).
    pub fn announced(&mut self, expected: Expected) {
        self.announced.push(expected);
    }

    /// After the commit of `instance`'s transaction (or a commit whose outcome is unknown:
    /// dropping more than needed is always safe): nothing read before is used here; once
    /// `committed`, waits until the other instances have heard (`wait_heard`).
    pub async fn made_known(self, freshness: &Freshness, db: &Db, instance: Uuid, committed: bool) {
        for account_id in self.accounts {
            freshness.changed(account_id);
        }
        if committed {
            wait_heard(db, freshness.confirmations(), instance, &self.announced).await;
        }
    }
}

/// After the commit of `changes`, made by `instance` (PostgreSQL): returns once every
/// other instance listening on the database has acknowledged them, or once the lease of
/// any that did not has run out. Immediately when there is nothing to wait for.
async fn wait_heard(db: &Db, confirmations: &Confirmations, instance: Uuid, changes: &[Expected]) {
    let Some(pool) = db.postgres().filter(|_| !changes.is_empty()) else { return };
    let deadline = Instant::now() + LEASE + MARGIN;
    let listening = sqlx::query_scalar::<_, String>(
        "SELECT application_name FROM pg_stat_activity \
         WHERE datname = current_database() AND starts_with(application_name, $1)",
    )
    .bind(LISTENER_PREFIX)
    .fetch_all(pool);
    let listeners: Vec<Uuid> = match tokio::time::timeout_at(deadline, listening).await {
        Ok(Ok(names)) => names
            .iter()
            .filter_map(|name| name.strip_prefix(LISTENER_PREFIX).and_then(|id| Uuid::parse_str(id).ok()))
            .collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot tell which instances listen; waiting out their leases");
            return tokio::time::sleep_until(deadline).await;
        }
        Err(_) => return,
    };
    let others: Vec<Uuid> = listeners.iter().copied().filter(|id| *id != instance).collect();
    if others.is_empty() {
        return;
    }
    if !listeners.contains(&instance) {
        // No listener of our own to hear acknowledgements: wait out their leases.
        return tokio::time::sleep_until(deadline).await;
    }
    if !confirmations.wait(changes, &others, deadline).await {
        tracing::warn!("an instance did not acknowledge a credential change; its lease has run out since");
    }
}
