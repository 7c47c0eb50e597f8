//! The hash chain: canonical JSON, row hashes, and verification.
//!
//! `hash = sha256(prev_hash || canonical JSON of the row without hash)`, where `prev_hash`
//! is the previous row's hash as raw bytes (32 zero bytes before the first row) and the
//! canonical JSON has sorted keys and no whitespace. Editing, deleting or inserting a row
//! breaks the chain at that row.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::row::AuditRow;

/// The `prev_hash` of the first row: 32 zero bytes, hex-encoded.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// JSON with object keys sorted and no whitespace, so equal values hash equally.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The hash a row must carry, from its other fields.
pub fn row_hash(row: &AuditRow) -> String {
    let body = json!({
        "seq": row.seq,
        "id": row.id,
        "event_type": row.event_type,
        "outcome": row.outcome,
        "account_id": row.account_id,
        "actor_id": row.actor_id,
        "target_account_id": row.target_account_id,
        "scope_id": row.scope_id,
        "subject_id": row.subject_id,
        "ip": row.ip,
        "request_id": row.request_id,
        "data": row.data,
        "created_at": row.created_at,
        "prev_hash": row.prev_hash,
    });
    let mut hasher = Sha256::new();
    // A prev_hash that is not 64 hex digits hashes as given, and so never matches.
    match hex::decode(&row.prev_hash) {
        Ok(bytes) => hasher.update(bytes),
        Err(_) => hasher.update(row.prev_hash.as_bytes()),
    }
    hasher.update(canonical(&body).as_bytes());
    hex::encode(hasher.finalize())
}

/// Walks rows in `seq` order, remembering the first bad one.
#[derive(Debug)]
pub struct Verifier {
    prev_hash: String,
    next_seq: i64,
    pub checked: u64,
    pub first_bad_seq: Option<i64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier { prev_hash: GENESIS.to_owned(), next_seq: 1, checked: 0, first_bad_seq: None }
    }
}

impl Verifier {
    /// Checks the next row. A missing seq is reported as bad at that seq.
    pub fn check(&mut self, row: &AuditRow) {
        self.checked += 1;
        if self.first_bad_seq.is_none() {
            if row.seq != self.next_seq {
                self.first_bad_seq = Some(row.seq.min(self.next_seq));
            } else if row.prev_hash != self.prev_hash || row_hash(row) != row.hash {
                self.first_bad_seq = Some(row.seq);
            }
        }
        self.prev_hash = row.hash.clone();
        self.next_seq = row.seq + 1;
    }

    /// Checks the end of the chain against the head the writer keeps.
    pub fn finish(&mut self, head_seq: i64, head_hash: &str) {
        if self.first_bad_seq.is_none() && (self.next_seq - 1 != head_seq || self.prev_hash != head_hash) {
            self.first_bad_seq = Some(self.next_seq.min(head_seq + 1).max(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "é"}], "c": 2.5}});
        assert_eq!(canonical(&value), r#"{"a":{"c":2.5,"d":[1,{"y":"é","z":null}]},"b":1}"#);
    }
}
