//! Every statement the calls and the housekeeping jobs run uses an index: their cost must not
//! grow with the data (an account's permits, the offers, requests and notifications piling up).
//! A workload of the main calls — sign-in, cookie and token reads, permission checks, offers,
//! grants and revocations, requests from creation to cancellation, notifications, audit — and
//! one round of every sweeper (offer and request expiry, interrupted deliveries, notification
//! retention) runs against a real server while a tracing layer records each statement sqlx
//! executes; then each distinct statement is
//! explained on the same database. SQLite (`EXPLAIN QUERY PLAN`) must not `SCAN` a table;
//! PostgreSQL, asked for its generic plan with sequential scans disabled, must not need a
//! `Seq Scan` (a table it can read only whole has no usable index, however small it is now).
//! Tables of one row by construction are exempt.

mod common;

use std::collections::BTreeSet;
use std::sync::Mutex;

use common::identity::Client;
use common::{Backend, TestServer, start};
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The statements sqlx ran since the last [`take_statements`].
static STATEMENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Tables that hold at most one row (a head, a pending token): reading them whole is free.
const ONE_ROW_TABLES: &[&str] = &["audit_head", "bootstrap_token", "countersign_meta", "_sqlx_migrations"];

/// Partial indexes that hold only rows in a passing state, so reading one whole is bounded
/// by what is in flight, not by the table: `requests_executing` (deliveries under way).
const IN_FLIGHT_INDEXES: &[&str] = &["requests_executing"];

/// Records sqlx's query events: the statement (`db.statement`, set when the summary is
/// shortened) or else the summary, which then is the whole statement.
struct StatementRecorder;

#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
}

impl Visit for StatementFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" => self.summary = format!("{value:?}").trim_matches('"').to_owned(),
            "db.statement" => self.statement = format!("{value:?}").trim_matches('"').to_owned(),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementRecorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("sqlx::query") {
            return;
        }
        let mut fields = StatementFields::default();
        event.record(&mut fields);
        let sql = if fields.statement.trim().is_empty() { fields.summary } else { fields.statement };
        STATEMENTS.lock().unwrap().push(sql.split_whitespace().collect::<Vec<_>>().join(" "));
    }
}

fn take_statements() -> BTreeSet<String> {
    let taken = std::mem::take(&mut *STATEMENTS.lock().unwrap());
    taken
        .into_iter()
        .filter(|sql| {
            let head = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            matches!(head.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "WITH")
        })
        .filter(|sql| !sql.contains("_sqlx_migrations") && !sql.to_ascii_lowercase().contains("pg_advisory"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_of_the_calls_and_sweepers_uses_an_index() {
    let subscriber = tracing_subscriber::registry().with(StatementRecorder);
    tracing::subscriber::set_global_default(subscriber).expect("the first subscriber of this test binary");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(server) = start(backend).await else { continue };
        // What the start-up runs (migrations, the first sweeps) is not a call's: let it
        // finish, then forget it. (Housekeeping runs hourly in tests, so not again here.)
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        take_statements();
        workload(&server).await;
        housekeeping(&server).await;
        let statements = take_statements();
        assert!(statements.len() > 30, "too few statements recorded ({}): {statements:?}", statements.len());
        let mut scans = Vec::new();
        for sql in &statements {
            let plan = explain(&server, backend, sql).await;
            if let Some(table) = scanned_table(backend, sql, &plan) {
                scans.push(format!("{table}: {sql}\n    {}", plan.join("\n    ")));
            }
        }
        assert!(scans.is_empty(), "{backend:?}: statements that read a whole table:\n{}", scans.join("\n"));
    }
}

/// The plan of `sql`, one line per step.
async fn explain(server: &TestServer, backend: Backend, sql: &str) -> Vec<String> {
    let placeholders = (1..=64).take_while(|n| sql.contains(&format!("${n}"))).count();
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&server.database_url).await.unwrap();
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query(&explain);
            for _ in 0..placeholders {
                query = query.bind(None::<String>);
            }
            let rows = query.fetch_all(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.iter().map(|row| row.get::<String, _>("detail")).collect()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&server.database_url).await.unwrap();
            for setup in ["SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan"] {
                sqlx::query(setup).execute(&mut conn).await.unwrap();
            }
            prepare(&mut conn, sql, placeholders).await;
            let nulls = vec!["NULL"; placeholders].join(", ");
            let args = if placeholders == 0 { String::new() } else { format!("({nulls})") };
            let explain = format!("EXPLAIN EXECUTE planned{args}");
            let rows = sqlx::raw_sql(&explain).fetch_all(&mut conn).await.unwrap();
            rows.iter().map(|row| row.get::<String, _>(0)).collect()
        }
    }
}

/// `PREPARE planned AS sql`. A parameter whose type PostgreSQL cannot infer (`$1 IS NULL OR
/// …`; the server binds typed values, a bare statement has none) is declared, trying the
/// types countersign binds until one fits.
async fn prepare(conn: &mut sqlx::PgConnection, sql: &str, placeholders: usize) {
    const TYPES: &[&str] = &["text", "uuid", "timestamptz", "bigint", "boolean"];
    let mut types = vec![None::<usize>; placeholders];
    loop {
        let declared: Vec<&str> = types.iter().map(|t| t.map_or("unknown", |i| TYPES[i])).collect();
        let list = if placeholders == 0 { String::new() } else { format!("({})", declared.join(", ")) };
        let error = match sqlx::raw_sql(&format!("PREPARE planned{list} AS {sql}")).execute(&mut *conn).await {
            Ok(_) => return,
            Err(error) => error.to_string(),
        };
        // The parameter to declare (or to declare otherwise): the one named, else the last tried.
        let named = error.split("parameter $").nth(1).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next());
        let index = match named.and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n - 1,
            None => types.iter().rposition(Option::is_some).unwrap_or_else(|| panic!("{sql}: {error}")),
        };
        let next = types[index].map_or(0, |i| i + 1);
        assert!(next < TYPES.len(), "{sql}: no type fits parameter ${}: {error}", index + 1);
        types[index] = Some(next);
    }
}

/// The table a plan reads whole, unless it is one of [`ONE_ROW_TABLES`].
fn scanned_table(backend: Backend, sql: &str, plan: &[String]) -> Option<String> {
    // Whether any account exists: the plan says scan, but the first row ends it.
    if sql == countersign::auth::accounts::ANY_ACCOUNT {
        return None;
    }
    plan.iter().find_map(|line| {
        let table = match backend {
            // `SCAN t` reads a table whole; `SEARCH t USING INDEX …` does not; `SCAN CONSTANT
            // ROW` is how SQLite evaluates `SELECT EXISTS (…)`, and `SCAN n-ROW VALUES CLAUSE`
            // a multi-row `INSERT … VALUES`: no table at all.
            Backend::Sqlite => match line.trim().strip_prefix("SCAN ")? {
                "CONSTANT ROW" => return None,
                rest if rest.ends_with("-ROW VALUES CLAUSE") => return None,
                rest if IN_FLIGHT_INDEXES.iter().any(|index| rest.ends_with(&format!("USING INDEX {index}"))) => {
                    return None;
                }
                rest => rest.split_whitespace().next()?,
            },
            Backend::Postgres => line.split("Seq Scan on ").nth(1)?.split_whitespace().next()?,
        };
        (!ONE_ROW_TABLES.contains(&table)).then(|| table.to_owned())
    })
}

/// The main calls, each at least once, by an admin, a grantor, a recipient and a requester.
async fn workload(server: &TestServer) {
    let admin = server.admin().await;
    let lead = server.account(&admin, "lead").await;
    let bob = server.account(&admin, "bob").await;
    let id = |client: &Client| json!(client.account_id.clone().unwrap());
    let grant = json!({"to_account_id": id(&lead), "role": "approver", "scope_id": "org:acme"});
    admin.ok("permit_grant", grant).await;
    admin.ok("permit_grant", json!({"to_account_id": id(&bob), "role": "member", "scope_id": "org:acme"})).await;
    let token = bob.ok("token_create", json!({"name": "script"})).await["secret"].as_str().unwrap().to_owned();
    let script = bob.with_bearer(&token);
    for client in [&lead, &bob, &script] {
        client.ok("whoami", json!({})).await;
        client.get("/rpc/whoami?params=%7B%7D&id=1").await;
    }
    let question = json!({"checks": [{"resource": "purchase", "verb": "approve", "scope_id": "org:acme/store:b"}]});
    script.ok("permission_check", question).await;
    admin
        .ok("permission_check", json!({"checks": [{"resource": "purchase", "verb": "create", "account_id": id(&bob)}]}))
        .await;

    let offer = json!({"to_account_id": id(&bob), "role": "approver", "scope_id": "org:acme/store:b", "message": "hi"});
    let offer_id = lead.ok("permit_offer_create", offer.clone()).await["offer"]["id"].clone();
    lead.ok("permit_offer_create", offer).await; // renewed
    bob.ok("permit_offer_list", json!({})).await;
    let permit = bob.ok("permit_offer_accept", json!({"offer_id": offer_id})).await["permit"]["id"].clone();
    bob.ok("permit_offer_history", json!({})).await;
    let retracted = lead
        .ok("permit_offer_create", json!({"to_account_id": id(&bob), "role": "approver", "scope_id": "org:acme"}))
        .await;
    lead.ok("permit_offer_retract", json!({"offer_id": retracted["offer"]["id"]})).await;
    admin.ok("permit_revoke", json!({"permit_id": permit, "reason": "done"})).await;
    admin.ok("permit_list", json!({"account_id": id(&bob)})).await;

    requests(&admin, &lead, &bob).await;
    for client in [&admin, &lead, &bob] {
        client.ok("notifications_list", json!({"after": 0})).await;
    }
    admin.ok("audit_list", json!({"event_type": "permit_grant"})).await;
    admin.ok("audit_list", json!({"account_id": id(&bob)})).await;
    admin.ok("account_lookup", json!({"username": "bob"})).await;
    admin.ok("session_list", json!({})).await;
    bob.ok("token_list", json!({})).await;
}

/// One round of every background job the server runs on its housekeeping tick.
async fn housekeeping(server: &TestServer) {
    server.sweep_offers().await;
    server.sweep_requests().await;
    countersign::requests::execution::sweep_interrupted(&server.env).await.unwrap();
    let cutoff = server.env.clock.now() + chrono::Duration::days(1);
    countersign::notify::retention::prune(&server.env.db, cutoff).await.unwrap();
}

/// Requests: created for approval and approved, created and executed directly, cancelled.
async fn requests(admin: &Client, lead: &Client, bob: &Client) {
    let create = |title: &str| {
        json!({"kind": "purchase", "scope_id": "org:acme", "title": title,
        "amount": "10.00", "currency": "USD", "idempotency_key": title})
    };
    let first = bob.ok("request_create", create("first")).await["request"]["id"].clone();
    bob.ok("request_list", json!({"mine": true})).await;
    lead.ok("request_list", json!({"awaiting_my_decision": true})).await;
    lead.ok("request_get", json!({"request_id": first})).await;
    lead.ok("request_approve", json!({"request_id": first, "comment": "fine"})).await;
    bob.ok("request_cancel", json!({"request_id": first})).await;
    let policy =
        json!({"scope_id": "org:acme", "kind": "purchase", "limits": {"window_hours": 24, "window_max_count": 50}});
    admin.ok("policy_set", policy).await;
    admin.ok("policy_list", json!({"scope_id": "org:acme"})).await;
    let second = bob.ok("request_create", create("second")).await["request"]["id"].clone();
    let refused: Value = lead.call("request_reject", json!({"request_id": second})).await;
    assert!(refused.get("result").is_some(), "{refused}");
    admin.ok("request_execute", json!({"request_id": second, "confirm": "EXECUTE"})).await;
    admin.ok("request_cancel", json!({"request_id": second, "reason": "undo"})).await;
}
