//! Permit offers under real concurrency (docs/protocol.md §6): accept/accept, accept/retract,
//! accept/revoke, sibling accepts and concurrent offers, each raced for many rounds from
//! separate HTTP clients released together. Every call ends in a result or a contract
//! error (never internal_error or service_unavailable), the state afterwards is one of
//! the serial outcomes, there is never more than one active permit per (account, role,
//! scope), and the audit chain stays intact.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use common::identity::{Client, PASSWORD};
use common::{Backend, TestServer, assert_error, start};
use countersign::authz::permits;
use futures::future::join_all;
use serde_json::{Value, json};
use tokio::sync::Barrier;

backend_tests!(
    accept_races_accept_of_the_same_offer,
    accept_races_retract,
    accept_races_revoking_the_permit_it_renews,
    sibling_offers_accepted_at_once,
    concurrent_offers_keep_one_pending_offer_per_grantor,
    two_instances_sweeping_at_once_expire_each_offer_once,
);

const ROUNDS: usize = 25;

struct Cast {
    server: TestServer,
    admin: Client,
    /// Each holds approver@org:acme, granted by the admin.
    leads: Vec<Client>,
    bob: Client,
}

fn id(client: &Client) -> &str {
    client.account_id.as_deref().unwrap()
}

async fn cast(backend: Backend, leads: usize) -> Option<Cast> {
    let server = start(backend).await?;
    let admin = server.admin().await;
    let mut cast_leads = Vec::new();
    for i in 0..leads {
        let lead = server.account(&admin, &format!("lead{i}")).await;
        admin.ok("permit_grant", json!({"to_account_id": id(&lead), "role": "approver", "scope_id": "org:acme"})).await;
        cast_leads.push(lead);
    }
    let bob = server.account(&admin, "bob").await;
    Some(Cast { server, admin, leads: cast_leads, bob })
}

/// Runs the calls at once: each from its own task and its own HTTP client, released
/// together by a barrier. Every answer must be a result or a conflict/not_found error.
async fn race(calls: Vec<(&Client, &str, Value)>) -> Vec<Value> {
    let barrier = Arc::new(Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(client, method, params)| {
            let client = Client { http: reqwest::Client::new(), ..client.clone() };
            let (method, barrier) = (method.to_owned(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                client.call(&method, params).await
            })
        })
        .collect();
    let answers: Vec<Value> = join_all(tasks).await.into_iter().map(|joined| joined.unwrap()).collect();
    for answer in &answers {
        if answer.get("result").is_none() {
            let code = answer["error"]["code"].as_i64();
            assert!(matches!(code, Some(-32004 | -32003)), "not a contract outcome: {answer}");
        }
    }
    answers
}

/// Splits race answers into (winners' results, losers' responses).
fn split(answers: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    let (won, lost): (Vec<Value>, Vec<Value>) = answers.into_iter().partition(|a| a.get("result").is_some());
    (won.into_iter().map(|a| a["result"].clone()).collect(), lost)
}

async fn offer(lead: &Client, to: &Client, scope: &str) -> Value {
    let params = json!({"to_account_id": id(to), "role": "approver", "scope_id": scope});
    lead.ok("permit_offer_create", params).await["offer"].clone()
}

/// The active approver permits of `account` at `scope`, as the admin lists them.
async fn active(admin: &Client, account: &Client, scope: &str) -> Vec<Value> {
    let list = admin.ok("permit_list", json!({"account_id": id(account)})).await;
    let permits = list["permits"].as_array().unwrap();
    permits.iter().filter(|p| p["role"] == "approver" && p["scope_id"] == scope).cloned().collect()
}

/// An offer as its recipient's history shows it (the newest 50).
async fn offer_now(admin: &Client, to: &Client, offer_id: &Value) -> Value {
    let history = admin.ok("permit_offer_history", json!({"account_id": id(to), "limit": 50})).await;
    let offers = history["offers"].as_array().unwrap();
    offers.iter().find(|o| &o["id"] == offer_id).cloned().unwrap_or_else(|| panic!("{offer_id} not in {history}"))
}

/// Successful audit rows of `event_type` about `subject`.
async fn audited(admin: &Client, event_type: &str, subject: &Value) -> Vec<Value> {
    let page = admin.ok("audit_list", json!({"event_type": event_type, "subject_id": subject, "limit": 1000})).await;
    page["events"].as_array().unwrap().iter().filter(|e| e["outcome"] == "success").cloned().collect()
}

async fn assert_chain_intact(admin: &Client) {
    let report = admin.ok("audit_verify", json!({})).await;
    assert_eq!(report["ok"], true, "{report}");
}

/// How many notifications of each type `client` got after `after`.
async fn notification_counts(client: &Client, mut after: i64) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    loop {
        let page = client.ok("notifications_list", json!({"after": after, "limit": 500})).await;
        let notes = page["notifications"].as_array().unwrap();
        let Some(last) = notes.last() else { return counts };
        after = last["seq"].as_i64().unwrap();
        for note in notes {
            *counts.entry(note["type"].as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
}

fn count(counts: &BTreeMap<String, usize>, kind: &str) -> usize {
    counts.get(kind).copied().unwrap_or(0)
}

/// Bob accepts one offer from three places at once (two sessions, a token): one wins.
async fn accept_races_accept_of_the_same_offer(backend: Backend) {
    let Some(Cast { server, admin, leads, bob }) = cast(backend, 1).await else { return };
    let started = Instant::now();
    let lead = &leads[0];
    let bob2 = server.login("bob", PASSWORD).await;
    let secret = bob.ok("token_create", json!({"name": "races"})).await["secret"].as_str().unwrap().to_owned();
    let bob_token = bob.with_bearer(&secret);
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:a{round}");
        let offered = offer(lead, &bob, &scope).await;
        let params = json!({"offer_id": offered["id"]});
        let answers = race(vec![
            (&bob, "permit_offer_accept", params.clone()),
            (&bob2, "permit_offer_accept", params.clone()),
            (&bob_token, "permit_offer_accept", params),
        ])
        .await;
        let (won, lost) = split(answers);
        assert_eq!((won.len(), lost.len()), (1, 2), "round {round}: {won:?} {lost:?}");
        for loser in &lost {
            assert_error(loser, -32004, "offer_not_pending");
            assert_eq!(loser["error"]["data"]["status"], "accepted", "{loser}");
        }
        let permit = &won[0]["permit"];
        assert_eq!(permit["source_offer_id"], offered["id"]);
        assert_eq!(active(&admin, &bob, &scope).await, vec![permit.clone()], "round {round}");
        let now = offer_now(&admin, &bob, &offered["id"]).await;
        assert_eq!((&now["status"], &now["permit_id"]), (&json!("accepted"), &permit["id"]), "{now}");
        assert_eq!(audited(&admin, "permit_offer_accept", &offered["id"]).await.len(), 1);
        assert_chain_intact(&admin).await;
    }
    // Only the winners told anyone.
    assert_eq!(count(&notification_counts(lead, 0).await, "permit_offer_accepted"), ROUNDS);
    assert_eq!(count(&notification_counts(&bob, 0).await, "permit_granted"), ROUNDS);
    eprintln!("{backend:?} accept/accept: {ROUNDS} rounds in {:?}", started.elapsed());
}

/// Bob accepts while the lead retracts: exactly one of them ends the offer.
async fn accept_races_retract(backend: Backend) {
    let Some(Cast { server: _server, admin, leads, bob }) = cast(backend, 1).await else { return };
    let started = Instant::now();
    let lead = &leads[0];
    let (mut accepted, mut retracted) = (0, 0);
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:b{round}");
        let offered = offer(lead, &bob, &scope).await;
        let params = json!({"offer_id": offered["id"]});
        let answers =
            race(vec![(&bob, "permit_offer_accept", params.clone()), (lead, "permit_offer_retract", params)]).await;
        let (accept, retract) = (&answers[0], &answers[1]);
        let now = offer_now(&admin, &bob, &offered["id"]).await;
        match (accept.get("result"), retract.get("result")) {
            (Some(result), None) => {
                accepted += 1;
                assert_error(retract, -32004, "offer_not_pending");
                assert_eq!(retract["error"]["data"]["status"], "accepted");
                assert_eq!((&now["status"], &now["permit_id"]), (&json!("accepted"), &result["permit"]["id"]));
                assert_eq!(active(&admin, &bob, &scope).await, vec![result["permit"].clone()]);
            }
            (None, Some(result)) => {
                retracted += 1;
                assert_error(accept, -32004, "offer_not_pending");
                assert_eq!(accept["error"]["data"]["status"], "retracted");
                assert_eq!(result["offer"]["status"], "retracted");
                assert_eq!((&now["status"], &now["permit_id"]), (&json!("retracted"), &Value::Null));
                assert_eq!(active(&admin, &bob, &scope).await, Vec::<Value>::new());
            }
            _ => panic!("round {round}: not exactly one winner: {accept} {retract}"),
        }
        assert_chain_intact(&admin).await;
    }
    let lead_got = notification_counts(lead, 0).await;
    let bob_got = notification_counts(&bob, 0).await;
    assert_eq!(count(&lead_got, "permit_offer_accepted"), accepted, "{lead_got:?}");
    assert_eq!(count(&bob_got, "permit_offer_retracted"), retracted, "{bob_got:?}");
    assert_eq!(count(&bob_got, "permit_granted"), accepted, "{bob_got:?}");
    eprintln!("{backend:?} accept/retract: {accepted} accepted, {retracted} retracted in {:?}", started.elapsed());
}

/// Bob holds approver@org:acme; the lead offers it again (a renewal) and bob accepts while
/// the admin revokes bob's current permit. Serial orders: revoke first (the offer is
/// superseded, the accept conflicts, bob holds nothing there) or accept first (the new
/// permit replaces the old one, and the revoke finds it no longer active).
async fn accept_races_revoking_the_permit_it_renews(backend: Backend) {
    let Some(Cast { server, admin, leads, bob }) = cast(backend, 1).await else { return };
    let started = Instant::now();
    let lead = &leads[0];
    let (mut accept_first, mut revoke_first) = (0, 0);
    for round in 0..ROUNDS {
        let grant = json!({"to_account_id": id(&bob), "role": "approver", "scope_id": "org:acme"});
        let old = admin.ok("permit_grant", grant).await["permit"].clone();
        assert_eq!(active(&admin, &bob, "org:acme").await, vec![old.clone()], "round {round}");
        let offered = offer(lead, &bob, "org:acme").await;
        let answers = race(vec![
            (&bob, "permit_offer_accept", json!({"offer_id": offered["id"]})),
            (&admin, "permit_revoke", json!({"permit_id": old["id"], "reason": "race"})),
        ])
        .await;
        let (accept, revoke) = (&answers[0], &answers[1]);
        let now = offer_now(&admin, &bob, &offered["id"]).await;
        let still_active = active(&admin, &bob, "org:acme").await;
        let old_id: uuid::Uuid = old["id"].as_str().unwrap().parse().unwrap();
        let old_now = {
            let mut conn = server.env.db.read().await.unwrap();
            permits::find(conn.conn(), old_id).await.unwrap().unwrap()
        };
        assert!(old_now.revoked_at.is_some(), "round {round}: the old permit is closed either way");
        match (accept.get("result"), revoke.get("result")) {
            (None, Some(revoked)) => {
                revoke_first += 1;
                assert_error(accept, -32004, "offer_not_pending");
                assert_eq!(accept["error"]["data"]["status"], "superseded");
                assert_eq!(revoked["superseded_offer_ids"], json!([offered["id"]]));
                assert_eq!(revoked["permit"]["revoked_reason"], "race");
                assert_eq!(old_now.revoked_reason.as_deref(), Some("race"));
                assert_eq!(now["status"], "superseded", "{now}");
                assert_eq!((&now["superseded_reason"], &now["cause_id"]), (&json!("permit_revoked"), &old["id"]));
                assert_eq!(still_active, Vec::<Value>::new(), "round {round}");
            }
            (Some(accepted), None) => {
                accept_first += 1;
                assert_error(revoke, -32004, "permit_not_active");
                let permit = &accepted["permit"];
                assert_eq!((&permit["source_offer_id"], &permit["granted_by"]), (&offered["id"], &json!(id(lead))));
                assert_eq!(old_now.revoked_reason.as_deref(), Some("replaced"));
                assert_eq!((&now["status"], &now["permit_id"]), (&json!("accepted"), &permit["id"]));
                let rows = audited(&admin, "permit_offer_accept", &offered["id"]).await;
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0]["data"]["replaced_permit_id"], old["id"]);
                assert_eq!(still_active, vec![permit.clone()], "round {round}");
            }
            _ => panic!("round {round}: not exactly one winner: {accept} {revoke}"),
        }
        assert!(still_active.len() <= 1);
        assert_chain_intact(&admin).await;
    }
    let lead_got = notification_counts(lead, 0).await;
    let bob_got = notification_counts(&bob, 0).await;
    assert_eq!(count(&lead_got, "permit_offer_accepted"), accept_first, "{lead_got:?}");
    assert_eq!(count(&lead_got, "permit_offer_superseded"), revoke_first, "{lead_got:?}");
    assert_eq!(count(&bob_got, "permit_revoked"), revoke_first, "{bob_got:?}");
    assert_eq!(count(&bob_got, "permit_granted"), ROUNDS + accept_first, "{bob_got:?}");
    eprintln!(
        "{backend:?} accept/revoke: {accept_first} accept-first, {revoke_first} revoke-first in {:?}",
        started.elapsed()
    );
}

/// Two leads offer bob the same role and scope; bob accepts both at once from two
/// sessions: one is accepted, the other superseded by it.
async fn sibling_offers_accepted_at_once(backend: Backend) {
    let Some(Cast { server, admin, leads, bob }) = cast(backend, 2).await else { return };
    let started = Instant::now();
    let bob2 = server.login("bob", PASSWORD).await;
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:d{round}");
        let offers = [offer(&leads[0], &bob, &scope).await, offer(&leads[1], &bob, &scope).await];
        let answers = race(vec![
            (&bob, "permit_offer_accept", json!({"offer_id": offers[0]["id"]})),
            (&bob2, "permit_offer_accept", json!({"offer_id": offers[1]["id"]})),
        ])
        .await;
        let winner = answers.iter().position(|a| a.get("result").is_some());
        let winner = winner.unwrap_or_else(|| panic!("round {round}: nobody won: {answers:?}"));
        let loser = 1 - winner;
        assert_error(&answers[loser], -32004, "offer_not_pending");
        assert_eq!(answers[loser]["error"]["data"]["status"], "superseded");
        let result = &answers[winner]["result"];
        assert_eq!(result["superseded_offer_ids"], json!([offers[loser]["id"]]));
        assert_eq!(result["permit"]["granted_by"], json!(id(&leads[winner])));
        let superseded = offer_now(&admin, &bob, &offers[loser]["id"]).await;
        assert_eq!(superseded["status"], "superseded", "{superseded}");
        assert_eq!(
            (&superseded["superseded_reason"], &superseded["cause_id"]),
            (&json!("sibling_accepted"), &offers[winner]["id"])
        );
        assert_eq!(offer_now(&admin, &bob, &offers[winner]["id"]).await["status"], "accepted");
        assert_eq!(active(&admin, &bob, &scope).await, vec![result["permit"].clone()], "round {round}");
        assert_chain_intact(&admin).await;
    }
    let got = [notification_counts(&leads[0], 0).await, notification_counts(&leads[1], 0).await];
    let accepted: Vec<usize> = got.iter().map(|g| count(g, "permit_offer_accepted")).collect();
    let superseded: Vec<usize> = got.iter().map(|g| count(g, "permit_offer_superseded")).collect();
    assert_eq!(accepted[0] + accepted[1], ROUNDS, "{got:?}");
    assert_eq!((accepted[0] + superseded[0], accepted[1] + superseded[1]), (ROUNDS, ROUNDS), "{got:?}");
    eprintln!("{backend:?} sibling accepts: {accepted:?} won per lead in {:?}", started.elapsed());
}

/// Four leads offer bob the same role and scope at once, each twice: one pending offer per
/// lead, the second call renewing the first.
async fn concurrent_offers_keep_one_pending_offer_per_grantor(backend: Backend) {
    const LEADS: usize = 4;
    let Some(Cast { server: _server, admin, leads, bob }) = cast(backend, LEADS).await else { return };
    let started = Instant::now();
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:e{round}");
        let head = bob.ok("notifications_list", json!({"limit": 1})).await["head_seq"].as_i64().unwrap();
        let calls: Vec<(&Client, &str, Value)> = (0..LEADS * 2)
            .map(|i| {
                let params = json!({"to_account_id": id(&bob), "role": "approver", "scope_id": scope,
                                    "message": format!("take {i}")});
                (&leads[i % LEADS], "permit_offer_create", params)
            })
            .collect();
        let answers = race(calls).await;
        let (created, failed) = split(answers);
        assert!(failed.is_empty(), "round {round}: {failed:?}");
        let incoming = bob.ok("permit_offer_list", json!({})).await["incoming"].clone();
        let here: Vec<&Value> = incoming.as_array().unwrap().iter().filter(|o| o["scope_id"] == scope).collect();
        assert_eq!(here.len(), LEADS, "round {round}: {here:?}");
        for (k, lead) in leads.iter().enumerate() {
            let (first, second) = (&created[k]["offer"], &created[k + LEADS]["offer"]);
            assert_eq!(first["id"], second["id"], "round {round}: lead {k} got two offers");
            let listed: Vec<&&Value> = here.iter().filter(|o| o["from_account_id"] == id(lead)).collect();
            assert_eq!(listed.len(), 1, "round {round}: {here:?}");
            assert_eq!(listed[0]["id"], first["id"]);
            let takes = [format!("take {k}"), format!("take {}", k + LEADS)];
            assert!(takes.iter().any(|t| listed[0]["message"] == t.as_str()), "{}", listed[0]);
            let outgoing = lead.ok("permit_offer_list", json!({})).await["outgoing"].clone();
            let mine = outgoing.as_array().unwrap().iter().filter(|o| o["scope_id"] == scope).count();
            assert_eq!(mine, 1, "round {round}: {outgoing}");
            let rows = audited(&admin, "permit_offer_create", &first["id"]).await;
            let mut renewed: Vec<bool> = rows.iter().map(|r| r["data"]["renewed"].as_bool().unwrap()).collect();
            renewed.sort();
            assert_eq!(renewed, vec![false, true], "round {round}: {rows:?}");
        }
        // Bob heard of each offer twice: once new, once renewed.
        let page = bob.ok("notifications_list", json!({"after": head, "limit": 500})).await;
        let mut heard: BTreeMap<String, Vec<bool>> = BTreeMap::new();
        for note in page["notifications"].as_array().unwrap() {
            assert_eq!(note["type"], "permit_offer_received", "{note}");
            let entry = heard.entry(note["data"]["offer"]["id"].as_str().unwrap().to_owned()).or_default();
            entry.push(note["data"]["renewed"].as_bool().unwrap());
        }
        assert_eq!(heard.len(), LEADS, "{page}");
        assert!(heard.values().all(|r| r == &vec![false, true]), "round {round}: {heard:?}");
        assert_chain_intact(&admin).await;
    }
    eprintln!("{backend:?} concurrent offers: {ROUNDS} rounds in {:?}", started.elapsed());
}

/// Two server instances on one database sweep the same backlog of expired offers (more
/// than one batch) at the same moment: every offer is expired exactly once, both parties
/// are told once per offer, and neither sweep fails (their locks are taken in one order).
async fn two_instances_sweeping_at_once_expire_each_offer_once(backend: Backend) {
    const OFFERS: usize = 130;
    let Some(cast) = cast(backend, 0).await else { return };
    let other = cast.server.another_instance().await;
    for i in 0..OFFERS {
        let params = json!({"to_account_id": id(&cast.bob), "role": "approver", "scope_id": format!("org:acme/store:s{i}"),
                            "expires_at": cast.server.clock.now() + chrono::Duration::hours(1)});
        cast.admin.ok("permit_offer_create", params).await;
    }
    for clock in [&cast.server.clock, &other.clock] {
        clock.advance(std::time::Duration::from_secs(2 * 3600));
    }
    let (here, there) = tokio::join!(
        countersign::offers::expiry::sweep(&cast.server.env),
        countersign::offers::expiry::sweep(&other.env)
    );
    assert_eq!(here.unwrap() + there.unwrap(), OFFERS, "each offer expires once, whichever instance does it");
    let admin = cast.server.login("admin", PASSWORD).await;
    let bob = cast.server.login("bob", PASSWORD).await;
    for party in [&admin, &bob] {
        let listed = party.ok("notifications_list", json!({"limit": 500})).await["notifications"].clone();
        let expired: Vec<&Value> =
            listed.as_array().unwrap().iter().filter(|n| n["type"] == "permit_offer_expired").collect();
        let mut ids: Vec<&Value> = expired.iter().map(|n| &n["data"]["offer"]["id"]).collect();
        ids.sort_by_key(|id| id.to_string());
        ids.dedup();
        assert_eq!((expired.len(), ids.len()), (OFFERS, OFFERS), "one notice per offer for each party");
    }
    let history = bob.ok("permit_offer_history", json!({"limit": 500})).await["offers"].clone();
    assert!(history.as_array().unwrap().iter().all(|o| o["status"] == "expired"), "{history}");
    assert_eq!(admin.ok("audit_verify", json!({})).await["ok"], true);
}
