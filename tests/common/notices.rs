//! Every notification a test sees is held against its published schema
//! (`schemas/<type>.notification.json`, docs/protocol.md §8): the stream rows of a test
//! server's database when the server is dropped, and every push a test WebSocket reads.
//! A type without a schema fails the test, unless only the test doubles send it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use countersign::call::Env;
use countersign::on_conn;
use serde_json::Value;

use super::doubles::TEST_NOTICE_KINDS;

/// Compiled schemas by notification type (`None`: no schema file).
static SCHEMAS: Mutex<Option<HashMap<String, Option<Arc<jsonschema::Validator>>>>> = Mutex::new(None);

fn validator(kind: &str) -> Option<Arc<jsonschema::Validator>> {
    let mut schemas = SCHEMAS.lock().unwrap();
    let schemas = schemas.get_or_insert_with(HashMap::new);
    schemas
        .entry(kind.to_owned())
        .or_insert_with(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(format!("{kind}.notification.json"));
            let text = std::fs::read_to_string(path).ok()?;
            let schema: Value = serde_json::from_str(&text).expect("a notification schema is JSON");
            Some(Arc::new(jsonschema::draft202012::new(&schema).expect("a notification schema compiles")))
        })
        .clone()
}

/// Panics unless `value`, a notification of type `kind`, matches the type's schema.
fn conforms(kind: &str, value: &Value, what: &str) {
    if TEST_NOTICE_KINDS.contains(&kind) {
        return;
    }
    let validator = validator(kind).unwrap_or_else(|| panic!("{what}: type `{kind}` has no published schema"));
    let problems: Vec<String> = validator.iter_errors(value).map(|e| format!("{}: {e}", e.instance_path)).collect();
    assert!(problems.is_empty(), "{what}: `{kind}` does not match its schema: {problems:?}\n{value}");
}

/// Checks the `result` of a pushed notification: a stream row (`{seq, type, data,
/// created_at}`, its `data` is checked) or a socket message (`{type}`, checked whole).
pub fn check_push(result: &Value) {
    let kind = result["type"].as_str().unwrap_or_else(|| panic!("a push without a type: {result}"));
    match result.get("seq") {
        Some(_) => conforms(kind, &result["data"], "a pushed notification"),
        None => conforms(kind, result, "a socket message"),
    }
}

/// Checks every notification row in the database against its type's schema; returns
/// how many rows there were (`None` when the database is closed: nothing to check).
pub async fn check_stream(env: &Env) -> Option<usize> {
    let mut conn = env.db.read().await.ok()?;
    let rows: Vec<(String, String)> =
        on_conn!(conn.conn(), c => sqlx::query_as("SELECT type, data FROM notifications ORDER BY account_id, seq")
            .fetch_all(&mut *c).await)
        .expect("notifications are readable");
    for (kind, data) in &rows {
        let data: Value = serde_json::from_str(data).expect("notification data is JSON");
        conforms(kind, &data, "a stored notification");
    }
    Some(rows.len())
}
