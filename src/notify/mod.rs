//! Durable notifications (docs/protocol.md §8): one ordered stream per account, and the
//! machinery that delivers it. The methods that read streams are in `notifications/`.
//!
//! [`push`] is the one notification writer. Handlers reach it through `Ctx::notify`,
//! inside their transaction: it bumps the account's head row (which stays locked until
//! commit, so on PostgreSQL concurrent writers for one account commit in `seq` order) and
//! inserts the row. Nothing is sent from inside a transaction: after commit the
//! [`hub::Hub`] wakes the account's subscribers, which read the rows after the last `seq`
//! they sent through the account's shared [`feed::Feed`]. With PostgreSQL the transaction
//! also calls `pg_notify`, which PostgreSQL delivers only on commit, to the [`listener`] of
//! every instance.
//!
//! Every payload is a type implementing [`Notice`]: its `KIND` is the notification's
//! `type`, and its JSON Schema is generated into `schemas/<type>.notification.json`. Two
//! messages are pushed to a socket without being stream rows: [`ResyncRequired`] and
//! [`SessionRevoked`].

pub mod feed;
pub mod hub;
pub mod listener;
pub mod retention;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::ConnRef;
use crate::error::RpcResult;
use crate::on_conn;
use crate::sockets::ResyncPoint;

/// A notification payload: the `data` of a stream row whose `type` is `KIND`. Its doc
/// comment is the type's description in the OpenRPC document.
pub trait Notice: Serialize + JsonSchema {
    const KIND: &'static str;
}

/// Pushed to every subscription of a socket whose client fell behind, which then closes
/// with code 4002: resubscribe with `after` = the last `seq` you handled (rows up to
/// `oldest_seq - 1` are gone: refetch state first if yours is older). Also the first push
/// of a subscription whose `after` is no longer kept (pruned, or from a stream that never
/// had it): refetch state; the subscription goes on from there.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(tag = "type", rename = "resync_required")]
#[schemars(rename = "ResyncRequired", transform = resync_required_schema)]
pub struct ResyncRequired {
    /// The oldest `seq` still kept (`null` when none is, or it could not be read):
    /// resuming with `after` at or above `oldest_seq - 1` misses nothing.
    pub oldest_seq: Option<i64>,
    /// The newest `seq` of the stream (0 when it is empty; `null` when the database could
    /// not be read at that moment).
    pub head_seq: Option<i64>,
}

impl From<ResyncPoint> for ResyncRequired {
    fn from(at: ResyncPoint) -> ResyncRequired {
        ResyncRequired { oldest_seq: at.oldest_seq, head_seq: at.head_seq }
    }
}

impl From<&ResyncRequired> for ResyncPoint {
    fn from(resync: &ResyncRequired) -> ResyncPoint {
        ResyncPoint { oldest_seq: resync.oldest_seq, head_seq: resync.head_seq }
    }
}

/// Adds the `type` tag serde writes (`#[serde(tag)]`) to a socket message's schema.
fn tagged(schema: &mut schemars::Schema, tag: &str) {
    let object = schema.ensure_object();
    if let Some(properties) = object.entry("properties").or_insert_with(|| json!({})).as_object_mut() {
        properties.insert("type".into(), json!({ "const": tag }));
    }
    if let Some(required) = object.entry("required").or_insert_with(|| json!([])).as_array_mut() {
        required.insert(0, json!("type"));
    }
}

fn resync_required_schema(schema: &mut schemars::Schema) {
    tagged(schema, ResyncRequired::TYPE);
}

impl ResyncRequired {
    pub const TYPE: &'static str = "resync_required";

    /// Where a stream stands, from its head and how far it was pruned ([`head`]).
    pub fn at(head_seq: i64, pruned_through: i64) -> ResyncRequired {
        ResyncRequired {
            oldest_seq: (head_seq > pruned_through).then_some(pruned_through + 1),
            head_seq: Some(head_seq),
        }
    }
}

/// Pushed to every subscription of a socket whose session or API token was revoked
/// (logout, password change, session or token revoke); the socket then closes with code
/// 4001.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(tag = "type", rename = "session_revoked")]
#[schemars(rename = "SessionRevoked", transform = session_revoked_schema)]
pub struct SessionRevoked {}

fn session_revoked_schema(schema: &mut schemars::Schema) {
    tagged(schema, SessionRevoked::TYPE);
}

impl SessionRevoked {
    pub const TYPE: &'static str = "session_revoked";
}

/// The JSON-RPC notification that carries `result` to subscription `subscription` (or,
/// on a socket without one, to the socket itself).
pub fn envelope(subscription: Option<&str>, result: &impl Serialize) -> String {
    let params = match subscription {
        Some(id) => json!({ "subscription": id, "result": result }),
        None => json!({ "result": result }),
    };
    json!({ "jsonrpc": "2.0", "method": "notification", "params": params }).to_string()
}

/// The PostgreSQL channel instances listen on; the payload is the account id.
pub const PG_CHANNEL: &str = "countersign_notifications";

/// One entry of an account's stream.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Notification {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    #[sqlx(rename = "type")]
    kind: String,
    data: String,
    created_at: DateTime<Utc>,
}

impl From<Row> for Notification {
    fn from(r: Row) -> Notification {
        let data = serde_json::from_str(&r.data).unwrap_or(Value::String(r.data));
        Notification { seq: r.seq, kind: r.kind, data, created_at: r.created_at }
    }
}

/// Bumps the head (locking it until commit) and returns the new seq.
const BUMP_HEAD: &str = "INSERT INTO notification_heads (account_id, seq, pruned_through) VALUES ($1, 1, 0) \
                         ON CONFLICT (account_id) DO UPDATE SET seq = notification_heads.seq + 1 RETURNING seq";

/// Appends a notification (`data`: its payload as JSON text) to `account_id`'s stream
/// inside the caller's transaction; returns its `seq`. The caller then [`announce`]s the
/// account once per transaction and wakes the hub after commit (`Ctx::notify` does both).
pub async fn push(conn: ConnRef<'_>, account_id: Uuid, kind: &str, data: &str, now: DateTime<Utc>) -> RpcResult<i64> {
    match conn {
        ConnRef::Sqlite(c) => {
            let seq: i64 = sqlx::query_scalar(BUMP_HEAD).bind(account_id).fetch_one(&mut *c).await?;
            sqlx::query(
                "INSERT INTO notifications (account_id, seq, type, data, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account_id)
            .bind(seq)
            .bind(kind)
            .bind(data)
            .bind(now)
            .execute(&mut *c)
            .await?;
            Ok(seq)
        }
        // One round trip: PostgreSQL runs both inserts in one statement.
        ConnRef::Postgres(c) => {
            let sql = format!(
                "WITH head AS ({BUMP_HEAD}) INSERT INTO notifications (account_id, seq, type, data, created_at) \
                 SELECT $1, seq, $2, $3, $4 FROM head RETURNING seq"
            );
            Ok(sqlx::query_scalar(&sql).bind(account_id).bind(kind).bind(data).bind(now).fetch_one(&mut *c).await?)
        }
    }
}

/// On PostgreSQL, tells every instance's listener (on commit) that `account_id` has new
/// rows. Once per account per transaction is enough.
pub async fn announce(conn: ConnRef<'_>, account_id: Uuid) -> RpcResult<()> {
    if let ConnRef::Postgres(c) = conn {
        sqlx::query("SELECT pg_notify($1, $2)").bind(PG_CHANNEL).bind(account_id.to_string()).execute(&mut *c).await?;
    }
    Ok(())
}

/// Up to `limit` notifications of `account_id` after `after`, in `seq` order.
pub async fn after(conn: ConnRef<'_>, account_id: Uuid, after: i64, limit: i64) -> RpcResult<Vec<Notification>> {
    let rows: Vec<Row> = on_conn!(conn, c => sqlx::query_as(
        "SELECT seq, type, data, created_at FROM notifications WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
        .bind(account_id).bind(after).bind(limit).fetch_all(&mut *c).await)?;
    Ok(rows.into_iter().map(Notification::from).collect())
}

/// The account's head: the last `seq` written, and the last one pruned (0 and 0 if none).
pub async fn head(conn: ConnRef<'_>, account_id: Uuid) -> RpcResult<(i64, i64)> {
    let head: Option<(i64, i64)> = on_conn!(conn, c => sqlx::query_as(
        "SELECT seq, pruned_through FROM notification_heads WHERE account_id = $1")
        .bind(account_id).fetch_optional(&mut *c).await)?;
    Ok(head.unwrap_or((0, 0)))
}
