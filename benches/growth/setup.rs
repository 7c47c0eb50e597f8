//! What goes into the databases of `growth` before the runs: the people every pair
//! involves (made with the domain functions), and for the preloaded database
//! [`OFFERS`] settled offers and [`PERMITS`] permits, written straight into their tables
//! in one transaction (multi-row `INSERT`s of [`CHUNK`] rows: a few seconds, where one
//! domain call per row would take minutes on PostgreSQL).
//!
//! The preload is history of the very key the runs use (role [`ROLE`] at [`SCOPE`]), held
//! by the runs' own recipients and by [`FILLERS`] other accounts: every holder's newest
//! permit is active, the older ones revoked as `replaced` (what accepting again does); the
//! first [`PERMITS`] offers are the `accepted` offers those permits came from, the others
//! `declined`, `expired`, `retracted` or `superseded`. None is pending. So the data a pair
//! must not look at (other accounts' rows, settled offers, revoked permits, the offerer's
//! long outgoing history) grows, and what it must look at (the caller's active permits,
//! the recipient's pending offers) does not. No audit rows or notifications are made for
//! the preload. On PostgreSQL the preload ends with `ANALYZE`, as autovacuum would have
//! run long before on tables that grew call by call. The server process is already
//! running when the preload is written, but has answered no call yet (so nothing it could
//! have kept in memory is stale).

use chrono::{DateTime, Duration, Utc};
use countersign::auth::{accounts, password, tokens};
use countersign::authz::permits::{self, NewPermit};
use countersign::db::Db;
use countersign::on_conn;
use uuid::Uuid;

/// The role offered and the scope it is offered at.
pub const ROLE: &str = "approver";
pub const SCOPE: &str = "org:bench";
/// The preload.
pub const OFFERS: usize = 100_000;
pub const PERMITS: usize = 10_000;
pub const FILLERS: usize = 1_000;
/// Rows per `INSERT` (11 parameters each: under SQLite's and PostgreSQL's limits).
const CHUNK: usize = 1_000;

/// An account with an API token.
#[derive(Debug, Clone)]
pub struct Person {
    pub account: Uuid,
    pub actor: Uuid,
    pub token: String,
}

/// The offerer (holds [`ROLE`] at [`SCOPE`]) and one recipient per concurrent pair.
pub struct People {
    pub offerer: Person,
    pub recipients: Vec<Person>,
}

/// Creates the offerer and `recipients` recipients, each with an API token, in one
/// transaction, all with one password hash.
pub async fn people(db: &Db, recipients: usize) -> anyhow::Result<People> {
    let now = Utc::now();
    let hash = password::hash_new("growth-bench-password".to_owned()).await?;
    let mut tx = db.begin_write().await?;
    let mut made = Vec::new();
    for i in 0..=recipients {
        let username = if i == 0 { "offerer".to_owned() } else { format!("recipient-{i}") };
        let created = accounts::create(tx.conn(), &username, None, &hash, now).await?;
        let (_, token) = tokens::create(tx.conn(), created.account.id, "bench", None, None, now).await?;
        made.push(Person { account: created.account.id, actor: created.actor_id, token });
    }
    let offerer = made.remove(0);
    let grant = NewPermit {
        account_id: offerer.account,
        actor_id: offerer.actor,
        role: ROLE,
        scope_id: Some(SCOPE),
        granted_by: None,
        source_offer_id: None,
        expires_at: None,
    };
    permits::grant(tx.conn(), grant, now).await?;
    tx.commit().await?;
    Ok(People { offerer, recipients: made })
}

/// One preloaded permit.
struct PermitRow {
    id: Uuid,
    holder: usize,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Writes the preload (see the module's doc) in one transaction.
pub async fn preload(db: &Db, people: &People) -> anyhow::Result<()> {
    let now = Utc::now();
    let hash = password::hash_new("growth-bench-filler".to_owned()).await?;
    let mut tx = db.begin_write().await?;
    let mut holders: Vec<(Uuid, Uuid)> = people.recipients.iter().map(|p| (p.account, p.actor)).collect();
    for i in 0..FILLERS {
        let created = accounts::create(tx.conn(), &format!("filler-{i}"), None, &hash, now).await?;
        holders.push((created.account.id, created.actor_id));
    }
    let past = |i: usize, total: usize| now - Duration::seconds((total - i) as i64 * 10);
    let permits: Vec<PermitRow> = (0..PERMITS)
        .map(|i| {
            let newest = i + holders.len() >= PERMITS;
            PermitRow {
                id: Uuid::now_v7(),
                holder: i % holders.len(),
                created_at: past(i, PERMITS),
                revoked_at: (!newest).then(|| past(i + holders.len(), PERMITS)),
            }
        })
        .collect();
    for chunk in permits.chunks(CHUNK) {
        on_conn!(tx.conn(), c => {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO permits (id, actor_id, account_id, role, scope_id, granted_by, source_offer_id, \
                 created_at, revoked_at, revoked_by, revoked_reason) ");
            insert.push_values(chunk, |mut row, p| {
                let (account, actor) = holders[p.holder];
                let offer = Uuid::from_u128(p.id.as_u128() ^ 1);
                let reason = p.revoked_at.map(|_| "replaced");
                row.push_bind(p.id).push_bind(actor).push_bind(account).push_bind(ROLE).push_bind(SCOPE)
                    .push_bind(people.offerer.account).push_bind(offer).push_bind(p.created_at)
                    .push_bind(p.revoked_at).push_bind(p.revoked_at.map(|_| people.offerer.account)).push_bind(reason);
            });
            insert.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    insert_offers(&mut tx, people, &holders, &permits, now).await?;
    tx.commit().await?;
    if let Some(pool) = db.postgres() {
        // What autovacuum would have done long since to tables grown call by call: without
        // statistics the planner takes the new tables for empty.
        sqlx::query("ANALYZE").execute(pool).await?;
    }
    Ok(())
}

/// How many offers and permits the database holds.
pub async fn counts(db: &Db) -> anyhow::Result<(i64, i64)> {
    let mut read = db.read().await?;
    let sql = "SELECT (SELECT COUNT(*) FROM permit_offers), (SELECT COUNT(*) FROM permits)";
    Ok(on_conn!(read.conn(), c => sqlx::query_as(sql).fetch_one(&mut *c).await)?)
}

/// The settled offers; offer `i < PERMITS` was accepted into permit `i`, and its id is
/// that permit's `source_offer_id` (the permit's id with the lowest bit flipped).
async fn insert_offers(
    tx: &mut countersign::db::Tx,
    people: &People,
    holders: &[(Uuid, Uuid)],
    permits: &[PermitRow],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    const SETTLED: [&str; 4] = ["declined", "expired", "retracted", "superseded"];
    let offerer = &people.offerer;
    let ids: Vec<usize> = (0..OFFERS).collect();
    for chunk in ids.chunks(CHUNK) {
        on_conn!(tx.conn(), c => {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO permit_offers (id, from_account_id, from_actor_id, to_account_id, role, scope_id, \
                 status, created_at, expires_at, resolved_at, permit_id) ");
            insert.push_values(chunk, |mut row, &i| {
                let created_at = now - Duration::seconds((OFFERS - i) as i64);
                let (id, to, status, permit) = match permits.get(i) {
                    Some(p) => (Uuid::from_u128(p.id.as_u128() ^ 1), holders[p.holder].0, "accepted", Some(p.id)),
                    None => (Uuid::now_v7(), holders[i % holders.len()].0, SETTLED[i % SETTLED.len()], None),
                };
                row.push_bind(id).push_bind(offerer.account).push_bind(offerer.actor).push_bind(to)
                    .push_bind(ROLE).push_bind(SCOPE).push_bind(status).push_bind(created_at)
                    .push_bind(created_at + Duration::hours(1)).push_bind(created_at + Duration::minutes(1))
                    .push_bind(permit);
            });
            insert.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}
