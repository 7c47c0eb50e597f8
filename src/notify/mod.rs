//! Durable notifications (docs/protocol.md §8): one ordered stream per account, and the
//! machinery that delivers it. The methods that read streams are in `notifications/`.
//!
//! [`writer`] is the one notification writer. Handlers reach it through `Ctx::notify`,
//! which buffers a transaction's notifications and has them written together, right
//! before the transaction reads again or commits: each account's head row is bumped (and
//! stays locked until commit, so on PostgreSQL concurrent writers for one account commit
//! in `seq` order) and the rows inserted. Nothing is sent from inside a transaction: after
//! commit the [`hub::Hub`] hands the rows just written to the account's shared
//! [`feed::Feed`] and wakes its subscribers, which push what they have not sent. With
//! PostgreSQL the transaction also calls `pg_notify`, which PostgreSQL delivers only on
//! commit, to the [`listener`] of every other instance; those read the rows once per
//! account.
//!
//! Every payload is a type implementing [`Notice`]: its `KIND` is the notification's
//! `type`, and its JSON Schema is generated into `schemas/<type>.notification.json`. Two
//! messages are pushed to a socket without being stream rows: [`ResyncRequired`] and
//! [`SessionRevoked`].

pub mod feed;
pub mod hub;
pub mod listener;
pub mod retention;
pub mod writer;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;
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

/// The envelope of one subscription's stream frames: a row's frame is the JSON-RPC
/// notification carrying the row (its JSON text, as [`Stored::encode`] made it) to that
/// subscription. The row's text is shared by every subscription of the account; only the
/// envelope, encoded once per subscription, is its own.
pub struct StreamEnvelope {
    /// Everything before the row.
    opening: String,
}

impl StreamEnvelope {
    pub fn new(subscription: &str) -> StreamEnvelope {
        let id = serde_json::to_string(subscription).expect("a string serializes");
        StreamEnvelope {
            opening: format!(r#"{{"jsonrpc":"2.0","method":"notification","params":{{"subscription":{id},"result":"#),
        }
    }

    /// The frame carrying `row`.
    pub fn frame(&self, row: &str) -> String {
        let mut frame = String::with_capacity(self.opening.len() + row.len() + 2);
        frame.push_str(&self.opening);
        frame.push_str(row);
        frame.push_str("}}");
        frame
    }
}

/// The PostgreSQL channel instances listen on; the payload is a [`writer::Announcement`].
pub const PG_CHANNEL: &str = "countersign_notifications";

/// One entry of an account's stream, as `notifications_list` returns it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Notification {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// One entry of an account's stream as stored: `data` is the payload's JSON text.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub seq: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub data: String,
    pub created_at: DateTime<Utc>,
}

impl From<Stored> for Notification {
    fn from(r: Stored) -> Notification {
        let data = serde_json::from_str(&r.data).unwrap_or(Value::String(r.data));
        Notification { seq: r.seq, kind: r.kind, data, created_at: r.created_at }
    }
}

/// A stream row encoded once for pushing, shared by every subscription of its account.
#[derive(Debug)]
pub struct Encoded {
    pub seq: i64,
    /// The row as the pushed `result`: `{"seq":…,"type":…,"data":…,"created_at":…}`.
    pub json: Box<str>,
}

impl Stored {
    /// The row's JSON text, `data` spliced in as stored (text that is not JSON, which the
    /// writer never stores, goes as a string, as [`Notification`] has it).
    pub fn encode(&self) -> Encoded {
        #[derive(Serialize)]
        struct Row<'a, D: Serialize> {
            seq: i64,
            #[serde(rename = "type")]
            kind: &'a str,
            data: D,
            created_at: DateTime<Utc>,
        }
        let (seq, kind, created_at) = (self.seq, self.kind.as_str(), self.created_at);
        let json = match serde_json::from_str::<&RawValue>(&self.data) {
            Ok(data) => serde_json::to_string(&Row { seq, kind, data, created_at }),
            Err(_) => serde_json::to_string(&Row { seq, kind, data: &self.data, created_at }),
        };
        Encoded { seq, json: json.expect("a stream row serializes").into() }
    }
}

/// Up to `limit` notifications of `account_id` after `after`, in `seq` order.
pub async fn after(conn: ConnRef<'_>, account_id: Uuid, after: i64, limit: i64) -> RpcResult<Vec<Notification>> {
    Ok(stored_after(conn, account_id, after, limit).await?.into_iter().map(Notification::from).collect())
}

/// Up to `limit` stored rows of `account_id` after `after`, in `seq` order.
pub async fn stored_after(conn: ConnRef<'_>, account_id: Uuid, after: i64, limit: i64) -> RpcResult<Vec<Stored>> {
    Ok(on_conn!(conn, c => sqlx::query_as(
        "SELECT seq, type, data, created_at FROM notifications WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
        .bind(account_id).bind(after).bind(limit).fetch_all(&mut *c).await)?)
}

/// The account's head: the last `seq` written, and the last one pruned (0 and 0 if none).
pub async fn head(conn: ConnRef<'_>, account_id: Uuid) -> RpcResult<(i64, i64)> {
    let head: Option<(i64, i64)> = on_conn!(conn, c => sqlx::query_as(
        "SELECT seq, pruned_through FROM notification_heads WHERE account_id = $1")
        .bind(account_id).fetch_optional(&mut *c).await)?;
    Ok(head.unwrap_or((0, 0)))
}
