//! One row of the audit log: as it is stored (the data as canonical JSON text, exactly as
//! hashed), and as `audit_list` returns it.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// One row of the log, as stored and as `audit_list` returns it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub id: Uuid,
    pub event_type: String,
    pub outcome: String,
    pub account_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub target_account_id: Option<Uuid>,
    pub scope_id: Option<String>,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Uuid,
    pub data: Value,
    pub created_at: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The stored form: `data` is canonical JSON text, exactly as hashed.
#[derive(sqlx::FromRow)]
pub struct StoredRow {
    seq: i64,
    id: Uuid,
    event_type: String,
    outcome: String,
    account_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    target_account_id: Option<Uuid>,
    scope_id: Option<String>,
    subject_id: Option<String>,
    ip: Option<String>,
    request_id: Uuid,
    data: String,
    created_at: String,
    prev_hash: String,
    hash: String,
}

impl From<StoredRow> for AuditRow {
    fn from(r: StoredRow) -> AuditRow {
        // Unparseable data (a tampered row) is kept as a string, which then fails its hash.
        let data = serde_json::from_str(&r.data).unwrap_or(Value::String(r.data));
        AuditRow {
            seq: r.seq,
            id: r.id,
            event_type: r.event_type,
            outcome: r.outcome,
            account_id: r.account_id,
            actor_id: r.actor_id,
            target_account_id: r.target_account_id,
            scope_id: r.scope_id,
            subject_id: r.subject_id,
            ip: r.ip,
            request_id: r.request_id,
            data,
            created_at: r.created_at,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub const COLUMNS: &str = "seq, id, event_type, outcome, account_id, actor_id, target_account_id, scope_id, \
                       subject_id, ip, request_id, data, created_at, prev_hash, hash";
