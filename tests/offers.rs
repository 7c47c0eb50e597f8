//! Permit offers (docs/protocol.md §6), one rule at a time: who may offer what where, renewal,
//! who may answer, resolved and expired offers, the grantor losing the role, listing
//! another account's offers and paging the history. Every refused call is checked to
//! change nothing: no offer, permit or history row, no notification to anyone, only the
//! `failure` (or `denied`) audit row.

mod common;

use std::time::Duration;

use common::identity::Client;
use common::{Backend, TestServer, assert_error, start};
use serde_json::{Value, json};

backend_tests!(
    offering_to_oneself_is_self_target,
    unknown_roles_are_refused,
    keeper_is_never_grantable,
    principal_is_offered_at_unit_scopes_only,
    a_grantor_must_hold_the_role,
    a_grantor_offers_at_or_below_the_scope_held,
    admins_may_offer_every_web_grantable_role,
    an_unknown_recipient_is_not_found,
    an_expiry_in_the_past_is_refused,
    messages_are_at_most_500_characters,
    repeating_an_offer_renews_it,
    repeating_an_expired_offer_makes_a_new_one,
    an_expired_sibling_expires_instead_of_being_superseded,
    only_the_parties_may_answer_an_offer,
    resolved_offers_are_not_pending,
    expired_offers_cannot_be_answered,
    an_offer_dies_with_the_grantors_role,
    offer_lists_of_other_accounts_are_for_admins,
    history_pages_newest_first,
);

/// An admin, `lead` (approver@org:acme, granted by the admin), `bob` and `carol`.
struct World {
    server: TestServer,
    admin: Client,
    lead: Client,
    bob: Client,
    carol: Client,
}

async fn world(backend: Backend) -> Option<World> {
    let server = start(backend).await?;
    let admin = server.admin().await;
    let lead = server.account(&admin, "lead").await;
    let bob = server.account(&admin, "bob").await;
    let carol = server.account(&admin, "carol").await;
    grant(&admin, &lead, "approver", Some("org:acme")).await;
    Some(World { server, admin, lead, bob, carol })
}

fn id(client: &Client) -> &str {
    client.account_id.as_deref().unwrap()
}

async fn grant(admin: &Client, to: &Client, role: &str, scope: Option<&str>) -> Value {
    let params = json!({"to_account_id": id(to), "role": role, "scope_id": scope});
    admin.ok("permit_grant", params).await["permit"].clone()
}

fn offer_params(to: &Client, role: &str, scope: Option<&str>) -> Value {
    json!({"to_account_id": id(to), "role": role, "scope_id": scope})
}

async fn offer(from: &Client, to: &Client, role: &str, scope: Option<&str>) -> Value {
    from.ok("permit_offer_create", offer_params(to, role, scope)).await["offer"].clone()
}

/// What a refused call must leave alone: each account's pending offers, offer history and
/// active permits (as the admin sees them), and its notification head.
async fn state(w: &World) -> Value {
    let mut all = Vec::new();
    for client in [&w.admin, &w.lead, &w.bob, &w.carol] {
        let account = json!({"account_id": id(client)});
        all.push(json!({
            "offers": w.admin.ok("permit_offer_list", account.clone()).await,
            "history": w.admin.ok("permit_offer_history", account.clone()).await,
            "permits": w.admin.ok("permit_list", account).await,
            "head": client.ok("notifications_list", json!({"limit": 1})).await["head_seq"],
        }));
    }
    Value::Array(all)
}

/// The newest audit row.
async fn last_audit(admin: &Client) -> Value {
    let mut after = 0;
    let mut last = Value::Null;
    loop {
        let page = admin.ok("audit_list", json!({"after_seq": after, "limit": 1000})).await;
        if let Some(row) = page["events"].as_array().unwrap().last() {
            last = row.clone();
        }
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => return last,
        }
    }
}

/// Calls `method` as `caller`, expects the error `code`/`reason`, and checks that nothing
/// changed but one `denied` (403) or `failure` audit row naming the reason.
async fn refused(w: &World, caller: &Client, method: &str, params: Value, code: i64, reason: &str) -> Value {
    let before = state(w).await;
    let response = caller.call(method, params).await;
    assert_error(&response, code, reason);
    assert_eq!(state(w).await, before, "{method} refused with {reason} changed something");
    if code != -32602 {
        let row = last_audit(&w.admin).await;
        let outcome = if code == -32002 { "denied" } else { "failure" };
        assert_eq!((&row["event_type"], &row["outcome"]), (&json!(method), &json!(outcome)), "{row}");
        assert_eq!(row["data"]["reason"], reason, "{row}");
        assert_eq!(row["account_id"], json!(caller.account_id), "{row}");
    }
    response
}

/// Notifications `client` got after `after`: (type, data).
async fn notes(client: &Client, after: i64) -> Vec<(String, Value)> {
    let page = client.ok("notifications_list", json!({"after": after, "limit": 500})).await;
    let list = page["notifications"].as_array().unwrap();
    list.iter().map(|n| (n["type"].as_str().unwrap().to_owned(), n["data"].clone())).collect()
}

async fn head(client: &Client) -> i64 {
    client.ok("notifications_list", json!({"limit": 1})).await["head_seq"].as_i64().unwrap()
}

async fn offering_to_oneself_is_self_target(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let to_self = offer_params(&w.lead, "approver", Some("org:acme"));
    refused(&w, &w.lead, "permit_offer_create", to_self, -32005, "self_target").await;
    // Before anything else: even an unknown role to oneself is self_target.
    let admin_self = offer_params(&w.admin, "wizard", None);
    refused(&w, &w.admin, "permit_offer_create", admin_self, -32005, "self_target").await;
}

async fn unknown_roles_are_refused(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let params = offer_params(&w.bob, "wizard", Some("org:acme"));
    let response = refused(&w, &w.lead, "permit_offer_create", params, -32005, "unknown_role").await;
    assert_eq!(response["error"]["data"]["role"], "wizard");
    refused(&w, &w.admin, "permit_offer_create", offer_params(&w.bob, "Admin", None), -32005, "unknown_role").await;
}

async fn keeper_is_never_grantable(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    refused(&w, &w.admin, "permit_offer_create", offer_params(&w.bob, "keeper", None), -32002, "role_not_grantable")
        .await;
    // Not even by a keeper.
    w.server.grant_directly(id(&w.carol), "keeper", None).await;
    refused(&w, &w.carol, "permit_offer_create", offer_params(&w.bob, "keeper", None), -32002, "role_not_grantable")
        .await;
}

async fn principal_is_offered_at_unit_scopes_only(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    for scope in [Some("org:acme"), None, Some("unit:CF1234/org:acme")] {
        let params = offer_params(&w.bob, "principal", scope);
        let response = refused(&w, &w.admin, "permit_offer_create", params, -32005, "scope_not_applicable").await;
        assert_eq!(response["error"]["data"]["scopes"], json!(["unit"]), "{response}");
    }
    // Checked before whether the grantor holds the role.
    let params = offer_params(&w.bob, "principal", Some("org:acme"));
    refused(&w, &w.lead, "permit_offer_create", params, -32005, "scope_not_applicable").await;
    let made = offer(&w.admin, &w.bob, "principal", Some("org:acme/unit:CF1234")).await;
    assert_eq!((&made["role"], &made["status"]), (&json!("principal"), &json!("pending")));
}

async fn a_grantor_must_hold_the_role(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let approver = offer_params(&w.carol, "approver", Some("org:acme"));
    refused(&w, &w.bob, "permit_offer_create", approver.clone(), -32002, "role_not_grantable").await;
    grant(&w.admin, &w.bob, "member", None).await;
    refused(&w, &w.bob, "permit_offer_create", approver, -32002, "role_not_grantable").await;
    let operator = offer_params(&w.carol, "operator", Some("org:acme"));
    refused(&w, &w.lead, "permit_offer_create", operator, -32002, "role_not_grantable").await;
    // The member role bob holds globally he may hand on, anywhere.
    let made = offer(&w.bob, &w.carol, "member", Some("org:acme")).await;
    assert_eq!(made["from_account_id"], id(&w.bob));
}

async fn a_grantor_offers_at_or_below_the_scope_held(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    for scope in ["org:acme/store:berlin", "org:acme", "org:acme/store:berlin/till:3"] {
        let made = offer(&w.lead, &w.bob, "approver", Some(scope)).await;
        assert_eq!((&made["scope_id"], &made["status"]), (&json!(scope), &json!("pending")), "{made}");
        assert_eq!((&made["from_account_id"], &made["to_account_id"]), (&json!(id(&w.lead)), &json!(id(&w.bob))));
    }
    for scope in [Some("org:acmecorp"), None, Some("org:ac"), Some("org:other/org:acme")] {
        let params = offer_params(&w.bob, "approver", scope);
        refused(&w, &w.lead, "permit_offer_create", params, -32002, "role_not_grantable").await;
    }
    for bad in ["org acme", "org:", "/org:acme", "ORG:acme"] {
        let params = offer_params(&w.bob, "approver", Some(bad));
        let response = refused(&w, &w.lead, "permit_offer_create", params, -32602, "schema").await;
        assert_eq!(response["error"]["data"]["issues"][0]["path"], "/scope_id", "{response}");
    }
    // Held lower down, not offerable higher up.
    grant(&w.admin, &w.carol, "approver", Some("org:acme/store:berlin")).await;
    let above = offer_params(&w.bob, "approver", Some("org:acme"));
    refused(&w, &w.carol, "permit_offer_create", above, -32002, "role_not_grantable").await;
    let sibling = offer_params(&w.bob, "approver", Some("org:acme/store:paris"));
    refused(&w, &w.carol, "permit_offer_create", sibling, -32002, "role_not_grantable").await;
}

async fn admins_may_offer_every_web_grantable_role(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let roles = w.admin.ok("role_list", json!({})).await["roles"].clone();
    let grantable: Vec<&Value> = roles.as_array().unwrap().iter().filter(|r| r["web_grantable"] == true).collect();
    let names: Vec<&str> = grantable.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let expected = ["admin", "approver", "buyer", "manager", "member", "operator", "principal", "standard"];
    assert_eq!(names, expected);
    for role in &grantable {
        let scope = if role["scopes"].as_array().unwrap().is_empty() { None } else { Some("unit:CF1234") };
        let made = offer(&w.admin, &w.bob, role["name"].as_str().unwrap(), scope).await;
        assert_eq!(made["status"], "pending", "{made}");
    }
    let incoming = w.bob.ok("permit_offer_list", json!({})).await["incoming"].clone();
    let offered: Vec<&str> = incoming.as_array().unwrap().iter().map(|o| o["role"].as_str().unwrap()).collect();
    assert_eq!(offered, expected, "oldest first");
    let approver = incoming.as_array().unwrap().iter().find(|o| o["role"] == "approver").unwrap();
    let accepted = w.bob.ok("permit_offer_accept", json!({"offer_id": approver["id"]})).await;
    assert_eq!(accepted["permit"]["granted_by"], id(&w.admin));
    assert_eq!(accepted["permit"]["scope_id"], Value::Null);
}

async fn an_unknown_recipient_is_not_found(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let nobody = uuid::Uuid::now_v7();
    let params = json!({"to_account_id": nobody, "role": "approver", "scope_id": "org:acme"});
    refused(&w, &w.lead, "permit_offer_create", params, -32003, "not_found").await;
    let params = json!({"to_account_id": nobody, "role": "member"});
    refused(&w, &w.admin, "permit_offer_create", params, -32003, "not_found").await;
}

async fn an_expiry_in_the_past_is_refused(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let past = w.server.clock.now() - chrono::Duration::seconds(1);
    let mut params = offer_params(&w.bob, "approver", Some("org:acme"));
    params["expires_at"] = json!(past);
    refused(&w, &w.lead, "permit_offer_create", params.clone(), -32005, "expiry_in_past").await;
    // Checked after the grantor's right to offer, before the recipient is looked up.
    refused(&w, &w.carol, "permit_offer_create", params.clone(), -32002, "role_not_grantable").await;
    params["to_account_id"] = json!(uuid::Uuid::now_v7());
    refused(&w, &w.lead, "permit_offer_create", params, -32005, "expiry_in_past").await;
    let soon = w.server.clock.now() + chrono::Duration::minutes(5);
    let mut params = offer_params(&w.bob, "approver", Some("org:acme"));
    params["expires_at"] = json!(soon);
    let made = w.lead.ok("permit_offer_create", params).await["offer"].clone();
    let at: chrono::DateTime<chrono::Utc> = serde_json::from_value(made["expires_at"].clone()).unwrap();
    assert_eq!(at, soon);
}

async fn messages_are_at_most_500_characters(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut params = offer_params(&w.bob, "approver", Some("org:acme"));
    params["message"] = json!("x".repeat(501));
    let response = refused(&w, &w.lead, "permit_offer_create", params.clone(), -32602, "schema").await;
    let issues = response["error"]["data"]["issues"].as_array().unwrap();
    assert!(issues.iter().any(|i| i["path"] == "/message"), "{response}");
    // 500 characters are fine, also when each takes two bytes.
    for message in ["x".repeat(500), "é".repeat(500)] {
        params["message"] = json!(message);
        let made = w.lead.ok("permit_offer_create", params.clone()).await["offer"].clone();
        assert_eq!(made["message"], message.as_str());
    }
}

async fn repeating_an_offer_renews_it(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let bob_head = head(&w.bob).await;
    let mut params = offer_params(&w.bob, "approver", Some("org:acme"));
    params["message"] = json!("one");
    let first = w.lead.ok("permit_offer_create", params.clone()).await["offer"].clone();
    let created: chrono::DateTime<chrono::Utc> = serde_json::from_value(first["created_at"].clone()).unwrap();
    let default_expiry: chrono::DateTime<chrono::Utc> = serde_json::from_value(first["expires_at"].clone()).unwrap();
    assert_eq!(default_expiry - created, chrono::Duration::days(30));
    w.server.clock.advance(Duration::from_secs(60));
    let later = w.server.clock.now() + chrono::Duration::days(2);
    params["message"] = json!("two");
    params["expires_at"] = json!(later);
    let second = w.lead.ok("permit_offer_create", params).await["offer"].clone();
    assert_eq!((&second["id"], &second["created_at"]), (&first["id"], &first["created_at"]));
    assert_eq!((&second["message"], &second["status"]), (&json!("two"), &json!("pending")));
    assert_eq!(serde_json::from_value::<chrono::DateTime<chrono::Utc>>(second["expires_at"].clone()).unwrap(), later);
    let incoming = w.bob.ok("permit_offer_list", json!({})).await["incoming"].clone();
    assert_eq!(incoming, json!([second]));
    let heard = notes(&w.bob, bob_head).await;
    let renewed: Vec<(&str, &Value, &Value)> =
        heard.iter().map(|(t, d)| (t.as_str(), &d["renewed"], &d["offer"]["message"])).collect();
    assert_eq!(
        renewed,
        vec![
            ("permit_offer_received", &json!(false), &json!("one")),
            ("permit_offer_received", &json!(true), &json!("two"))
        ]
    );
    let rows = w.admin.ok("audit_list", json!({"event_type": "permit_offer_create", "subject_id": first["id"]})).await;
    let rows = rows["events"].as_array().unwrap();
    let flags: Vec<&Value> = rows.iter().map(|r| &r["data"]["renewed"]).collect();
    assert_eq!(flags, vec![&json!(false), &json!(true)]);
    assert_eq!((&rows[1]["target_account_id"], &rows[1]["account_id"]), (&json!(id(&w.bob)), &json!(id(&w.lead))));
    // Once answered, the same offer again is a new one.
    w.bob.ok("permit_offer_decline", json!({"offer_id": first["id"]})).await;
    let third = offer(&w.lead, &w.bob, "approver", Some("org:acme")).await;
    assert_ne!(third["id"], first["id"]);
}

/// An offer past its expiry already counts as expired before the sweeper marks it (it is
/// not listed, answering it is offer_expired), so offering the same again must make a new
/// offer, exactly as it does once the sweeper has run.
async fn repeating_an_expired_offer_makes_a_new_one(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let short = |scope: &str| {
        let mut params = offer_params(&w.bob, "approver", Some(scope));
        params["expires_at"] = json!(w.server.clock.now() + chrono::Duration::hours(1));
        params
    };
    // Once swept, the same offer again is a new one.
    let swept = w.lead.ok("permit_offer_create", short("org:acme/store:swept")).await["offer"].clone();
    w.server.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(w.server.sweep_offers().await, 1);
    let after_sweep = offer(&w.lead, &w.bob, "approver", Some("org:acme/store:swept")).await;
    assert_ne!(after_sweep["id"], swept["id"]);
    // Expired but not swept yet: it must be just the same.
    let old = w.lead.ok("permit_offer_create", short("org:acme")).await["offer"].clone();
    w.server.clock.advance(Duration::from_secs(2 * 3600));
    let old_id = json!({"offer_id": old["id"]});
    refused(&w, &w.bob, "permit_offer_accept", old_id, -32004, "offer_expired").await;
    // Repeating it ends the expired one (both sides told) and makes a new offer: bob was
    // just told it had expired, so it must never come back to life.
    let again = offer(&w.lead, &w.bob, "approver", Some("org:acme")).await;
    assert_ne!(again["id"], old["id"], "an expired offer was renewed: {again}");
    w.server.sweep_offers().await;
    let history = w.bob.ok("permit_offer_history", json!({})).await["offers"].clone();
    let old_now = history.as_array().unwrap().iter().find(|o| o["id"] == old["id"]).unwrap();
    assert_eq!(old_now["status"], "expired", "{old_now}");
}

async fn only_the_parties_may_answer_an_offer(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let made = offer(&w.lead, &w.bob, "approver", Some("org:acme")).await;
    let id_only = json!({"offer_id": made["id"]});
    let wrong = [
        (&w.lead, "permit_offer_accept"),
        (&w.lead, "permit_offer_decline"),
        (&w.bob, "permit_offer_retract"),
        (&w.carol, "permit_offer_accept"),
        (&w.carol, "permit_offer_decline"),
        (&w.carol, "permit_offer_retract"),
        (&w.admin, "permit_offer_accept"),
        (&w.admin, "permit_offer_decline"),
        (&w.admin, "permit_offer_retract"),
    ];
    for (caller, method) in wrong {
        refused(&w, caller, method, id_only.clone(), -32003, "not_found").await;
    }
    let nothing = json!({"offer_id": uuid::Uuid::now_v7()});
    refused(&w, &w.bob, "permit_offer_accept", nothing, -32003, "not_found").await;
    let accepted = w.bob.ok("permit_offer_accept", id_only).await;
    assert_eq!(accepted["offer"]["status"], "accepted");
}

async fn resolved_offers_are_not_pending(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let lead_head = head(&w.lead).await;
    let bob_head = head(&w.bob).await;
    let a = offer(&w.lead, &w.bob, "approver", Some("org:acme/store:a")).await;
    let d = offer(&w.lead, &w.bob, "approver", Some("org:acme/store:d")).await;
    let r = offer(&w.lead, &w.bob, "approver", Some("org:acme/store:r")).await;
    let accepted = w.bob.ok("permit_offer_accept", json!({"offer_id": a["id"]})).await;
    assert_eq!(accepted["permit"]["source_offer_id"], a["id"]);
    let declined = w.bob.ok("permit_offer_decline", json!({"offer_id": d["id"], "reason": "not now"})).await;
    assert_eq!(
        (&declined["offer"]["status"], &declined["offer"]["decline_reason"]),
        (&json!("declined"), &json!("not now"))
    );
    let retracted = w.lead.ok("permit_offer_retract", json!({"offer_id": r["id"]})).await;
    assert_eq!(retracted["offer"]["status"], "retracted");
    let lead_heard: Vec<String> = notes(&w.lead, lead_head).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(lead_heard, ["permit_offer_accepted", "permit_offer_declined"]);
    let bob_heard: Vec<String> = notes(&w.bob, bob_head).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(bob_heard[3..], ["permit_granted", "permit_offer_retracted"]);
    for (resolved, status) in [(&a, "accepted"), (&d, "declined"), (&r, "retracted")] {
        let params = json!({"offer_id": resolved["id"]});
        for (caller, method) in
            [(&w.bob, "permit_offer_accept"), (&w.bob, "permit_offer_decline"), (&w.lead, "permit_offer_retract")]
        {
            let response = refused(&w, caller, method, params.clone(), -32004, "offer_not_pending").await;
            assert_eq!(response["error"]["data"]["status"], status, "{response}");
        }
        // Still invisible to anyone else.
        refused(&w, &w.carol, "permit_offer_accept", params, -32003, "not_found").await;
    }
}

async fn expired_offers_cannot_be_answered(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut params = offer_params(&w.bob, "approver", Some("org:acme"));
    params["expires_at"] = json!(w.server.clock.now() + chrono::Duration::hours(1));
    let short = w.lead.ok("permit_offer_create", params).await["offer"].clone();
    let long = offer(&w.lead, &w.bob, "approver", Some("org:acme/store:berlin")).await;
    let (lead_head, bob_head) = (head(&w.lead).await, head(&w.bob).await);
    w.server.clock.advance(Duration::from_secs(2 * 3600));
    // Not swept yet: already gone from the lists, and answering it is offer_expired.
    let listed = w.bob.ok("permit_offer_list", json!({})).await;
    assert_eq!(listed["incoming"], json!([long]), "{listed}");
    assert_eq!(w.lead.ok("permit_offer_list", json!({})).await["outgoing"], json!([long]));
    let id_only = json!({"offer_id": short["id"]});
    for (caller, method) in
        [(&w.bob, "permit_offer_accept"), (&w.bob, "permit_offer_decline"), (&w.lead, "permit_offer_retract")]
    {
        let response = refused(&w, caller, method, id_only.clone(), -32004, "offer_expired").await;
        assert_eq!(response["error"]["data"]["expires_at"], short["expires_at"]);
    }
    assert_eq!(w.server.sweep_offers().await, 1);
    let history = w.bob.ok("permit_offer_history", json!({})).await["offers"].clone();
    let swept = history.as_array().unwrap().iter().find(|o| o["id"] == short["id"]).unwrap().clone();
    assert_eq!(swept["status"], "expired", "{swept}");
    assert!(swept["resolved_at"].is_string(), "{swept}");
    for (party, since) in [(&w.lead, lead_head), (&w.bob, bob_head)] {
        let heard = notes(party, since).await;
        assert_eq!(heard, vec![("permit_offer_expired".to_owned(), json!({"offer": swept}))]);
    }
    let rows = w.admin.ok("audit_list", json!({"event_type": "permit_offer_expire", "subject_id": short["id"]})).await;
    let row = &rows["events"][0];
    assert_eq!((&row["account_id"], &row["target_account_id"]), (&Value::Null, &json!(id(&w.bob))), "{rows}");
    assert_eq!(rows["events"].as_array().unwrap().len(), 1);
    assert_eq!(w.server.sweep_offers().await, 0);
    refused(&w, &w.carol, "permit_offer_accept", id_only.clone(), -32003, "not_found").await;
    for (caller, method) in [(&w.bob, "permit_offer_accept"), (&w.lead, "permit_offer_retract")] {
        refused(&w, caller, method, id_only.clone(), -32004, "offer_expired").await;
    }
    let accepted = w.bob.ok("permit_offer_accept", json!({"offer_id": long["id"]})).await;
    assert_eq!(accepted["offer"]["status"], "accepted");
}

async fn an_offer_dies_with_the_grantors_role(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let lead_permit = w.admin.ok("permit_list", json!({"account_id": id(&w.lead)})).await["permits"][0].clone();
    let made = offer(&w.lead, &w.bob, "approver", Some("org:acme/store:berlin")).await;
    let revoked = w.admin.ok("permit_revoke", json!({"permit_id": lead_permit["id"]})).await;
    assert_eq!(revoked["superseded_offer_ids"], json!([]), "offers made by the holder are not superseded");
    let id_only = json!({"offer_id": made["id"]});
    refused(&w, &w.bob, "permit_offer_accept", id_only.clone(), -32002, "role_not_grantable").await;
    assert_eq!(w.bob.ok("permit_offer_list", json!({})).await["incoming"], json!([made]));
    // Held again (a wider scope is enough), the same offer can be accepted.
    grant(&w.admin, &w.lead, "approver", None).await;
    let accepted = w.bob.ok("permit_offer_accept", id_only).await;
    assert_eq!(
        (&accepted["permit"]["granted_by"], &accepted["permit"]["role"]),
        (&json!(id(&w.lead)), &json!("approver"))
    );
    // A grantor's permit that expires (no revocation, no sweeper) ends their offers too.
    let until = w.server.clock.now() + chrono::Duration::hours(1);
    let params =
        json!({"to_account_id": id(&w.carol), "role": "operator", "scope_id": "org:acme", "expires_at": until});
    w.admin.ok("permit_grant", params).await;
    let made = offer(&w.carol, &w.bob, "operator", Some("org:acme/store:berlin")).await;
    w.server.clock.advance(Duration::from_secs(2 * 3600));
    let id_only = json!({"offer_id": made["id"]});
    refused(&w, &w.bob, "permit_offer_accept", id_only, -32002, "role_not_grantable").await;
}

async fn offer_lists_of_other_accounts_are_for_admins(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let made = offer(&w.lead, &w.bob, "approver", Some("org:acme")).await;
    let of_bob = json!({"account_id": id(&w.bob)});
    let seen = w.admin.ok("permit_offer_list", of_bob.clone()).await;
    assert_eq!(seen, json!({"incoming": [made], "outgoing": []}));
    assert_eq!(seen, w.bob.ok("permit_offer_list", json!({})).await);
    assert_eq!(w.admin.ok("permit_offer_list", json!({"account_id": id(&w.lead)})).await["outgoing"], json!([made]));
    assert_eq!(w.admin.ok("permit_offer_history", of_bob.clone()).await["offers"], json!([made]));
    for caller in [&w.lead, &w.carol] {
        refused(&w, caller, "permit_offer_list", of_bob.clone(), -32002, "not_permitted").await;
        refused(&w, caller, "permit_offer_history", of_bob.clone(), -32002, "not_permitted").await;
    }
    let nobody = json!({"account_id": uuid::Uuid::now_v7()});
    assert_error(&w.admin.call("permit_offer_list", nobody.clone()).await, -32003, "not_found");
    assert_error(&w.admin.call("permit_offer_history", nobody.clone()).await, -32003, "not_found");
    // Not even whether an account exists is told to a non-admin.
    refused(&w, &w.carol, "permit_offer_list", nobody, -32002, "not_permitted").await;
}

async fn history_pages_newest_first(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut made = Vec::new();
    for store in ["a", "b", "c", "d", "e"] {
        made.push(offer(&w.lead, &w.bob, "approver", Some(&format!("org:acme/store:{store}"))).await);
    }
    w.bob.ok("permit_offer_accept", json!({"offer_id": made[0]["id"]})).await;
    w.bob.ok("permit_offer_decline", json!({"offer_id": made[1]["id"]})).await;
    w.lead.ok("permit_offer_retract", json!({"offer_id": made[2]["id"]})).await;
    let full = w.bob.ok("permit_offer_history", json!({})).await;
    assert_eq!(full["next_cursor"], Value::Null);
    let ids: Vec<&Value> = full["offers"].as_array().unwrap().iter().map(|o| &o["id"]).collect();
    let newest_first: Vec<&Value> = made.iter().rev().map(|o| &o["id"]).collect();
    assert_eq!(ids, newest_first);
    let statuses: Vec<&str> =
        full["offers"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "pending", "retracted", "declined", "accepted"]);
    assert_eq!(w.lead.ok("permit_offer_history", json!({})).await, full, "the grantor sees the same offers");
    let mut pages = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = w.bob.ok("permit_offer_history", json!({"limit": 2, "cursor": cursor})).await;
        pages.push(page["offers"].as_array().unwrap().len());
        assert!(pages.len() <= 3, "{page}");
        let offers = page["offers"].as_array().unwrap();
        assert_eq!(offers.as_slice(), &full["offers"].as_array().unwrap()[2 * (pages.len() - 1)..][..offers.len()]);
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        assert_eq!(cursor, offers.last().unwrap()["id"]);
    }
    assert_eq!(pages, [2, 2, 1]);
    // A last page that is exactly full hands out no cursor to an empty one.
    let exact = w.bob.ok("permit_offer_history", json!({"limit": 5})).await;
    assert_eq!((exact["offers"].as_array().unwrap().len(), &exact["next_cursor"]), (5, &Value::Null));
    let first = w.bob.ok("permit_offer_history", json!({"limit": 4})).await;
    let rest = w.bob.ok("permit_offer_history", json!({"limit": 1, "cursor": first["next_cursor"]})).await;
    assert_eq!((rest["offers"][0]["id"].clone(), &rest["next_cursor"]), (made[0]["id"].clone(), &Value::Null));
    let carol = w.carol.ok("permit_offer_history", json!({})).await;
    assert_eq!(carol, json!({"offers": [], "next_cursor": null}));
    for limit in [0, 501] {
        let response = refused(&w, &w.bob, "permit_offer_history", json!({"limit": limit}), -32602, "schema").await;
        assert!(response["error"]["data"]["issues"].as_array().unwrap().iter().any(|i| i["path"] == "/limit"));
    }
}

/// Accepting one offer supersedes its live siblings only: a sibling already past its
/// expiry (not yet swept) is over, and ends as expired, never as superseded.
async fn an_expired_sibling_expires_instead_of_being_superseded(backend: Backend) {
    let Some(w) = world(backend).await else { return };
    let mut short = offer_params(&w.bob, "approver", Some("org:acme"));
    short["expires_at"] = json!(w.server.clock.now() + chrono::Duration::hours(1));
    let stale = w.lead.ok("permit_offer_create", short).await["offer"].clone();
    w.server.clock.advance(Duration::from_secs(2 * 3600));
    let bob = w.server.login("bob", common::identity::PASSWORD).await;
    let admin = w.server.login("admin", common::identity::PASSWORD).await;
    let live = offer(&admin, &bob, "approver", Some("org:acme")).await;
    let accepted = bob.ok("permit_offer_accept", json!({"offer_id": live["id"]})).await;
    assert_eq!(accepted["superseded_offer_ids"], json!([]), "{accepted}");
    assert_eq!(w.server.sweep_offers().await, 1);
    let history = bob.ok("permit_offer_history", json!({})).await["offers"].clone();
    let stale_now = history.as_array().unwrap().iter().find(|o| o["id"] == stale["id"]).unwrap().clone();
    assert_eq!((&stale_now["status"], &stale_now["superseded_reason"]), (&json!("expired"), &Value::Null));
}
