//! The attack surface of roles, permits and offers (docs/protocol.md §5, §6, §2): every method of
//! issue 5, called with params that would succeed for the right caller and that name real
//! objects, as anonymous, as an unrelated account, with a token limited to other methods,
//! and with revoked sessions, tokens and permits. Each call is refused with the contract's
//! error, the database is unchanged, and the audit log grows only by `denied`/`failure`
//! rows. Every test ends by making the same calls as the right callers, which succeed.

mod common;

use common::identity::{ADMIN, Client, PASSWORD};
use common::{Backend, TestServer, start_with};
use countersign::config::{Config, RateLimit};
use countersign::on_conn;
use serde_json::{Value, json};

backend_tests!(
    anonymous_callers_are_unauthenticated_on_every_method,
    get_serves_reads_only_to_signed_in_callers_and_refuses_mutations,
    unrelated_account_is_refused_and_sees_nothing_of_others,
    token_limited_to_other_methods_is_forbidden_everywhere,
    revoked_sessions_and_tokens_are_unauthenticated,
    revoked_permits_grant_nothing_on_the_next_call,
);

/// The methods of this issue that only read (callable over GET).
const READS: [&str; 5] = ["role_list", "permission_check", "permit_list", "permit_offer_list", "permit_offer_history"];

fn is_read(method: &str) -> bool {
    READS.contains(&method)
}

/// Who may make an attack call successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Ann,
    Bob,
}

const EVERYONE: [Who; 3] = [Who::Admin, Who::Ann, Who::Bob];

/// admin; ann holds approver at org:acme; bob has three pending offers (two from ann, one
/// from the admin); eve is signed in and has nothing to do with any of it.
struct World {
    server: TestServer,
    admin: Client,
    ann: Client,
    bob: Client,
    eve: Client,
    ann_permit: String,
    offer_accept: String,
    offer_decline: String,
    offer_retract: String,
}

fn id_of(client: &Client) -> String {
    client.account_id.clone().expect("a signed-in client")
}

fn str_at(value: &Value, pointer: &str) -> String {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no {pointer} in {value}")).to_owned()
}

async fn world(backend: Backend) -> Option<World> {
    // Some tests sign the same accounts in several times: more than the `login` class allows.
    let roomy_logins = |c: &mut Config| {
        c.rate_limits.insert("login".into(), RateLimit { per_minute: 100_000, burst: 100_000 });
    };
    let server = start_with(backend, roomy_logins).await?;
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let bob = server.account(&admin, "bob").await;
    let eve = server.account(&admin, "eve").await;
    let granted = admin
        .ok("permit_grant", json!({"to_account_id": id_of(&ann), "role": "approver", "scope_id": "org:acme"}))
        .await;
    let offer = |from: &Client, role: &str, scope: Option<&str>| {
        let params = json!({"to_account_id": id_of(&bob), "role": role, "scope_id": scope, "message": "welcome"});
        let from = from.clone();
        async move { str_at(&from.ok("permit_offer_create", params).await, "/offer/id") }
    };
    let offer_accept = offer(&ann, "approver", Some("org:acme/store:berlin")).await;
    let offer_decline = offer(&admin, "operator", None).await;
    let offer_retract = offer(&ann, "approver", Some("org:acme/store:rome")).await;
    let ann_permit = str_at(&granted, "/permit/id");
    Some(World { server, admin, ann, bob, eve, ann_permit, offer_accept, offer_decline, offer_retract })
}

impl World {
    fn client(&self, who: Who) -> &Client {
        match who {
            Who::Admin => &self.admin,
            Who::Ann => &self.ann,
            Who::Bob => &self.bob,
        }
    }

    fn username(who: Who) -> &'static str {
        match who {
            Who::Admin => ADMIN,
            Who::Ann => "ann",
            Who::Bob => "bob",
        }
    }

    /// Every method once, with params that succeed for the right caller (in this order;
    /// the revoke of ann's permit comes last so that her offers stay acceptable).
    fn attacks(&self) -> Vec<(Who, &'static str, Value)> {
        let (ann, bob) = (id_of(&self.ann), id_of(&self.bob));
        let check =
            json!({"resource": "purchase", "verb": "approve", "scope_id": "org:acme/store:berlin", "account_id": ann});
        vec![
            (Who::Admin, "role_list", json!({})),
            (Who::Admin, "permission_check", json!({"checks": [check]})),
            (Who::Admin, "permit_list", json!({"account_id": ann})),
            (Who::Admin, "permit_grant", json!({"to_account_id": bob, "role": "buyer", "scope_id": "org:acme"})),
            (
                Who::Ann,
                "permit_offer_create",
                json!({"to_account_id": bob, "role": "approver", "scope_id": "org:acme/store:munich", "message": "hi"}),
            ),
            (Who::Bob, "permit_offer_accept", json!({"offer_id": self.offer_accept})),
            (Who::Bob, "permit_offer_decline", json!({"offer_id": self.offer_decline, "reason": "no thanks"})),
            (Who::Ann, "permit_offer_retract", json!({"offer_id": self.offer_retract})),
            (Who::Admin, "permit_offer_list", json!({"account_id": bob})),
            (Who::Admin, "permit_offer_history", json!({"account_id": bob, "limit": 50})),
            (Who::Admin, "permit_revoke", json!({"permit_id": self.ann_permit, "reason": "rotation"})),
        ]
    }

    /// The attack calls made by the right callers succeed: the params were real.
    async fn right_callers_succeed(&self) {
        for (who, method, params) in self.attacks() {
            let result = self.client(who).ok(method, params).await;
            let ok = match method {
                "role_list" => result["roles"].as_array().is_some_and(|r| r.len() == 9),
                "permission_check" => result == json!({"results": [true]}),
                "permit_list" => {
                    result["permits"].as_array().is_some_and(|p| p.iter().any(|p| p["id"] == self.ann_permit))
                }
                "permit_grant" => result["permit"]["role"] == "buyer" && result["permit"]["revoked_at"].is_null(),
                "permit_offer_create" => result["offer"]["status"] == "pending",
                "permit_offer_accept" => result["offer"]["status"] == "accepted" && result["permit"]["id"].is_string(),
                "permit_offer_decline" => result["offer"]["status"] == "declined",
                "permit_offer_retract" => result["offer"]["status"] == "retracted",
                "permit_offer_list" => {
                    let incoming = result["incoming"].as_array().unwrap();
                    incoming.iter().any(|o| o["scope_id"] == "org:acme/store:munich")
                        && !incoming
                            .iter()
                            .any(|o| [&self.offer_accept, &self.offer_decline].contains(&&str_at(o, "/id")))
                }
                "permit_offer_history" => {
                    let ids: Vec<String> =
                        result["offers"].as_array().unwrap().iter().map(|o| str_at(o, "/id")).collect();
                    [&self.offer_accept, &self.offer_decline, &self.offer_retract].iter().all(|id| ids.contains(id))
                }
                "permit_revoke" => {
                    result["permit"]["id"] == self.ann_permit && result["permit"]["revoked_at"].is_string()
                }
                other => panic!("unexpected method {other}"),
            };
            assert!(ok, "{method} as {who:?} did not do what it should: {result}");
        }
    }
}

/// `?params=<url-encoded JSON>&id=9` for a GET call.
fn get_path(method: &str, params: &Value) -> String {
    let encoded: String = form_urlencoded::byte_serialize(params.to_string().as_bytes()).collect();
    format!("/rpc/{method}?params={encoded}&id=9")
}

/// Makes refused calls and remembers which ones must leave a `denied` audit row
/// (every 403 does, with event_type = method and data.reason = the error's reason).
#[derive(Default)]
struct Ledger {
    denied: Vec<(String, String)>,
    /// Named in failure messages: which credential made the calls.
    context: String,
}

impl Ledger {
    fn note(&mut self, method: &str, code: i64, reason: &str) {
        if code == -32002 {
            self.denied.push((method.to_owned(), reason.to_owned()));
        }
    }

    async fn refused(&mut self, client: &Client, method: &str, params: &Value, code: i64, reason: &str) {
        let response = client.call(method, params.clone()).await;
        let error = response
            .get("error")
            .unwrap_or_else(|| panic!("{method} {params} was not refused ({}): {response}", self.context));
        let got = (&error["code"], &error["data"]["reason"]);
        assert_eq!(got, (&json!(code), &json!(reason)), "{method} ({}): {response}", self.context);
        self.note(method, code, reason);
    }

    async fn refused_get(
        &mut self,
        client: &Client,
        method: &str,
        params: &Value,
        status: u16,
        code: i64,
        reason: &str,
    ) {
        let (got, _, body) = client.get(&get_path(method, params)).await;
        assert_eq!(got, status, "GET {method} ({}): {body}", self.context);
        assert_eq!(body["id"], 9, "GET {method}: {body}");
        let error = (&body["error"]["code"], &body["error"]["data"]["reason"]);
        assert_eq!(error, (&json!(code), &json!(reason)), "GET {method} ({}): {body}", self.context);
        self.note(method, code, reason);
    }
}

/// The columns compared per table; UUID columns are BLOBs on SQLite (compared as hex).
/// Left out: sessions.last_seen_at/expires_at and api_tokens.last_used_at, which slide.
const WATCHED: [(&str, &[&str]); 6] = [
    (
        "permits",
        &[
            "id",
            "actor_id",
            "account_id",
            "role",
            "scope_id",
            "granted_by",
            "source_offer_id",
            "created_at",
            "expires_at",
            "revoked_at",
            "revoked_by",
            "revoked_reason",
        ],
    ),
    (
        "permit_offers",
        &[
            "id",
            "from_account_id",
            "from_actor_id",
            "to_account_id",
            "role",
            "scope_id",
            "message",
            "status",
            "created_at",
            "expires_at",
            "resolved_at",
            "decline_reason",
            "permit_id",
            "superseded_reason",
            "cause_id",
        ],
    ),
    ("notifications", &["account_id", "seq", "type", "data", "created_at"]),
    ("notification_heads", &["account_id", "seq", "pruned_through"]),
    ("sessions", &["id", "account_id", "token_hash", "created_at", "revoked_at"]),
    ("api_tokens", &["id", "account_id", "name", "token_hash", "methods", "created_at", "expires_at", "revoked_at"]),
];

const UUID_COLUMNS: [&str; 11] = [
    "id",
    "actor_id",
    "account_id",
    "granted_by",
    "source_offer_id",
    "revoked_by",
    "from_account_id",
    "from_actor_id",
    "to_account_id",
    "permit_id",
    "cause_id",
];

struct Snapshot {
    tables: Vec<(&'static str, Vec<String>)>,
    last_seq: i64,
}

/// Every row of `table` as one `|`-joined text, sorted.
async fn rows_of(server: &TestServer, table: &str, columns: &[&str]) -> Vec<String> {
    let sqlite = server.env.db.backend() == countersign::db::Backend::Sqlite;
    let expr = columns
        .iter()
        .map(|c| {
            if sqlite && UUID_COLUMNS.contains(c) {
                format!("COALESCE(hex({c}), '~')")
            } else {
                format!("COALESCE(CAST({c} AS TEXT), '~')")
            }
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

/// Every audit row after `after_seq`, as the admin's `audit_list` pages them.
async fn audit_after(admin: &Client, after_seq: i64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = after_seq;
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
    let rows = audit_after(&w.admin, 0).await;
    let last_seq = rows.last().and_then(|r| r["seq"].as_i64()).expect("setup wrote audit rows");
    Snapshot { tables, last_seq }
}

/// The watched tables are as `before`; the audit log grew only by the `denied` rows the
/// ledger expects and by `failure` rows of mutating methods.
async fn assert_unchanged(w: &World, before: &Snapshot, ledger: &Ledger) {
    let count = |table: &str| before.tables.iter().find(|(t, _)| *t == table).map_or(0, |(_, rows)| rows.len());
    assert!(count("permits") >= 2 && count("permit_offers") >= 3 && count("notifications") >= 4, "a thin snapshot");
    let after = snapshot(w).await;
    for ((table, old), (_, new)) in before.tables.iter().zip(&after.tables) {
        assert_eq!(new, old, "table {table} changed");
    }
    let rows = audit_after(&w.admin, before.last_seq).await;
    for row in &rows {
        let outcome = row["outcome"].as_str().unwrap();
        let event = row["event_type"].as_str().unwrap();
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

/// No credentials: every method, over POST and (reads) GET, is `unauthenticated`.
async fn anonymous_callers_are_unauthenticated_on_every_method(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let anonymous = w.server.anonymous();
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (_, method, params) in w.attacks() {
        ledger.refused(&anonymous, method, &params, -32001, "no_credentials").await;
        if is_read(method) {
            ledger.refused_get(&anonymous, method, &params, 401, -32001, "no_credentials").await;
        }
    }
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// GET answers the read methods to their right callers (200) and to nobody else (401);
/// a mutating method over GET is HTTP 405 `invalid_request/method_requires_post` for
/// everyone, the right caller included, by cookie or by bearer token.
async fn get_serves_reads_only_to_signed_in_callers_and_refuses_mutations(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut bearers = Vec::new();
    for who in EVERYONE {
        let created = w.client(who).ok("token_create", json!({"name": "full"})).await;
        bearers.push(w.client(who).with_bearer(&str_at(&created, "/secret")));
    }
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (who, method, params) in w.attacks() {
        if is_read(method) {
            let (status, _, body) = w.client(who).get(&get_path(method, &params)).await;
            assert_eq!(status, 200, "GET {method} as {who:?}: {body}");
            assert!(body["result"].is_object(), "GET {method}: {body}");
            continue;
        }
        let bearer = &bearers[EVERYONE.iter().position(|w| *w == who).unwrap()];
        for caller in [w.client(who), bearer, &w.server.anonymous(), &w.eve] {
            ledger.refused_get(caller, method, &params, 405, -32600, "method_requires_post").await;
        }
    }
    let (_, _, body) = w.admin.get(&get_path("permit_list", &json!({"account_id": id_of(&w.ann)}))).await;
    assert_eq!(body["result"]["permits"][0]["id"], w.ann_permit, "{body}");
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// Eve, signed in with no permits: admin methods and others' lists are
/// `forbidden/not_permitted`, offering a role she lacks is `role_not_grantable`, others'
/// offers are `not_found` (also to the admin and to the wrong party of an offer). What
/// any account may read — roles, her own permits and offers — succeeds and shows nothing.
async fn unrelated_account_is_refused_and_sees_nothing_of_others(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let eve = &w.eve;
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (_, method, params) in w.attacks() {
        let (code, reason) = match method {
            "role_list" => {
                let roles = eve.ok(method, params.clone()).await;
                assert_eq!(roles, w.admin.ok(method, json!({})).await, "every account sees the same roles");
                let (status, _, body) = eve.get(&get_path(method, &params)).await;
                assert_eq!((status, &body["result"]), (200, &roles), "{body}");
                continue;
            }
            "permit_offer_create" => (-32002, "role_not_grantable"),
            "permit_offer_accept" | "permit_offer_decline" | "permit_offer_retract" => (-32003, "not_found"),
            _ => (-32002, "not_permitted"),
        };
        ledger.refused(eve, method, &params, code, reason).await;
        if is_read(method) {
            ledger.refused_get(eve, method, &params, 403, code, reason).await;
        }
    }
    // Acting on an offer as the wrong party, or as an admin who is no party, is not_found.
    let (accept, decline, retract) = (&w.offer_accept, &w.offer_decline, &w.offer_retract);
    for (client, method, offer) in [
        (&w.admin, "permit_offer_accept", accept),
        (&w.admin, "permit_offer_decline", accept),
        (&w.admin, "permit_offer_retract", retract),
        (&w.ann, "permit_offer_accept", accept),
        (&w.ann, "permit_offer_decline", retract),
        (&w.bob, "permit_offer_retract", retract),
        (&w.bob, "permit_offer_retract", decline),
        (&w.admin, "permit_offer_accept", decline),
    ] {
        ledger.refused(client, method, &json!({"offer_id": offer}), -32003, "not_found").await;
    }
    // Her own views are allowed and empty; asking about herself is fine.
    let eve_id = id_of(eve);
    assert_eq!(eve.ok("permit_list", json!({})).await, json!({"permits": []}));
    assert_eq!(eve.ok("permit_list", json!({"account_id": eve_id})).await, json!({"permits": []}));
    assert_eq!(eve.ok("permit_offer_list", json!({})).await, json!({"incoming": [], "outgoing": []}));
    let (status, _, body) = eve.get(&get_path("permit_offer_list", &json!({"account_id": eve_id}))).await;
    assert_eq!((status, &body["result"]), (200, &json!({"incoming": [], "outgoing": []})), "{body}");
    assert_eq!(eve.ok("permit_offer_history", json!({})).await, json!({"offers": [], "next_cursor": null}));
    let check = json!({"resource": "purchase", "verb": "approve", "scope_id": "org:acme/store:berlin"});
    let mine = json!({"checks": [check.clone(), {"resource": "purchase", "verb": "view-any", "account_id": eve_id}]});
    assert_eq!(eve.ok("permission_check", mine).await, json!({"results": [false, false]}));
    // One question about someone else spoils the whole batch.
    let mixed = json!({"checks": [check, {"resource": "purchase", "verb": "approve", "account_id": id_of(&w.bob)}]});
    ledger.refused(eve, "permission_check", &mixed, -32002, "not_permitted").await;
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// A token limited to `whoami` works for `whoami` and is
/// `forbidden/token_method_not_allowed` on every method of the issue, POST or GET.
async fn token_limited_to_other_methods_is_forbidden_everywhere(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut limited = Vec::new();
    for who in EVERYONE {
        let created = w.client(who).ok("token_create", json!({"name": "narrow", "methods": ["whoami"]})).await;
        assert_eq!(created["token"]["methods"], json!(["whoami"]), "{created}");
        let token = w.client(who).with_bearer(&str_at(&created, "/secret"));
        let me = token.ok("whoami", json!({})).await;
        assert_eq!(me["account"]["username"], World::username(who), "{me}");
        limited.push(token);
    }
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (who, method, params) in w.attacks() {
        let token = &limited[EVERYONE.iter().position(|w| *w == who).unwrap()];
        ledger.refused(token, method, &params, -32002, "token_method_not_allowed").await;
        if is_read(method) {
            ledger.refused_get(token, method, &params, 403, -32002, "token_method_not_allowed").await;
        }
    }
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// The id of the session `client` is signed in with.
async fn current_session_id(client: &Client) -> String {
    let list = client.ok("session_list", json!({})).await;
    let current = list["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).cloned();
    str_at(&current.unwrap_or_else(|| panic!("no current session: {list}")), "/id")
}

/// For each right caller: a session that logged out, a session ended with
/// `session_revoke`, and a token ended with `token_revoke` — each worked before, and is
/// `unauthenticated/invalid_credentials` on every method afterwards.
async fn revoked_sessions_and_tokens_are_unauthenticated(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut dead: Vec<(Who, &'static str, Client)> = Vec::new();
    for who in EVERYONE {
        let main = w.client(who);
        let logged_out = w.server.login(World::username(who), PASSWORD).await;
        let revoked = w.server.login(World::username(who), PASSWORD).await;
        let created = main.ok("token_create", json!({"name": "soon gone"})).await;
        let token = main.with_bearer(&str_at(&created, "/secret"));
        for client in [&logged_out, &revoked, &token] {
            assert_eq!(client.ok("whoami", json!({})).await["account"]["username"], World::username(who));
        }
        assert_eq!(logged_out.ok("account_logout", json!({})).await, json!({"ok": true}));
        let session_id = current_session_id(&revoked).await;
        assert_eq!(main.ok("session_revoke", json!({"session_id": session_id})).await, json!({"ok": true}));
        let token_id = str_at(&created, "/token/id");
        assert_eq!(main.ok("token_revoke", json!({"token_id": token_id})).await, json!({"ok": true}));
        dead.extend([(who, "logged out", logged_out), (who, "session_revoke", revoked), (who, "token_revoke", token)]);
    }
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (who, method, params) in w.attacks() {
        for (_, how, client) in dead.iter().filter(|(w, _, _)| *w == who) {
            ledger.context = format!("{who:?} after {how}");
            ledger.refused(client, method, &params, -32001, "invalid_credentials").await;
            if is_read(method) {
                ledger.refused_get(client, method, &params, 401, -32001, "invalid_credentials").await;
            }
        }
    }
    assert_unchanged(&w, &before, &ledger).await;
    w.right_callers_succeed().await;
}

/// carl held admin (granted by permit_grant) and dave approver at org:acme; both permits
/// are revoked. Their still-open session and token get `forbidden` on their very next
/// call: carl everything admin-only, dave offering approver, and bob accepting the offer
/// dave made while he held it (`role_not_grantable`: the grantor can no longer grant it).
async fn revoked_permits_grant_nothing_on_the_next_call(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let (admin, bob) = (&w.admin, &w.bob);
    let carl = w.server.account(admin, "carl").await;
    let dave = w.server.account(admin, "dave").await;
    let grant = |to: &Client, role: &str, scope: Option<&str>| json!({"to_account_id": id_of(to), "role": role, "scope_id": scope});
    let carl_permit = str_at(&admin.ok("permit_grant", grant(&carl, "admin", None)).await, "/permit/id");
    let dave_permit = str_at(&admin.ok("permit_grant", grant(&dave, "approver", Some("org:acme"))).await, "/permit/id");
    let carl_token = carl.with_bearer(&str_at(&carl.ok("token_create", json!({"name": "ops"})).await, "/secret"));
    // While they hold their permits, they may.
    let listed = carl_token.ok("permit_list", json!({"account_id": id_of(&w.ann)})).await;
    assert_eq!(listed["permits"][0]["id"], w.ann_permit, "{listed}");
    let lyon = json!({"to_account_id": id_of(bob), "role": "approver", "scope_id": "org:acme/store:lyon"});
    let offer_d = str_at(&dave.ok("permit_offer_create", lyon.clone()).await, "/offer/id");
    for permit in [&carl_permit, &dave_permit] {
        let revoked = admin.ok("permit_revoke", json!({"permit_id": permit})).await;
        // Offers *from* the holder are not superseded by the revoke.
        assert_eq!(revoked["superseded_offer_ids"], json!([]), "{revoked}");
    }
    let before = snapshot(&w).await;
    let mut ledger = Ledger::default();
    for (who, method, params) in w.attacks() {
        ledger.context = format!("carl, for {method}");
        let (code, reason) = match (who, method) {
            (_, "role_list") => {
                assert_eq!(carl.ok(method, params.clone()).await["roles"].as_array().map(Vec::len), Some(9));
                continue;
            }
            (_, "permit_offer_create") => (-32002, "role_not_grantable"),
            (Who::Admin, _) => (-32002, "not_permitted"),
            _ => (-32003, "not_found"), // offers carl is no party to
        };
        for client in [&carl, &carl_token] {
            ledger.refused(client, method, &params, code, reason).await;
        }
        if is_read(method) {
            ledger.refused_get(&carl, method, &params, 403, code, reason).await;
        }
    }
    ledger.context = "dave, whose approver permit was revoked".into();
    for params in [lyon, json!({"to_account_id": id_of(bob), "role": "approver", "scope_id": "org:acme/store:munich"})]
    {
        ledger.refused(&dave, "permit_offer_create", &params, -32002, "role_not_grantable").await;
    }
    ledger.refused(bob, "permit_offer_accept", &json!({"offer_id": offer_d}), -32002, "role_not_grantable").await;
    for client in [&carl, &dave] {
        assert_eq!(client.ok("permit_list", json!({})).await, json!({"permits": []}), "revoked permits are not listed");
        assert_eq!(client.ok("whoami", json!({})).await["permissions"], json!({}));
    }
    assert_unchanged(&w, &before, &ledger).await;
    let offers = bob.ok("permit_offer_list", json!({})).await;
    assert!(offers["incoming"].as_array().unwrap().iter().any(|o| o["id"] == offer_d.as_str()), "{offers}");
    w.right_callers_succeed().await;
}
