//! The hash-chained audit log (docs/protocol.md §9): a row per successful mutation in its
//! transaction, rows for failures and denials in their own, `audit_list` filters and
//! pages, `audit_verify` (and `countersign audit verify`) finds the first edited, deleted
//! or inserted row, and concurrent writers keep one linear chain.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::identity::{Auth, Client, PASSWORD};
use common::{Backend, TestServer, assert_error, start};
use countersign::audit_log::chain;
use countersign::audit_log::row::AuditRow;
use countersign::on_conn;
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    every_successful_mutation_writes_one_row_in_order,
    audit_rows_never_hold_secrets,
    failures_and_denials_are_recorded_apart,
    successful_reads_write_nothing,
    denied_audit_list_is_audited,
    audit_list_filters_by_event_type_account_and_subject,
    audit_list_pages_until_next_after_seq_is_null,
    audit_list_and_verify_need_an_admin,
    audit_list_authorizes_before_validating_params,
    verify_passes_on_an_untouched_log,
    editing_a_row_breaks_the_chain_at_that_row,
    deleting_a_row_breaks_the_chain_at_that_row,
    inserting_a_row_after_the_last_breaks_the_chain_there,
    deleting_the_last_row_breaks_the_chain,
    cli_audit_verify_reports_the_first_bad_seq,
    concurrent_writers_keep_one_linear_chain,
);

/// Every audit row, in seq order, as `audit_list` pages them (after `filter`).
async fn events(admin: &Client, filter: Value) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let mut params = filter.clone();
        params["after_seq"] = json!(after);
        params["limit"] = json!(1000);
        let page = admin.ok("audit_list", params).await;
        all.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => return all,
        }
    }
}

/// The rows of one event type and outcome.
async fn rows_of(admin: &Client, event_type: &str, outcome: &str) -> Vec<Value> {
    events(admin, json!({"event_type": event_type})).await.into_iter().filter(|e| e["outcome"] == outcome).collect()
}

fn seqs(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect()
}

/// How many rows `audit_log` holds, read straight from the database.
async fn row_count(server: &TestServer) -> i64 {
    let mut conn = server.env.db.read().await.unwrap();
    on_conn!(conn.conn(), c => sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&mut *c).await).unwrap()
}

/// Runs one statement straight on the database, binding `seq` as `$1`; returns rows affected.
async fn tamper(server: &TestServer, sql: &str, seq: i64) -> u64 {
    let mut conn = server.env.db.read().await.unwrap();
    on_conn!(conn.conn(), c => sqlx::query(sql).bind(seq).execute(&mut *c).await.map(|r| r.rows_affected())).unwrap()
}

async fn verify(admin: &Client) -> Value {
    admin.ok("audit_verify", json!({})).await
}

/// The id of the session `client` is signed in with.
async fn current_session_id(client: &Client) -> String {
    let list = client.ok("session_list", json!({})).await;
    let current = list["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true);
    current.unwrap_or_else(|| panic!("no current session: {list}"))["id"].as_str().unwrap().to_owned()
}

fn cookie_secret(client: &Client) -> String {
    match &client.auth {
        Auth::Cookie(cookie) => cookie.split_once('=').unwrap().1.to_owned(),
        other => panic!("not a cookie client: {other:?}"),
    }
}

/// A server with seven audit rows: bootstrap, admin login, account_create, ann's login and
/// three token_create. Returns it with its admin.
async fn seven_rows(backend: Backend) -> Option<(TestServer, Client)> {
    let server = start(backend).await?;
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    for name in ["one", "two", "three"] {
        ann.ok("token_create", json!({"name": name})).await;
    }
    let report = verify(&admin).await;
    assert_eq!(report, json!({"ok": true, "checked": 7, "first_bad_seq": null}), "the seeded log");
    Some((server, admin))
}

/// bootstrap, login, account_create, token_create, token_revoke, session_revoke and
/// account_logout each write one `success` row, in call order, naming who, whom and what.
async fn every_successful_mutation_writes_one_row_in_order(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let admin_id = admin.account_id.clone().unwrap();
    let admin_session = current_session_id(&admin).await;
    let ann = server.account(&admin, "ann").await;
    let ann_id = ann.account_id.clone().unwrap();
    let ann_session = current_session_id(&ann).await;
    let phone = server.login("ann", PASSWORD).await;
    let phone_session = current_session_id(&phone).await;
    let created = ann.ok("token_create", json!({"name": "ci", "methods": ["whoami"]})).await;
    let token_id = created["token"]["id"].as_str().unwrap().to_owned();
    ann.ok("token_revoke", json!({"token_id": token_id})).await;
    ann.ok("session_revoke", json!({"session_id": phone_session})).await;
    ann.ok("account_logout", json!({})).await;

    let rows = events(&admin, json!({})).await;
    let (admin_id, ann_id) = (admin_id.as_str(), ann_id.as_str());
    let expected = [
        ("account_bootstrap", admin_id, Some(admin_id), admin_id),
        ("account_login", admin_id, None, admin_session.as_str()),
        ("account_create", admin_id, Some(ann_id), ann_id),
        ("account_login", ann_id, None, ann_session.as_str()),
        ("account_login", ann_id, None, phone_session.as_str()),
        ("token_create", ann_id, None, token_id.as_str()),
        ("token_revoke", ann_id, None, token_id.as_str()),
        ("session_revoke", ann_id, None, phone_session.as_str()),
        ("account_logout", ann_id, None, ann_session.as_str()),
    ];
    let types: Vec<&str> = rows.iter().map(|r| r["event_type"].as_str().unwrap()).collect();
    let expected_types: Vec<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(types, expected_types, "{rows:#?}");

    let mut request_ids = BTreeSet::new();
    let mut prev_hash = chain::GENESIS.to_owned();
    for (i, (row, (event_type, account, target, subject))) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row["seq"], i as i64 + 1, "{row}");
        assert_eq!(row["outcome"], "success", "{row}");
        assert_eq!(row["account_id"], *account, "{event_type}: {row}");
        assert_eq!(row["target_account_id"], json!(target), "{event_type}: {row}");
        assert_eq!(row["subject_id"], *subject, "{event_type}: {row}");
        assert!(row["actor_id"].as_str().is_some_and(|id| Uuid::parse_str(id).is_ok()), "{row}");
        assert_eq!(row["scope_id"], Value::Null, "{row}");
        assert_eq!(row["ip"], "127.0.0.1", "{row}");
        let request_id = row["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {row}"));
        assert!(Uuid::parse_str(request_id).is_ok(), "{row}");
        assert!(request_ids.insert(request_id.to_owned()), "one request, one row: {row}");
        assert!(chrono::DateTime::parse_from_rfc3339(row["created_at"].as_str().unwrap()).is_ok(), "{row}");
        assert_eq!(row["prev_hash"], prev_hash.as_str(), "each row links to the one before: {row}");
        prev_hash = row["hash"].as_str().unwrap().to_owned();
    }
    let token_row = &rows[5];
    assert_eq!(token_row["data"]["name"], "ci", "{token_row}");
    assert_eq!(token_row["data"]["methods"], json!(["whoami"]), "{token_row}");
    assert_eq!(verify(&admin).await, json!({"ok": true, "checked": 9, "first_bad_seq": null}));
}

/// No audit row holds a password, a token secret, a session secret or the bootstrap token.
async fn audit_rows_never_hold_secrets(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let bootstrap_token = server.bootstrap_token();
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let created = ann.ok("token_create", json!({"name": "ci"})).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    ann.with_bearer(&secret).ok("whoami", json!({})).await;
    let wrong = "wrong password, remembered nowhere";
    let failed = server.anonymous().call("account_login", json!({"username": "ann", "password": wrong})).await;
    assert_error(&failed, -32001, "invalid_credentials");
    let new_password = "an entirely new passphrase";
    ann.ok("account_password_change", json!({"current_password": PASSWORD, "new_password": new_password})).await;
    admin.ok("account_create", json!({"username": "bob", "password": "bob's own secret pw"})).await;

    let page = admin.ok("audit_list", json!({"limit": 1000})).await;
    let text = page.to_string();
    assert!(page["events"].as_array().unwrap().len() >= 7, "{page}");
    for (what, value) in [
        ("the shared test password", PASSWORD.to_owned()),
        ("a wrong password", wrong.to_owned()),
        ("a new password", new_password.to_owned()),
        ("a created account's password", "bob's own secret pw".to_owned()),
        ("the token secret", secret),
        ("the bootstrap token", bootstrap_token),
        ("admin's session secret", cookie_secret(&admin)),
        ("ann's session secret", cookie_secret(&ann)),
    ] {
        assert!(!text.contains(&value), "the audit log holds {what}: {page}");
    }
}

/// A failed login is a `failure` row, a refused call a `denied` row (with the reason and the
/// caller), each in its own transaction; a failed mutation leaves no `success` row.
async fn failures_and_denials_are_recorded_apart(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let ann_id = ann.account_id.clone().unwrap();

    let failed =
        server.anonymous().call("account_login", json!({"username": "ann", "password": "not the password"})).await;
    assert_error(&failed, -32001, "invalid_credentials");
    let rows = rows_of(&admin, "account_login", "failure").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["data"]["reason"], "invalid_credentials", "{}", rows[0]);
    assert_eq!(rows[0]["account_id"], Value::Null, "an anonymous caller: {}", rows[0]);
    assert_eq!(rows[0]["ip"], "127.0.0.1", "{}", rows[0]);

    let refused = ann.call("account_create", json!({"username": "mallory", "password": "long enough password"})).await;
    assert_error(&refused, -32002, "not_permitted");
    let rows = rows_of(&admin, "account_create", "denied").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["data"]["reason"], "not_permitted", "{}", rows[0]);
    assert_eq!(rows[0]["account_id"], ann_id.as_str(), "{}", rows[0]);
    assert!(rows[0]["request_id"].is_string(), "{}", rows[0]);
    let successes = rows_of(&admin, "account_create", "success").await;
    assert_eq!(successes.len(), 1, "only ann's creation succeeded: {successes:#?}");

    let taken = admin.call("account_create", json!({"username": "ANN", "password": "long enough password"})).await;
    assert_error(&taken, -32004, "username_taken");
    let rows = rows_of(&admin, "account_create", "failure").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["data"]["reason"], "username_taken", "{}", rows[0]);
    assert_eq!(rows_of(&admin, "account_create", "success").await.len(), 1, "no success row for a failure");

    let missing = ann.call("token_revoke", json!({"token_id": Uuid::now_v7()})).await;
    assert_error(&missing, -32003, "not_found");
    assert_eq!(rows_of(&admin, "token_revoke", "failure").await.len(), 1);
    assert_eq!(rows_of(&admin, "token_revoke", "success").await, Vec::<Value>::new());

    let mut elsewhere = ann.clone();
    elsewhere.origin = Some("https://evil.example".into());
    assert_error(&elsewhere.call("token_create", json!({"name": "csrf"})).await, -32002, "csrf");
    let rows = rows_of(&admin, "token_create", "denied").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["data"]["reason"], "csrf", "{}", rows[0]);
    assert_eq!(rows_of(&admin, "token_create", "success").await, Vec::<Value>::new());

    assert_eq!(verify(&admin).await["ok"], true, "apart rows extend the same chain");
}

/// Reads that succeed write no audit rows.
async fn successful_reads_write_nothing(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let secret = ann.ok("token_create", json!({"name": "reader"})).await["secret"].as_str().unwrap().to_owned();
    let before = row_count(&server).await;

    ann.ok("whoami", json!({})).await;
    ann.ok("token_list", json!({})).await;
    ann.ok("session_list", json!({})).await;
    ann.with_bearer(&secret).ok("whoami", json!({})).await;
    let (status, _, body) = ann.get("/rpc/whoami?params=%7B%7D").await;
    assert_eq!(status, 200, "{body}");
    admin.ok("account_list", json!({})).await;
    admin.ok("audit_list", json!({})).await;
    verify(&admin).await;
    server.anonymous().ok("rpc.discover", json!({})).await;

    assert_eq!(row_count(&server).await, before, "{:#?}", events(&admin, json!({"after_seq": before})).await);
}

/// A non-admin refused by `audit_list` (`forbidden/not_permitted`) is a denied
/// authorization attempt, which §9 says is audited, even though the method only reads.
async fn denied_audit_list_is_audited(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    assert_error(&ann.call("audit_list", json!({})).await, -32002, "not_permitted");
    let rows = rows_of(&admin, "audit_list", "denied").await;
    assert_eq!(rows.len(), 1, "the refused audit_list is not in the log: {rows:#?}");
    assert_eq!(rows[0]["account_id"], ann.account_id.clone().unwrap().as_str(), "{}", rows[0]);
}

/// `audit_list` filters on `event_type`, `account_id` (actor or target) and `subject_id`.
async fn audit_list_filters_by_event_type_account_and_subject(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let bob = server.account(&admin, "bob").await;
    let ann_id = ann.account_id.clone().unwrap();
    let token = ann.ok("token_create", json!({"name": "a"})).await["token"]["id"].as_str().unwrap().to_owned();
    ann.ok("token_revoke", json!({"token_id": token})).await;
    bob.ok("token_create", json!({"name": "b"})).await;
    admin.ok("token_create", json!({"name": "c"})).await;
    let all = events(&admin, json!({})).await;

    let by_type = events(&admin, json!({"event_type": "token_create"})).await;
    assert_eq!(by_type.len(), 3, "{by_type:#?}");
    assert!(by_type.iter().all(|r| r["event_type"] == "token_create"), "{by_type:#?}");

    let by_account = events(&admin, json!({"account_id": ann_id})).await;
    let expected: Vec<&Value> = all
        .iter()
        .filter(|r| r["account_id"] == ann_id.as_str() || r["target_account_id"] == ann_id.as_str())
        .collect();
    assert_eq!(seqs(&by_account), expected.iter().map(|r| r["seq"].as_i64().unwrap()).collect::<Vec<_>>());
    let types: Vec<&str> = by_account.iter().map(|r| r["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["account_create", "account_login", "token_create", "token_revoke"], "{by_account:#?}");

    let by_subject = events(&admin, json!({"subject_id": token})).await;
    let types: Vec<&str> = by_subject.iter().map(|r| r["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["token_create", "token_revoke"], "{by_subject:#?}");

    let combined = events(&admin, json!({"event_type": "token_revoke", "account_id": ann_id})).await;
    assert_eq!(combined.len(), 1, "{combined:#?}");
    let none = events(&admin, json!({"event_type": "no_such_event"})).await;
    assert_eq!(none, Vec::<Value>::new());
}

/// Pages of `limit` rows chain through `next_after_seq` to a `null`, covering every row once;
/// `limit` over 1000 is `invalid_params`.
async fn audit_list_pages_until_next_after_seq_is_null(backend: Backend) {
    let Some((server, admin)) = seven_rows(backend).await else { return };
    let all = events(&admin, json!({})).await;
    assert_eq!(seqs(&all), (1..=7).collect::<Vec<_>>());

    for limit in [1, 2, 3, 7, 1000] {
        let mut seen = Vec::new();
        let mut after = json!(null);
        let mut pages = 0;
        loop {
            let mut params = json!({"limit": limit});
            if !after.is_null() {
                params["after_seq"] = after.clone();
            }
            let page = admin.ok("audit_list", params).await;
            let rows = page["events"].as_array().unwrap();
            assert!(rows.len() <= limit, "limit {limit}: {page}");
            seen.extend(seqs(rows));
            pages += 1;
            assert!(pages <= 8, "paging never ends: {page}");
            if page["next_after_seq"].is_null() {
                break;
            }
            assert_eq!(page["next_after_seq"], rows.last().unwrap()["seq"], "{page}");
            after = page["next_after_seq"].clone();
        }
        assert_eq!(seen, seqs(&all), "limit {limit}");
    }
    let logins = admin.ok("audit_list", json!({"event_type": "account_login", "limit": 1})).await;
    assert_eq!(logins["events"][0]["seq"], 2, "{logins}");
    let next = admin.ok("audit_list", json!({"event_type": "account_login", "limit": 1, "after_seq": 2})).await;
    assert_eq!(next["events"][0]["seq"], 4, "{next}");

    for bad in [json!({"limit": 1001}), json!({"limit": 0}), json!({"after_seq": -1})] {
        let response = admin.call("audit_list", bad.clone()).await;
        let error = common::error_of(&response);
        assert_eq!(error["code"], -32602, "{bad}: {response}");
        assert!(error["data"]["issues"].as_array().is_some_and(|i| !i.is_empty()), "{response}");
    }
    let response = admin.call("audit_list", json!({"limit": 1001})).await;
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/limit", "{response}");
    drop(server);
}

/// `audit_list` and `audit_verify` are `forbidden/not_permitted` to non-admins and
/// `unauthenticated` to anonymous callers.
async fn audit_list_and_verify_need_an_admin(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    for method in ["audit_list", "audit_verify"] {
        assert_error(&ann.call(method, json!({})).await, -32002, "not_permitted");
        assert_error(&server.anonymous().call(method, json!({})).await, -32001, "no_credentials");
        let (status, _, body) = ann.get(&format!("/rpc/{method}?params=%7B%7D")).await;
        assert_eq!(status, 403, "{body}");
    }
    let secret = admin.ok("token_create", json!({"name": "n", "methods": ["whoami"]})).await["secret"].clone();
    let narrow = admin.with_bearer(secret.as_str().unwrap());
    assert_error(&narrow.call("audit_list", json!({})).await, -32002, "token_method_not_allowed");
}

/// Authorization comes before validation (§2): a non-admin sending bad params to
/// `audit_list` is refused (`-32002`), and learns nothing about the params.
async fn audit_list_authorizes_before_validating_params(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    assert_error(&ann.call("audit_verify", json!({"unexpected": 1})).await, -32002, "not_permitted");
    assert_error(&ann.call("audit_list", json!({"limit": 5000})).await, -32002, "not_permitted");
}

/// On an untouched log, `audit_verify` is ok and checks every row.
async fn verify_passes_on_an_untouched_log(backend: Backend) {
    let Some((server, admin)) = seven_rows(backend).await else { return };
    let rows = events(&admin, json!({})).await;
    let report = verify(&admin).await;
    assert_eq!(report, json!({"ok": true, "checked": rows.len(), "first_bad_seq": null}));
    assert_eq!(row_count(&server).await, 7);
    // Each stored hash is the hash of its row.
    for row in &rows {
        let parsed = AuditRow {
            seq: row["seq"].as_i64().unwrap(),
            id: row["id"].as_str().unwrap().parse().unwrap(),
            event_type: row["event_type"].as_str().unwrap().into(),
            outcome: row["outcome"].as_str().unwrap().into(),
            account_id: row["account_id"].as_str().map(|s| s.parse().unwrap()),
            actor_id: row["actor_id"].as_str().map(|s| s.parse().unwrap()),
            target_account_id: row["target_account_id"].as_str().map(|s| s.parse().unwrap()),
            scope_id: row["scope_id"].as_str().map(str::to_owned),
            subject_id: row["subject_id"].as_str().map(str::to_owned),
            ip: row["ip"].as_str().map(str::to_owned),
            request_id: row["request_id"].as_str().unwrap().parse().unwrap(),
            data: row["data"].clone(),
            created_at: row["created_at"].as_str().unwrap().into(),
            prev_hash: row["prev_hash"].as_str().unwrap().into(),
            hash: String::new(),
        };
        assert_eq!(chain::row_hash(&parsed), row["hash"].as_str().unwrap(), "{row}");
    }
}

/// Editing any field of row k straight in the database makes `audit_verify` name seq k.
async fn editing_a_row_breaks_the_chain_at_that_row(backend: Backend) {
    let edits = [
        ("UPDATE audit_log SET data = '{\"tampered\":true}' WHERE seq = $1", 3),
        ("UPDATE audit_log SET outcome = 'failure' WHERE seq = $1", 5),
        ("UPDATE audit_log SET created_at = '2000-01-01T00:00:00.000000Z' WHERE seq = $1", 1),
        ("UPDATE audit_log SET event_type = 'account_logout' WHERE seq = $1", 7),
        ("UPDATE audit_log SET account_id = NULL WHERE seq = $1", 4),
        ("UPDATE audit_log SET data = 'not json' WHERE seq = $1", 6),
    ];
    for (sql, seq) in edits {
        let Some((server, admin)) = seven_rows(backend).await else { return };
        assert_eq!(tamper(&server, sql, seq).await, 1, "{sql}");
        let report = verify(&admin).await;
        assert_eq!(report, json!({"ok": false, "checked": 7, "first_bad_seq": seq}), "{sql}");
    }
}

/// Deleting row k (not the last) makes `audit_verify` name seq k.
async fn deleting_a_row_breaks_the_chain_at_that_row(backend: Backend) {
    for seq in [1, 3, 6] {
        let Some((server, admin)) = seven_rows(backend).await else { return };
        assert_eq!(tamper(&server, "DELETE FROM audit_log WHERE seq = $1", seq).await, 1);
        let report = verify(&admin).await;
        assert_eq!(report["ok"], false, "deleted {seq}: {report}");
        assert_eq!(report["first_bad_seq"], seq, "deleted {seq}: {report}");
    }
}

/// A row inserted after the last one is named by `audit_verify`, whether its hash is garbage
/// or correctly computed (the head the writer keeps still disagrees).
async fn inserting_a_row_after_the_last_breaks_the_chain_there(backend: Backend) {
    for well_forged in [false, true] {
        let Some((server, admin)) = seven_rows(backend).await else { return };
        let last = events(&admin, json!({})).await.pop().unwrap();
        let mut forged = AuditRow {
            seq: 8,
            id: Uuid::now_v7(),
            event_type: "account_create".into(),
            outcome: "success".into(),
            account_id: None,
            actor_id: None,
            target_account_id: None,
            scope_id: None,
            subject_id: None,
            ip: Some("127.0.0.1".into()),
            request_id: Uuid::now_v7(),
            data: json!({"forged": true}),
            created_at: "2030-01-01T00:00:00.000000Z".into(),
            prev_hash: last["hash"].as_str().unwrap().into(),
            hash: "ab".repeat(32),
        };
        if well_forged {
            forged.hash = chain::row_hash(&forged);
        }
        let sql = "INSERT INTO audit_log (seq, id, event_type, outcome, ip, request_id, data, created_at, prev_hash, hash) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let mut conn = server.env.db.read().await.unwrap();
        on_conn!(conn.conn(), c => sqlx::query(sql)
            .bind(forged.seq).bind(forged.id).bind(&forged.event_type).bind(&forged.outcome).bind(&forged.ip)
            .bind(forged.request_id).bind(chain::canonical(&forged.data)).bind(&forged.created_at)
            .bind(&forged.prev_hash).bind(&forged.hash).execute(&mut *c).await.map(|_| ()))
        .unwrap();
        drop(conn);
        let report = verify(&admin).await;
        assert_eq!(report["ok"], false, "well forged: {well_forged}: {report}");
        assert_eq!(report["first_bad_seq"], 8, "well forged: {well_forged}: {report}");
    }
}

/// Deleting the last row is caught: the chain ends before the head the writer keeps.
async fn deleting_the_last_row_breaks_the_chain(backend: Backend) {
    let Some((server, admin)) = seven_rows(backend).await else { return };
    assert_eq!(tamper(&server, "DELETE FROM audit_log WHERE seq = $1", 7).await, 1);
    let report = verify(&admin).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad_seq"], 7, "{report}");
}

/// `countersign audit verify --database-url URL`: exit 0 and "ok" on a clean log; exit 1
/// naming the first bad seq after tampering.
async fn cli_audit_verify_reports_the_first_bad_seq(backend: Backend) {
    let Some((server, _admin)) = seven_rows(backend).await else { return };
    let run = |url: String| async move {
        let dir = tempfile::tempdir().unwrap();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_countersign"))
                .args(["audit", "verify", "--database-url", &url])
                .current_dir(dir.path())
                .env_remove("DATABASE_URL")
                .env_remove("COUNTERSIGN_CONFIG")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stdout, stderr)
    };

    let (code, stdout, stderr) = run(server.database_url.clone()).await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.to_lowercase().contains("ok"), "stdout: {stdout}\nstderr: {stderr}");

    assert_eq!(tamper(&server, "UPDATE audit_log SET outcome = 'denied' WHERE seq = $1", 3).await, 1);
    let (code, stdout, stderr) = run(server.database_url.clone()).await;
    assert_eq!(code, Some(1), "stdout: {stdout}\nstderr: {stderr}");
    let output = format!("{stdout}\n{stderr}");
    let numbers: Vec<&str> = output.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect();
    assert!(numbers.contains(&"3"), "the bad seq 3 is named: {output}");
}

/// 30 mutations from three accounts at once (successes and denials) leave one chain:
/// seqs exactly 1..=N, each linked to the one before, and `audit_verify` ok.
async fn concurrent_writers_keep_one_linear_chain(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let mut writers = vec![admin.clone()];
    for name in ["ann", "bob"] {
        writers.push(server.account(&admin, name).await);
    }
    let before = row_count(&server).await;
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(30));
    let mut calls = Vec::new();
    for i in 0..30 {
        let (client, gate) = (writers[i % 3].clone(), gate.clone());
        calls.push(tokio::spawn(async move {
            gate.wait().await;
            if i % 10 == 9 {
                // A denial (for ann and bob) or a conflict (admin): a row in its own transaction.
                client.call("account_create", json!({"username": "ann", "password": "long enough password"})).await
            } else {
                client.call("token_create", json!({"name": format!("t{i}")})).await
            }
        }));
    }
    for call in calls {
        let response = call.await.unwrap();
        if let Some(error) = response.get("error") {
            assert!([-32002, -32004].contains(&error["code"].as_i64().unwrap()), "{response}");
        }
    }

    let rows = events(&admin, json!({})).await;
    let n = rows.len() as i64;
    assert_eq!(n, before + 30, "one row per call: {rows:#?}");
    assert_eq!(seqs(&rows), (1..=n).collect::<Vec<_>>(), "no gaps, no duplicates");
    for pair in rows.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "{pair:#?}");
    }
    assert_eq!(verify(&admin).await, json!({"ok": true, "checked": n, "first_bad_seq": null}));
    assert_eq!(row_count(&server).await, n);
}
