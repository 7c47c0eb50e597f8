//! Property tests of the permission model (docs/protocol.md §5, §6): random sequences of
//! grants, revocations, offers and their answers, clock advances and offer sweeps, run
//! against a real server (SQLite, over HTTP), in a world of four accounts (the bootstrap
//! admin, ann, bob, cat), the roles approver, manager and admin, and the scopes `org:a`,
//! `org:a/store:x`, `org:b` and global. A model gains a permit only from a step the server
//! let succeed, and only when that step was entitled to it. After every step:
//! 1. provenance: each account's `whoami` permits are exactly the model's active ones —
//!    each granted by a global admin, or accepted from an offer whose grantor could hand
//!    that role out at that scope at that moment — and its permissions map is exactly what
//!    they give (nothing from an expired or revoked permit);
//! 2. the last admin: some account is `{"*": ["*"]}` with a permanent global admin permit;
//! 3. no answer is `internal_error`, every refusal is one the contract names for that
//!    method, and every answer is the one the contract's rules predict.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::identity::Client;
use common::{Backend, TestServer, start_with};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

const NAMES: [&str; 4] = ["admin", "ann", "bob", "cat"];
const ROLES: [&str; 3] = ["approver", "manager", "admin"];
const SCOPES: [Option<&str>; 4] = [None, Some("org:a"), Some("org:a/store:x"), Some("org:b")];
const ADMIN: &str = "admin";

/// Returns `Err(message)` from the enclosing function unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// A grant or an offer: `by` gives `to` a role at a scope, until `hours` from now or for good.
#[derive(Debug, Clone, Copy)]
struct Ask {
    by: usize,
    to: usize,
    role: usize,
    scope: usize,
    hours: Option<u32>,
}

/// One step. Accounts, roles and scopes index the tables above. `pick n` is the n-th (modulo
/// their count) of the permits, or offers, made so far: newest first, pending offers first.
#[derive(Clone)]
enum Op {
    Grant(Ask),
    /// `by` revokes a permit.
    Revoke(usize, usize),
    Offer(Ask),
    /// Accepted, Declined or Retracted: an offer answered by its own party (the recipient,
    /// or the grantor for a retract), or by the account given.
    Answer(Status, usize, Option<usize>),
    Advance(u32),
    Sweep,
}

fn at(scope: Option<&str>) -> &str {
    scope.unwrap_or("global")
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ask = |f: &mut fmt::Formatter<'_>, verb, a: &Ask| {
            let until = a.hours.map_or(String::new(), |h| format!(" until +{h}h"));
            let (by, to, role, scope) = (NAMES[a.by], NAMES[a.to], ROLES[a.role], at(SCOPES[a.scope]));
            write!(f, "{by} {verb} {to} {role}@{scope}{until}")
        };
        match self {
            Op::Grant(a) => ask(f, "grants", a),
            Op::Offer(a) => ask(f, "offers", a),
            Op::Revoke(by, n) => write!(f, "{} revokes permit pick {n}", NAMES[*by]),
            Op::Answer(status, n, None) => write!(f, "{status:?} offer pick {n}"),
            Op::Answer(status, n, Some(by)) => write!(f, "{status:?} offer pick {n} as {}", NAMES[*by]),
            Op::Advance(hours) => write!(f, "advance {hours}h"),
            Op::Sweep => write!(f, "sweep offers"),
        }
    }
}

fn account(admin_weight: u32) -> impl Strategy<Value = usize> {
    prop_oneof![admin_weight => Just(0), 1 => Just(1), 1 => Just(2), 1 => Just(3)]
}

fn ask() -> impl Strategy<Value = Ask> {
    let role = prop_oneof![1 => Just(0), 1 => Just(1), 3 => Just(2)];
    let scope = prop_oneof![3 => Just(0), 1 => Just(1), 1 => Just(2), 1 => Just(3)];
    let hours = prop::option::weighted(0.5, prop_oneof![Just(1), Just(24), Just(240)]);
    // To someone else mostly (`to` = `by` + 1 shrinks best), to oneself now and then.
    let other = prop_oneof![2 => Just(1), 2 => Just(2), 2 => Just(3), 1 => Just(0)];
    let ask = (account(3), other, role, scope, hours);
    ask.prop_map(|(by, other, role, scope, hours)| Ask { by, to: (by + other) % 4, role, scope, hours })
}

fn op() -> impl Strategy<Value = Op> {
    let pick = || prop_oneof![3 => 0..2usize, 1 => 0..10usize];
    let answer = prop_oneof![3 => Just(Status::Accepted), 1 => Just(Status::Declined), 1 => Just(Status::Retracted)];
    let answer = (answer, pick(), prop::option::weighted(0.15, account(1)));
    let hours = prop_oneof![3 => Just(1), 3 => Just(24), 2 => Just(24 * 7), 1 => Just(24 * 31)];
    prop_oneof![
        4 => ask().prop_map(Op::Grant),
        // The bootstrap admin trades its permanent admin permit for one that expires.
        1 => (1..48u32).prop_map(|h| Op::Grant(Ask { by: 0, to: 0, role: 2, scope: 0, hours: Some(h) })),
        2 => (account(3), pick()).prop_map(|(by, n)| Op::Revoke(by, n)),
        4 => ask().prop_map(Op::Offer),
        5 => answer.prop_map(|(status, n, by)| Op::Answer(status, n, by)),
        2 => hours.prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

/// A permit as the model knows it.
#[derive(Debug, Clone)]
struct Held {
    id: String,
    holder: usize,
    role: &'static str,
    scope: Option<&'static str>,
    expires: Option<DateTime<Utc>>,
    revoked: bool,
    granted_by: Option<usize>,
    offer: Option<String>,
}

impl Held {
    fn active(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires.is_none_or(|at| at > now)
    }

    fn lasting_admin(&self) -> bool {
        !self.revoked && self.role == ADMIN && self.scope.is_none() && self.expires.is_none()
    }

    fn describe(&self) -> String {
        let (holder, role, scope) = (NAMES[self.holder], self.role, at(self.scope));
        let until = self.expires.map_or("never".to_owned(), |at| at.to_rfc3339());
        let from = self.granted_by.map_or("nobody", |by| NAMES[by]);
        format!("{} {holder}'s {role}@{scope} until {until} from {from} via offer {:?}", self.id, self.offer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Accepted,
    Declined,
    Retracted,
    Superseded,
    Expired,
}

/// An offer as the model knows it.
#[derive(Debug, Clone)]
struct Offered {
    id: String,
    from: usize,
    to: usize,
    role: &'static str,
    scope: Option<&'static str>,
    expires: DateTime<Utc>,
    status: Status,
}

/// Whether a permit held at `held` applies at `target` (§5.1: on whole segments).
fn covers(held: Option<&str>, target: Option<&str>) -> bool {
    match (held, target) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(held), Some(target)) => target == held || target.starts_with(&format!("{held}/")),
    }
}

/// The refusals the contract (§2.2, §5.1, §6) names for each method stepped here.
fn contract_refusals(method: &str) -> Vec<&'static str> {
    let grant = "forbidden/role_not_grantable validation_error/unknown_role validation_error/scope_not_applicable \
                 validation_error/expiry_in_past not_found/not_found";
    let answer = "not_found/not_found conflict/offer_not_pending conflict/offer_expired";
    let named = match method {
        "permit_grant" => vec![grant, "forbidden/not_permitted conflict/last_admin"],
        "permit_revoke" => {
            vec!["forbidden/not_permitted not_found/not_found conflict/permit_not_active conflict/last_admin"]
        }
        "permit_offer_create" => vec![grant, "validation_error/self_target"],
        "permit_offer_accept" => vec![answer, "forbidden/role_not_grantable"],
        _ => vec![answer],
    };
    named.into_iter().flat_map(str::split_whitespace).collect()
}

/// The error kinds of §2, from -32001 down.
const KINDS: &str = "unauthenticated forbidden not_found conflict validation_error rate_limited service_unavailable";

/// What a check gives: `Err` says what broke.
type Checked<T> = Result<T, String>;

/// The answer of the first rule that applies (listed in the contract's check order), else `ok`.
fn first(rules: &[(bool, &'static str)]) -> &'static str {
    rules.iter().find(|(applies, _)| *applies).map_or("ok", |(_, answer)| answer)
}

/// The superseded offer ids a result lists must be those the model superseded.
fn same_ids(listed: &Value, expected: BTreeSet<String>, what: &str) -> Checked<()> {
    let listed: BTreeSet<String> = serde_json::from_value(listed.clone()).map_err(|e| format!("{e}: {listed}"))?;
    ensure!(listed == expected, "{what} superseded {listed:?}, the contract says {expected:?}");
    Ok(())
}

/// How many times each method got each answer, over the whole run.
static TALLY: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// One case: a fresh server, the model of what it must show, and what happened so far.
struct Case {
    server: TestServer,
    clients: Vec<Client>,
    ids: Vec<String>,
    permits: Vec<Held>,
    offers: Vec<Offered>,
    log: Vec<String>,
}

impl Case {
    async fn start() -> Checked<Case> {
        // Sessions outlive every clock advance of a case.
        let tweak = |config: &mut countersign::config::Config| config.auth.session_ttl_hours = 24 * 365 * 10;
        let server = start_with(Backend::Sqlite, tweak).await.expect("SQLite is always available");
        let admin = server.admin().await;
        let mut clients = vec![admin.clone()];
        for name in &NAMES[1..] {
            clients.push(server.account(&admin, name).await);
        }
        let ids = clients.iter().map(|c| c.account_id.clone().unwrap()).collect();
        let mut case = Case { server, clients, ids, permits: vec![], offers: vec![], log: vec![] };
        let me = case.clients[0].ok("whoami", json!({})).await;
        let root = case.parse_permit(&me["permits"][0])?;
        ensure!(root.lasting_admin() && root.holder == 0, "the bootstrap admin holds {me}");
        case.log.push(format!("  0. bootstrap: permit #0 = {}", root.describe()));
        case.permits.push(root);
        Ok(case)
    }

    fn parse_permit(&self, v: &Value) -> Checked<Held> {
        let account = |key: &str| self.ids.iter().position(|id| v[key] == id.as_str());
        Ok(Held {
            id: v["id"].as_str().ok_or(format!("not a permit: {v}"))?.to_owned(),
            holder: account("account_id").ok_or(format!("a permit of nobody known: {v}"))?,
            role: ROLES.into_iter().find(|r| v["role"] == *r).ok_or(format!("a role never handed out: {v}"))?,
            scope: SCOPES.into_iter().find(|s| v["scope_id"] == json!(s)).ok_or(format!("an unknown scope: {v}"))?,
            expires: serde_json::from_value(v["expires_at"].clone()).map_err(|e| format!("{e}: {v}"))?,
            revoked: !v["revoked_at"].is_null(),
            granted_by: account("granted_by"),
            offer: v["source_offer_id"].as_str().map(str::to_owned),
        })
    }

    /// The permit the server answered, which must be `wanted` made of it.
    fn expect_permit(&self, v: &Value, wanted: impl FnOnce(Held) -> Held) -> Checked<Held> {
        let permit = self.parse_permit(v)?;
        let (got, wanted) = (permit.describe(), wanted(permit.clone()).describe());
        ensure!(got == wanted, "the server made permit {got}, the model expected {wanted}");
        Ok(permit)
    }

    /// `access::may_hand_out`: the same role, or admin, held at or above the scope (so
    /// `may_hand_out(who, ADMIN, None)`: whether `who` is a global admin).
    fn may_hand_out(&self, who: usize, role: &str, scope: Option<&str>, now: DateTime<Utc>) -> bool {
        let gives = |p: &Held| (p.role == role || p.role == ADMIN) && covers(p.scope, scope);
        self.permits.iter().any(|p| p.holder == who && p.active(now) && gives(p))
    }

    fn lasting_admins(&self, keep: impl Fn(&Held) -> bool) -> usize {
        self.permits.iter().filter(|p| p.lasting_admin() && keep(p)).count()
    }

    /// Adds a granted permit, replacing the holder's unrevoked one of the same role and scope.
    fn install(&mut self, permit: Held) {
        let same = |p: &Held| (p.holder, p.role, p.scope) == (permit.holder, permit.role, permit.scope);
        self.permits.iter_mut().filter(|p| same(p)).for_each(|p| p.revoked = true);
        self.permits.push(permit);
    }

    /// Supersedes the pending, unexpired offers to `to` of `role` at `scope`; their ids.
    fn supersede(&mut self, (to, role, scope): (usize, &str, Option<&str>), now: DateTime<Utc>) -> BTreeSet<String> {
        let live = |o: &Offered| o.status == Status::Pending && o.expires > now;
        let mut superseded = BTreeSet::new();
        for o in self.offers.iter_mut().filter(|o| live(o) && (o.to, o.role, o.scope) == (to, role, scope)) {
            o.status = Status::Superseded;
            superseded.insert(o.id.clone());
        }
        superseded
    }

    /// Calls `method` as `who`, logs the answer and checks it: no internal error, a refusal
    /// the contract names for the method, and the answer `predicted`. A success's result.
    async fn call(
        &mut self,
        who: usize,
        method: &str,
        params: Value,
        predicted: &str,
        what: String,
    ) -> Checked<Option<Value>> {
        let response = self.clients[who].call(method, params).await;
        let answer = response.get("error").map_or("ok".to_owned(), |error| {
            let code = error["code"].as_i64().unwrap_or_default();
            let kind = KINDS.split(' ').nth((-32001 - code) as usize).filter(|_| code <= -32001);
            let kind = if code == -32603 { "internal_error" } else { kind.unwrap_or("other") };
            format!("{kind}/{}", error["data"]["reason"].as_str().unwrap_or("?"))
        });
        self.log.push(format!("{:>3}. {what} → {answer}", self.log.len()));
        *TALLY.lock().unwrap().entry(format!("{method} → {answer}")).or_default() += 1;
        ensure!(!answer.starts_with("internal_error"), "{method} answered internal_error: {response}");
        let named = answer == "ok" || contract_refusals(method).contains(&answer.as_str());
        ensure!(named, "{method} refused with {answer}, which the contract does not name for it: {response}");
        ensure!(answer == predicted, "{method}: the contract's rules say {predicted}, the server answered {response}");
        Ok(response.get("result").cloned())
    }

    async fn step(&mut self, op: &Op) -> Checked<()> {
        let now = self.server.clock.now();
        match *op {
            Op::Grant(ask) => self.grant(op, ask, now).await?,
            Op::Offer(ask) => self.offer(op, ask, now).await?,
            Op::Revoke(by, n) => self.revoke(op, by, n, now).await?,
            Op::Answer(status, n, by) => self.answer(op, status, n, by, now).await?,
            Op::Advance(hours) => {
                self.server.clock.advance(Duration::from_secs(u64::from(hours) * 3600));
                self.log.push(format!("{:>3}. {op:?}", self.log.len()));
            }
            Op::Sweep => {
                let due = self.offers.iter_mut().filter(|o| o.status == Status::Pending && o.expires <= now);
                let expected = due.map(|o| o.status = Status::Expired).count();
                let swept = self.server.sweep_offers().await;
                self.log.push(format!("{:>3}. {op:?} → {swept} expired", self.log.len()));
                ensure!(swept == expected, "the sweeper expired {swept} offers, {expected} were due");
            }
        }
        Ok(())
    }

    /// `permit_grant`: made or refused as §5.1 says; only a global admin grants.
    async fn grant(&mut self, op: &Op, ask: Ask, now: DateTime<Utc>) -> Checked<()> {
        let Ask { by, to, role, scope, hours } = ask;
        let (role, scope) = (ROLES[role], SCOPES[scope]);
        let expires = hours.map(|h| now + chrono::Duration::hours(h.into()));
        let replaced = |p: &Held| p.holder == to && p.role == ADMIN && p.scope.is_none();
        let lasting = self.lasting_admins(|p| !replaced(p)) + usize::from(expires.is_none());
        let predicted = first(&[
            (!self.may_hand_out(by, ADMIN, None, now), "forbidden/not_permitted"),
            (role == ADMIN && scope.is_none() && lasting == 0, "conflict/last_admin"),
        ]);
        let params = json!({"to_account_id": self.ids[to], "role": role, "scope_id": scope, "expires_at": expires});
        let Some(result) = self.call(by, "permit_grant", params, predicted, format!("{op:?}")).await? else {
            return Ok(());
        };
        // Provenance: only an account that is a global admin at that moment grants.
        ensure!(self.may_hand_out(by, ADMIN, None, now), "{} granted as a non-admin", NAMES[by]);
        let wanted = |p| Held { holder: to, role, scope, expires, granted_by: Some(by), offer: None, ..p };
        let permit = self.expect_permit(&result["permit"], wanted)?;
        self.install(permit);
        Ok(())
    }

    /// `permit_revoke` of one of the permits made so far (newest first by `n`).
    async fn revoke(&mut self, op: &Op, by: usize, n: usize, now: DateTime<Utc>) -> Checked<()> {
        let index = self.permits.len() - 1 - n % self.permits.len();
        let target = self.permits[index].clone();
        let global_admin = target.role == ADMIN && target.scope.is_none();
        let predicted = first(&[
            (!self.may_hand_out(by, ADMIN, None, now), "forbidden/not_permitted"),
            (!target.active(now), "conflict/permit_not_active"),
            (global_admin && self.lasting_admins(|p| p.id != target.id) == 0, "conflict/last_admin"),
        ]);
        let (what, params) = (format!("{op:?} (#{index}: {})", target.describe()), json!({"permit_id": target.id}));
        let Some(result) = self.call(by, "permit_revoke", params, predicted, what).await? else {
            return Ok(());
        };
        self.permits[index].revoked = true;
        let superseded = self.supersede((target.holder, target.role, target.scope), now);
        same_ids(&result["superseded_offer_ids"], superseded, "revoking")?;
        Ok(())
    }

    /// Accept, decline or retract one of the offers made so far, by its party or another.
    async fn answer(
        &mut self,
        op: &Op,
        status: Status,
        n: usize,
        by: Option<usize>,
        now: DateTime<Utc>,
    ) -> Checked<()> {
        let method = match status {
            Status::Accepted => "permit_offer_accept",
            Status::Declined => "permit_offer_decline",
            _ => "permit_offer_retract",
        };
        if self.offers.is_empty() {
            self.log.push(format!("{:>3}. {op:?}: no offer yet, nothing done", self.log.len()));
            return Ok(());
        }
        let mut order: Vec<usize> = (0..self.offers.len()).rev().collect();
        order.sort_by_key(|&i| self.offers[i].status != Status::Pending);
        let index = order[n % order.len()];
        let o = self.offers[index].clone();
        let party = if status == Status::Retracted { o.from } else { o.to };
        let (accept, expired) = (status == Status::Accepted, o.expires <= now);
        let predicted = first(&[
            (by.unwrap_or(party) != party, "not_found/not_found"),
            (o.status == Status::Expired || (o.status == Status::Pending && expired), "conflict/offer_expired"),
            (o.status != Status::Pending, "conflict/offer_not_pending"),
            (accept && !self.may_hand_out(o.from, o.role, o.scope, now), "forbidden/role_not_grantable"),
        ]);
        let offered = format!("{} offers {} {}@{}", NAMES[o.from], NAMES[o.to], o.role, at(o.scope));
        let what = format!("{op:?} (#{index}: {offered}, {:?}{})", o.status, if expired { ", expired" } else { "" });
        let params = json!({"offer_id": o.id});
        let Some(result) = self.call(by.unwrap_or(party), method, params, predicted, what).await? else {
            return Ok(());
        };
        let shown = format!("{status:?}").to_lowercase();
        ensure!(result["offer"]["status"] == shown.as_str(), "{method} left the offer {}", result["offer"]);
        self.offers[index].status = status;
        if accept {
            // Provenance: the grantor could hand this role out at this scope at that moment.
            ensure!(self.may_hand_out(o.from, o.role, o.scope, now), "accepted what the grantor cannot give");
            let (role, scope, from, source) = (o.role, o.scope, Some(o.from), Some(o.id.clone()));
            let wanted = |p| Held { holder: o.to, role, scope, expires: None, granted_by: from, offer: source, ..p };
            let permit = self.expect_permit(&result["permit"], wanted)?;
            let siblings = self.supersede((o.to, role, scope), now);
            same_ids(&result["superseded_offer_ids"], siblings, "accepting")?;
            self.install(permit);
        }
        Ok(())
    }

    /// `permit_offer_create`: made, renewed or refused as §6 says.
    async fn offer(&mut self, op: &Op, Ask { by, to, role, scope, hours }: Ask, now: DateTime<Utc>) -> Checked<()> {
        let (role, scope) = (ROLES[role], SCOPES[scope]);
        let expires = hours.map(|h| now + chrono::Duration::hours(h.into()));
        let predicted = first(&[
            (by == to, "validation_error/self_target"),
            (!self.may_hand_out(by, role, scope, now), "forbidden/role_not_grantable"),
        ]);
        let params = json!({"to_account_id": self.ids[to], "role": role, "scope_id": scope, "expires_at": expires});
        let Some(result) = self.call(by, "permit_offer_create", params, predicted, format!("{op:?}")).await? else {
            return Ok(());
        };
        ensure!(self.may_hand_out(by, role, scope, now), "{} offered what they cannot hand out", NAMES[by]);
        let offer = &result["offer"];
        let id = offer["id"].as_str().unwrap_or_default().to_owned();
        let until: DateTime<Utc> =
            serde_json::from_value(offer["expires_at"].clone()).map_err(|e| format!("{e}: {offer}"))?;
        let asked =
            offer["status"] == "pending" && offer["to_account_id"] == self.ids[to].as_str() && offer["role"] == role;
        ensure!(asked && expires.is_none_or(|at| at == until), "asked for {op:?}, offered {offer}");
        let same = |o: &Offered| (o.from, o.to, o.role, o.scope, o.status) == (by, to, role, scope, Status::Pending);
        if let Some(earlier) = self.offers.iter().position(same) {
            let live = &mut self.offers[earlier];
            if live.expires > now {
                ensure!(live.id == id, "repeating pending offer {} made another, {id}", live.id);
                live.expires = until;
                self.log.push(format!("       (renews offer #{earlier})"));
                return Ok(());
            }
            live.status = Status::Expired;
        }
        ensure!(self.offers.iter().all(|o| o.id != id), "a new offer was due, the server renewed {id}");
        self.log.push(format!("       (offer #{})", self.offers.len()));
        self.offers.push(Offered { id, from: by, to, role, scope, expires: until, status: Status::Pending });
        Ok(())
    }

    /// The permissions map the model's active permits of `who` give (§5).
    fn permissions(&self, who: usize, now: DateTime<Utc>) -> Value {
        let config = &self.server.env.config;
        let mut map: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for permit in self.permits.iter().filter(|p| p.holder == who && p.active(now)) {
            let key = |resource: &str| permit.scope.map_or(resource.to_owned(), |s| format!("{resource}/{s}"));
            if permit.role == ADMIN && permit.scope.is_none() {
                return json!({"*": ["*"]});
            }
            let configured = || config.roles[permit.role].grants.iter().map(String::as_str).collect();
            let grants: Vec<&str> = if permit.role == ADMIN { vec!["*:*"] } else { configured() };
            for grant in grants {
                let (verb, resource) = grant.split_once(':').unwrap();
                let kinds = config.kinds.keys().map(String::as_str).collect();
                // `verb:*` is that verb on every action kind; admin's `*:*` shows as `*/<scope>`.
                let every_kind = resource == "*" && permit.role != ADMIN;
                for resource in if every_kind { kinds } else { vec![resource] } {
                    map.entry(key(resource)).or_default().insert(verb);
                }
            }
        }
        json!(map)
    }

    /// The invariants, from each account's own `whoami`.
    async fn check(&mut self) -> Checked<()> {
        let now = self.server.clock.now();
        let mut lasting_admins = vec![];
        for (who, name) in NAMES.into_iter().enumerate() {
            let response = self.clients[who].call("whoami", json!({})).await;
            let me = response.get("result").ok_or(format!("whoami of {name}: {response}"))?;
            let held = me["permits"].as_array().ok_or(format!("whoami of {name}: {response}"))?;
            let shown: BTreeSet<String> =
                held.iter().map(|p| self.parse_permit(p).map(|p| p.describe())).collect::<Result<_, _>>()?;
            let mine = self.permits.iter().filter(|p| p.holder == who && p.active(now));
            let explained: BTreeSet<String> = mine.map(Held::describe).collect();
            let unexplained: Vec<_> = shown.difference(&explained).collect();
            ensure!(
                unexplained.is_empty(),
                "{name} holds permits no admin chain gave (or that ended): {unexplained:#?}"
            );
            let lost: Vec<_> = explained.difference(&shown).collect();
            ensure!(lost.is_empty(), "{name} lost permits nothing took away: {lost:#?}");
            let (map, expected) = (&me["permissions"], self.permissions(who, now));
            ensure!(*map == expected, "{name}'s permissions are {map}, its active permits give {expected}");
            let lasting =
                held.iter().any(|p| p["role"] == ADMIN && p["scope_id"].is_null() && p["expires_at"].is_null());
            if lasting && *map == json!({"*": ["*"]}) {
                lasting_admins.push(name);
            }
        }
        ensure!(!lasting_admins.is_empty(), "no account holds a permanent global admin permit any more");
        Ok(())
    }
}

async fn run(ops: Vec<Op>) -> Checked<()> {
    let mut case = Case::start().await?;
    let mut outcome = case.check().await;
    for op in &ops {
        if outcome.is_err() {
            break;
        }
        outcome = match case.step(op).await {
            Ok(()) => case.check().await,
            failed => failed,
        };
    }
    outcome.map_err(|why| format!("{why}\n--- what happened (step → the server's answer) ---\n{}", case.log.join("\n")))
}

#[test]
fn no_sequence_of_steps_breaks_the_permission_model() {
    let config = Config {
        cases: 28,
        max_shrink_iters: 400,
        max_shrink_time: 300_000,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    };
    let started = Instant::now();
    let result = TestRunner::new(config).run(&vec(op(), 1..=40), |ops| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(ops)).map_err(TestCaseError::fail)
    });
    let tally: Vec<String> = TALLY.lock().unwrap().iter().map(|(answer, n)| format!("{n:>5} {answer}")).collect();
    eprintln!("{:.1?}; the answers seen:\n{}", started.elapsed(), tally.join("\n"));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, ops)) => panic!("{why}\nminimal failing sequence:\n{ops:#?}"),
        Err(TestError::Abort(why)) => panic!("aborted: {why}"),
    }
}
