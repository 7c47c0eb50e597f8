//! Health, metrics, the OpenRPC document, the checked-in schemas, and the two backends'
//! migrations ending in the same shape.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Backend, start, start_with};
use countersign::app::{self, Extra};
use countersign::config::Config;
use countersign::db::Db;
use countersign::on_conn;
use serde_json::json;

backend_tests!(openrpc_is_served_three_ways, metrics_count_calls_and_sockets, metrics_are_for_allowed_addresses_only);

async fn openrpc_is_served_three_ways(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, _, document) = server.get("/openrpc.json").await;
    assert_eq!(status, 200);
    assert!(document["openrpc"].as_str().unwrap().starts_with("1."));
    let methods: Vec<&str> =
        document["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(methods.contains(&"rpc.discover") && methods.contains(&"test_write"), "{methods:?}");
    let write = document["methods"].as_array().unwrap().iter().find(|m| m["name"] == "test_write").unwrap();
    assert_eq!(write["x-side-effects"], true);
    assert_eq!(write["params"][0]["name"], "fail_with");

    assert_eq!(server.call("rpc.discover", json!({})).await["result"], document);
    let (_, _, via_get) = server.get("/rpc/rpc.discover?id=1").await;
    assert_eq!(via_get["result"], document);
}

async fn metrics_count_calls_and_sockets(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    for _ in 0..3 {
        server.call("test_echo", json!({"text": "x"})).await;
    }
    server.call("test_echo", json!({})).await;
    let ws = server.ws().await;
    // The gauge moves once the server has taken the socket.
    let mut text = String::new();
    for _ in 0..50 {
        text = server.http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
        if text.contains("countersign_websockets_open 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(text.contains(r#"countersign_rpc_calls_total{method="test_echo",outcome="ok"} 3"#), "{text}");
    assert!(text.contains(r#"countersign_rpc_calls_total{method="test_echo",outcome="invalid_params"} 1"#), "{text}");
    assert!(text.contains(r#"countersign_rpc_call_duration_seconds_count{method="test_echo"} 4"#), "{text}");
    assert!(text.contains("countersign_websockets_open 1"), "{text}");
    drop(ws);
    // A socket the client dropped is let go of at once, not after a grace period.
    let started = std::time::Instant::now();
    while !text.contains("countersign_websockets_open 0") {
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        text = server.http.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    }
}

/// `/metrics` answers the addresses of `server.metrics_allow` only (by the connection's
/// own address), 403 anyone else.
async fn metrics_are_for_allowed_addresses_only(backend: Backend) {
    let allowed = |c: &mut Config| c.server.metrics_allow = vec!["127.0.0.2/32".parse().unwrap()];
    let Some(server) = start_with(backend, allowed).await else { return };
    let from = |source: &str| {
        let client = reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap());
        let url = format!("{}/metrics", server.base);
        async move { client.build().unwrap().get(url).send().await.unwrap() }
    };
    assert_eq!(from("127.0.0.1").await.status(), 403);
    let answer = from("127.0.0.2").await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("countersign_websockets_open"));
}

/// A new SQLite file is readable by its owner only: it holds password hashes.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let url = common::database_url(Backend::Sqlite, dir.path()).await.unwrap();
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let mode = std::fs::metadata(dir.path().join("countersign.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

/// Every notification type has a schema file and is listed in the OpenRPC document, and
/// the contract names every method and every notification type.
#[test]
fn every_notification_type_is_published_and_the_contract_names_everything() {
    let bound = app::bind(&Config::embedded(), Extra::default()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed: Vec<(&str, &str)> = bound.document["x-notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["delivery"].as_str().unwrap()))
        .collect();
    let kinds: Vec<&str> = bound.notices.iter().map(|n| n.kind).collect();
    assert_eq!(listed.iter().map(|(name, _)| *name).collect::<Vec<_>>(), kinds);
    assert!(listed.contains(&("permit_granted", "stream")) && listed.contains(&("resync_required", "socket")));
    let protocol = std::fs::read_to_string(root.join("docs/protocol.md")).unwrap();
    for notice in &bound.notices {
        let file = root.join("schemas").join(format!("{}.notification.json", notice.kind));
        assert!(file.exists(), "{} has no schema file", notice.kind);
        assert!(!notice.description().is_empty(), "{} has no description (a doc comment)", notice.kind);
        assert!(protocol.contains(&format!("`{}`", notice.kind)), "docs/protocol.md does not name {}", notice.kind);
    }
    for action in bound.registry.iter() {
        let method = &action.spec.method;
        assert!(protocol.contains(&format!("`{method}`")), "docs/protocol.md does not name {method}");
    }
}

#[test]
fn checked_in_schemas_are_current() {
    let bound = app::bind(&Config::embedded(), Extra::default()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let stale = countersign::schemas::check(&dir, &bound).unwrap();
    assert!(stale.is_empty(), "schemas/ is stale, run `cargo run -- schemas`: {stale:?}");
}

#[test]
fn schema_check_names_stale_missing_and_extra_files() {
    let bound = app::bind(&Config::embedded(), Extra::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    countersign::schemas::write(dir.path(), &bound).unwrap();
    assert!(countersign::schemas::check(dir.path(), &bound).unwrap().is_empty());
    std::fs::write(dir.path().join("openrpc.json"), "{}").unwrap();
    std::fs::remove_file(dir.path().join("rpc.discover.params.json")).unwrap();
    std::fs::write(dir.path().join("gone.params.json"), "{}").unwrap();
    let stale = countersign::schemas::check(dir.path(), &bound).unwrap();
    assert_eq!(
        stale,
        vec!["openrpc.json (stale)", "rpc.discover.params.json (missing)", "gone.params.json (no longer generated)"]
    );
}

/// Both backends' migrations end with the same tables and columns.
#[tokio::test]
async fn migrations_agree_on_the_schema_shape() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = common::database_url(Backend::Sqlite, dir.path()).await.unwrap();
    let Some(postgres) = common::database_url(Backend::Postgres, dir.path()).await else { return };
    let mut shapes = Vec::new();
    for url in [sqlite, postgres] {
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let mut conn = db.read().await.unwrap();
        let sql = match db.backend() {
            countersign::db::Backend::Sqlite => {
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'"
            }
            countersign::db::Backend::Postgres => {
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'"
            }
        };
        let rows: Vec<(String, String)> =
            on_conn!(conn.conn(), c => sqlx::query_as(sql).fetch_all(&mut *c).await).unwrap();
        shapes.push(rows.into_iter().collect::<BTreeSet<_>>());
    }
    assert!(!shapes[0].is_empty());
    assert_eq!(shapes[0], shapes[1]);
}
