//! Use case 3 (docs/protocol.md §7, §8, §9): release approvals. Each target environment
//! has its own number of approvals; the author may not approve their own release unless
//! an admin bypasses; a rejection is a vote, and ends a release only where the policy says
//! one is enough to deny it. Each party listens on its own WebSocket inbox.

mod common;

use common::party::{Party, audit, audited, cast, grant, ids};
use common::{Backend, assert_error, start};
use serde_json::{Value, json};

backend_tests!(
    a_prod_release_needs_two_approvals_and_a_rejection_is_only_a_vote,
    the_author_may_not_approve_their_own_release_unless_an_admin_bypasses,
    where_one_rejection_denies_a_release_a_changed_vote_ends_it,
    staging_keeps_one_approval_and_each_environment_its_own_approvers,
);

const ACME: &str = "org:acme";
const PROD: &str = "org:acme/env:prod";
const STAGING: &str = "org:acme/env:staging";

/// `author` asks to deploy `version` to `env`; returns the request.
async fn release(author: &Party, env: &str, version: &str) -> Value {
    let params = json!({"kind": "release_deploy", "scope_id": env, "title": format!("Deploy {version}"),
                        "payload": {"version": version, "commit": "9f2c1e4"}});
    author.client.ok("request_create", params).await["request"].clone()
}

/// `manager` sets `fields` of the release policy at `env`; returns the policy now set.
async fn require(manager: &Party, env: &str, fields: Value) -> Value {
    let mut params = json!({"scope_id": env, "kind": "release_deploy"});
    params.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    manager.client.ok("policy_set", params).await["policy"].clone()
}

/// `voter` calls `method` (`request_approve` or `request_reject`) with `comment`.
async fn vote(voter: &Party, method: &str, request: &Value, comment: &str) -> Value {
    let params = json!({"request_id": request["id"], "comment": comment});
    voter.client.ok(method, params).await["request"].clone()
}

/// The ids of the requests waiting for `party`'s decision.
async fn awaiting(party: &Party) -> Vec<Value> {
    ids(&party.client.ok("request_list", json!({"awaiting_my_decision": true})).await["requests"])
}

/// The decisions on a request as `(username, decision)`, oldest first.
fn decisions(request: &Value) -> Vec<(String, String)> {
    let all = request["approvals"]["decisions"].as_array().unwrap();
    all.iter()
        .map(|d| (d["username"].as_str().unwrap().to_owned(), d["decision"].as_str().unwrap().to_owned()))
        .collect()
}

/// `(username, decision)` pairs, for comparing with [`decisions`].
fn votes<const N: usize>(pairs: [(&str, &str); N]) -> Vec<(String, String)> {
    pairs.iter().map(|(who, what)| ((*who).to_owned(), (*what).to_owned())).collect()
}

/// Story 1. Mia, a manager, makes prod need two approvals. Dana, an engineer (who also
/// approves others' releases), asks to deploy; the three other approvers are told and
/// find it waiting for them; Dana does not. Ava approves, Ben rejects — a vote, not an
/// end — and Cy's approval, the second, deploys it. Dana hears every vote, the approval
/// and the deployment; the voters hear of the deployment; a late vote is refused.
async fn a_prod_release_needs_two_approvals_and_a_rejection_is_only_a_vote(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut dana, mut ava, mut ben, mut cy, mut mia]) =
        cast(&server, ["dana", "ava", "ben", "cy", "mia"]).await;
    grant(&admin, &mut dana, "member", ACME).await;
    for approver in [&mut dana, &mut ava, &mut ben, &mut cy] {
        grant(&admin, approver, "approver", ACME).await;
    }
    grant(&admin, &mut mia, "manager", ACME).await;

    let policy = require(&mia, PROD, json!({"approvals_required": 2})).await;
    assert_eq!((&policy["enabled"], &policy["approvals_required"]), (&json!(true), &json!(2)));
    assert_eq!((&policy["requires_confirmation"], &policy["rejections_to_deny"]), (&json!(false), &json!(0)));
    let row = audited(&admin.client, "policy_set", &json!("release_deploy")).await;
    assert_eq!((&row["data"]["before"]["approvals_required"], &row["data"]["after"]), (&json!(1), &policy));

    let request = release(&dana, PROD, "v2.4.0").await;
    assert_eq!(request["status"], "pending_approval", "{request}");
    assert_eq!(request["approvals"], json!({"required": 2, "approved": 0, "rejected": 0, "decisions": []}));
    for approver in [&mut ava, &mut ben, &mut cy] {
        assert_eq!(approver.told("request_approval_needed").await, json!({"request": request}));
        assert_eq!(awaiting(approver).await, [request["id"].clone()]);
    }
    assert_eq!(awaiting(&dana).await, Vec::<Value>::new(), "never your own");

    let once = vote(&ava, "request_approve", &request, "LGTM").await;
    assert_eq!((&once["status"], &once["approvals"]["approved"]), (&json!("pending_approval"), &json!(1)));
    let told = dana.told("request_decision").await;
    assert_eq!(told, json!({"request_id": request["id"], "decision": "approve", "by": ava.id, "comment": "LGTM"}));
    assert_eq!(awaiting(&ava).await, Vec::<Value>::new(), "Ava has decided");

    let rejected = vote(&ben, "request_reject", &request, "the migration is not reviewed").await;
    assert_eq!(rejected["status"], "pending_approval", "a rejection is a vote, not an end");
    assert_eq!((&rejected["approvals"]["approved"], &rejected["approvals"]["rejected"]), (&json!(1), &json!(1)));
    assert_eq!(dana.told("request_decision").await["decision"], "reject");
    assert_eq!(awaiting(&ben).await, Vec::<Value>::new());
    assert_eq!(awaiting(&cy).await, [request["id"].clone()]);
    let row = audited(&admin.client, "request_reject", &request["id"]).await;
    assert_eq!((row["account_id"].as_str(), &row["data"]["transitions"]), (Some(&*ben.id), &json!([])));
    assert_eq!((&row["data"]["decision"], &row["data"]["status"]), (&json!("reject"), &json!("pending_approval")));

    let deployed = vote(&cy, "request_approve", &request, "ship it").await;
    assert_eq!(deployed["status"], "executed", "{deployed}");
    let approvals = &deployed["approvals"];
    assert_eq!(format!("{} of {}", approvals["approved"], approvals["required"]), "2 of 2");
    assert_eq!(decisions(&deployed), votes([("ava", "approve"), ("ben", "reject"), ("cy", "approve")]));
    let comments: Vec<&Value> = approvals["decisions"].as_array().unwrap().iter().map(|d| &d["comment"]).collect();
    assert_eq!(comments, [&json!("LGTM"), &json!("the migration is not reviewed"), &json!("ship it")]);
    assert_eq!(deployed["executed_by"], Value::Null);
    assert_eq!(dana.told("request_decision").await["by"], cy.id.as_str());
    assert_eq!(dana.told("request_approved").await["request"], deployed);
    assert_eq!(dana.told("request_executed").await["request"], deployed);
    for voter in [&mut ava, &mut ben, &mut cy] {
        let told = voter.told("request_executed").await;
        assert_eq!((&told["request"]["id"], &told["direct"]), (&request["id"], &json!(false)));
    }
    assert_eq!(awaiting(&cy).await, Vec::<Value>::new());

    let rows = audit(&admin.client, "request_approve", Some(&request["id"])).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["data"]["transitions"], json!([]));
    assert_eq!(
        rows[1]["data"]["transitions"],
        json!([{"from": "pending_approval", "to": "approved"}, {"from": "approved", "to": "executing"},
               {"from": "executing", "to": "executed"}])
    );
    let late = ben.client.call("request_approve", json!({"request_id": request["id"]})).await;
    assert_error(&late, -32004, "request_not_pending");
    assert_eq!(late["error"]["data"]["status"], "executed");
    assert!(!admin.stream().await.contains(&"request_approval_needed".to_owned()), "admins are not told of each");
}

/// Story 2. Dana may not approve (or reject) her own prod release, nor bypass: only an
/// admin may, and only on their own. The admin's own hotfix waits for approval like any
/// other until the admin bypasses it: approved at once, `bypassed_by` stamped, audited.
async fn the_author_may_not_approve_their_own_release_unless_an_admin_bypasses(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (mut admin, [mut dana, mut ava, mut mia]) = cast(&server, ["dana", "ava", "mia"]).await;
    grant(&admin, &mut dana, "member", ACME).await;
    grant(&admin, &mut dana, "approver", ACME).await;
    grant(&admin, &mut ava, "approver", ACME).await;
    grant(&admin, &mut mia, "manager", ACME).await;
    require(&mia, PROD, json!({"approvals_required": 2})).await;

    let hers = release(&dana, PROD, "v2.5.0").await;
    ava.told("request_approval_needed").await;
    for method in ["request_approve", "request_reject"] {
        let own = dana.client.call(method, json!({"request_id": hers["id"]})).await;
        assert_error(&own, -32002, "self_approval");
    }
    let bypass = json!({"request_id": hers["id"], "bypass": true});
    assert_error(&dana.client.call("request_approve", bypass.clone()).await, -32002, "bypass_not_permitted");
    assert_error(&ava.client.call("request_approve", bypass.clone()).await, -32002, "bypass_not_permitted");
    assert_error(&admin.client.call("request_approve", bypass).await, -32002, "bypass_not_permitted");
    let unchanged = dana.client.ok("request_get", json!({"request_id": hers["id"]})).await;
    assert_eq!(unchanged["request"], hers, "refused votes change nothing");
    let rows = audit(&admin.client, "request_approve", None).await;
    let refusals: Vec<(Value, Value)> =
        rows.iter().map(|r| (r["outcome"].clone(), r["data"]["reason"].clone())).collect();
    let expected = ["self_approval", "bypass_not_permitted", "bypass_not_permitted", "bypass_not_permitted"];
    assert_eq!(refusals, expected.map(|reason| (json!("denied"), json!(reason))));

    let hotfix = release(&admin, PROD, "v2.4.1-hotfix").await;
    assert_eq!(hotfix["status"], "pending_approval", "an admin's release waits like any other");
    assert_eq!(dana.told("request_approval_needed").await["request"]["id"], hotfix["id"]);
    assert_eq!(ava.told("request_approval_needed").await["request"]["id"], hotfix["id"]);
    assert_eq!(awaiting(&admin).await, [hers["id"].clone()], "Dana's, never the admin's own");
    let plain = admin.client.call("request_approve", json!({"request_id": hotfix["id"]})).await;
    assert_error(&plain, -32002, "self_approval");

    let params = json!({"request_id": hotfix["id"], "comment": "sev-1 outage", "bypass": true});
    let bypassed = admin.client.ok("request_approve", params).await["request"].clone();
    assert_eq!(bypassed["status"], "executed", "{bypassed}");
    assert_eq!(bypassed["bypassed_by"], admin.id.as_str());
    assert_eq!(bypassed["approvals"]["required"], 2);
    assert_eq!(decisions(&bypassed), votes([("admin", "approve")]));
    // The admin is not told of their own vote; the approvers who were asked hear it ran.
    assert_eq!(admin.told("request_approved").await["request"], bypassed);
    assert_eq!(admin.told("request_executed").await["request"], bypassed);
    for approver in [&mut dana, &mut ava] {
        let told = approver.told("request_executed").await;
        assert_eq!((&told["request"]["id"], &told["direct"]), (&hotfix["id"], &json!(false)));
    }
    let row = audited(&admin.client, "request_approve", &hotfix["id"]).await;
    assert_eq!((&row["data"]["bypass"], &row["data"]["decision"]), (&json!(true), &json!("approve")));
    assert_eq!(row["data"]["transitions"][0], json!({"from": "pending_approval", "to": "approved"}));
    assert_eq!(row["data"]["status"], "executed");

    // Dana's release still waits; the bypass was the admin's, for the admin's own.
    let still = ava.client.ok("request_get", json!({"request_id": hers["id"]})).await;
    assert_eq!(still["request"]["status"], "pending_approval");
}

/// Story 3. At prod one rejection now denies a release. Ava approves Dana's, thinks
/// again and rejects: her later vote replaces the earlier one, and the rejection ends it.
/// Dana hears both votes and the rejection; a vote after the end is refused.
async fn where_one_rejection_denies_a_release_a_changed_vote_ends_it(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut dana, mut ava, mut ben, mut mia]) = cast(&server, ["dana", "ava", "ben", "mia"]).await;
    grant(&admin, &mut dana, "member", ACME).await;
    grant(&admin, &mut ava, "approver", ACME).await;
    grant(&admin, &mut ben, "approver", ACME).await;
    grant(&admin, &mut mia, "manager", ACME).await;
    let policy = require(&mia, PROD, json!({"approvals_required": 2, "rejections_to_deny": 1})).await;
    assert_eq!(policy["rejections_to_deny"], 1);

    let request = release(&dana, PROD, "v3.0.0").await;
    ava.told("request_approval_needed").await;
    ben.told("request_approval_needed").await;
    vote(&ava, "request_approve", &request, "fine by me").await;
    assert_eq!(dana.told("request_decision").await["decision"], "approve");

    let denied = vote(&ava, "request_reject", &request, "no rollback plan").await;
    assert_eq!(denied["status"], "rejected", "{denied}");
    let approvals = &denied["approvals"];
    assert_eq!((&approvals["approved"], &approvals["rejected"]), (&json!(0), &json!(1)), "one decision per voter");
    assert_eq!(decisions(&denied), votes([("ava", "reject")]));
    assert_eq!(approvals["decisions"][0]["comment"], "no rollback plan");
    let told = dana.told("request_decision").await;
    assert_eq!(
        told,
        json!({"request_id": request["id"], "decision": "reject", "by": ava.id, "comment": "no rollback plan"})
    );
    assert_eq!(dana.told("request_rejected").await["request"], denied);

    let row = audited(&admin.client, "request_reject", &request["id"]).await;
    assert_eq!(row["data"]["transitions"], json!([{"from": "pending_approval", "to": "rejected"}]));
    assert_eq!((row["target_account_id"].as_str(), row["scope_id"].as_str()), (Some(&*dana.id), Some(PROD)));
    let late = ben.client.call("request_approve", json!({"request_id": request["id"]})).await;
    assert_error(&late, -32004, "request_not_pending");
    assert_eq!(awaiting(&ben).await, Vec::<Value>::new());
    let listed = dana.client.ok("request_list", json!({"mine": true, "status": "rejected"})).await;
    assert_eq!(listed["requests"], json!([denied]));
}

/// Story 4. Prod needs two approvals; staging keeps the default one. Approvers may be
/// scoped to one environment: each is asked only about releases there and cannot see the
/// other's. A single approval deploys to staging.
async fn staging_keeps_one_approval_and_each_environment_its_own_approvers(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (admin, [mut dana, mut ava, mut pete, mut sid, mut mia]) =
        cast(&server, ["dana", "ava", "pete", "sid", "mia"]).await;
    grant(&admin, &mut dana, "member", ACME).await;
    grant(&admin, &mut ava, "approver", ACME).await;
    grant(&admin, &mut pete, "approver", PROD).await;
    grant(&admin, &mut sid, "approver", STAGING).await;
    grant(&admin, &mut mia, "manager", ACME).await;
    require(&mia, PROD, json!({"approvals_required": 2})).await;

    let get = |scope: &str| dana.client.ok("policy_get", json!({"scope_id": scope, "kind": "release_deploy"}));
    let staging_policy = get(STAGING).await;
    assert_eq!(
        (&staging_policy["policy"]["approvals_required"], &staging_policy["source_scope_id"]),
        (&json!(1), &Value::Null)
    );
    let prod_policy = get(PROD).await;
    assert_eq!(
        (&prod_policy["policy"]["approvals_required"], &prod_policy["source_scope_id"]),
        (&json!(2), &json!(PROD))
    );

    let to_staging = release(&dana, STAGING, "v2.6.0-rc1").await;
    assert_eq!(to_staging["approvals"]["required"], 1);
    assert_eq!(ava.told("request_approval_needed").await["request"]["id"], to_staging["id"]);
    assert_eq!(sid.told("request_approval_needed").await["request"]["id"], to_staging["id"]);
    let to_prod = release(&dana, PROD, "v2.5.1").await;
    assert_eq!(to_prod["approvals"]["required"], 2);
    assert_eq!(ava.told("request_approval_needed").await["request"]["id"], to_prod["id"]);
    assert_eq!(pete.told("request_approval_needed").await["request"]["id"], to_prod["id"]);

    assert_eq!(awaiting(&ava).await, [to_prod["id"].clone(), to_staging["id"].clone()], "newest first");
    assert_eq!(awaiting(&pete).await, [to_prod["id"].clone()]);
    assert_eq!(awaiting(&sid).await, [to_staging["id"].clone()]);
    let theirs = json!({"request_id": to_staging["id"]});
    assert_error(&pete.client.call("request_get", theirs.clone()).await, -32003, "not_found");
    assert_error(&pete.client.call("request_approve", theirs).await, -32003, "not_found");

    let deployed = vote(&sid, "request_approve", &to_staging, "rc looks good").await;
    assert_eq!(deployed["status"], "executed", "one approval is enough on staging");
    assert_eq!(decisions(&deployed), votes([("sid", "approve")]));
    assert_eq!(dana.told("request_decision").await["request_id"], deployed["id"]);
    assert_eq!(dana.told("request_approved").await["request"], deployed);
    assert_eq!(dana.told("request_executed").await["request"], deployed);
    assert_eq!(sid.told("request_executed").await["request"], deployed);
    let after = vote(&pete, "request_approve", &to_prod, "ok").await;
    assert_eq!((&after["status"], &after["approvals"]["approved"]), (&json!("pending_approval"), &json!(1)));

    let at_prod = ava.client.ok("request_list", json!({"scope_id": PROD})).await;
    assert_eq!(ids(&at_prod["requests"]), [to_prod["id"].clone()]);
    let all = ava.client.ok("request_list", json!({"scope_id": ACME, "kind": "release_deploy"})).await;
    assert_eq!(ids(&all["requests"]), [to_prod["id"].clone(), to_staging["id"].clone()]);
    assert_eq!(sid.stream().await, ["permit_granted", "request_approval_needed", "request_executed"]);
    assert_eq!(pete.stream().await, ["permit_granted", "request_approval_needed"]);
}
