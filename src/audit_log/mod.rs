//! The audit log (docs/protocol.md §9): an append-only, hash-chained record of every
//! decision — the rows, the one writer, reading and verifying. The methods that read it
//! (`audit_list`, `audit_verify`) are in `audit.rs`.
//!
//! There is one writer, [`append`]. Everything reaches it through `Ctx::audit`: handlers
//! inside the call's transaction, so a change and its audit row commit or vanish together;
//! the pipeline in a context of its own, for calls that were denied or that failed after
//! changing nothing; background jobs and the command line in theirs. Every writer locks the one-row `audit_head` first, so
//! concurrent writers on PostgreSQL still produce one linear chain (SQLite writers are
//! already serialized by `BEGIN IMMEDIATE`).
//!
//! The chain proves the log was not edited, shortened or spliced by someone who does not
//! also recompute every later hash; keep the head's hash somewhere else (a ticket, a log
//! shipper) to catch that too.

pub mod chain;
pub mod row;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::db::ConnRef;
use crate::error::RpcResult;
use crate::on_conn;
use row::{AuditRow, COLUMNS, StoredRow};

/// How a recorded attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// What a handler records; who, where and when are filled in from the call.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub event_type: String,
    pub outcome: Outcome,
    /// Overrides the caller's account (e.g. a login records the account that signed in).
    pub account_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub target_account_id: Option<Uuid>,
    pub scope_id: Option<String>,
    pub subject_id: Option<String>,
    pub data: Value,
}

impl AuditEvent {
    pub fn new(event_type: impl Into<String>, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            event_type: event_type.into(),
            outcome,
            account_id: None,
            actor_id: None,
            target_account_id: None,
            scope_id: None,
            subject_id: None,
            data: Value::Object(Default::default()),
        }
    }

    pub fn success(event_type: impl Into<String>) -> AuditEvent {
        AuditEvent::new(event_type, Outcome::Success)
    }

    pub fn target(mut self, account_id: Uuid) -> Self {
        self.target_account_id = Some(account_id);
        self
    }

    pub fn subject(mut self, id: impl ToString) -> Self {
        self.subject_id = Some(id.to_string());
        self
    }

    pub fn scope(mut self, scope_id: Option<String>) -> Self {
        self.scope_id = scope_id;
        self
    }

    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// Where the row came from, as the pipeline knows it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub account_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Uuid,
}

/// Appends one row to the chain: the one audit writer. Runs inside the caller's transaction.
pub async fn append(conn: ConnRef<'_>, event: AuditEvent, origin: &Origin, now: DateTime<Utc>) -> RpcResult<i64> {
    let lock = match conn {
        ConnRef::Sqlite(_) => "SELECT seq, hash FROM audit_head WHERE id = 1",
        ConnRef::Postgres(_) => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    };
    on_conn!(conn, c => {
        let (head_seq, head_hash): (i64, String) = sqlx::query_as(lock).fetch_one(&mut *c).await?;
        let mut row = AuditRow {
            seq: head_seq + 1,
            id: Uuid::now_v7(),
            event_type: event.event_type,
            outcome: event.outcome.as_str().to_owned(),
            account_id: event.account_id.or(origin.account_id),
            actor_id: event.actor_id.or(origin.actor_id),
            target_account_id: event.target_account_id,
            scope_id: event.scope_id,
            subject_id: event.subject_id,
            ip: origin.ip.clone(),
            request_id: origin.request_id,
            data: event.data,
            created_at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            prev_hash: head_hash,
            hash: String::new(),
        };
        row.hash = chain::row_hash(&row);
        let insert = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");
        sqlx::query(&insert)
            .bind(row.seq).bind(row.id).bind(&row.event_type).bind(&row.outcome)
            .bind(row.account_id).bind(row.actor_id).bind(row.target_account_id)
            .bind(&row.scope_id).bind(&row.subject_id).bind(&row.ip).bind(row.request_id)
            .bind(chain::canonical(&row.data)).bind(&row.created_at).bind(&row.prev_hash).bind(&row.hash)
            .execute(&mut *c).await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(row.seq).bind(&row.hash)
            .execute(&mut *c).await?;
        Ok(row.seq)
    })
}

/// Filters of `audit_list`.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub after_seq: i64,
    pub limit: i64,
    pub event_type: Option<String>,
    pub account_id: Option<Uuid>,
    pub subject_id: Option<String>,
    /// Only rows recorded at these scopes or below them; `None` = every row.
    pub within: Option<Vec<String>>,
}

/// Rows after `after_seq` matching the filter, in `seq` order.
pub async fn list(conn: ConnRef<'_>, filter: &ListFilter) -> RpcResult<Vec<AuditRow>> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND ($2 IS NULL OR event_type = $2) \
         AND ($3 IS NULL OR account_id = $3 OR target_account_id = $3) AND ($4 IS NULL OR subject_id = $4)"
    );
    let within = filter.within.as_deref().unwrap_or_default();
    if filter.within.is_some() {
        // A scope, or any scope below it on whole segments; no scopes: no rows.
        let each: Vec<String> = (0..within.len())
            .map(|i| format!("scope_id = ${n} OR substr(scope_id, 1, length(${n}) + 1) = ${n} || '/'", n = i + 6))
            .collect();
        sql.push_str(&format!(" AND ({})", if each.is_empty() { "1 = 0".to_owned() } else { each.join(" OR ") }));
    }
    sql.push_str(" ORDER BY seq LIMIT $5");
    let rows: Vec<StoredRow> = on_conn!(conn, c => {
        let mut query = sqlx::query_as(&sql)
            .bind(filter.after_seq).bind(&filter.event_type).bind(filter.account_id)
            .bind(&filter.subject_id).bind(filter.limit);
        for scope in within {
            query = query.bind(scope);
        }
        query.fetch_all(&mut *c).await
    })?;
    Ok(rows.into_iter().map(AuditRow::from).collect())
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: u64,
    pub first_bad_seq: Option<i64>,
}

/// Reads the whole log in `seq` order and checks every link.
pub async fn verify(mut conn: ConnRef<'_>) -> RpcResult<VerifyReport> {
    const PAGE: i64 = 1000;
    let mut verifier = chain::Verifier::default();
    let mut after = i64::MIN;
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    loop {
        let rows: Vec<StoredRow> = on_conn!(&mut conn, c => sqlx::query_as(&sql)
            .bind(after).bind(PAGE).fetch_all(&mut **c).await)?;
        let full = rows.len() as i64 == PAGE;
        for row in rows.into_iter().map(AuditRow::from) {
            after = row.seq;
            verifier.check(&row);
        }
        if !full {
            break;
        }
    }
    let (head_seq, head_hash): (i64, String) = on_conn!(&mut conn, c =>
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut **c).await)?;
    verifier.finish(head_seq, &head_hash);
    Ok(VerifyReport {
        ok: verifier.first_bad_seq.is_none(),
        checked: verifier.checked,
        first_bad_seq: verifier.first_bad_seq,
    })
}
