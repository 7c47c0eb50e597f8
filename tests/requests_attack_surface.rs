//! The attack surface of policies and gated requests (docs/protocol.md §7, §2): every
//! method, called with params that would succeed for the right caller and that name real
//! requests, as anonymous, as an unrelated account, as one holding the right roles at the
//! wrong scopes, with tokens limited to other methods, and after the right callers' permits
//! were revoked or expired. Each call is refused with the contract's error (a request the
//! caller may not see is `not_found`, exactly like one that does not exist), the watched
//! tables are unchanged, and the audit log grows only by `denied`/`failure` rows. Every
//! test ends by making the same calls as the right callers, which succeed.

mod common;

use common::identity::Client;
use common::{Backend, TestServer, error_less_request_id, start_with};
use countersign::config::{Config, RateLimit};
use countersign::on_conn;
use serde_json::{Value, json};

backend_tests!(
    anonymous_callers_are_unauthenticated_on_every_method,
    unrelated_account_is_refused_and_sees_nothing,
    right_roles_at_the_wrong_scopes_reach_nothing,
    tokens_limited_to_other_methods_are_forbidden,
    revoked_permits_grant_nothing_on_the_next_call,
    expired_permits_grant_nothing,
    bad_params_unknown_kinds_and_unknown_ids_change_nothing,
);

/// Where alice's requests are made; `CONFIRMING` requires a confirmation.
const STORE: &str = "org:acme/store:berlin";
const CONFIRMING: &str = "org:acme/store:lyon";
const READS: [&str; 4] = ["policy_get", "policy_list", "request_get", "request_list"];
/// Every method of policies and requests.
const METHODS: &str = "policy_get policy_list policy_set request_create request_get request_list request_confirm \
    request_approve request_reject request_execute request_cancel request_retry";

fn is_read(method: &str) -> bool {
    READS.contains(&method)
}

/// The right callers, each holding one role at org:acme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Alice, // member: makes every request
    Bob,   // approver
    Olga,  // operator
    Mona,  // manager
}

const RIGHT: [(Who, &str); 4] =
    [(Who::Alice, "member"), (Who::Bob, "approver"), (Who::Olga, "operator"), (Who::Mona, "manager")];

struct World {
    server: TestServer,
    admin: Client,
    right: Vec<Client>,
    /// Signed in, no permits.
    eve: Client,
    /// Member, approver, operator and manager at org:other and at org:acme/store:berli
    /// (a prefix of alice's store, not above it); has one request of his own at org:other.
    wes: Client,
    wes_request: String,
    /// The right callers' permits, as granted.
    permits: Vec<String>,
    /// One of alice's requests per method that acts on one (`r[method]`).
    r: Value,
}

fn id_of(client: &Client) -> String {
    client.account_id.clone().expect("a signed-in client")
}

fn str_at(value: &Value, pointer: &str) -> String {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no {pointer} in {value}")).to_owned()
}

/// Grants each right caller their role at org:acme (until `until` when given).
async fn grant_right(admin: &Client, right: &[Client], until: Option<Value>) -> Vec<String> {
    let mut permits = Vec::new();
    for (client, (_, role)) in right.iter().zip(RIGHT) {
        let params = json!({"to_account_id": id_of(client), "role": role, "scope_id": "org:acme", "expires_at": until});
        permits.push(str_at(&admin.ok("permit_grant", params).await, "/permit/id"));
    }
    permits
}

async fn world(backend: Backend, expiring: bool) -> Option<World> {
    let roomy_logins = |c: &mut Config| {
        c.rate_limits.insert("login".into(), RateLimit { per_minute: 100_000, burst: 100_000 });
    };
    let server = start_with(backend, roomy_logins).await?;
    let admin = server.admin().await;
    let mut right = Vec::new();
    for name in ["alice", "bob", "olga", "mona"] {
        right.push(server.account(&admin, name).await);
    }
    let (eve, wes) = (server.account(&admin, "eve").await, server.account(&admin, "wes").await);
    let until = expiring.then(|| json!(server.clock.now() + chrono::Duration::hours(1)));
    let permits = grant_right(&admin, &right, until).await;
    for role in ["member", "approver", "operator", "manager"] {
        for scope in ["org:other", "org:acme/store:berli"] {
            admin.ok("permit_grant", json!({"to_account_id": id_of(&wes), "role": role, "scope_id": scope})).await;
        }
    }
    admin.ok("policy_set", json!({"scope_id": CONFIRMING, "kind": "purchase", "requires_confirmation": true})).await;
    let alice = &right[0];
    let mut r = json!({});
    let acting = METHODS.split_whitespace().filter(|m| m.starts_with("request_") && !m.ends_with("create"));
    for method in acting.filter(|m| *m != "request_list") {
        let scope = if method == "request_confirm" { CONFIRMING } else { STORE };
        let params =
            json!({"kind": "purchase", "scope_id": scope, "title": method, "amount": "120", "currency": "USD"});
        r[method] = json!(str_at(&alice.ok("request_create", params).await, "/request/id"));
    }
    let params = json!({"kind": "purchase", "scope_id": "org:other", "title": "his own"});
    let wes_request = str_at(&wes.ok("request_create", params).await, "/request/id");
    // No executor can fail yet (executors are a later issue): fail one as a webhook would.
    let failed: uuid::Uuid = r["request_retry"].as_str().unwrap().parse().unwrap();
    let mut tx = server.env.db.begin_write().await.unwrap();
    let updated = on_conn!(tx.conn(), c => sqlx::query(
        "UPDATE requests SET status = 'failed', execution_attempts = 1, execution_last_error = 'timeout' WHERE id = $1")
        .bind(failed).execute(&mut *c).await.map(|done| done.rows_affected()));
    assert_eq!(updated.unwrap(), 1);
    tx.commit().await.unwrap();
    Some(World { server, admin, right, eve, wes, wes_request, permits, r })
}

impl World {
    fn client(&self, who: Who) -> &Client {
        &self.right[RIGHT.iter().position(|(w, _)| *w == who).unwrap()]
    }

    /// Every method once, with params that succeed for the right caller, in this order.
    fn attacks(&self) -> Vec<(Who, &'static str, Value)> {
        let on = |method: &str| json!({"request_id": self.r[method]});
        let mut execute = on("request_execute");
        execute["confirm"] = json!("EXECUTE");
        vec![
            (Who::Alice, "policy_get", json!({"scope_id": STORE, "kind": "purchase"})),
            (Who::Alice, "policy_list", json!({"scope_id": STORE})),
            (Who::Mona, "policy_set", json!({"scope_id": STORE, "kind": "purchase", "approvals_required": 2})),
            (
                Who::Alice,
                "request_create",
                json!({"kind": "purchase", "scope_id": STORE, "title": "new", "amount": "99.50", "currency": "EUR"}),
            ),
            (Who::Alice, "request_get", on("request_get")),
            (Who::Alice, "request_list", json!({"scope_id": STORE})),
            (Who::Alice, "request_confirm", on("request_confirm")),
            (Who::Bob, "request_approve", on("request_approve")),
            (Who::Bob, "request_reject", json!({"request_id": self.r["request_reject"], "comment": "no"})),
            (Who::Olga, "request_execute", execute),
            (Who::Alice, "request_cancel", json!({"request_id": self.r["request_cancel"], "reason": "dup"})),
            (Who::Olga, "request_retry", on("request_retry")),
        ]
    }

    /// The attack calls made by the right callers succeed: the params were real.
    async fn right_callers_succeed(&self) {
        for (who, method, params) in self.attacks() {
            let result = self.client(who).ok(method, params).await;
            let (request, status) = (&result["request"], &result["request"]["status"]);
            let ok = match method {
                "policy_get" => result["policy"]["approvals_required"] == 1 && result["source_scope_id"].is_null(),
                "policy_list" => result["policies"].as_array().is_some_and(|p| p.len() == 6),
                "policy_set" => result["policy"]["approvals_required"] == 2,
                "request_create" => status == "pending_approval" && request["approvals"]["required"] == 2,
                "request_get" => request["id"] == self.r["request_get"],
                "request_list" => {
                    let listed = result["requests"].as_array().unwrap();
                    listed.iter().any(|r| r["id"] == self.r["request_get"])
                        && listed.iter().all(|r| r["scope_id"] == STORE)
                }
                "request_confirm" => status == "pending_approval" && request["confirmed_by"] == id_of(&self.right[0]),
                "request_approve" => status == "executed",
                "request_reject" => status == "pending_approval" && request["approvals"]["rejected"] == 1,
                "request_execute" => status == "executed" && request["executed_by"] == id_of(self.client(Who::Olga)),
                "request_cancel" => status == "cancelled",
                "request_retry" => status == "executed",
                other => panic!("unexpected method {other}"),
            };
            assert!(ok, "{method} as {who:?} did not do what it should: {result}");
        }
    }
}

/// What a caller who may not see alice's requests, and holds nothing at org:acme, gets:
/// `None` for `request_list` (which answers, showing none of them).
fn outsider_refusal(method: &str) -> Option<(i64, &'static str)> {
    match method {
        "request_list" => None,
        "policy_get" | "policy_list" | "policy_set" | "request_create" => Some((-32002, "not_permitted")),
        _ => Some((-32003, "not_found")),
    }
}

fn get_path(method: &str, params: &Value) -> String {
    let encoded: String = form_urlencoded::byte_serialize(params.to_string().as_bytes()).collect();
    format!("/rpc/{method}?params={encoded}&id=9")
}

/// Makes refused calls; remembers the `denied` audit rows they must leave (every 403).
#[derive(Default)]
struct Ledger {
    denied: Vec<(String, String)>,
}

impl Ledger {
    async fn refused(&mut self, client: &Client, method: &str, params: &Value, code: i64, reason: &str) -> Value {
        let response = client.call(method, params.clone()).await;
        let error = response.get("error").unwrap_or_else(|| panic!("{method} {params} was not refused: {response}"));
        assert_eq!((&error["code"], &error["data"]["reason"]), (&json!(code), &json!(reason)), "{method}: {response}");
        if code == -32002 {
            self.denied.push((method.to_owned(), reason.to_owned()));
        }
        // Without its request's own id: what two refusals that should look alike must share.
        error_less_request_id(&response)
    }

    /// The same over GET (reads only): HTTP status by the error table.
    async fn refused_get(&mut self, client: &Client, method: &str, params: &Value, code: i64, reason: &str) {
        let status = match code {
            -32001 => 401,
            -32002 => 403,
            _ => 404,
        };
        let (got, _, body) = client.get(&get_path(method, params)).await;
        assert_eq!(got, status, "GET {method}: {body}");
        let error = (&body["error"]["code"], &body["error"]["data"]["reason"]);
        assert_eq!(error, (&json!(code), &json!(reason)), "GET {method}: {body}");
        if code == -32002 {
            self.denied.push((method.to_owned(), reason.to_owned()));
        }
    }

    /// `client` gets what an outsider gets on every attack, POST and GET.
    async fn outsider(&mut self, client: &Client, attacks: &[(Who, &str, Value)], own: &[String]) {
        for (_, method, params) in attacks {
            let Some((code, reason)) = outsider_refusal(method) else {
                let listed = client.ok(method, params.clone()).await;
                assert_eq!(listed, json!({"requests": [], "next_cursor": null}), "{method} {params}");
                let everything = client.ok(method, json!({"limit": 500})).await;
                let ids: Vec<String> =
                    everything["requests"].as_array().unwrap().iter().map(|r| str_at(r, "/id")).collect();
                assert_eq!(ids, own, "only their own requests");
                let (status, _, body) = client.get(&get_path(method, params)).await;
                assert_eq!((status, &body["result"]), (200, &listed), "{body}");
                continue;
            };
            let error = self.refused(client, method, params, code, reason).await;
            if is_read(method) {
                self.refused_get(client, method, params, code, reason).await;
            }
            if code == -32003 {
                let mut missing = params.clone();
                missing["request_id"] = json!(uuid::Uuid::now_v7());
                let absent = self.refused(client, method, &missing, code, reason).await;
                assert_eq!(absent, error, "{method}: a hidden request must look exactly like a missing one");
            }
        }
    }
}

/// The columns compared per table (all of them); UUID columns are BLOBs on SQLite
/// (compared as hex).
const WATCHED: [(&str, &str); 6] = [
    (
        "requests",
        "id kind scope_id title amount currency percentage payload status requested_by created_at expires_at \
         policy confirmed_at confirmed_by bypassed_by executed_by executed_at pre_approval_skip_reason \
         cancel_until execution_attempts execution_last_error execution_response cancelled_by cancelled_at \
         cancel_reason idempotency_key params_hash",
    ),
    ("request_decisions", "request_id account_id decision comment decided_at"),
    ("policies", "scope_id kind policy updated_at updated_by"),
    ("notifications", "account_id seq type data created_at"),
    ("notification_heads", "account_id seq pruned_through"),
    (
        "permits",
        "id actor_id account_id role scope_id granted_by source_offer_id created_at expires_at revoked_at \
         revoked_by revoked_reason",
    ),
];

const UUID_COLUMNS: &str = "id requested_by confirmed_by bypassed_by executed_by cancelled_by request_id account_id \
    updated_by actor_id granted_by source_offer_id revoked_by";

struct Snapshot {
    tables: Vec<(&'static str, Vec<String>)>,
    last_seq: i64,
}

/// Every row of `table` as one `|`-joined text, sorted.
async fn rows_of(server: &TestServer, table: &str, columns: &str) -> Vec<String> {
    let sqlite = server.env.db.backend() == countersign::db::Backend::Sqlite;
    let expr = columns
        .split_whitespace()
        .map(|c| match sqlite && UUID_COLUMNS.split_whitespace().any(|u| u == c) {
            true => format!("COALESCE(hex({c}), '~')"),
            false => format!("COALESCE(CAST({c} AS TEXT), '~')"),
        })
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let sql = format!("SELECT {expr} FROM {table}");
    let mut conn = server.env.db.read().await.unwrap();
    let mut rows: Vec<String> = on_conn!(conn.conn(), c => sqlx::query_scalar(&sql).fetch_all(&mut *c).await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.sort();
    rows
}

/// Every audit row after `after_seq`.
async fn audit_after(admin: &Client, after_seq: i64) -> Vec<Value> {
    let (mut all, mut after) = (Vec::new(), after_seq);
    loop {
        let page = admin.ok("audit_list", json!({"after_seq": after, "limit": 1000})).await;
        all.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => return all,
        }
    }
}

async fn snapshot(w: &World) -> Snapshot {
    let mut tables = Vec::new();
    for (table, columns) in WATCHED {
        tables.push((table, rows_of(&w.server, table, columns).await));
    }
    let last_seq = audit_after(&w.admin, 0).await.last().and_then(|r| r["seq"].as_i64()).expect("setup audited");
    Snapshot { tables, last_seq }
}

/// The watched tables are as `before`; the audit log grew only by the `denied` rows the
/// ledger expects and by `failure` rows of mutating methods.
async fn assert_unchanged(w: &World, before: &Snapshot, ledger: &Ledger) {
    let count = |table: &str| before.tables.iter().find(|(t, _)| *t == table).map_or(0, |(_, rows)| rows.len());
    assert!(count("requests") == 8 && count("policies") == 1 && count("notifications") >= 8, "a thin snapshot");
    let after = snapshot(w).await;
    for ((table, old), (_, new)) in before.tables.iter().zip(&after.tables) {
        assert_eq!(new, old, "table {table} changed");
    }
    let rows = audit_after(&w.admin, before.last_seq).await;
    for row in &rows {
        let (outcome, event) = (row["outcome"].as_str().unwrap(), row["event_type"].as_str().unwrap());
        assert!(outcome == "denied" || (outcome == "failure" && !is_read(event)), "unexpected audit row {row}");
    }
    let mut denied: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["outcome"] == "denied")
        .map(|r| (str_at(r, "/event_type"), str_at(r, "/data/reason")))
        .collect();
    denied.sort();
    let mut expected = ledger.denied.clone();
    expected.sort();
    assert_eq!(denied, expected, "denied audit rows");
}

/// The admin asks for a purchase at alice's store: of the right callers, eve and wes, only
/// those in `told` hear `request_approval_needed` (holders of a live approver permit
/// covering the store).
async fn approval_needed_reaches(w: &World, told: &[&Client]) {
    let made = w.admin.ok("request_create", json!({"kind": "purchase", "scope_id": STORE, "title": "probe"})).await;
    let rid = &made["request"]["id"];
    for client in w.right.iter().chain([&w.eve, &w.wes]) {
        let page = client.ok("notifications_list", json!({"limit": 500})).await;
        let notes = page["notifications"].as_array().unwrap();
        let heard =
            notes.iter().filter(|n| n["type"] == "request_approval_needed" && n["data"]["request"]["id"] == *rid);
        let expected = usize::from(told.iter().any(|t| id_of(t) == id_of(client)));
        assert_eq!(heard.count(), expected, "{:?} told of {rid}", client.account_id);
    }
}

/// No credentials: every method, POST and (reads) GET, is `unauthenticated/no_credentials`.
async fn anonymous_callers_are_unauthenticated_on_every_method(backend: Backend) {
    let Some(w) = world(backend, false).await else { return };
    let anonymous = w.server.anonymous();
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (_, method, params) in w.attacks() {
        ledger.refused(&anonymous, method, &params, -32001, "no_credentials").await;
        if is_read(method) {
            ledger.refused_get(&anonymous, method, &params, -32001, "no_credentials").await;
        }
    }
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// Eve, signed in with no permits: policies and creating are `forbidden/not_permitted`,
/// alice's requests are `not_found` (as a request that does not exist), and her listing is
/// empty.
async fn unrelated_account_is_refused_and_sees_nothing(backend: Backend) {
    let Some(w) = world(backend, false).await else { return };
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    ledger.outsider(&w.eve, &w.attacks(), &[]).await;
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// Wes holds every role of the right callers, but at org:other and at
/// org:acme/store:berli: nothing at alice's store. He is an outsider there, and his
/// listing shows his own request only.
async fn right_roles_at_the_wrong_scopes_reach_nothing(backend: Backend) {
    let Some(w) = world(backend, false).await else { return };
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    ledger.outsider(&w.wes, &w.attacks(), std::slice::from_ref(&w.wes_request)).await;
    // At his own scopes he may read policies.
    let here = w.wes.ok("policy_get", json!({"scope_id": "org:acme/store:berli/desk:1", "kind": "purchase"})).await;
    assert_eq!(here["source_scope_id"], Value::Null, "{here}");
    assert_unchanged(&w, &before, &ledger).await;
    approval_needed_reaches(&w, &[w.client(Who::Bob)]).await;
    w.right_callers_succeed().await;
}

/// Each right caller holds a token limited to the eleven other methods (and whoami): it
/// is `forbidden/token_method_not_allowed` on the one it lacks, POST and GET.
async fn tokens_limited_to_other_methods_are_forbidden(backend: Backend) {
    let Some(w) = world(backend, false).await else { return };
    let mut tokens = Vec::new();
    for (who, method, _) in w.attacks() {
        let mut methods: Vec<&str> = METHODS.split_whitespace().filter(|m| *m != method).collect();
        methods.push("whoami");
        let created =
            w.client(who).ok("token_create", json!({"name": format!("not {method}"), "methods": methods})).await;
        let token = w.client(who).with_bearer(&str_at(&created, "/secret"));
        assert_eq!(token.ok("whoami", json!({})).await["account"]["id"], id_of(w.client(who)));
        tokens.push(token);
    }
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for ((_, method, params), token) in w.attacks().into_iter().zip(&tokens) {
        ledger.refused(token, method, &params, -32002, "token_method_not_allowed").await;
        if is_read(method) {
            ledger.refused_get(token, method, &params, -32002, "token_method_not_allowed").await;
        }
    }
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// The admin revokes the right callers' permits; their very next calls get what an
/// outsider gets (their own requests included). Granted again, the calls succeed.
async fn revoked_permits_grant_nothing_on_the_next_call(backend: Backend) {
    let Some(w) = world(backend, false).await else { return };
    for permit in &w.permits {
        w.admin.ok("permit_revoke", json!({"permit_id": permit, "reason": "left"})).await;
    }
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for attack in w.attacks() {
        ledger.outsider(w.client(attack.0), std::slice::from_ref(&attack), &[]).await;
    }
    assert_unchanged(&w, &before, &ledger).await;
    approval_needed_reaches(&w, &[]).await;
    grant_right(&w.admin, &w.right, None).await;
    w.right_callers_succeed().await;
}

/// The right callers' permits were granted for one hour; two hours later they get what an
/// outsider gets. Granted again, the calls succeed.
async fn expired_permits_grant_nothing(backend: Backend) {
    let Some(w) = world(backend, true).await else { return };
    w.server.clock.advance(std::time::Duration::from_secs(2 * 3600));
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for attack in w.attacks() {
        ledger.outsider(w.client(attack.0), std::slice::from_ref(&attack), &[]).await;
    }
    assert_unchanged(&w, &before, &ledger).await;
    approval_needed_reaches(&w, &[]).await;
    grant_right(&w.admin, &w.right, None).await;
    w.right_callers_succeed().await;
}

/// From the right callers: a JSON number for `amount` is `invalid_params` at `/amount`; an
/// unknown kind is `validation_error/unknown_kind` to whoever may act at the scope; an id
/// that does not exist is `not_found`, exactly like a hidden one. None of it changes anything.
async fn bad_params_unknown_kinds_and_unknown_ids_change_nothing(backend: Backend) {
    let Some(w) = world(backend, false).await else { return };
    let (alice, mona) = (w.client(Who::Alice), w.client(Who::Mona));
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for amount in [json!(120), json!(99.5)] {
        let params = json!({"kind": "purchase", "scope_id": STORE, "title": "t", "amount": amount, "currency": "USD"});
        let error = ledger.refused(alice, "request_create", &params, -32602, "schema").await;
        let paths: Vec<&Value> = error["data"]["issues"].as_array().unwrap().iter().map(|i| &i["path"]).collect();
        assert_eq!(paths, vec!["/amount"], "{error}");
    }
    // `create:*` reaches configured kinds only: alice may not create one that is not (§7.6:
    // create is checked first); the admin, who may create anything, hears it is unknown.
    let teleport = json!({"kind": "teleport", "scope_id": STORE, "title": "beam me up"});
    ledger.refused(alice, "request_create", &teleport, -32002, "not_permitted").await;
    let error = ledger.refused(&w.admin, "request_create", &teleport, -32005, "unknown_kind").await;
    assert_eq!(error["data"]["kind"], "teleport");
    ledger.refused(alice, "policy_get", &json!({"scope_id": STORE, "kind": "teleport"}), -32005, "unknown_kind").await;
    let set = json!({"scope_id": STORE, "kind": "teleport", "enabled": true});
    ledger.refused(mona, "policy_set", &set, -32005, "unknown_kind").await;
    for (who, method, params) in w.attacks().into_iter().filter(|(_, _, p)| p.get("request_id").is_some()) {
        let mut missing = params.clone();
        missing["request_id"] = json!(uuid::Uuid::now_v7());
        let absent = ledger.refused(w.client(who), method, &missing, -32003, "not_found").await;
        let hidden = ledger.refused(&w.eve, method, &params, -32003, "not_found").await;
        assert_eq!(absent, hidden, "{method}: a missing request must look exactly like a hidden one");
    }
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}
