//! Use case 1 (docs/protocol.md §7, §8, §9): cloud-commitment purchases. Every purchase
//! goes to approval by default; an operator (`execute-any:purchase`), or a buyer
//! (`execute-own:purchase`) on a purchase they asked for, may execute directly after typing
//! EXECUTE — the skip stamped for auditors, the approvers told afterwards with the cancel
//! deadline, which then closes. Each party listens on its own WebSocket inbox.

mod common;

use std::time::Duration;

use common::party::{Party, audited, cast, grant, time};
use common::{Backend, assert_error, start};
use serde_json::{Value, json};

backend_tests!(
    a_purchase_waits_for_an_approver_then_executes,
    an_operator_executes_directly_after_typing_execute_and_approvers_hear_of_it,
    a_buyer_executes_their_own_pending_purchase_and_a_member_cannot,
    an_executed_purchase_is_cancelled_within_its_window_and_not_after,
    an_undecided_purchase_expires_and_its_voters_are_told,
);

const ACME: &str = "org:acme";
const PROD: &str = "org:acme/account:prod";
const HOUR: Duration = Duration::from_secs(3600);

/// `asker` asks for a USD 12,000 commitment at [`PROD`].
async fn ask(asker: &Party, params: Value) -> Value {
    let mut all = json!({"kind": "purchase", "scope_id": PROD, "title": "3-year compute commitment",
                         "amount": "12000", "currency": "USD", "payload": {"term_months": 36}});
    all.as_object_mut().unwrap().extend(params.as_object().unwrap().clone());
    asker.client.ok("request_create", all).await["request"].clone()
}

/// Story 1. Alice (a member) asks; it waits for approval and Bob (an approver) is told;
/// Bob approves: it executes (executor `none`) and Alice hears the vote, the approval and
/// the execution, in that order.
async fn a_purchase_waits_for_an_approver_then_executes(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut alice, mut bob]) = cast(&server, ["alice", "bob"]).await;
    grant(&admin, &mut alice, "member", ACME).await;
    grant(&admin, &mut bob, "approver", ACME).await;

    let request = ask(&alice, json!({})).await;
    assert_eq!(request["status"], "pending_approval", "{request}");
    assert_eq!((&request["amount"], &request["currency"]), (&json!("12000"), &json!("USD")));
    assert_eq!(request["approvals"], json!({"required": 1, "approved": 0, "rejected": 0, "decisions": []}));
    assert_eq!(request["requested_by"], alice.id.as_str());
    let needed = bob.told("request_approval_needed").await;
    assert_eq!(needed["request"]["id"], request["id"]);

    let approved = bob.client.ok("request_approve", json!({"request_id": request["id"], "comment": "budgeted"})).await;
    let approved = &approved["request"];
    assert_eq!(approved["status"], "executed", "{approved}");
    assert_eq!(approved["approvals"]["approved"], 1);
    assert_eq!(approved["approvals"]["decisions"][0]["username"], "bob");
    assert_eq!(approved["executed_by"], Value::Null, "run because approved, not by a person");
    assert_eq!(approved["pre_approval_skip_reason"], Value::Null);
    let until = time(&approved["cancel_until"]);
    assert_eq!(until - time(&approved["executed_at"]), chrono::Duration::hours(24));

    let vote = alice.told("request_decision").await;
    assert_eq!(vote, json!({"request_id": request["id"], "decision": "approve", "by": bob.id, "comment": "budgeted"}));
    assert_eq!(alice.told("request_approved").await["request"]["id"], request["id"]);
    let executed = alice.told("request_executed").await;
    assert_eq!((&executed["direct"], &executed["cancel_until"]), (&json!(false), &approved["cancel_until"]));

    let created = audited(&admin.client, "request_create", &request["id"]).await;
    assert_eq!(created["data"]["transitions"], json!([{"from": null, "to": "pending_approval"}]));
    assert_eq!(created["scope_id"], PROD);
    let vote = audited(&admin.client, "request_approve", &request["id"]).await;
    assert_eq!(
        vote["data"]["transitions"],
        json!([{"from": "pending_approval", "to": "approved"}, {"from": "approved", "to": "executing"},
               {"from": "executing", "to": "executed"}])
    );
    assert_eq!(vote["account_id"], bob.id.as_str());
    // Alice, a member, sees her own request; an outsider sees nothing.
    let seen = alice.client.ok("request_get", json!({"request_id": request["id"]})).await;
    assert_eq!(seen["request"]["status"], "executed");
    let outsider = server.account(&admin.client, "eve").await;
    assert_error(&outsider.call("request_get", json!({"request_id": request["id"]})).await, -32003, "not_found");
}

/// Story 2. Olga, an operator, executes directly. Without the phrase she is shown what the
/// UI must show; with it the purchase is executed at once, stamped for auditors, and Bob —
/// who could have approved — hears of it with the cancel deadline.
async fn an_operator_executes_directly_after_typing_execute_and_approvers_hear_of_it(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut olga, mut bob]) = cast(&server, ["olga", "bob"]).await;
    grant(&admin, &mut olga, "operator", ACME).await;
    grant(&admin, &mut olga, "member", ACME).await;
    grant(&admin, &mut bob, "approver", ACME).await;

    let params = json!({"kind": "purchase", "scope_id": PROD, "title": "Savings plan", "amount": "12000",
                        "currency": "USD", "execute_now": true});
    let refused = olga.client.call("request_create", params.clone()).await;
    assert_error(&refused, -32011, "phrase_required");
    assert_eq!(
        refused["error"]["data"]["summary"],
        "This will charge USD 12,000.00 upfront immediately. This bypasses the approval step. \
         It can be cancelled within 24 hours."
    );
    assert_eq!(refused["error"]["data"]["phrase"], "EXECUTE");
    assert_eq!(refused["error"]["data"]["cancel_window_hours"], 24);
    let mut wrong = params.clone();
    wrong["confirm"] = json!("execute");
    assert_error(&olga.client.call("request_create", wrong).await, -32011, "wrong_phrase");
    let listed = olga.client.ok("request_list", json!({"mine": true})).await;
    assert_eq!(listed["requests"], json!([]), "a refused direct execution makes nothing");

    let mut confirmed = params;
    confirmed["confirm"] = json!("EXECUTE");
    let request = olga.client.ok("request_create", confirmed).await["request"].clone();
    assert_eq!(request["status"], "executed", "{request}");
    assert_eq!(request["executed_by"], olga.id.as_str());
    assert_eq!(request["pre_approval_skip_reason"], "direct-execute permission");
    assert_eq!(request["approvals"]["approved"], 0);
    let told = bob.told("request_executed").await;
    assert_eq!(told["direct"], true);
    assert_eq!(told["cancel_until"], request["cancel_until"]);
    assert_eq!(told["request"]["id"], request["id"]);
    let own = olga.told("request_executed").await;
    assert_eq!(own["direct"], true);
    let row = audited(&admin.client, "request_create", &request["id"]).await;
    assert_eq!(row["account_id"], olga.id.as_str());
    assert_eq!(row["data"]["transitions"][0], json!({"from": null, "to": "pending_approval"}));
    assert_eq!(row["data"]["status"], "executed");
}

/// Story 3. A buyer holds `execute-own:purchase`: she executes her own pending purchase.
/// Carl, a plain member, cannot execute his: it fails closed (`forbidden`) and the request
/// stays waiting for approval, unchanged.
async fn a_buyer_executes_their_own_pending_purchase_and_a_member_cannot(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut alice, mut carl, mut bob]) = cast(&server, ["alice", "carl", "bob"]).await;
    grant(&admin, &mut alice, "member", ACME).await;
    grant(&admin, &mut alice, "buyer", ACME).await;
    grant(&admin, &mut carl, "member", ACME).await;
    grant(&admin, &mut bob, "approver", ACME).await;

    let mine = ask(&alice, json!({})).await;
    bob.told("request_approval_needed").await;
    let executed = alice.client.ok("request_execute", json!({"request_id": mine["id"], "confirm": "EXECUTE"})).await;
    assert_eq!(executed["request"]["status"], "executed");
    assert_eq!(executed["request"]["executed_by"], alice.id.as_str());
    assert_eq!(bob.told("request_executed").await["direct"], true);

    let his = ask(&carl, json!({})).await;
    bob.told("request_approval_needed").await;
    let refused = carl.client.call("request_execute", json!({"request_id": his["id"], "confirm": "EXECUTE"})).await;
    assert_error(&refused, -32002, "not_permitted");
    let refused = carl
        .client
        .call(
            "request_create",
            json!({"kind": "purchase", "scope_id": PROD, "title": "t",
        "execute_now": true, "confirm": "EXECUTE"}),
        )
        .await;
    assert_error(&refused, -32002, "not_permitted");
    let still = carl.client.ok("request_get", json!({"request_id": his["id"]})).await;
    assert_eq!(still["request"], his, "a refused execution changes nothing");
    // Alice's buyer role is for her own purchases only.
    let other = alice.client.call("request_execute", json!({"request_id": his["id"], "confirm": "EXECUTE"})).await;
    assert_error(&other, -32003, "not_found");
}

/// Story 4. An executed purchase may be cancelled (revoked) within its window; the
/// requester and the voters are told. After the window: `conflict/cancel_window_closed`.
async fn an_executed_purchase_is_cancelled_within_its_window_and_not_after(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut alice, mut bob, mut olga]) = cast(&server, ["alice", "bob", "olga"]).await;
    grant(&admin, &mut alice, "member", ACME).await;
    grant(&admin, &mut bob, "approver", ACME).await;
    grant(&admin, &mut olga, "operator", ACME).await;

    let first = ask(&alice, json!({})).await;
    bob.told("request_approval_needed").await;
    bob.client.ok("request_approve", json!({"request_id": first["id"]})).await;
    for kind in ["request_decision", "request_approved", "request_executed"] {
        alice.told(kind).await;
    }
    bob.told("request_executed").await;
    let revoked =
        alice.client.ok("request_cancel", json!({"request_id": first["id"], "reason": "wrong account"})).await;
    assert_eq!(revoked["request"]["status"], "revoked");
    assert_eq!(revoked["request"]["cancelled_by"], alice.id.as_str());
    assert_eq!(revoked["request"]["cancel_reason"], "wrong account");
    assert_eq!(alice.told("request_revoked").await["request"]["id"], first["id"]);
    assert_eq!(bob.told("request_revoked").await["request"]["id"], first["id"]);

    let second = ask(&alice, json!({"title": "another"})).await;
    bob.told("request_approval_needed").await;
    olga.client.ok("request_execute", json!({"request_id": second["id"], "confirm": "EXECUTE"})).await;
    server.clock.advance(25 * HOUR);
    let late = olga.client.call("request_cancel", json!({"request_id": second["id"]})).await;
    assert_error(&late, -32004, "cancel_window_closed");
    let closed = alice.client.call("request_cancel", json!({"request_id": first["id"]})).await;
    assert_error(&closed, -32004, "request_closed");
}

/// Story 5. A purchase nobody decides on within its time to live (24 hours here) is over: acting on it is
/// `conflict/request_expired` at once, and the sweeper marks it `expired`, telling the
/// requester and whoever voted.
async fn an_undecided_purchase_expires_and_its_voters_are_told(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut alice, mut bob, mut carl]) = cast(&server, ["alice", "bob", "carl"]).await;
    grant(&admin, &mut alice, "member", ACME).await;
    grant(&admin, &mut bob, "approver", ACME).await;
    grant(&admin, &mut carl, "approver", ACME).await;
    let policy = json!({"scope_id": ACME, "kind": "purchase", "approvals_required": 2, "request_ttl_hours": 24});
    admin.client.ok("policy_set", policy).await;

    let request = ask(&alice, json!({})).await;
    assert_eq!(time(&request["expires_at"]) - time(&request["created_at"]), chrono::Duration::hours(24));
    bob.told("request_approval_needed").await;
    carl.told("request_approval_needed").await;
    bob.client.ok("request_approve", json!({"request_id": request["id"]})).await;
    alice.told("request_decision").await;
    assert_eq!(server.sweep_requests().await, 0, "not due yet");

    server.clock.advance(25 * HOUR);
    let late = carl.client.call("request_approve", json!({"request_id": request["id"]})).await;
    assert_error(&late, -32004, "request_expired");
    assert_eq!(server.sweep_requests().await, 1);
    assert_eq!(server.sweep_requests().await, 0, "expired once");
    let expired = alice.told("request_expired").await;
    assert_eq!(expired["request"]["status"], "expired");
    assert_eq!(bob.told("request_expired").await["request"]["id"], request["id"]);
    let row = audited(&admin.client, "request_expire", &request["id"]).await;
    assert_eq!((&row["ip"], &row["account_id"]), (&Value::Null, &Value::Null), "the server's own housekeeping");
    assert_eq!(row["data"]["transitions"], json!([{"from": "pending_approval", "to": "expired"}]));
    assert_eq!(carl.stream().await, ["permit_granted", "request_approval_needed"], "carl never voted: not told");
}
