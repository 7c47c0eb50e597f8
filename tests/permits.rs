//! Roles, scopes, permits and the permissions map (docs/protocol.md §5, §11): the default roles,
//! `verb:*` expansion, scope coverage on whole segments, permit_grant / permit_revoke and
//! their errors, replacement, expiry, who may list and check what, notifications, audit.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::identity::Client;
use common::{Backend, TestServer, assert_error, error_of, start};
use serde_json::{Value, json};

backend_tests!(
    role_list_returns_the_default_roles,
    whoami_of_a_global_admin_is_exactly_star,
    verb_star_expands_to_every_action_kind,
    a_scope_covers_what_is_below_it_on_whole_segments,
    permit_grant_errors_come_in_order_and_change_nothing,
    a_second_grant_of_the_same_role_and_scope_replaces_the_first,
    an_expired_permit_grants_nothing_on_the_next_call,
    permit_revoke_refuses_unknown_inactive_and_the_last_admin,
    two_admins_revoking_each_other_at_once_leave_one_admin,
    no_side_door_leaves_the_server_without_a_lasting_admin,
    permit_list_of_another_account_is_for_admins,
    permission_check_validates_its_params,
    grant_and_revoke_notify_the_holder_and_are_audited,
    view_audit_at_a_scope_shows_that_scope_only,
);

const KINDS: [&str; 6] = ["cancel_order", "discount", "purchase", "refund", "release_deploy", "update_address"];

/// A server, its admin and an account `ann`.
async fn setup(backend: Backend) -> Option<(TestServer, Client, Client, String)> {
    let server = start(backend).await?;
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let ann_id = ann.account_id.clone().unwrap();
    Some((server, admin, ann, ann_id))
}

fn grant_params(to: &str, role: &str, scope: Option<&str>) -> Value {
    let mut params = json!({"to_account_id": to, "role": role});
    if let Some(scope) = scope {
        params["scope_id"] = json!(scope);
    }
    params
}

async fn grant(admin: &Client, to: &str, role: &str, scope: Option<&str>) -> Value {
    admin.ok("permit_grant", grant_params(to, role, scope)).await["permit"].clone()
}

/// The ids of `account`'s active permits, as the admin's permit_list shows them.
async fn permit_ids(admin: &Client, account: &str) -> Vec<Value> {
    let listed = admin.ok("permit_list", json!({"account_id": account})).await;
    listed["permits"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect()
}

fn check(resource: &str, verb: &str, scope: Option<&str>) -> Value {
    match scope {
        Some(scope) => json!({"resource": resource, "verb": verb, "scope_id": scope}),
        None => json!({"resource": resource, "verb": verb}),
    }
}

async fn answers(client: &Client, checks: Vec<Value>) -> Value {
    client.ok("permission_check", json!({ "checks": checks })).await["results"].clone()
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339()
}

async fn role_list_returns_the_default_roles(backend: Backend) {
    let Some((_server, _admin, ann, _)) = setup(backend).await else { return };
    let listed = ann.ok("role_list", json!({})).await;
    let roles = listed["roles"].as_array().unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["admin", "approver", "buyer", "keeper", "manager", "member", "operator", "principal", "standard"],
        "sorted by name"
    );
    let role = |name: &str| roles.iter().find(|r| r["name"] == name).unwrap().clone();
    for r in roles {
        let expected = r["name"] != "keeper";
        assert_eq!(r["web_grantable"], expected, "{r}");
        assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{r}");
        let unit_role = r["name"] == "principal" || r["name"] == "standard";
        assert_eq!(r["scopes"], if unit_role { json!(["unit"]) } else { json!([]) }, "{r}");
    }
    assert_eq!(role("admin")["grants"], json!(["*:*"]));
    assert_eq!(role("keeper")["grants"], json!(["check:permissions", "view-any:*"]));
    assert_eq!(role("member")["grants"], json!(["create:*", "view-own:*", "cancel-own:*", "retry-own:*"]));
    assert_eq!(role("approver")["grants"], json!(["approve:*", "view-any:*"]));
    assert_eq!(
        role("operator")["grants"],
        json!(["execute-any:*", "cancel-any:*", "retry-any:*", "confirm-any:*", "view-any:*"])
    );
    assert_eq!(role("buyer")["grants"], json!(["execute-own:purchase"]));
    assert_eq!(role("manager")["grants"], json!(["manage:policies", "view:audit", "view-any:*"]));
    assert_eq!(role("principal")["grants"], json!(["edit:module.status", "edit:modules", "view:modules"]));
    assert_eq!(role("standard")["grants"], json!(["view:modules", "edit-own:modules"]));
}

async fn whoami_of_a_global_admin_is_exactly_star(backend: Backend) {
    let Some((_server, admin, ann, ann_id)) = setup(backend).await else { return };
    let me = admin.ok("whoami", json!({})).await;
    assert_eq!(me["permissions"], json!({"*": ["*"]}), "{me}");
    let permits = me["permits"].as_array().unwrap();
    assert_eq!(permits.len(), 1, "{me}");
    assert_eq!((&permits[0]["role"], &permits[0]["scope_id"]), (&json!("admin"), &Value::Null), "{me}");
    // Other permits beside a global admin do not add keys.
    grant(&admin, admin.account_id.as_deref().unwrap(), "approver", Some("org:acme")).await;
    assert_eq!(admin.ok("whoami", json!({})).await["permissions"], json!({"*": ["*"]}));
    // A second global admin sees the same; a plain account sees nothing.
    assert_eq!(ann.ok("whoami", json!({})).await["permissions"], json!({}));
    grant(&admin, &ann_id, "admin", None).await;
    assert_eq!(ann.ok("whoami", json!({})).await["permissions"], json!({"*": ["*"]}));
    let asked = vec![check("modules", "edit-own", None), check("policies", "manage", Some("org:z/team:q"))];
    assert_eq!(answers(&ann, asked).await, json!([true, true]));
    // Even an admin's question must name what exists (§5.1).
    let unknown = ann.call("permission_check", json!({"checks": [check("anything", "at-all", None)]})).await;
    assert_error(&unknown, -32005, "unknown_resource");
}

async fn verb_star_expands_to_every_action_kind(backend: Backend) {
    let Some((_server, admin, ann, ann_id)) = setup(backend).await else { return };
    grant(&admin, &ann_id, "approver", Some("org:acme")).await;
    let permissions = ann.ok("whoami", json!({})).await["permissions"].clone();
    let expected: serde_json::Map<String, Value> =
        KINDS.iter().map(|kind| (format!("{kind}/org:acme"), json!(["approve", "view-any"]))).collect();
    assert_eq!(permissions, Value::Object(expected), "one key per kind, no `*` key");
    assert_eq!(permissions["refund/org:acme"], json!(["approve", "view-any"]));

    let mut checks: Vec<Value> = KINDS.iter().map(|kind| check(kind, "approve", Some("org:acme"))).collect();
    checks.push(check("module.status", "edit", Some("org:acme")));
    checks.push(check("policies", "manage", Some("org:acme")));
    checks.push(check("refund", "execute-any", Some("org:acme")));
    let mut expected = vec![true; KINDS.len()];
    expected.extend([false, false, false]);
    assert_eq!(answers(&ann, checks).await, json!(expected));
    // `approve` is a verb of the kinds only, and `*` no resource one may ask about.
    for (resource, reason) in [("module.status", "unknown_verb"), ("*", "unknown_resource")] {
        let asked = json!({"checks": [check(resource, "approve", Some("org:acme"))]});
        assert_error(&ann.call("permission_check", asked).await, -32005, reason);
    }

    // Several roles merge their verbs per key, sorted.
    grant(&admin, &ann_id, "operator", Some("org:acme")).await;
    let permissions = ann.ok("whoami", json!({})).await["permissions"].clone();
    assert_eq!(
        permissions["purchase/org:acme"],
        json!(["approve", "cancel-any", "confirm-any", "execute-any", "retry-any", "view-any"])
    );
}

async fn a_scope_covers_what_is_below_it_on_whole_segments(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    grant(&admin, &ann_id, "approver", Some("org:acme")).await;
    grant(&admin, &ann_id, "operator", Some("org:ac")).await;
    let scopes = [
        Some("org:acme"),
        Some("org:acme/store:berlin"),
        Some("org:acme/store:berlin/till:7"),
        Some("org:acmecorp"),
        Some("org:acmecorp/store:berlin"),
        Some("store:berlin/org:acme"),
        Some("org:other"),
        None,
    ];
    let approve: Vec<Value> = scopes.iter().map(|s| check("refund", "approve", *s)).collect();
    assert_eq!(answers(&ann, approve).await, json!([true, true, true, false, false, false, false, false]));
    // org:ac covers org:ac and below, never org:acme.
    let execute: Vec<Value> = [Some("org:ac"), Some("org:ac/store:x"), Some("org:acme"), Some("org:acme/store:berlin")]
        .iter()
        .map(|s| check("purchase", "execute-any", *s))
        .collect();
    assert_eq!(answers(&ann, execute).await, json!([true, true, false, false]));

    // A global permit covers every scope and the global one.
    let bob = server.account(&admin, "bob").await;
    grant(&admin, bob.account_id.as_deref().unwrap(), "approver", None).await;
    let approve: Vec<Value> = scopes.iter().map(|s| check("refund", "approve", *s)).collect();
    assert_eq!(answers(&bob, approve).await, json!(vec![true; 8]));
    let permissions = bob.ok("whoami", json!({})).await["permissions"].clone();
    assert_eq!(permissions["refund"], json!(["approve", "view-any"]), "a global key has no scope: {permissions}");
}

async fn permit_grant_errors_come_in_order_and_change_nothing(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    let admin_id = admin.account_id.clone().unwrap();
    let unknown = uuid::Uuid::now_v7().to_string();
    let past = at(server.clock.now() - chrono::Duration::minutes(1));
    let future = at(server.clock.now() + chrono::Duration::hours(1));
    let before_ann = permit_ids(&admin, &ann_id).await;
    let before_admin = permit_ids(&admin, &admin_id).await;
    assert!(before_ann.is_empty());
    // Each case also has every defect checked after it, and only that one wins.
    let cases = [
        (&unknown, "no-such-role", Some("org:acme"), Some(&past), -32005, "unknown_role"),
        (&unknown, "keeper", Some("org:acme"), Some(&past), -32002, "role_not_grantable"),
        (&unknown, "principal", Some("org:acme"), Some(&past), -32005, "scope_not_applicable"),
        (&unknown, "principal", None, Some(&past), -32005, "scope_not_applicable"),
        (&unknown, "approver", Some("org:acme"), Some(&past), -32005, "expiry_in_past"),
        (&ann_id, "approver", None, Some(&past), -32005, "expiry_in_past"),
        (&unknown, "approver", Some("org:acme"), Some(&future), -32003, "not_found"),
        (&unknown, "admin", None, None, -32003, "not_found"),
    ];
    for (to, role, scope, expires_at, code, reason) in cases {
        let mut params = grant_params(to, role, scope);
        if let Some(expires_at) = expires_at {
            params["expires_at"] = json!(expires_at);
        }
        assert_error(&admin.call("permit_grant", params.clone()).await, code, reason);
        assert_eq!(permit_ids(&admin, &ann_id).await, before_ann, "after {params}");
        assert_eq!(permit_ids(&admin, &admin_id).await, before_admin, "after {params}");
    }
    // expires_at exactly now (server clock) is in the past as well.
    let mut params = grant_params(&ann_id, "approver", None);
    params["expires_at"] = json!(at(server.clock.now()));
    assert_error(&admin.call("permit_grant", params).await, -32005, "expiry_in_past");
    // Only an admin grants; a malformed scope is an invalid param.
    assert_error(&ann.call("permit_grant", grant_params(&ann_id, "approver", None)).await, -32002, "not_permitted");
    let response = admin.call("permit_grant", grant_params(&ann_id, "approver", Some("org acme"))).await;
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/scope_id", "{response}");
    assert!(permit_ids(&admin, &ann_id).await.is_empty());
    assert_eq!(ann.ok("whoami", json!({})).await["permissions"], json!({}));
    let audited = admin.ok("audit_list", json!({"event_type": "permit_grant"})).await;
    let events = audited["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.iter().all(|e| e["outcome"] != "success"), "{audited}");
    assert_eq!(ann.ok("notifications_list", json!({})).await["head_seq"], 0, "ann was told nothing");
}

async fn a_second_grant_of_the_same_role_and_scope_replaces_the_first(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    let first = grant(&admin, &ann_id, "approver", Some("org:acme")).await;
    let other_scope = grant(&admin, &ann_id, "approver", Some("org:acme/store:berlin")).await;
    let expires = server.clock.now() + chrono::Duration::days(7);
    let mut params = grant_params(&ann_id, "approver", Some("org:acme"));
    params["expires_at"] = json!(at(expires));
    let second = admin.ok("permit_grant", params).await["permit"].clone();
    assert_ne!(second["id"], first["id"]);
    let second_expiry: DateTime<Utc> = serde_json::from_value(second["expires_at"].clone()).unwrap();
    assert_eq!(second_expiry, expires, "{second}");
    assert_eq!(second["revoked_at"], Value::Null, "{second}");

    let listed = ann.ok("permit_list", json!({})).await["permits"].clone();
    let ids: Vec<&Value> = listed.as_array().unwrap().iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, vec![&other_scope["id"], &second["id"]], "exactly one active per role and scope: {listed}");
    // The first one is closed as replaced.
    let mut conn = server.env.db.read().await.unwrap();
    let old = countersign::authz::permits::find(conn.conn(), first["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.revoked_reason.as_deref(), Some("replaced"));
    assert!(old.revoked_at.is_some());
    let revoke = admin.call("permit_revoke", json!({"permit_id": first["id"]})).await;
    assert_error(&revoke, -32004, "permit_not_active");
    // The audit row names what it replaced.
    let audited = admin.ok("audit_list", json!({"event_type": "permit_grant", "subject_id": second["id"]})).await;
    assert_eq!(audited["events"][0]["data"]["replaced_permit_id"], first["id"], "{audited}");
    // Still granting, once.
    assert_eq!(ann.ok("whoami", json!({})).await["permissions"]["refund/org:acme"], json!(["approve", "view-any"]));
}

async fn an_expired_permit_grants_nothing_on_the_next_call(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    let mut params = grant_params(&ann_id, "approver", Some("org:acme"));
    params["expires_at"] = json!(at(server.clock.now() + chrono::Duration::hours(1)));
    let permit = admin.ok("permit_grant", params).await["permit"].clone();
    let lasting = grant(&admin, &ann_id, "buyer", None).await;
    let mut ws = ann.ws().await.unwrap();
    let question = vec![check("refund", "approve", Some("org:acme"))];
    assert_eq!(answers(&ann, question.clone()).await, json!([true]));
    assert_eq!(
        ws.call(1, "whoami", json!({})).await["result"]["permissions"]["refund/org:acme"],
        json!(["approve", "view-any"])
    );

    server.clock.advance(Duration::from_secs(59 * 60));
    assert_eq!(answers(&ann, question.clone()).await, json!([true]), "not yet");
    server.clock.advance(Duration::from_secs(2 * 60));

    assert_eq!(answers(&ann, question).await, json!([false]));
    let whoami = ws.call(2, "whoami", json!({})).await["result"].clone();
    assert_eq!(whoami["permissions"], json!({"purchase": ["execute-own"]}), "{whoami}");
    assert_eq!(whoami["permits"].as_array().unwrap().len(), 1, "{whoami}");
    assert_eq!(whoami["permits"][0]["id"], lasting["id"], "{whoami}");
    assert_eq!(permit_ids(&admin, &ann_id).await, vec![lasting["id"].clone()]);
    assert_error(&admin.call("permit_revoke", json!({"permit_id": permit["id"]})).await, -32004, "permit_not_active");
    // It can be granted afresh.
    grant(&admin, &ann_id, "approver", Some("org:acme")).await;
    assert_eq!(permit_ids(&admin, &ann_id).await.len(), 2);
}

async fn permit_revoke_refuses_unknown_inactive_and_the_last_admin(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    let unknown = uuid::Uuid::now_v7();
    assert_error(&admin.call("permit_revoke", json!({"permit_id": unknown})).await, -32003, "not_found");
    let permit = grant(&admin, &ann_id, "member", None).await;
    assert_error(&ann.call("permit_revoke", json!({"permit_id": permit["id"]})).await, -32002, "not_permitted");
    let revoked = admin.ok("permit_revoke", json!({"permit_id": permit["id"]})).await;
    assert!(revoked["permit"]["revoked_at"].is_string(), "{revoked}");
    assert_eq!(revoked["permit"]["revoked_reason"], Value::Null, "{revoked}");
    let again = admin.call("permit_revoke", json!({"permit_id": permit["id"]})).await;
    assert_error(&again, -32004, "permit_not_active");

    // The only admin cannot revoke their own admin permit.
    let me = admin.ok("whoami", json!({})).await;
    let admin_permit = me["permits"].as_array().unwrap().iter().find(|p| p["role"] == "admin").unwrap()["id"].clone();
    let last = admin.call("permit_revoke", json!({"permit_id": admin_permit})).await;
    assert_error(&last, -32004, "last_admin");
    assert_eq!(admin.ok("whoami", json!({})).await["permissions"], json!({"*": ["*"]}));
    // A scoped admin is not a global admin: still the last one.
    let bob = server.account(&admin, "bob").await;
    let bob_id = bob.account_id.clone().unwrap();
    grant(&admin, &bob_id, "admin", Some("org:acme")).await;
    assert_error(&admin.call("permit_revoke", json!({"permit_id": admin_permit})).await, -32004, "last_admin");

    // With a second global admin, one may go.
    let bob_admin = grant(&admin, &bob_id, "admin", None).await;
    let gone = admin.ok("permit_revoke", json!({"permit_id": admin_permit, "reason": "handing over"})).await;
    assert_eq!(gone["permit"]["revoked_reason"], "handing over", "{gone}");
    assert_eq!(admin.ok("whoami", json!({})).await["permissions"], json!({}));
    assert_error(&admin.call("permit_grant", grant_params(&ann_id, "member", None)).await, -32002, "not_permitted");
    // And now bob is the last one.
    let last = bob.call("permit_revoke", json!({"permit_id": bob_admin["id"]})).await;
    assert_error(&last, -32004, "last_admin");
    assert_eq!(bob.ok("whoami", json!({})).await["permissions"]["*"], json!(["*"]));
}

/// The attacks that got past the old guard: the only admin replacing their permanent
/// admin permit with one that expires, and handing over to an admin whose permit expires
/// before revoking themselves. Only a permanent global admin permit of an enabled account
/// keeps the server administrable, so both are `conflict/last_admin` and change nothing.
async fn no_side_door_leaves_the_server_without_a_lasting_admin(backend: Backend) {
    let Some((server, admin, _ann, _)) = setup(backend).await else { return };
    let admin_id = admin.account_id.clone().unwrap();
    let soon = (server.clock.now() + chrono::Duration::seconds(4)).to_rfc3339();
    let mut expiring = grant_params(&admin_id, "admin", None);
    expiring["expires_at"] = json!(soon);
    assert_error(&admin.call("permit_grant", expiring).await, -32004, "last_admin");
    let me = admin.ok("whoami", json!({})).await;
    let mine: Vec<&Value> = me["permits"].as_array().unwrap().iter().filter(|p| p["role"] == "admin").collect();
    assert_eq!(mine.len(), 1, "{me}");
    assert_eq!(mine[0]["expires_at"], Value::Null, "the permanent permit stands: {me}");

    let bob = server.account(&admin, "bob").await;
    let bob_id = bob.account_id.clone().unwrap();
    let mut handover = grant_params(&bob_id, "admin", None);
    handover["expires_at"] = json!((server.clock.now() + chrono::Duration::hours(1)).to_rfc3339());
    admin.ok("permit_grant", handover).await;
    let my_permit = mine[0]["id"].clone();
    let refused = admin.call("permit_revoke", json!({"permit_id": my_permit})).await;
    assert_error(&refused, -32004, "last_admin");
    server.clock.advance(std::time::Duration::from_secs(2 * 3600));
    assert_eq!(admin.ok("whoami", json!({})).await["permissions"], json!({"*": ["*"]}), "still in charge");
    assert_eq!(bob.ok("whoami", json!({})).await["permissions"], json!({}), "bob's hour is over");
}

async fn two_admins_revoking_each_other_at_once_leave_one_admin(backend: Backend) {
    let Some((server, first, _ann, _)) = setup(backend).await else { return };
    let mut survivor = first;
    for round in 0..5 {
        let other = server.account(&survivor, &format!("admin{round}")).await;
        let other_permit = grant(&survivor, other.account_id.as_deref().unwrap(), "admin", None).await;
        let me = survivor.ok("whoami", json!({})).await;
        let my_permit = me["permits"].as_array().unwrap().iter().find(|p| p["role"] == "admin").unwrap().clone();
        let (a, b) = tokio::join!(
            survivor.call("permit_revoke", json!({"permit_id": other_permit["id"]})),
            other.call("permit_revoke", json!({"permit_id": my_permit["id"]})),
        );
        let won = [&a, &b].iter().filter(|r| r.get("result").is_some()).count();
        assert_eq!(won, 1, "round {round}: exactly one revoke wins: {a} / {b}");
        let loser = if a.get("result").is_some() { &b } else { &a };
        let reason = &error_of(loser)["data"]["reason"];
        assert!(reason == "last_admin" || reason == "not_permitted", "round {round}: {loser}");
        let admins: Vec<bool> = [&survivor, &other]
            .iter()
            .map(|c| async move { c.ok("whoami", json!({})).await["permissions"] == json!({"*": ["*"]}) })
            .collect::<futures::future::JoinAll<_>>()
            .await;
        assert_eq!(admins.iter().filter(|a| **a).count(), 1, "round {round}: {admins:?}");
        if !admins[0] {
            survivor = other;
        }
    }
}

async fn permit_list_of_another_account_is_for_admins(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    let admin_id = admin.account_id.clone().unwrap();
    let permit = grant(&admin, &ann_id, "member", Some("org:acme")).await;
    let by_admin = admin.ok("permit_list", json!({"account_id": ann_id})).await;
    assert_eq!(by_admin["permits"], json!([permit]), "{by_admin}");
    assert_eq!(ann.ok("permit_list", json!({})).await, by_admin);
    assert_eq!(ann.ok("permit_list", json!({"account_id": ann_id})).await, by_admin);
    assert_error(&ann.call("permit_list", json!({"account_id": admin_id})).await, -32002, "not_permitted");
    let unknown = uuid::Uuid::now_v7();
    assert_error(&ann.call("permit_list", json!({"account_id": unknown})).await, -32002, "not_permitted");
    assert_error(&admin.call("permit_list", json!({"account_id": unknown})).await, -32003, "not_found");
    // A scoped admin is no admin for this.
    let bob = server.account(&admin, "bob").await;
    grant(&admin, bob.account_id.as_deref().unwrap(), "admin", Some("org:acme")).await;
    assert_error(&bob.call("permit_list", json!({"account_id": ann_id})).await, -32002, "not_permitted");
    let own = admin.ok("permit_list", json!({})).await;
    assert_eq!(own["permits"][0]["role"], "admin", "{own}");
    assert_eq!(own["permits"][0]["granted_by"], Value::Null, "the bootstrap admin was granted by nobody: {own}");
}

async fn permission_check_validates_its_params(backend: Backend) {
    let Some((_server, _admin, ann, _)) = setup(backend).await else { return };
    let many = |n: usize| json!({"checks": vec![check("purchase", "approve", Some("org:acme")); n]});
    let result = ann.ok("permission_check", many(1000)).await;
    assert_eq!(result["results"], json!(vec![false; 1000]));
    let response = ann.call("permission_check", many(1001)).await;
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/checks", "{response}");
    assert_eq!(ann.ok("permission_check", json!({"checks": []})).await["results"], json!([]));
    for bad in ["org acme", "org:", "/org:a", "ORG:a", "org:a/", "org:a//store:b", ":a", "org:a b"] {
        let checks = json!({"checks": [check("purchase", "approve", Some(bad))]});
        let response = ann.call("permission_check", checks).await;
        assert_eq!(response["error"]["code"], -32602, "{bad}: {response}");
        let issues = response["error"]["data"]["issues"].as_array().unwrap();
        assert!(issues.iter().any(|i| i["path"] == "/checks/0/scope_id"), "{bad}: {response}");
    }
    let checks =
        json!({"checks": [check("purchase", "approve", Some("org:a")), check("purchase", "approve", Some("org:"))]});
    let response = ann.call("permission_check", checks).await;
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/checks/1/scope_id", "{response}");
    let response = ann.call("permission_check", json!({"checks": [{"resource": "purchase"}]})).await;
    assert_eq!(response["error"]["code"], -32602, "a verb is required: {response}");
}

async fn grant_and_revoke_notify_the_holder_and_are_audited(backend: Backend) {
    let Some((_server, admin, ann, ann_id)) = setup(backend).await else { return };
    let admin_id = admin.account_id.clone().unwrap();
    let first = grant(&admin, &ann_id, "operator", Some("org:acme")).await;
    let second = grant(&admin, &ann_id, "operator", Some("org:acme")).await;
    let revoked = admin.ok("permit_revoke", json!({"permit_id": second["id"], "reason": "left the team"})).await;

    let page = ann.ok("notifications_list", json!({})).await;
    let notes = page["notifications"].as_array().unwrap();
    let types: Vec<&Value> = notes.iter().map(|n| &n["type"]).collect();
    assert_eq!(types, vec!["permit_granted", "permit_granted", "permit_revoked"], "{page}");
    assert_eq!(notes[0]["data"], json!({"permit": first}));
    assert_eq!(notes[1]["data"], json!({"permit": second}));
    assert_eq!(notes[2]["data"], json!({"permit": revoked["permit"]}));
    assert_eq!(notes[2]["data"]["permit"]["revoked_by"], json!(admin_id));
    assert_eq!(notes[2]["data"]["permit"]["revoked_reason"], "left the team");
    assert_eq!(page["head_seq"], 3);
    assert_eq!(admin.ok("notifications_list", json!({})).await["head_seq"], 0, "the granting admin is told nothing");

    let grants = admin.ok("audit_list", json!({"event_type": "permit_grant"})).await;
    let grants = grants["events"].as_array().unwrap();
    assert_eq!(grants.len(), 2, "{grants:?}");
    for (row, permit, replaced) in [(&grants[0], &first, Value::Null), (&grants[1], &second, first["id"].clone())] {
        assert_eq!(row["outcome"], "success", "{row}");
        assert_eq!(row["account_id"], json!(admin_id), "{row}");
        assert_eq!(row["target_account_id"], json!(ann_id), "{row}");
        assert_eq!(row["subject_id"], permit["id"], "{row}");
        assert_eq!(row["scope_id"], "org:acme", "{row}");
        let data = json!({"role": "operator", "expires_at": null, "replaced_permit_id": replaced});
        assert_eq!(row["data"], data, "{row}");
    }
    let by_subject = admin.ok("audit_list", json!({"event_type": "permit_revoke", "subject_id": second["id"]})).await;
    let rows = by_subject["events"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{by_subject}");
    assert_eq!(rows[0]["outcome"], "success");
    assert_eq!(rows[0]["account_id"], json!(admin_id));
    assert_eq!(rows[0]["target_account_id"], json!(ann_id));
    assert_eq!(rows[0]["scope_id"], "org:acme");
    assert_eq!(rows[0]["data"], json!({"role": "operator", "reason": "left the team", "superseded_offer_ids": []}));
    let none = admin.ok("audit_list", json!({"event_type": "permit_revoke", "subject_id": first["id"]})).await;
    assert_eq!(none["events"], json!([]), "a replacement is not a revoke row");
}

/// `view:audit` held at a scope (manager at org:acme) opens `audit_list`, showing only the
/// rows recorded at that scope or below it; without the permission it stays closed.
async fn view_audit_at_a_scope_shows_that_scope_only(backend: Backend) {
    let Some((server, admin, ann, ann_id)) = setup(backend).await else { return };
    let bob = server.account(&admin, "bob").await;
    grant(&admin, &ann_id, "manager", Some("org:acme")).await;
    let inside = grant(&admin, bob.account_id.as_deref().unwrap(), "approver", Some("org:acme/store:berlin")).await;
    let beside = grant(&admin, bob.account_id.as_deref().unwrap(), "approver", Some("org:acmecorp")).await;
    let global = grant(&admin, bob.account_id.as_deref().unwrap(), "approver", None).await;

    let permissions = ann.ok("whoami", json!({})).await["permissions"].clone();
    assert_eq!(permissions["audit/org:acme"], json!(["view"]), "{permissions}");
    let rows = ann.ok("audit_list", json!({"limit": 1000})).await["events"].clone();
    let scopes: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["scope_id"].as_str().unwrap()).collect();
    assert_eq!(scopes, ["org:acme", "org:acme/store:berlin"], "{rows}");
    let subjects: Vec<&Value> = rows.as_array().unwrap().iter().map(|r| &r["subject_id"]).collect();
    assert!(subjects.contains(&&inside["id"]) && !subjects.contains(&&beside["id"]), "{rows}");
    assert!(!subjects.contains(&&global["id"]), "unscoped rows are the global viewer's: {rows}");
    let everything = admin.ok("audit_list", json!({"limit": 1000})).await["events"].as_array().unwrap().len();
    assert!(everything > rows.as_array().unwrap().len() + 3, "the admin sees every row");

    assert_error(&bob.call("audit_list", json!({})).await, -32002, "not_permitted");
    let manager = ann.ok("whoami", json!({})).await["permits"][0]["id"].clone();
    admin.ok("permit_revoke", json!({"permit_id": manager})).await;
    assert_error(&ann.call("audit_list", json!({})).await, -32002, "not_permitted");
}
