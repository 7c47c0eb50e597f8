//! The one notification writer: appends a transaction's notifications to their accounts'
//! streams in a fixed number of statements however many accounts it notifies (a commit that
//! notifies 1,000 accounts was 2,000 statements and 1,000 `pg_notify` calls), and on
//! PostgreSQL announces them to every instance. `Ctx` buffers what `Ctx::notify` is given
//! and calls [`write()`] before the transaction reads again or commits, and [`announce`]
//! right before the commit.
//!
//! Per account, `seq` goes on from the head row, which the write bumps by the number of
//! rows it adds and which stays locked until commit: concurrent writers for one account
//! commit in `seq` order, without gaps or duplicates. The heads are bumped in account id
//! order, so two transactions notifying the same accounts cannot deadlock on them.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::{PG_CHANNEL, Stored};
use crate::db::ConnRef;
use crate::error::RpcResult;

/// A notification waiting to be written: its account, `type` and payload as JSON text.
#[derive(Debug)]
pub struct Outgoing {
    pub account_id: Uuid,
    pub kind: &'static str,
    pub data: String,
}

/// A notification as written, to hand to this instance's subscribers after commit.
#[derive(Debug)]
pub struct Written {
    pub account_id: Uuid,
    pub row: Stored,
}

/// Rows per statement on SQLite: five parameters each, well under its 32,766.
const SQLITE_ROWS_PER_STATEMENT: usize = 1000;

/// On PostgreSQL one statement: bump every head (locking it) by its count, then insert each
/// row `below` its account's new head.
const PG_WRITE: &str = "WITH heads AS (\
    INSERT INTO notification_heads (account_id, seq, pruned_through) \
    SELECT account_id, added, 0 FROM unnest($1::uuid[], $2::int8[]) AS batch (account_id, added) \
    ON CONFLICT (account_id) DO UPDATE SET seq = notification_heads.seq + excluded.seq \
    RETURNING account_id, seq), \
rows AS (\
    INSERT INTO notifications (account_id, seq, type, data, created_at) \
    SELECT added.account_id, heads.seq - added.below, added.type, added.data, $7 \
    FROM unnest($3::uuid[], $4::int8[], $5::text[], $6::text[]) AS added (account_id, below, type, data) \
    JOIN heads ON heads.account_id = added.account_id) \
SELECT account_id, seq FROM heads";

/// Appends `batch` (in order) to its accounts' streams in the caller's transaction.
pub async fn write(conn: ConnRef<'_>, batch: Vec<Outgoing>, now: DateTime<Utc>) -> RpcResult<Vec<Written>> {
    // Stored as the database keeps it (PostgreSQL to the microsecond), so that the row
    // handed to subscribers here is the row any other reader gets.
    let now = now.trunc_subsecs(6);
    let plan = Plan::of(&batch);
    let heads = match conn {
        ConnRef::Sqlite(c) => write_sqlite(c, &plan, &batch, now).await?,
        ConnRef::Postgres(c) => {
            let (accounts, added): (Vec<Uuid>, Vec<i64>) = plan.heads.iter().copied().unzip();
            let rows: Vec<Uuid> = batch.iter().map(|n| n.account_id).collect();
            let kinds: Vec<&str> = batch.iter().map(|n| n.kind).collect();
            let data: Vec<&str> = batch.iter().map(|n| n.data.as_str()).collect();
            sqlx::query_as(PG_WRITE)
                .bind(accounts)
                .bind(added)
                .bind(rows)
                .bind(&plan.below)
                .bind(kinds)
                .bind(data)
                .bind(now)
                .fetch_all(&mut *c)
                .await?
        }
    };
    let heads: HashMap<Uuid, i64> = heads.into_iter().collect();
    let written = batch.into_iter().zip(&plan.below).map(|(n, below)| {
        let row = Stored { seq: heads[&n.account_id] - below, kind: n.kind.to_owned(), data: n.data, created_at: now };
        Written { account_id: n.account_id, row }
    });
    Ok(written.collect())
}

/// What a batch adds to each account.
struct Plan {
    /// Each account once, in id order, with how many rows it gets.
    heads: Vec<(Uuid, i64)>,
    /// For each row of the batch, how far below its account's new head its `seq` is
    /// (an account's last row is 0 below, its first `added - 1`).
    below: Vec<i64>,
}

impl Plan {
    fn of(batch: &[Outgoing]) -> Plan {
        let mut added: HashMap<Uuid, i64> = HashMap::new();
        for n in batch {
            *added.entry(n.account_id).or_default() += 1;
        }
        let mut seen: HashMap<Uuid, i64> = HashMap::with_capacity(added.len());
        let below = batch
            .iter()
            .map(|n| {
                let earlier = seen.entry(n.account_id).or_default();
                *earlier += 1;
                added[&n.account_id] - *earlier
            })
            .collect();
        let mut heads: Vec<(Uuid, i64)> = added.into_iter().collect();
        heads.sort_unstable();
        Plan { heads, below }
    }
}

/// SQLite has no arrays and no writes inside `WITH`: the heads, then the rows, each as
/// multi-row statements (with 1,000 accounts this made the commit 2-3 times faster than a
/// statement per head and per row). Returns each account's new head.
async fn write_sqlite(
    c: &mut sqlx::SqliteConnection,
    plan: &Plan,
    batch: &[Outgoing],
    now: DateTime<Utc>,
) -> RpcResult<Vec<(Uuid, i64)>> {
    let mut heads = Vec::with_capacity(plan.heads.len());
    for chunk in plan.heads.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut bump = QueryBuilder::<Sqlite>::new("INSERT INTO notification_heads (account_id, seq, pruned_through) ");
        bump.push_values(chunk, |mut values, (account_id, added)| {
            values.push_bind(*account_id).push_bind(*added).push("0");
        });
        bump.push(
            " ON CONFLICT (account_id) DO UPDATE SET seq = notification_heads.seq + excluded.seq \
             RETURNING account_id, seq",
        );
        heads.extend(bump.build_query_as::<(Uuid, i64)>().fetch_all(&mut *c).await?);
    }
    let new_heads: HashMap<Uuid, i64> = heads.iter().copied().collect();
    let rows: Vec<(&Outgoing, i64)> = batch.iter().zip(&plan.below).map(|(n, below)| (n, *below)).collect();
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO notifications (account_id, seq, type, data, created_at) ");
        insert.push_values(chunk, |mut values, (n, below)| {
            values
                .push_bind(n.account_id)
                .push_bind(new_heads[&n.account_id] - below)
                .push_bind(n.kind)
                .push_bind(n.data.as_str())
                .push_bind(now);
        });
        insert.build().execute(&mut *c).await?;
    }
    Ok(heads)
}

/// Longest `pg_notify` payload: PostgreSQL refuses 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7999;

/// On PostgreSQL, tells every instance's listener, on commit, that `accounts` have new
/// rows: one statement, whatever their number (chunked into payloads under the limit).
/// `from` is the announcing instance, which wakes its own subscribers itself.
pub async fn announce(conn: ConnRef<'_>, from: Uuid, accounts: &[Uuid]) -> RpcResult<()> {
    if let ConnRef::Postgres(c) = conn
        && !accounts.is_empty()
    {
        sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
            .bind(PG_CHANNEL)
            .bind(Announcement::payloads(from, accounts))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// What one `pg_notify` on [`PG_CHANNEL`] says: the announcing instance's id, then the
/// accounts with new rows, space-separated, each as 32 hex digits.
#[derive(Debug, PartialEq, Eq)]
pub struct Announcement {
    pub from: Uuid,
    pub accounts: Vec<Uuid>,
}

impl Announcement {
    /// The payloads announcing `accounts` from instance `from`, each under [`MAX_PAYLOAD`].
    fn payloads(from: Uuid, accounts: &[Uuid]) -> Vec<String> {
        const ID: usize = 32;
        let per_payload = (MAX_PAYLOAD - ID) / (ID + 1);
        let from = from.simple().to_string();
        let payload = |chunk: &[Uuid]| {
            let mut text = String::with_capacity((chunk.len() + 1) * (ID + 1));
            text.push_str(&from);
            for account_id in chunk {
                text.push(' ');
                text.push_str(account_id.simple().encode_lower(&mut Uuid::encode_buffer()));
            }
            text
        };
        accounts.chunks(per_payload).map(payload).collect()
    }

    /// Reads a payload; `None` when it is not one.
    pub fn parse(payload: &str) -> Option<Announcement> {
        let mut ids = payload.split(' ').map(Uuid::try_parse);
        let from = ids.next()?.ok()?;
        let accounts = ids.collect::<Result<Vec<_>, _>>().ok()?;
        Some(Announcement { from, accounts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_stay_under_the_payload_limit_and_read_back() {
        let from = Uuid::now_v7();
        let accounts: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
        let payloads = Announcement::payloads(from, &accounts);
        assert_eq!(payloads.len(), 5, "241 accounts per payload");
        let mut read = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let announcement = Announcement::parse(payload).expect("a payload reads back");
            assert_eq!(announcement.from, from);
            read.extend(announcement.accounts);
        }
        assert_eq!(read, accounts);
        assert_eq!(Announcement::parse("not an id"), None);
        assert_eq!(Announcement::parse(&format!("{} nonsense", from.simple())), None);
    }

    #[test]
    fn a_plan_numbers_each_accounts_rows_up_to_its_new_head() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let outgoing = |account_id| Outgoing { account_id, kind: "k", data: "{}".into() };
        let plan = Plan::of(&[outgoing(b), outgoing(a), outgoing(b), outgoing(b)]);
        assert_eq!(plan.heads, vec![(a, 1), (b, 3)], "each account once, in id order");
        assert_eq!(plan.below, vec![2, 0, 1, 0]);
    }
}
