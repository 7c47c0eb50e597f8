//! The attack surface of EVERY declared method, generated from the registry (docs/protocol.md
//! §2.1, §3, §4.2): a method is covered the day it is declared in `actions/`.
//!
//! [`EXPOSURE`] says, for each production method, who may call it and whether it changes
//! anything. The test first checks that table against the registry: a declared method missing
//! from it, a listed method that is no longer declared, or a row that disagrees with the
//! declaration's `auth` / `permission` / `side_effects` fails, naming the method. Then every
//! method is called with `{}` by every [`Attacker`], over POST and over GET. The check order
//! (authentication → token list → `auth`/`permission` → CSRF → params) means each refusal comes
//! before params are read, so no per-method params are needed. The database must not change
//! (every table, by direct SQL), and the audit log may only gain `denied` (one per `forbidden`
//! answer) and `failure` rows.

mod common;

use std::collections::BTreeMap;

use common::identity::{ADMIN, Auth, Client, PASSWORD};
use common::{Backend, TestServer, start_with};
use countersign::config::{Config, RateLimit};
use countersign::on_conn;
use countersign::rpc::spec::{ActionSpec, Auth as Declared};
use serde_json::{Value, json};

backend_tests!(every_declared_method_refuses_every_attacker);

/// Who may call a method (the declaration's `auth`, and its `permission` when it names one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account; the handler decides the rest from params and objects.
    Account,
    /// `admin` held globally.
    Admin,
    /// `keeper` or `admin` held globally.
    #[allow(dead_code)] // no method is declared `keeper` today
    Keeper,
    /// Any signed-in account holding this `verb:resource` somewhere.
    Permission(&'static str),
}

/// `Write`: `side_effects = true` (POST only); `Read`: GET-able.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Read,
    Write,
}

/// Every production method (test doubles, `test_*`, are left out), as actions/*.toml declares it.
const EXPOSURE: &[(&str, Expect, Effect)] = &[
    ("rpc.discover", Expect::Public, Effect::Read),
    // auth.toml
    ("account_bootstrap", Expect::Public, Effect::Write),
    ("account_login", Expect::Public, Effect::Write),
    ("account_signup", Expect::Public, Effect::Write),
    ("account_logout", Expect::Account, Effect::Write),
    ("account_password_change", Expect::Account, Effect::Write),
    ("account_create", Expect::Admin, Effect::Write),
    ("account_list", Expect::Admin, Effect::Read),
    ("account_lookup", Expect::Account, Effect::Read),
    ("account_disable", Expect::Admin, Effect::Write),
    ("account_enable", Expect::Admin, Effect::Write),
    ("whoami", Expect::Account, Effect::Read),
    ("session_authenticate", Expect::Public, Effect::Read),
    ("session_list", Expect::Account, Effect::Read),
    ("session_revoke", Expect::Account, Effect::Write),
    ("token_create", Expect::Account, Effect::Write),
    ("token_list", Expect::Account, Effect::Read),
    ("token_revoke", Expect::Account, Effect::Write),
    // audit.toml
    ("audit_list", Expect::Permission("view:audit"), Effect::Read),
    ("audit_verify", Expect::Admin, Effect::Read),
    // notifications.toml
    ("notifications_subscribe", Expect::Account, Effect::Read),
    ("notifications_unsubscribe", Expect::Account, Effect::Read),
    ("notifications_list", Expect::Account, Effect::Read),
    // permits.toml
    ("role_list", Expect::Account, Effect::Read),
    ("permission_check", Expect::Account, Effect::Read),
    ("permit_list", Expect::Account, Effect::Read),
    ("permit_grant", Expect::Admin, Effect::Write),
    ("permit_revoke", Expect::Admin, Effect::Write),
    // offers.toml
    ("permit_offer_create", Expect::Account, Effect::Write),
    ("permit_offer_accept", Expect::Account, Effect::Write),
    ("permit_offer_decline", Expect::Account, Effect::Write),
    ("permit_offer_retract", Expect::Account, Effect::Write),
    ("permit_offer_list", Expect::Account, Effect::Read),
    ("permit_offer_history", Expect::Account, Effect::Read),
    // policies.toml
    ("policy_get", Expect::Account, Effect::Read),
    ("policy_list", Expect::Account, Effect::Read),
    ("policy_set", Expect::Account, Effect::Write),
    // requests.toml
    ("request_create", Expect::Account, Effect::Write),
    ("request_get", Expect::Account, Effect::Read),
    ("request_list", Expect::Account, Effect::Read),
    ("request_confirm", Expect::Account, Effect::Write),
    ("request_approve", Expect::Account, Effect::Write),
    ("request_reject", Expect::Account, Effect::Write),
    ("request_execute", Expect::Account, Effect::Write),
    ("request_cancel", Expect::Account, Effect::Write),
    ("request_retry", Expect::Account, Effect::Write),
];

/// Whether a row of [`EXPOSURE`] says what the declaration says.
fn agrees(spec: &ActionSpec, expect: Expect, effect: Effect) -> bool {
    let (auth, permission) = match expect {
        Expect::Public => (Declared::Public, None),
        Expect::Account => (Declared::Account, None),
        Expect::Admin => (Declared::Admin, None),
        Expect::Keeper => (Declared::Keeper, None),
        Expect::Permission(p) => (Declared::Account, Some(p)),
    };
    let declared_permission = spec.permission.as_ref().map(ToString::to_string);
    spec.auth == auth && declared_permission.as_deref() == permission && spec.side_effects == (effect == Effect::Write)
}

/// Every production method of the registry with its row of [`EXPOSURE`]; fails naming each
/// method the table and the declarations disagree on.
fn production_methods(server: &TestServer) -> Vec<(String, Expect, Effect)> {
    let specs: Vec<&ActionSpec> =
        server.api.registry.iter().map(|a| &a.spec).filter(|s| !s.method.starts_with("test_")).collect();
    let mut problems = Vec::new();
    let mut methods = Vec::new();
    for spec in &specs {
        let permission = spec.permission.as_ref().map(ToString::to_string);
        let rows: Vec<_> = EXPOSURE.iter().filter(|(m, _, _)| *m == spec.method).collect();
        let declared =
            format!("auth = {:?}, permission = {:?}, side_effects = {}", spec.auth, permission, spec.side_effects);
        match rows.as_slice() {
            [] => problems.push(format!("{}: declared ({declared}) but missing from EXPOSURE", spec.method)),
            [(_, expect, effect)] if agrees(spec, *expect, *effect) => {
                methods.push((spec.method.clone(), *expect, *effect))
            }
            [(_, expect, effect)] => {
                problems.push(format!("{}: EXPOSURE says {expect:?}/{effect:?}, actions/ says {declared}", spec.method))
            }
            _ => problems.push(format!("{}: listed more than once in EXPOSURE", spec.method)),
        }
    }
    for (method, _, _) in EXPOSURE.iter().filter(|(m, _, _)| !specs.iter().any(|s| s.method == *m)) {
        problems.push(format!("{method}: in EXPOSURE but no longer declared"));
    }
    assert!(problems.is_empty(), "EXPOSURE disagrees with the registry:\n{}", problems.join("\n"));
    methods
}

/// The callers that attack every method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attacker {
    /// No credentials at all.
    Anonymous,
    /// `Authorization: Bearer cst_nonsense`: a bad bearer always fails, even on public methods.
    BadBearer,
    /// eve's API token limited to `whoami`.
    NarrowToken,
    /// eve's session cookie, with our Origin; eve holds no permits.
    NoPermits,
    /// A session cookie the server never issued, without an Origin: ignored on public methods
    /// (the call runs anonymously, so no CSRF either), `invalid_credentials` on the others.
    StaleCookie,
    /// eve's session cookie sent without an Origin.
    CrossSite,
    /// A session of the admin, sent from another Origin.
    CrossSiteAdmin,
}

const UNAUTHENTICATED: i64 = -32001;
const FORBIDDEN: i64 = -32002;

/// What a call must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// This error: (code, `data.reason`).
    Refused(i64, &'static str),
    /// Past authentication and authorization: neither `unauthenticated` nor `forbidden`.
    Passes,
    /// A result.
    Success,
    /// Not called: it would be allowed and might change things (eve's own mutations, `{}`).
    Skip,
}

/// The protocol's answer to `attacker` calling `method` with `{}` over POST (§2.1, §4.2).
fn want(attacker: Attacker, method: &str, expect: Expect, effect: Effect) -> Want {
    let privileged = matches!(expect, Expect::Admin | Expect::Keeper | Expect::Permission(_));
    match attacker {
        Attacker::Anonymous if expect == Expect::Public => Want::Passes,
        Attacker::Anonymous => Want::Refused(UNAUTHENTICATED, "no_credentials"),
        Attacker::BadBearer => Want::Refused(UNAUTHENTICATED, "invalid_credentials"),
        Attacker::NarrowToken if method == "whoami" => Want::Success,
        Attacker::NarrowToken => Want::Refused(FORBIDDEN, "token_method_not_allowed"),
        Attacker::StaleCookie if expect == Expect::Public => Want::Passes,
        Attacker::StaleCookie => Want::Refused(UNAUTHENTICATED, "invalid_credentials"),
        // `auth` and `permission` are checked before CSRF.
        Attacker::NoPermits | Attacker::CrossSite if privileged => Want::Refused(FORBIDDEN, "not_permitted"),
        Attacker::NoPermits if effect == Effect::Write => Want::Skip,
        // A cookie-authenticated call with side effects needs our Origin, public ones included.
        Attacker::CrossSite | Attacker::CrossSiteAdmin if effect == Effect::Write => Want::Refused(FORBIDDEN, "csrf"),
        // Reads are exempt from CSRF.
        Attacker::NoPermits | Attacker::CrossSite | Attacker::CrossSiteAdmin => Want::Passes,
    }
}

/// The same over GET: a mutation is 405 whoever calls (§1, §2.1 step 4); a read answers as
/// over POST, with the HTTP status of its error.
fn want_get(attacker: Attacker, method: &str, expect: Expect, effect: Effect) -> Want {
    match effect {
        Effect::Write => Want::Refused(-32600, "method_requires_post"),
        Effect::Read => want(attacker, method, expect, effect),
    }
}

fn http_status(code: i64, reason: &str) -> u16 {
    match (code, reason) {
        (_, "method_requires_post") => 405,
        (UNAUTHENTICATED, _) => 401,
        (FORBIDDEN, _) => 403,
        _ => 400,
    }
}

/// The calls made: how many, every disagreement with the protocol, and the `forbidden`
/// answers (each must leave one `denied` audit row, §9).
#[derive(Default)]
struct Sweep {
    post: usize,
    get: usize,
    per_method: BTreeMap<String, usize>,
    problems: Vec<String>,
    forbidden: Vec<(String, String)>,
}

impl Sweep {
    async fn attack(&mut self, who: Attacker, client: &Client, method: &str, want: Want, over_get: bool) {
        if want == Want::Skip {
            return;
        }
        let (status, response) = if over_get {
            self.get += 1;
            let (status, _, body) = client.get(&format!("/rpc/{method}?params=%7B%7D&id=1")).await;
            (status, body)
        } else {
            self.post += 1;
            *self.per_method.entry(method.to_owned()).or_default() += 1;
            (200, client.call(method, json!({})).await)
        };
        let (code, reason) = (response["error"]["code"].as_i64(), response["error"]["data"]["reason"].as_str());
        if code == Some(FORBIDDEN) {
            self.forbidden.push((method.to_owned(), reason.unwrap_or_default().to_owned()));
        }
        let ok = match want {
            Want::Refused(c, r) => {
                code == Some(c)
                    && reason == Some(r)
                    && (!over_get || status == http_status(c, r) && response["id"] == 1)
            }
            Want::Passes => !matches!(code, Some(UNAUTHENTICATED | FORBIDDEN)) && ![401, 403].contains(&status),
            Want::Success => response["result"].is_object() && status == 200,
            Want::Skip => true,
        };
        if !ok {
            let how = if over_get { "GET" } else { "POST" };
            self.problems.push(format!("{how} {method} as {who:?}: wanted {want:?}, got HTTP {status} {response}"));
        }
    }
}

/// A server whose tables all hold something, and the attackers' clients — every session and
/// token they use is made here, before the first snapshot.
async fn world(backend: Backend) -> Option<(TestServer, Vec<(Attacker, Client)>)> {
    let roomy_logins = |c: &mut Config| {
        c.rate_limits.insert("login".into(), RateLimit { per_minute: 100_000, burst: 100_000 });
    };
    let server = start_with(backend, roomy_logins).await?;
    let admin = server.admin().await;
    let eve = server.account(&admin, "eve").await;
    let ann = server.account(&admin, "ann").await;
    let ann_id = ann.account_id.clone().unwrap();
    // A permit, a policy, a request with one vote, an offer, notifications, tokens.
    admin.ok("permit_grant", json!({"to_account_id": ann_id, "role": "member", "scope_id": "org:acme"})).await;
    admin.ok("policy_set", json!({"scope_id": "org:acme", "kind": "purchase", "approvals_required": 2})).await;
    let made = ann.ok("request_create", json!({"kind": "purchase", "scope_id": "org:acme", "title": "probe"})).await;
    let voted = admin.ok("request_approve", json!({"request_id": made["request"]["id"]})).await;
    assert_eq!(voted["request"]["status"], "pending_approval", "{voted}");
    admin.ok("permit_offer_create", json!({"to_account_id": ann_id, "role": "approver", "scope_id": "org:acme"})).await;
    ann.ok("token_create", json!({"name": "ann's script"})).await;

    let narrow = eve.ok("token_create", json!({"name": "narrow", "methods": ["whoami"]})).await;
    let narrow = eve.with_bearer(narrow["secret"].as_str().unwrap());
    let never_issued = Auth::Cookie("countersign_session=never-issued-by-this-server-0123456789abcdefgh".into());
    let stale = Client { auth: never_issued, origin: None, ..server.anonymous() };
    let mut cross_admin = server.login(ADMIN, PASSWORD).await;
    cross_admin.origin = Some("https://evil.example".into());
    let clients = vec![
        (Attacker::Anonymous, server.anonymous()),
        (Attacker::BadBearer, server.anonymous().with_bearer("cst_nonsense")),
        (Attacker::NarrowToken, narrow),
        (Attacker::StaleCookie, stale),
        (Attacker::CrossSite, Client { origin: None, ..eve.clone() }),
        (Attacker::CrossSiteAdmin, cross_admin),
        (Attacker::NoPermits, eve),
    ];
    Some((server, clients))
}

/// Not compared row by row: the audit log (checked on its own), its head, the migrations.
const NOT_STATE: [&str; 3] = ["audit_log", "audit_head", "_sqlx_migrations"];
/// Columns that move on use and hold no state: when a session or token was last used.
const SLIDING: [(&str, &str); 3] =
    [("sessions", "last_seen_at"), ("sessions", "expires_at"), ("api_tokens", "last_used_at")];
/// The tables holding state (migrations/); each must exist and hold rows before the sweep.
const STATE: [&str; 12] = [
    "countersign_meta",
    "accounts",
    "actors",
    "sessions",
    "api_tokens",
    "permits",
    "permit_offers",
    "policies",
    "requests",
    "request_decisions",
    "notifications",
    "notification_heads",
];

async fn strings(server: &TestServer, sql: &str) -> Vec<String> {
    let mut conn = server.env.db.read().await.unwrap();
    on_conn!(conn.conn(), c => sqlx::query_scalar(sql).fetch_all(&mut *c).await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every row of every table but [`NOT_STATE`], every column but [`SLIDING`], as sorted text.
async fn snapshot(server: &TestServer) -> BTreeMap<String, Vec<String>> {
    let sqlite = server.env.db.backend() == countersign::db::Backend::Sqlite;
    let tables = match sqlite {
        true => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        false => {
            "SELECT table_name::text FROM information_schema.tables \
                  WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let mut snapshot = BTreeMap::new();
    for table in strings(server, tables).await.into_iter().filter(|t| !NOT_STATE.contains(&t.as_str())) {
        let columns = match sqlite {
            true => format!("SELECT name FROM pragma_table_info('{table}')"),
            false => format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
        };
        let expr = (strings(server, &columns).await.iter())
            .filter(|c| !SLIDING.iter().any(|(t, s)| *t == table && s == c))
            .map(|c| match sqlite {
                true => format!("quote(\"{c}\")"),
                false => format!("COALESCE(CAST(\"{c}\" AS TEXT), 'NULL')"),
            })
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut rows = strings(server, &format!("SELECT {expr} FROM \"{table}\"")).await;
        rows.sort();
        snapshot.insert(table, rows);
    }
    snapshot
}

/// The audit rows after `seq` as (event_type, outcome, data), by direct SQL.
async fn audit_after(server: &TestServer, seq: i64) -> Vec<(String, String, Value)> {
    let sql =
        format!("SELECT event_type || '|' || outcome || '|' || data FROM audit_log WHERE seq > {seq} ORDER BY seq");
    let rows = strings(server, &sql).await;
    let split = |row: &String| {
        let mut parts = row.splitn(3, '|');
        let (event, outcome, data) = (parts.next(), parts.next(), parts.next().map(serde_json::from_str));
        (event.unwrap().to_owned(), outcome.unwrap().to_owned(), data.unwrap().unwrap())
    };
    rows.iter().map(split).collect()
}

async fn audit_head(server: &TestServer) -> i64 {
    let seq = strings(server, "SELECT CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM audit_log").await;
    seq[0].parse().unwrap()
}

/// Every production method, every attacker, POST and GET: refused as the protocol says, and
/// nothing changes.
async fn every_declared_method_refuses_every_attacker(backend: Backend) {
    let Some((server, clients)) = world(backend).await else { return };
    let methods = production_methods(&server);
    let before = snapshot(&server).await;
    for table in STATE {
        assert!(before.get(table).is_some_and(|rows| !rows.is_empty()), "table {table}: missing or empty");
    }
    let audit_seq = audit_head(&server).await;

    let mut sweep = Sweep::default();
    for (method, expect, effect) in &methods {
        for (attacker, client) in &clients {
            let post = want(*attacker, method, *expect, *effect);
            sweep.attack(*attacker, client, method, post, false).await;
            let get = want_get(*attacker, method, *expect, *effect);
            sweep.attack(*attacker, client, method, get, true).await;
        }
    }

    // Nothing changed.
    let after = snapshot(&server).await;
    for (table, rows) in &before {
        let now = after.get(table).cloned().unwrap_or_default();
        if now != *rows {
            let gone: Vec<_> = rows.iter().filter(|r| !now.contains(r)).collect();
            let new: Vec<_> = now.iter().filter(|r| !rows.contains(r)).collect();
            sweep.problems.push(format!("table {table} changed: rows gone {gone:?}, rows new {new:?}"));
        }
    }
    for table in after.keys().filter(|t| !before.contains_key(*t)) {
        sweep.problems.push(format!("table {table} appeared"));
    }
    // The audit log gained a `denied` row per `forbidden` answer, failures of mutations at
    // most, and never a success.
    let mut denied = Vec::new();
    for (event, outcome, data) in audit_after(&server, audit_seq).await {
        let write = methods.iter().any(|(m, _, effect)| *m == event && *effect == Effect::Write);
        match outcome.as_str() {
            "denied" => denied.push((event, data["reason"].as_str().unwrap_or_default().to_owned())),
            "failure" if write => {}
            _ => sweep.problems.push(format!("audit row {event} {outcome} {data}")),
        }
    }
    denied.sort();
    sweep.forbidden.sort();
    if denied != sweep.forbidden {
        let (got, wanted) = (&denied, &sweep.forbidden);
        sweep.problems.push(format!("denied audit rows {got:?}\n  differ from the forbidden answers {wanted:?}"));
    }

    eprintln!(
        "{backend:?}: {} production methods, {} attackers: {} POST and {} GET (method, attacker) pairs, {} forbidden",
        methods.len(),
        clients.len(),
        sweep.post,
        sweep.get,
        sweep.forbidden.len()
    );
    assert!(sweep.problems.is_empty(), "{} disagreements:\n{}", sweep.problems.len(), sweep.problems.join("\n"));
    // The sweep skipped nothing it should not have: every method was attacked by every
    // attacker over GET, and by all but eve (on her own mutations) over POST.
    assert_eq!((methods.len(), sweep.get), (EXPOSURE.len(), methods.len() * clients.len()), "GET pairs");
    for (method, _, _) in &methods {
        let attacks = sweep.per_method.get(method).copied().unwrap_or(0);
        assert!(attacks >= clients.len() - 1, "{method}: attacked by {attacks} over POST");
    }
    assert!(sweep.post >= methods.len() * 6, "{} POST pairs", sweep.post);
}
