//! The databases of `request_create` and what goes in them before the runs: a fresh
//! database per side (a SQLite file, or a PostgreSQL database created next to the admin
//! URL's and dropped at the end), the two accounts every create involves, and the checks
//! made after the runs that every create wrote exactly the rows it should.

use std::path::Path;

use countersign::audit_log;
use countersign::auth::{accounts, password, tokens};
use countersign::authz::permits::{self, NewPermit};
use countersign::db::Db;
use countersign::notify::Notice as _;
use countersign::on_conn;
use countersign::requests::notices::RequestApprovalNeededNotice;
use uuid::Uuid;

use super::support::pg::PgDatabase;

/// The scope every request is made at; both accounts hold their role exactly there.
pub const SCOPE: &str = "org:bench";
/// The kind requested: by default enabled, no confirmation, one approval, no limits.
pub const KIND: &str = "purchase";
/// The method whose rows both sides write, as the audit log names it.
pub const METHOD: &str = "request_create";

/// Where a backend's databases live.
pub enum Kind {
    Sqlite,
    /// A PostgreSQL server, reached with an admin URL: the bench creates its databases
    /// there and drops them at the end.
    Postgres {
        admin_url: String,
    },
}

impl Kind {
    /// The case's name in the report.
    pub fn case(&self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite: request_create vs bare tx",
            Kind::Postgres { .. } => "PostgreSQL: request_create vs bare tx",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres { .. } => "postgres",
        }
    }
}

/// An empty database for one side, and what it takes to drop it.
pub struct Database {
    pub url: String,
    /// The PostgreSQL database, to drop at the end.
    created: Option<PgDatabase>,
}

impl Database {
    /// A new, empty database for `side` (`ours` or `bare`): a SQLite file in `dir`, or a
    /// PostgreSQL database next to the admin URL's.
    pub async fn create(kind: &Kind, dir: &Path, side: &str) -> anyhow::Result<Database> {
        match kind {
            Kind::Sqlite => {
                Ok(Database { url: format!("sqlite://{}", dir.join(format!("{side}.db")).display()), created: None })
            }
            Kind::Postgres { admin_url } => {
                let created = PgDatabase::create(admin_url, side).await?;
                Ok(Database { url: created.url.clone(), created: Some(created) })
            }
        }
    }

    /// Drops a PostgreSQL database (closing whatever is still connected to it).
    pub async fn drop(self) -> anyhow::Result<()> {
        match self.created {
            Some(created) => created.drop().await,
            None => Ok(()),
        }
    }
}

/// The accounts a create involves.
#[derive(Debug, Clone)]
pub struct People {
    /// Holds `member` at [`SCOPE`]: may create.
    pub requester: Uuid,
    pub requester_actor: Uuid,
    /// The requester's API token.
    pub token: String,
    /// Holds `approver` at [`SCOPE`]: the one account told of each new request.
    pub approver: Uuid,
}

/// Creates the requester (with an API token) and the approver, with their permits, in one
/// transaction. Both get the same password hash, which nobody uses.
pub async fn seed(db: &Db) -> anyhow::Result<People> {
    let now = countersign::clock::Clock::default().now();
    let hash = password::hash_new("request-create-bench-password".to_owned()).await?;
    let mut tx = db.begin_write().await?;
    let mut created = Vec::new();
    for (username, role) in [("bench-member", "member"), ("bench-approver", "approver")] {
        let account = accounts::create(tx.conn(), username, None, &hash, now).await?;
        let permit = NewPermit {
            account_id: account.account.id,
            actor_id: account.actor_id,
            role,
            scope_id: Some(SCOPE),
            granted_by: None,
            source_offer_id: None,
            expires_at: None,
        };
        permits::grant(tx.conn(), permit, now).await?;
        created.push(account);
    }
    let (requester, approver) = (&created[0], &created[1]);
    let (_, token) = tokens::create(tx.conn(), requester.account.id, "bench", None, None, now).await?;
    tx.commit().await?;
    Ok(People {
        requester: requester.account.id,
        requester_actor: requester.actor_id,
        token,
        approver: approver.account.id,
    })
}

/// Checks that every create in `db` wrote what it should: one `pending_approval` request,
/// one `request_create` audit row, and one `request_approval_needed` notification, to the
/// approver (and none to anyone else); and that the audit chain verifies, so every row
/// has a real hash. Returns how many requests were made.
pub async fn check_rows(db: &Db, people: &People) -> anyhow::Result<i64> {
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM requests), \
                (SELECT COUNT(*) FROM requests WHERE status = 'pending_approval'), \
                (SELECT COUNT(*) FROM audit_log WHERE event_type = '{METHOD}'), \
                (SELECT COUNT(*) FROM notifications WHERE account_id = $1 AND type = '{}'), \
                (SELECT COUNT(*) FROM notifications)",
        RequestApprovalNeededNotice::KIND
    );
    let mut read = db.read().await?;
    let (requests, pending, audited, notified, notifications): (i64, i64, i64, i64, i64) =
        on_conn!(read.conn(), c => sqlx::query_as(&sql).bind(people.approver).fetch_one(&mut *c).await)?;
    anyhow::ensure!(requests > 0, "no request was made");
    anyhow::ensure!(
        [pending, audited, notified, notifications].iter().all(|&n| n == requests),
        "{requests} requests, {pending} pending approval, {audited} audit rows, {notified} approval notices to \
         the approver, {notifications} notifications in all: expected one of each per request"
    );
    let chain = audit_log::verify(read.conn()).await?;
    anyhow::ensure!(chain.ok, "the audit chain is broken at seq {:?}", chain.first_bad_seq);
    Ok(requests)
}
