//! Use case 4 (docs/protocol.md §5, §6, §8, §9): consentful role grants. A role is offered to an
//! account, which accepts or declines; offers can be retracted, expire and are superseded;
//! admins revoke grants. Each party listens on its own WebSocket inbox, and every step is
//! checked in the results, the audit log and what each party is told.

mod common;

use std::time::Duration;

use common::identity::{ADMIN, PASSWORD};
use common::party::{Party, audit, audited, cast, grant, ids, time};
use common::{Backend, assert_error, error_less_request_id, start};
use serde_json::{Value, json};

backend_tests!(
    an_offer_renewed_then_accepted_supersedes_the_rival_offer,
    declined_and_retracted_offers_are_final_and_invisible_to_outsiders,
    an_unanswered_offer_expires_after_thirty_days,
    revoking_a_grant_takes_effect_at_once_and_supersedes_pending_offers,
    offer_history_pages_newest_first_without_duplicates,
);

const BERLIN: &str = "org:acme/store:berlin";
const KINDS: [&str; 6] = ["purchase", "refund", "discount", "cancel_order", "update_address", "release_deploy"];
const DAY: Duration = Duration::from_secs(24 * 3600);

/// `from` offers `role` at `scope` to `to` (who must be told); returns the offer.
async fn offer(from: &Party, to: &mut Party, role: &str, scope: &str, message: &str, renewed: bool) -> Value {
    let params = json!({"to_account_id": to.id, "role": role, "scope_id": scope, "message": message});
    let offer = from.client.ok("permit_offer_create", params).await["offer"].clone();
    assert_eq!(offer["status"], "pending", "{offer}");
    assert_eq!(offer["message"], message);
    let data = to.told("permit_offer_received").await;
    assert_eq!(data, json!({"offer": offer, "renewed": renewed}));
    offer
}

/// Story 1. The admin makes lead an approver for the whole org; lead offers bob the role
/// at the Berlin store, changes its message (the same offer, renewed), the admin offers
/// the same thing, bob takes lead's: he is an approver in Berlin and the admin's offer is
/// superseded. Everyone hears exactly their part.
async fn an_offer_renewed_then_accepted_supersedes_the_rival_offer(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (mut admin, [mut lead, mut bob]) = cast(&server, ["lead", "bob"]).await;

    let lead_permit = grant(&admin, &mut lead, "approver", "org:acme").await;
    assert_eq!(lead_permit["granted_by"], admin.id.as_str());
    assert_eq!(lead_permit["source_offer_id"], Value::Null);
    let row = audited(&admin.client, "permit_grant", &lead_permit["id"]).await;
    assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*admin.id), Some(&*lead.id)));
    assert_eq!(row["scope_id"], "org:acme");
    assert_eq!(row["data"]["role"], "approver");

    let first = offer(&lead, &mut bob, "approver", BERLIN, "Cover Berlin while I am away?", false).await;
    assert_eq!((first["from_account_id"].as_str(), first["to_account_id"].as_str()), (Some(&*lead.id), Some(&*bob.id)));
    assert_eq!((first["role"].as_str(), first["scope_id"].as_str()), (Some("approver"), Some(BERLIN)));
    assert_eq!(time(&first["expires_at"]) - time(&first["created_at"]), chrono::Duration::days(30));
    for field in ["resolved_at", "decline_reason", "permit_id", "superseded_reason", "cause_id"] {
        assert_eq!(first[field], Value::Null, "{field}: {first}");
    }
    let bobs = bob.client.ok("permit_offer_list", json!({})).await;
    assert_eq!(bobs, json!({"incoming": [first], "outgoing": []}));
    let leads = lead.client.ok("permit_offer_list", json!({})).await;
    assert_eq!(leads, json!({"incoming": [], "outgoing": [first]}));

    // Asking again an hour later renews the same offer: new message, later expiry.
    server.clock.advance(Duration::from_secs(3600));
    let renewed = offer(&lead, &mut bob, "approver", BERLIN, "Two weeks from Monday.", true).await;
    assert_eq!(renewed["id"], first["id"]);
    assert_eq!(renewed["created_at"], first["created_at"]);
    let extended = time(&renewed["expires_at"]) - time(&first["expires_at"]);
    let hour = chrono::Duration::hours(1);
    assert!(extended >= hour && extended < hour + chrono::Duration::minutes(1), "{extended}");

    // A second grantor offers the same role and scope.
    let rival = offer(&admin, &mut bob, "approver", BERLIN, "Or take it from me.", false).await;
    assert_ne!(rival["id"], first["id"]);
    let bobs = bob.client.ok("permit_offer_list", json!({})).await;
    assert_eq!(bobs, json!({"incoming": [renewed, rival], "outgoing": []}), "oldest first");

    let accepted = bob.client.ok("permit_offer_accept", json!({"offer_id": first["id"]})).await;
    let permit = &accepted["permit"];
    assert_eq!(accepted["superseded_offer_ids"], json!([rival["id"]]));
    assert_eq!(accepted["offer"]["status"], "accepted");
    assert_eq!(accepted["offer"]["permit_id"], permit["id"]);
    assert!(accepted["offer"]["resolved_at"].is_string(), "{accepted}");
    assert_eq!(accepted["offer"]["message"], "Two weeks from Monday.");
    assert_eq!(permit["source_offer_id"], first["id"]);
    assert_eq!((permit["account_id"].as_str(), permit["granted_by"].as_str()), (Some(&*bob.id), Some(&*lead.id)));
    assert_eq!((permit["role"].as_str(), permit["scope_id"].as_str()), (Some("approver"), Some(BERLIN)));
    for field in ["expires_at", "revoked_at", "revoked_by", "revoked_reason"] {
        assert_eq!(permit[field], Value::Null, "{field}: {permit}");
    }

    let told_lead = lead.told("permit_offer_accepted").await;
    assert_eq!(told_lead, json!({"offer": accepted["offer"], "permit": permit}));
    let superseded = admin.told_about("permit_offer_superseded", &rival["id"]).await;
    assert_eq!(superseded["status"], "superseded");
    assert_eq!(superseded["superseded_reason"], "sibling_accepted");
    assert_eq!(superseded["cause_id"], first["id"]);
    assert_eq!(bob.told("permit_granted").await, json!({"permit": permit}));

    // The superseded offer can never be accepted; nothing is pending any more.
    let again = bob.client.call("permit_offer_accept", json!({"offer_id": rival["id"]})).await;
    assert_error(&again, -32004, "offer_not_pending");
    assert_eq!(again["error"]["data"]["status"], "superseded");
    let bobs = bob.client.ok("permit_offer_list", json!({})).await;
    assert_eq!(bobs, json!({"incoming": [], "outgoing": []}));

    // What bob's UI gates on: approve (and view-any) on every kind, in Berlin only.
    let me = bob.client.ok("whoami", json!({})).await;
    assert_eq!(me["permits"], json!([permit]));
    let expected: serde_json::Map<String, Value> =
        KINDS.iter().map(|kind| (format!("{kind}/{BERLIN}"), json!(["approve", "view-any"]))).collect();
    assert_eq!(me["permissions"], Value::Object(expected));
    assert!(me["permissions"]["purchase/org:acme/store:berlin"].as_array().unwrap().contains(&json!("approve")));
    let checks = json!({"checks": [
        {"resource": "purchase", "verb": "approve", "scope_id": BERLIN},
        {"resource": "purchase", "verb": "approve", "scope_id": "org:acme/store:berlin/till:3"},
        {"resource": "purchase", "verb": "approve", "scope_id": "org:acme"},
        {"resource": "purchase", "verb": "approve", "scope_id": "org:acme/store:paris"},
    ]});
    assert_eq!(bob.client.ok("permission_check", checks).await["results"], json!([true, true, false, false]));

    // The audit trail of every step.
    let created = audit(&admin.client, "permit_offer_create", Some(&first["id"])).await;
    let renewals: Vec<&Value> = created.iter().map(|r| &r["data"]["renewed"]).collect();
    assert_eq!(renewals, vec![&json!(false), &json!(true)], "{created:?}");
    for row in &created {
        assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*lead.id), Some(&*bob.id)));
        assert_eq!((row["scope_id"].as_str(), row["data"]["role"].as_str()), (Some(BERLIN), Some("approver")));
    }
    let row = audited(&admin.client, "permit_offer_create", &rival["id"]).await;
    assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*admin.id), Some(&*bob.id)));
    assert_eq!(row["data"]["renewed"], false);
    assert_eq!(audit(&admin.client, "permit_offer_create", None).await.len(), 3);
    let row = audited(&admin.client, "permit_offer_accept", &first["id"]).await;
    assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*bob.id), Some(&*lead.id)));
    assert_eq!(row["scope_id"], BERLIN);
    let data = json!({"role": "approver", "permit_id": permit["id"], "replaced_permit_id": null,
                      "superseded_offer_ids": [rival["id"]]});
    assert_eq!(row["data"], data);
    let accepts = audit(&admin.client, "permit_offer_accept", None).await;
    assert_eq!(accepts.len(), 2, "{accepts:?}");
    assert_eq!(
        (accepts[1]["outcome"].as_str(), accepts[1]["data"]["reason"].as_str()),
        (Some("failure"), Some("offer_not_pending"))
    );

    // Each party heard its part and nothing else.
    assert_eq!(lead.stream().await, ["permit_granted", "permit_offer_accepted"]);
    let received = "permit_offer_received";
    assert_eq!(bob.stream().await, [received, received, received, "permit_granted"]);
    assert_eq!(admin.stream().await, ["permit_offer_superseded"]);
}

/// Story 2. bob declines one offer with a reason; lead retracts another. Both are final;
/// only the recipient may answer and only the grantor may retract: to anyone else,
/// admins included, the offer does not exist.
async fn declined_and_retracted_offers_are_final_and_invisible_to_outsiders(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut lead, mut bob, carol]) = cast(&server, ["lead", "bob", "carol"]).await;
    grant(&admin, &mut lead, "approver", "org:acme").await;

    // Only what you hold, and never to yourself.
    let to_bob = json!({"to_account_id": bob.id, "role": "approver", "scope_id": BERLIN});
    assert_error(&carol.client.call("permit_offer_create", to_bob.clone()).await, -32002, "role_not_grantable");
    let mut wider = to_bob.clone();
    wider["scope_id"] = json!("org:globex");
    assert_error(&lead.client.call("permit_offer_create", wider).await, -32002, "role_not_grantable");
    let mut to_self = to_bob.clone();
    to_self["to_account_id"] = json!(lead.id);
    assert_error(&lead.client.call("permit_offer_create", to_self).await, -32005, "self_target");

    let declined = offer(&lead, &mut bob, "approver", BERLIN, "Want it?", false).await;
    let answer = bob.client.ok("permit_offer_decline", json!({"offer_id": declined["id"], "reason": "Too busy"})).await;
    let answer = &answer["offer"];
    assert_eq!((answer["id"].clone(), answer["status"].as_str()), (declined["id"].clone(), Some("declined")));
    assert_eq!(answer["decline_reason"], "Too busy");
    assert!(answer["resolved_at"].is_string(), "{answer}");
    assert_eq!(answer["permit_id"], Value::Null);
    let told = lead.told_about("permit_offer_declined", &declined["id"]).await;
    assert_eq!(&told, answer);
    let row = audited(&admin.client, "permit_offer_decline", &declined["id"]).await;
    assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*bob.id), Some(&*lead.id)));
    assert_eq!(row["data"]["reason"], "Too busy");

    // Declined is final, whoever tries what.
    for (who, method) in
        [(&bob, "permit_offer_decline"), (&bob, "permit_offer_accept"), (&lead, "permit_offer_retract")]
    {
        let response = who.client.call(method, json!({"offer_id": declined["id"]})).await;
        assert_error(&response, -32004, "offer_not_pending");
        assert_eq!(response["error"]["data"]["status"], "declined", "{method}");
    }

    // Asked again, it is a new offer; this time lead takes it back.
    let retracted = offer(&lead, &mut bob, "approver", BERLIN, "Second thoughts?", false).await;
    assert_ne!(retracted["id"], declined["id"]);
    let id = json!({"offer_id": retracted["id"]});
    // Outsiders (even the admin) and the wrong party cannot see it.
    let attempts = [
        (&carol, "permit_offer_accept"),
        (&carol, "permit_offer_decline"),
        (&carol, "permit_offer_retract"),
        (&admin, "permit_offer_accept"),
        (&admin, "permit_offer_decline"),
        (&admin, "permit_offer_retract"),
        (&bob, "permit_offer_retract"),
        (&lead, "permit_offer_accept"),
        (&lead, "permit_offer_decline"),
    ];
    for (who, method) in attempts {
        let response = who.client.call(method, id.clone()).await;
        assert_error(&response, -32003, "not_found");
        // Exactly what an offer that does not exist gets: nothing leaks.
        let unknown = who.client.call(method, json!({"offer_id": uuid::Uuid::now_v7()})).await;
        assert_eq!(error_less_request_id(&response), error_less_request_id(&unknown), "{method} by {}", who.id);
    }
    assert_eq!(ids(&bob.client.ok("permit_offer_list", json!({})).await["incoming"]), vec![retracted["id"].clone()]);

    let answer = lead.client.ok("permit_offer_retract", id.clone()).await["offer"].clone();
    assert_eq!((answer["status"].as_str(), answer["decline_reason"].clone()), (Some("retracted"), Value::Null));
    assert!(answer["resolved_at"].is_string(), "{answer}");
    assert_eq!(bob.told_about("permit_offer_retracted", &retracted["id"]).await, answer);
    let row = audited(&admin.client, "permit_offer_retract", &retracted["id"]).await;
    assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*lead.id), Some(&*bob.id)));
    for (who, method) in [(&bob, "permit_offer_accept"), (&lead, "permit_offer_retract")] {
        let response = who.client.call(method, id.clone()).await;
        assert_error(&response, -32004, "offer_not_pending");
        assert_eq!(response["error"]["data"]["status"], "retracted");
    }

    // Nothing was granted; the failures changed nothing and told nobody anything.
    assert_eq!(bob.client.ok("permit_list", json!({})).await["permits"], json!([]));
    assert_eq!(bob.client.ok("permit_offer_list", json!({})).await, json!({"incoming": [], "outgoing": []}));
    let declines = audit(&admin.client, "permit_offer_decline", None).await;
    let outcomes: Vec<(&str, &str)> =
        declines.iter().map(|r| (r["outcome"].as_str().unwrap(), r["data"]["reason"].as_str().unwrap())).collect();
    let mut expected = vec![("success", "Too busy"), ("failure", "offer_not_pending")];
    expected.extend([("failure", "not_found"); 6]); // carol, admin and lead, each on a real and an unknown offer
    assert_eq!(outcomes, expected);
    let recv = "permit_offer_received";
    assert_eq!(bob.stream().await, [recv, recv, "permit_offer_retracted"]);
    assert_eq!(lead.stream().await, ["permit_granted", "permit_offer_declined"]);
    assert_eq!(carol.stream().await, Vec::<String>::new());
}

/// Story 3. An offer nobody answers lapses after the default 30 days: at once for the
/// parties' calls, and the sweeper then marks it and tells both. An offer with a later
/// expiry of its own is untouched.
async fn an_unanswered_offer_expires_after_thirty_days(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (mut admin, [mut lead, mut bob]) = cast(&server, ["lead", "bob"]).await;
    grant(&admin, &mut lead, "approver", "org:acme").await;
    let lapsing = offer(&lead, &mut bob, "approver", BERLIN, "When you have a minute.", false).await;
    let later = (time(&lapsing["created_at"]) + chrono::Duration::days(40)).to_rfc3339();
    let params = json!({"to_account_id": bob.id, "role": "member", "scope_id": "org:acme", "expires_at": later});
    let lasting = admin.client.ok("permit_offer_create", params).await["offer"].clone();
    bob.told_about("permit_offer_received", &lasting["id"]).await;

    server.clock.advance(31 * DAY);
    // Sessions lapse after a week idle: everyone signs in and listens again.
    assert_error(&bob.client.call("whoami", json!({})).await, -32001, "invalid_credentials");
    admin = Party::join(server.login(ADMIN, PASSWORD).await).await;
    lead = Party::join(server.login("lead", PASSWORD).await).await;
    bob = Party::join(server.login("bob", PASSWORD).await).await;
    let (lead_head, bob_head) = (lead.head_seq().await, bob.head_seq().await);

    // Before any sweep it already counts as expired.
    let response = bob.client.call("permit_offer_accept", json!({"offer_id": lapsing["id"]})).await;
    assert_error(&response, -32004, "offer_expired");
    assert_eq!(time(&response["error"]["data"]["expires_at"]), time(&lapsing["expires_at"]));
    let response = lead.client.call("permit_offer_retract", json!({"offer_id": lapsing["id"]})).await;
    assert_error(&response, -32004, "offer_expired");
    let bobs = bob.client.ok("permit_offer_list", json!({})).await;
    assert_eq!(ids(&bobs["incoming"]), vec![lasting["id"].clone()]);
    assert_eq!(lead.client.ok("permit_offer_list", json!({})).await, json!({"incoming": [], "outgoing": []}));

    assert_eq!(server.sweep_offers().await, 1);
    assert_eq!(server.sweep_offers().await, 0, "expired once");
    let told_lead = lead.told_about("permit_offer_expired", &lapsing["id"]).await;
    let told_bob = bob.told_about("permit_offer_expired", &lapsing["id"]).await;
    assert_eq!(told_lead, told_bob);
    assert_eq!(told_bob["status"], "expired");
    assert!(told_bob["resolved_at"].is_string(), "{told_bob}");
    assert_eq!((lead.head_seq().await, bob.head_seq().await), (lead_head + 1, bob_head + 1));

    let history = bob.client.ok("permit_offer_history", json!({})).await;
    assert_eq!(history["offers"][0]["id"], lasting["id"]);
    assert_eq!(history["offers"][0]["status"], "pending");
    assert_eq!(history["offers"][1], told_bob);
    let response = bob.client.call("permit_offer_accept", json!({"offer_id": lapsing["id"]})).await;
    assert_error(&response, -32004, "offer_expired");

    let row = audited(&admin.client, "permit_offer_expire", &lapsing["id"]).await;
    assert_eq!((row["account_id"].clone(), row["target_account_id"].as_str()), (Value::Null, Some(&*bob.id)));
    assert_eq!(row["scope_id"], BERLIN);
    assert_eq!(row["data"]["from_account_id"], lead.id.as_str());
    assert!(bob.client.ok("permit_list", json!({})).await["permits"].as_array().unwrap().is_empty());
    assert_eq!(admin.stream().await, Vec::<String>::new());
}

/// Story 4. bob holds approver in Berlin (from lead's offer); carol has offered him the
/// same again and something else in Paris. The admin revokes his permit: it stops
/// counting on his very next call, even over a socket opened before; carol's Berlin offer
/// is superseded (she is told), the Paris one stays. A grantor whose own permit is revoked
/// can no longer have an offer accepted.
async fn revoking_a_grant_takes_effect_at_once_and_supersedes_pending_offers(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut lead, mut bob, mut carol, mut dave]) = cast(&server, ["lead", "bob", "carol", "dave"]).await;
    let lead_permit = grant(&admin, &mut lead, "approver", "org:acme").await;
    grant(&admin, &mut carol, "approver", "org:acme").await;
    let first = offer(&lead, &mut bob, "approver", BERLIN, "Berlin is yours.", false).await;
    let accepted = bob.client.ok("permit_offer_accept", json!({"offer_id": first["id"]})).await;
    let permit = accepted["permit"].clone();
    lead.told_about("permit_offer_accepted", &first["id"]).await;
    bob.told("permit_granted").await;
    let again = offer(&carol, &mut bob, "approver", BERLIN, "In case lead's lapses.", false).await;
    let paris = offer(&carol, &mut bob, "approver", "org:acme/store:paris", "Paris too?", false).await;

    let mut session = bob.client.ws().await.unwrap();
    let before = session.call(7, "whoami", json!({})).await;
    assert_eq!(before["result"]["permits"], json!([permit]), "{before}");
    assert_eq!(before["result"]["permissions"]["purchase/org:acme/store:berlin"], json!(["approve", "view-any"]));

    let params = json!({"permit_id": permit["id"], "reason": "Left the Berlin team"});
    let revoked = admin.client.ok("permit_revoke", params.clone()).await;
    assert_eq!(revoked["superseded_offer_ids"], json!([again["id"]]));
    let gone = &revoked["permit"];
    assert_eq!(gone["id"], permit["id"]);
    assert_eq!(
        (gone["revoked_by"].as_str(), gone["revoked_reason"].as_str()),
        (Some(&*admin.id), Some("Left the Berlin team"))
    );
    assert!(gone["revoked_at"].is_string(), "{gone}");

    let after = session.call(8, "whoami", json!({})).await;
    assert_eq!(after["id"], 8, "{after}");
    assert_eq!((after["result"]["permits"].clone(), after["result"]["permissions"].clone()), (json!([]), json!({})));
    assert_eq!(bob.client.ok("whoami", json!({})).await["permissions"], json!({}));
    let check = json!({"checks": [{"resource": "purchase", "verb": "approve", "scope_id": BERLIN}]});
    assert_eq!(bob.client.ok("permission_check", check).await["results"], json!([false]));

    let superseded = carol.told_about("permit_offer_superseded", &again["id"]).await;
    assert_eq!(superseded["status"], "superseded");
    assert_eq!(
        (superseded["superseded_reason"].as_str(), superseded["cause_id"].clone()),
        (Some("permit_revoked"), permit["id"].clone())
    );
    assert_eq!(bob.told("permit_revoked").await, json!({"permit": gone}));
    let response = bob.client.call("permit_offer_accept", json!({"offer_id": again["id"]})).await;
    assert_error(&response, -32004, "offer_not_pending");
    assert_eq!(ids(&bob.client.ok("permit_offer_list", json!({})).await["incoming"]), vec![paris["id"].clone()]);

    assert_error(&admin.client.call("permit_revoke", params).await, -32004, "permit_not_active");
    let row = audited(&admin.client, "permit_revoke", &permit["id"]).await;
    assert_eq!((row["account_id"].as_str(), row["target_account_id"].as_str()), (Some(&*admin.id), Some(&*bob.id)));
    let data = json!({"role": "approver", "reason": "Left the Berlin team", "superseded_offer_ids": [again["id"]]});
    assert_eq!(row["data"], data);

    // lead's own grant is revoked while an offer of lead's is pending: it cannot be taken.
    let to_dave = offer(&lead, &mut dave, "approver", BERLIN, "Berlin, anyone?", false).await;
    admin.client.ok("permit_revoke", json!({"permit_id": lead_permit["id"]})).await;
    lead.told("permit_revoked").await;
    let response = dave.client.call("permit_offer_accept", json!({"offer_id": to_dave["id"]})).await;
    assert_error(&response, -32002, "role_not_grantable");
    assert_eq!(dave.client.ok("permit_list", json!({})).await["permits"], json!([]));

    let recv = "permit_offer_received";
    assert_eq!(bob.stream().await, [recv, "permit_granted", recv, recv, "permit_revoked"]);
    assert_eq!(carol.stream().await, ["permit_granted", "permit_offer_superseded"]);
    assert_eq!(lead.stream().await, ["permit_granted", "permit_offer_accepted", "permit_revoked"]);
    assert_eq!(dave.stream().await, [recv]);
}

/// Story 5. bob's offer history, to and from him, in any status, pages newest first two
/// at a time until `next_cursor` is null, each offer once; others' offers never show.
async fn offer_history_pages_newest_first_without_duplicates(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut lead, mut bob, mut carol]) = cast(&server, ["lead", "bob", "carol"]).await;
    grant(&admin, &mut lead, "approver", "org:acme").await;
    grant(&admin, &mut bob, "member", "org:acme").await;

    let declined = offer(&lead, &mut bob, "approver", BERLIN, "one", false).await;
    bob.client.ok("permit_offer_decline", json!({"offer_id": declined["id"]})).await;
    let unrelated = offer(&lead, &mut carol, "approver", BERLIN, "not bob's", false).await;
    let retracted = offer(&lead, &mut bob, "approver", "org:acme/store:paris", "two", false).await;
    lead.client.ok("permit_offer_retract", json!({"offer_id": retracted["id"]})).await;
    bob.told_about("permit_offer_retracted", &retracted["id"]).await;
    let outgoing = offer(&bob, &mut carol, "member", "org:acme/team:ops", "from bob", false).await;
    let accepted = offer(&admin, &mut bob, "operator", BERLIN, "three", false).await;
    bob.client.ok("permit_offer_accept", json!({"offer_id": accepted["id"]})).await;
    bob.told("permit_granted").await;
    let pending = offer(&lead, &mut bob, "approver", "org:acme/store:rome", "four", false).await;

    let newest_first = [&pending, &accepted, &outgoing, &retracted, &declined];
    let statuses = ["pending", "accepted", "pending", "retracted", "declined"];
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut params = json!({"limit": 2});
        if !cursor.is_null() {
            params["cursor"] = cursor.clone();
        }
        let page = bob.client.ok("permit_offer_history", params).await;
        let offers = page["offers"].as_array().unwrap().clone();
        pages.push(offers.len());
        seen.extend(offers);
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        assert_eq!(cursor, seen.last().unwrap()["id"], "the cursor is the page's last offer");
        assert!(pages.len() < 10, "paging does not end: {pages:?}");
    }
    assert_eq!(pages, [2, 2, 1]);
    let seen_ids: Vec<&Value> = seen.iter().map(|o| &o["id"]).collect();
    let expected: Vec<&Value> = newest_first.iter().map(|o| &o["id"]).collect();
    assert_eq!(seen_ids, expected, "newest first, each once");
    assert!(!seen_ids.contains(&&unrelated["id"]));
    let seen_statuses: Vec<&str> = seen.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(seen_statuses, statuses);

    // One page holds them all; the admin may read bob's, lead may not.
    let all = bob.client.ok("permit_offer_history", json!({})).await;
    assert_eq!((all["offers"].clone(), all["next_cursor"].clone()), (Value::Array(seen.clone()), Value::Null));
    let as_admin = admin.client.ok("permit_offer_history", json!({"account_id": bob.id})).await;
    assert_eq!(as_admin, all);
    let response = lead.client.call("permit_offer_history", json!({"account_id": bob.id})).await;
    assert_error(&response, -32002, "not_permitted");
    let carols = carol.client.ok("permit_offer_history", json!({})).await;
    assert_eq!(ids(&carols["offers"]), vec![outgoing["id"].clone(), unrelated["id"].clone()]);
}
