//! Use case 2 (docs/protocol.md §7, §8, §9, §11): a support agent acting on a shop. What
//! moves money on a customer's behalf is disabled until a manager enables it for a store;
//! each store's policy says whether a request needs the agent's confirmation and caps
//! each refund, each discount and what a store may refund over a trailing window. A
//! policy set at the organisation holds at every store unless a nearer store sets its
//! own. Each party listens on its own WebSocket inbox.

mod common;

use std::time::Duration;

use common::party::{Party, audit, audited, cast, grant, ids, time};
use common::{Backend, assert_error, error_less_request_id, start};
use serde_json::{Value, json};

backend_tests!(
    refunds_stay_disabled_until_a_manager_enables_them_at_one_store,
    a_store_caps_each_refund_and_each_discount,
    a_stores_refunds_are_counted_over_a_trailing_day,
    an_org_policy_holds_at_every_store_unless_a_nearer_store_sets_its_own,
);

const SHOP: &str = "org:shop";
const BERLIN: &str = "org:shop/store:berlin";
const PARIS: &str = "org:shop/store:paris";
const HOUR: Duration = Duration::from_secs(3600);

/// `agent` asks to refund USD `amount` at `scope`: the whole response.
async fn refund(agent: &Party, scope: &str, amount: &str) -> Value {
    let params = json!({"kind": "refund", "scope_id": scope, "title": "Damaged parcel", "amount": amount,
                        "currency": "USD", "payload": {"order": "A-1001"}});
    agent.client.call("request_create", params).await
}

/// A refund that was made: its request.
fn made(response: Value) -> Value {
    response.get("result").unwrap_or_else(|| panic!("request_create failed: {response}"))["request"].clone()
}

/// `manager` sets `fields` of the `kind` policy at `scope`; returns the policy now set.
async fn set(manager: &Party, scope: &str, kind: &str, fields: Value) -> Value {
    let mut params = json!({"scope_id": scope, "kind": kind});
    params.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    manager.client.ok("policy_set", params).await["policy"].clone()
}

/// The policy of `kind` in force at `scope`, as `reader` sees it: `{policy, source_scope_id}`.
async fn in_force(reader: &Party, scope: &str, kind: &str) -> Value {
    reader.client.ok("policy_get", json!({"scope_id": scope, "kind": kind})).await
}

/// `agent` refunds USD `amount` at Berlin, where that runs at once, and hears so.
async fn refunded(agent: &mut Party, amount: &str) -> Value {
    let request = made(refund(agent, BERLIN, amount).await);
    assert_eq!(request["status"], "executed", "{request}");
    assert_eq!(agent.told("request_executed").await["request"], request);
    request
}

/// The `data` of a `forbidden/limit_exceeded` refusal, less its call's `request_id`.
fn exceeded(response: &Value) -> Value {
    assert_error(response, -32002, "limit_exceeded");
    error_less_request_id(response)["data"].clone()
}

/// The reasons of the `denied` audit rows of `method`, oldest first.
async fn denied(admin: &Party, method: &str) -> Vec<Value> {
    let rows = audit(&admin.client, method, None).await;
    rows.into_iter().filter(|row| row["outcome"] == "denied").map(|row| row["data"]["reason"].clone()).collect()
}

/// Story 1. Conservative defaults: at a store, refunds are off (and would need a
/// confirmation) until a manager turns them on there. Sam, the agent, is refused, and
/// may not change the policy himself. Mia, the manager, enables refunds at Berlin only:
/// Paris keeps the default. Sam's Berlin refund waits for his confirmation, then runs at
/// once — no approver is asked, since none is required.
async fn refunds_stay_disabled_until_a_manager_enables_them_at_one_store(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut sam, mut mia, mut ana]) = cast(&server, ["sam", "mia", "ana"]).await;
    grant(&admin, &mut sam, "member", SHOP).await;
    grant(&admin, &mut mia, "manager", SHOP).await;
    grant(&admin, &mut ana, "approver", SHOP).await;

    let default = in_force(&sam, BERLIN, "refund").await;
    assert_eq!(default["source_scope_id"], Value::Null, "{default}");
    let policy = default["policy"].clone();
    let conservative = json!({"enabled": false, "requires_confirmation": true, "approvals_required": 0,
        "rejections_to_deny": 0, "allow_self_approval": false, "request_ttl_hours": 168, "cancel_window_hours": 24});
    for (field, value) in conservative.as_object().unwrap() {
        assert_eq!(&policy[field], value, "{field}: {policy}");
    }
    for limit in ["max_amount", "max_percentage", "window_hours", "window_max_count", "window_max_total"] {
        assert_eq!(policy["limits"][limit], Value::Null, "{limit}: {policy}");
    }
    let listed = sam.client.ok("policy_list", json!({"scope_id": BERLIN})).await;
    let mut kinds: Vec<Value> = (listed["policies"].as_array().unwrap().iter())
        .map(|p| json!([p["kind"], p["policy"]["enabled"], p["source_scope_id"]]))
        .collect();
    kinds.sort_by_key(|kind| kind[0].as_str().unwrap().to_owned());
    let what_moves_money_is_off = json!([
        ["cancel_order", false, null],
        ["discount", false, null],
        ["purchase", true, null],
        ["refund", false, null],
        ["release_deploy", true, null],
        ["update_address", false, null]
    ]);
    assert_eq!(Value::Array(kinds), what_moves_money_is_off);

    assert_error(&refund(&sam, BERLIN, "40").await, -32002, "action_disabled");
    let own_way = sam.client.call("policy_set", json!({"scope_id": BERLIN, "kind": "refund", "enabled": true})).await;
    assert_error(&own_way, -32002, "not_permitted");
    assert_eq!(in_force(&sam, BERLIN, "refund").await, default, "a refused policy_set changes nothing");

    let now_set = set(&mia, BERLIN, "refund", json!({"enabled": true})).await;
    let mut expected = policy.clone();
    expected["enabled"] = json!(true);
    assert_eq!(now_set, expected, "the fields given replace those in force; the rest stay");
    let row = audited(&admin.client, "policy_set", &json!("refund")).await;
    assert_eq!((row["account_id"].as_str(), row["scope_id"].as_str()), (Some(&*mia.id), Some(BERLIN)));
    let change = json!({"kind": "refund", "before": policy, "before_source_scope_id": null, "after": now_set});
    assert_eq!(row["data"], change);
    assert_eq!(denied(&admin, "policy_set").await, [json!("not_permitted")]);

    assert_eq!(in_force(&sam, BERLIN, "refund").await, json!({"policy": now_set, "source_scope_id": BERLIN}));
    assert_eq!(in_force(&sam, PARIS, "refund").await, default, "Paris keeps the default");
    assert_error(&refund(&sam, PARIS, "40").await, -32002, "action_disabled");

    let request = made(refund(&sam, BERLIN, "40").await);
    assert_eq!(request["status"], "awaiting_confirmation", "{request}");
    assert_eq!((&request["amount"], &request["currency"]), (&json!("40"), &json!("USD")));
    assert_eq!(request["approvals"], json!({"required": 0, "approved": 0, "rejected": 0, "decisions": []}));
    assert_eq!(request["confirmed_at"], Value::Null);
    let done = sam.client.ok("request_confirm", json!({"request_id": request["id"]})).await["request"].clone();
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(done["confirmed_by"], sam.id.as_str());
    assert_eq!(done["executed_by"], Value::Null, "run because confirmed, not executed directly");
    assert_eq!(time(&done["cancel_until"]) - time(&done["executed_at"]), chrono::Duration::hours(24));
    let executed = sam.told("request_executed").await;
    assert_eq!(executed, json!({"request": done, "direct": false, "cancel_until": done["cancel_until"]}));

    let created = audited(&admin.client, "request_create", &request["id"]).await;
    assert_eq!(created["data"]["transitions"], json!([{"from": null, "to": "awaiting_confirmation"}]));
    let confirmed = audited(&admin.client, "request_confirm", &request["id"]).await;
    assert_eq!((confirmed["account_id"].as_str(), confirmed["scope_id"].as_str()), (Some(&*sam.id), Some(BERLIN)));
    assert_eq!(
        confirmed["data"]["transitions"],
        json!([{"from": "awaiting_confirmation", "to": "executing"}, {"from": "executing", "to": "executed"}]),
        "confirmed, with no approval to wait for, it goes straight to execution"
    );
    assert_eq!((&confirmed["data"]["amount"], &confirmed["data"]["status"]), (&json!("40"), &json!("executed")));
    assert_eq!(denied(&admin, "request_create").await, [json!("action_disabled"), json!("action_disabled")]);
    assert_eq!(ana.stream().await, ["permit_granted"], "no approver is asked when none is required");
}

/// Story 2. Berlin caps each refund at USD 100 and each discount at 12.5 %, with no
/// confirmation. Just over a cap is refused with what the limit allows and what was
/// attempted, as decimal strings; at the cap it runs at once. Money is never a float.
async fn a_store_caps_each_refund_and_each_discount(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut sam, mut mia]) = cast(&server, ["sam", "mia"]).await;
    grant(&admin, &mut sam, "member", SHOP).await;
    grant(&admin, &mut mia, "manager", SHOP).await;

    let as_number = json!({"scope_id": BERLIN, "kind": "refund", "enabled": true, "limits": {"max_amount": 100}});
    assert_error(&mia.client.call("policy_set", as_number).await, -32602, "schema");
    let fields = json!({"enabled": true, "requires_confirmation": false, "limits": {"max_amount": "100"}});
    let policy = set(&mia, BERLIN, "refund", fields).await;
    assert_eq!((&policy["limits"]["max_amount"], &policy["limits"]["window_hours"]), (&json!("100"), &Value::Null));

    let over = refund(&sam, BERLIN, "100.01").await;
    let data = json!({"reason": "limit_exceeded", "limit": "max_amount", "allowed": "100", "attempted": "100.01"});
    assert_eq!(exceeded(&over), data);
    let at_cap = made(refund(&sam, BERLIN, "100").await);
    assert_eq!(at_cap["status"], "executed", "no confirmation, no approvals: it runs at once");
    assert_eq!(at_cap["confirmed_at"], Value::Null);
    assert_eq!(sam.told("request_executed").await["request"], at_cap);
    let row = audited(&admin.client, "request_create", &at_cap["id"]).await;
    assert_eq!(
        row["data"]["transitions"],
        json!([{"from": null, "to": "executing"}, {"from": "executing", "to": "executed"}]),
        "no confirmation, no approvals: straight to execution"
    );

    // The money checks come before the policy's.
    let bad = |params: Value| {
        let mut all = json!({"kind": "refund", "scope_id": BERLIN, "title": "Damaged parcel"});
        all.as_object_mut().unwrap().extend(params.as_object().unwrap().clone());
        sam.client.call("request_create", all)
    };
    assert_error(&bad(json!({"amount": "20"})).await, -32005, "currency_required");
    assert_error(&bad(json!({"amount": "20.005", "currency": "USD"})).await, -32005, "amount_precision");
    assert_error(&bad(json!({"amount": "1500.5", "currency": "JPY"})).await, -32005, "amount_precision");
    assert_error(&bad(json!({"amount": "20", "currency": "XYZ"})).await, -32602, "schema");
    assert_error(&bad(json!({"amount": 20, "currency": "USD"})).await, -32602, "schema");

    let fields = json!({"enabled": true, "requires_confirmation": false, "limits": {"max_percentage": "12.5"}});
    set(&mia, BERLIN, "discount", fields).await;
    let discount = |percentage: Value| {
        let params = json!({"kind": "discount", "scope_id": BERLIN, "title": "Loyalty discount",
                            "percentage": percentage, "payload": {"order": "A-1002"}});
        sam.client.call("request_create", params)
    };
    let over = discount(json!("15")).await;
    let data = json!({"reason": "limit_exceeded", "limit": "max_percentage", "allowed": "12.5", "attempted": "15"});
    assert_eq!(exceeded(&over), data);
    assert_error(&discount(json!(12.5)).await, -32602, "schema");
    let granted = made(discount(json!("12.5")).await);
    assert_eq!(
        (&granted["status"], &granted["percentage"], &granted["amount"]),
        (&json!("executed"), &json!("12.5"), &Value::Null)
    );
    sam.told("request_executed").await;

    let mine = sam.client.ok("request_list", json!({"mine": true})).await;
    assert_eq!(ids(&mine["requests"]), [granted["id"].clone(), at_cap["id"].clone()], "refusals make nothing");
    assert_eq!(denied(&admin, "request_create").await, [json!("limit_exceeded"), json!("limit_exceeded")]);
}

/// Story 3. Berlin may refund at most three times and USD 250 in any 24 hours. Refusals
/// say which window limit, what it allows, what the window would reach and what is used
/// already. A revoked refund no longer counts; once the day has passed, the store may
/// refund again. Parallel requests never get past the window together.
async fn a_stores_refunds_are_counted_over_a_trailing_day(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut sam, mut mia]) = cast(&server, ["sam", "mia"]).await;
    grant(&admin, &mut sam, "member", SHOP).await;
    grant(&admin, &mut mia, "manager", SHOP).await;

    let unbounded = json!({"scope_id": BERLIN, "kind": "refund", "limits": {"window_max_count": 3}});
    let refused = mia.client.call("policy_set", unbounded).await;
    assert_error(&refused, -32005, "invalid_policy");
    assert_eq!(refused["error"]["data"]["field"], "limits.window_hours");
    let limits = json!({"window_hours": 24, "window_max_count": 3, "window_max_total": "250"});
    set(&mia, BERLIN, "refund", json!({"enabled": true, "requires_confirmation": false, "limits": limits})).await;

    let first = refunded(&mut sam, "100").await;
    refunded(&mut sam, "100").await;
    let total = exceeded(&refund(&sam, BERLIN, "60").await);
    assert_eq!(
        total,
        json!({"reason": "limit_exceeded", "limit": "window_max_total", "allowed": "250", "attempted": "260",
               "used": "200", "window_hours": 24})
    );
    refunded(&mut sam, "50").await;
    // The window is Berlin's, with everything below it: a till cannot sidestep it.
    let till = exceeded(&refund(&sam, "org:shop/store:berlin/till:1", "1").await);
    assert_eq!((&till["limit"], &till["attempted"]), (&json!("window_max_count"), &json!("4")));
    let count = exceeded(&refund(&sam, BERLIN, "1").await);
    let count_data = json!({"reason": "limit_exceeded", "limit": "window_max_count", "allowed": "3", "attempted": "4",
                            "window_hours": 24});
    assert_eq!(count, count_data);

    // Sam revokes the first refund within its cancel window: it no longer counts.
    let revoked = sam.client.ok("request_cancel", json!({"request_id": first["id"], "reason": "duplicate"})).await;
    assert_eq!(revoked["request"]["status"], "revoked");
    assert_eq!(sam.told("request_revoked").await["request"], revoked["request"]);
    refunded(&mut sam, "100").await;
    assert_eq!(exceeded(&refund(&sam, BERLIN, "1").await), count_data);

    // Still inside the day, still refused; past it, the window is empty again.
    server.clock.advance(23 * HOUR);
    assert_eq!(exceeded(&refund(&sam, BERLIN, "1").await), count_data);
    server.clock.advance(2 * HOUR);
    refunded(&mut sam, "250").await;
    let used = exceeded(&refund(&sam, BERLIN, "0.01").await);
    assert_eq!(
        (&used["limit"], &used["used"], &used["attempted"]),
        (&json!("window_max_total"), &json!("250"), &json!("250.01"))
    );

    // A day later, six refunds at once: the window still holds, exactly three get through.
    server.clock.advance(25 * HOUR);
    let at_once = futures::future::join_all((0..6).map(|_| refund(&sam, BERLIN, "50"))).await;
    let through = at_once.iter().filter(|response| response.get("result").is_some()).count();
    assert_eq!(through, 3, "{at_once:?}");
    for refused in at_once.iter().filter(|response| response.get("error").is_some()) {
        assert_eq!(exceeded(refused)["limit"], "window_max_count");
    }
    assert_eq!(denied(&admin, "request_create").await, vec![json!("limit_exceeded"); 9]);
}

/// Story 4. Mia, a manager for the whole shop, enables refunds org-wide up to USD 500,
/// confirmation required. Bert, who manages Berlin only, lowers Berlin's cap to USD 50:
/// Berlin's policy starts from the org's and is Berlin's own from then on. Paris follows
/// the org; Olga, an operator, confirms an agent's Paris refund. When Mia turns refunds
/// off org-wide, Paris stops and Berlin goes on; a refund already made keeps the policy
/// it was made under — but a refund still waiting for its confirmation cannot run.
async fn an_org_policy_holds_at_every_store_unless_a_nearer_store_sets_its_own(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut sam, mut mia, mut bert, mut olga]) = cast(&server, ["sam", "mia", "bert", "olga"]).await;
    grant(&admin, &mut sam, "member", SHOP).await;
    grant(&admin, &mut mia, "manager", SHOP).await;
    grant(&admin, &mut bert, "manager", BERLIN).await;
    grant(&admin, &mut olga, "operator", SHOP).await;

    let org = set(&mia, SHOP, "refund", json!({"enabled": true, "limits": {"max_amount": "500"}})).await;
    assert_eq!((&org["enabled"], &org["requires_confirmation"]), (&json!(true), &json!(true)));
    assert_eq!(in_force(&sam, PARIS, "refund").await, json!({"policy": org, "source_scope_id": SHOP}));
    for scope in [SHOP, PARIS] {
        let params = json!({"scope_id": scope, "kind": "refund", "limits": {"max_amount": "5000"}});
        assert_error(&bert.client.call("policy_set", params).await, -32002, "not_permitted");
    }
    let berlin = set(&bert, BERLIN, "refund", json!({"limits": {"max_amount": "50"}})).await;
    let mut expected = org.clone();
    expected["limits"]["max_amount"] = json!("50");
    assert_eq!(berlin, expected, "Berlin's policy starts from the org's");
    let rows = audit(&admin.client, "policy_set", Some(&json!("refund"))).await;
    let row = &rows.iter().filter(|row| row["outcome"] == "success").collect::<Vec<_>>()[1];
    assert_eq!((row["account_id"].as_str(), row["scope_id"].as_str()), (Some(&*bert.id), Some(BERLIN)));
    assert_eq!((&row["data"]["before"], &row["data"]["before_source_scope_id"]), (&org, &json!(SHOP)));
    let till = in_force(&sam, "org:shop/store:berlin/till:3", "refund").await;
    assert_eq!(till, json!({"policy": berlin, "source_scope_id": BERLIN}), "the nearest scope wins");
    let listed = sam.client.ok("policy_list", json!({"scope_id": PARIS})).await;
    let of = |kind: &str| listed["policies"].as_array().unwrap().iter().find(|p| p["kind"] == kind).unwrap().clone();
    assert_eq!((&of("refund")["source_scope_id"], &of("discount")["source_scope_id"]), (&json!(SHOP), &Value::Null));

    let over = exceeded(&refund(&sam, BERLIN, "80").await);
    assert_eq!(
        (&over["limit"], &over["allowed"], &over["attempted"]),
        (&json!("max_amount"), &json!("50"), &json!("80"))
    );
    let paris = made(refund(&sam, PARIS, "80").await);
    assert_eq!(paris["status"], "awaiting_confirmation");
    let confirmed = olga.client.ok("request_confirm", json!({"request_id": paris["id"]})).await["request"].clone();
    assert_eq!((&confirmed["status"], confirmed["confirmed_by"].as_str()), (&json!("executed"), Some(&*olga.id)));
    assert_eq!(sam.told("request_executed").await["request"], confirmed);
    assert_eq!(audited(&admin.client, "request_confirm", &paris["id"]).await["account_id"], olga.id.as_str());

    // A second Paris refund waits for Sam's confirmation when Mia turns refunds off.
    let waiting = made(refund(&sam, PARIS, "20").await);
    let off = set(&mia, SHOP, "refund", json!({"enabled": false})).await;
    assert_eq!((&off["enabled"], &off["limits"]["max_amount"]), (&json!(false), &json!("500")));
    assert_error(&refund(&sam, PARIS, "20").await, -32002, "action_disabled");
    let still = made(refund(&sam, BERLIN, "30").await);
    assert_eq!(still["status"], "awaiting_confirmation", "Berlin keeps its own policy");
    // Turned off, a kind stops what has not run yet: the waiting refund cannot be confirmed.
    let stopped = sam.client.call("request_confirm", json!({"request_id": waiting["id"]})).await;
    assert_error(&stopped, -32002, "action_disabled");
    let unchanged = sam.client.ok("request_get", json!({"request_id": waiting["id"]})).await["request"].clone();
    assert_eq!(unchanged, waiting, "a refused confirmation changes nothing");
    assert_eq!(olga.stream().await, ["permit_granted"], "confirming is not voting: Olga is not told");
}
