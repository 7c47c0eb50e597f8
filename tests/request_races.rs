//! Gated requests under real concurrency (docs/protocol.md §7.5): window limits hit by
//! parallel creates, the last approvals cast at once, a cancel racing an approval, and one
//! idempotency key sent many times at once; two instances sweeping one backlog of expired
//! requests. Every call comes from its own task and its own
//! HTTP client, released together by a barrier; each race runs a few rounds so that a
//! lucky ordering does not hide a bug. Every answer is a result or a contract error
//! (never internal_error or service_unavailable), and the database holds exactly what one
//! serial order of the same calls would have left.

mod common;

use std::sync::Arc;

use common::identity::{Client, PASSWORD};
use common::party::audit;
use common::{Backend, TestServer, assert_error, start};
use countersign::on_conn;
use futures::future::join_all;
use serde_json::{Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

backend_tests!(
    parallel_creates_stop_at_the_window_count,
    parallel_creates_stop_at_the_window_total,
    the_last_approval_cast_twice_at_once_executes_once,
    cancel_races_the_approval_and_exactly_one_wins,
    one_idempotency_key_sent_ten_times_at_once_makes_one_request,
    two_instances_sweeping_at_once_expire_each_request_once,
);

const ROUNDS: usize = 3;
const PARALLEL: usize = 20;

/// Members hold member@org:acme, approvers approver@org:acme; the admin sets policies.
struct Cast {
    server: TestServer,
    admin: Client,
    members: Vec<Client>,
    approvers: Vec<Client>,
}

fn id(client: &Client) -> &str {
    client.account_id.as_deref().unwrap()
}

async fn cast(backend: Backend, members: usize, approvers: usize) -> Option<Cast> {
    let server = start(backend).await?;
    let admin = server.admin().await;
    let mut cast = Cast { admin, members: Vec::new(), approvers: Vec::new(), server };
    for (count, role) in [(members, "member"), (approvers, "approver")] {
        for i in 0..count {
            let client = cast.server.account(&cast.admin, &format!("{role}{i}")).await;
            let grant = json!({"to_account_id": id(&client), "role": role, "scope_id": "org:acme"});
            cast.admin.ok("permit_grant", grant).await;
            let group = if role == "member" { &mut cast.members } else { &mut cast.approvers };
            group.push(client);
        }
    }
    Some(cast)
}

/// Sets the purchase policy at `scope` (the admin holds manage:policies everywhere).
async fn set_policy(admin: &Client, scope: &str, fields: Value) {
    let mut params = json!({"scope_id": scope, "kind": "purchase"});
    params.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    admin.ok("policy_set", params).await;
}

fn purchase(scope: &str, amount: &str, title: &str) -> Value {
    json!({"kind": "purchase", "scope_id": scope, "title": title, "amount": amount, "currency": "USD"})
}

/// Runs the calls at once, each from its own task and HTTP client, released together. An
/// error must be one of `allowed` (code, reason).
async fn race(calls: Vec<(&Client, &str, Value)>, allowed: &[(i64, &str)]) -> Vec<Value> {
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
    for answer in answers.iter().filter(|a| a.get("result").is_none()) {
        let error = (answer["error"]["code"].as_i64().unwrap_or(0), answer["error"]["data"]["reason"].as_str());
        assert!(allowed.iter().any(|(c, r)| (*c, Some(*r)) == error), "not a contract outcome: {answer}");
    }
    answers
}

/// Splits race answers into (winners' results, losers' responses).
fn split(answers: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    let (won, lost): (Vec<Value>, Vec<Value>) = answers.into_iter().partition(|a| a.get("result").is_some());
    (won.into_iter().map(|a| a["result"].clone()).collect(), lost)
}

/// `SELECT COUNT(*) ...` with one text or id parameter, straight on the database.
async fn count(server: &TestServer, sql: &str, text: Option<&str>, id: Option<&Value>) -> i64 {
    let id: Option<Uuid> = id.map(|id| id.as_str().unwrap().parse().unwrap());
    let mut conn = server.env.db.read().await.unwrap();
    on_conn!(conn.conn(), c => {
        let mut query = sqlx::query_scalar::<_, i64>(sql);
        if let Some(text) = text {
            query = query.bind(text.to_owned());
        }
        if let Some(id) = id {
            query = query.bind(id);
        }
        query.fetch_one(&mut *c).await
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// How many notifications of `kind` about request `request_id` are on `client`'s stream.
async fn told(client: &Client, kind: &str, request_id: &Value) -> usize {
    let page = client.ok("notifications_list", json!({"limit": 500})).await;
    let about = |n: &&Value| n["data"]["request"]["id"] == *request_id || n["data"]["request_id"] == *request_id;
    page["notifications"].as_array().unwrap().iter().filter(|n| n["type"] == kind).filter(about).count()
}

/// The requests at `scope` hold exactly `won`: as the admin lists them and as SQL counts.
async fn assert_holds_exactly(cast: &Cast, scope: &str, won: &[Value]) {
    let listed = cast.admin.ok("request_list", json!({"scope_id": scope, "limit": 500})).await;
    let mut listed: Vec<String> =
        listed["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let mut made: Vec<String> = won.iter().map(|r| r["request"]["id"].as_str().unwrap().to_owned()).collect();
    listed.sort();
    made.sort();
    assert_eq!(listed, made, "{scope}: listed vs created");
    let stored = count(&cast.server, "SELECT COUNT(*) FROM requests WHERE scope_id = $1", Some(scope), None).await;
    assert_eq!(stored, won.len() as i64, "{scope}: rows in requests");
}

/// The `denied` request_create rows refused for `reason`.
async fn denied_creates(admin: &Client, reason: &str) -> usize {
    let rows = audit(admin, "request_create", None).await;
    rows.iter().filter(|r| r["outcome"] == "denied" && r["data"]["reason"] == reason).count()
}

/// Twenty creates at once from four members against `window_max_count = 5`: five are made,
/// fifteen are `forbidden/limit_exceeded`, and five rows exist.
async fn parallel_creates_stop_at_the_window_count(backend: Backend) {
    let Some(cast) = cast(backend, 4, 0).await else { return };
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:count{round}");
        set_policy(&cast.admin, &scope, json!({"limits": {"window_hours": 24, "window_max_count": 5}})).await;
        let calls = (0..PARALLEL)
            .map(|i| (&cast.members[i % 4], "request_create", purchase(&scope, "10", &format!("item {i}"))))
            .collect();
        let (won, lost) = split(race(calls, &[(-32002, "limit_exceeded")]).await);
        assert_eq!((won.len(), lost.len()), (5, 15), "round {round}: {lost:?}");
        for answer in &lost {
            let data = &answer["error"]["data"];
            let got = (&data["limit"], &data["allowed"], &data["attempted"], &data["window_hours"]);
            assert_eq!(got, (&json!("window_max_count"), &json!("5"), &json!("6"), &json!(24)), "{answer}");
        }
        assert!(won.iter().all(|r| r["request"]["status"] == "pending_approval"), "{won:?}");
        assert_holds_exactly(&cast, &scope, &won).await;
        let made = audit(&cast.admin, "request_create", None).await;
        let here = made.iter().filter(|r| r["scope_id"] == scope.as_str() && r["outcome"] == "success");
        assert_eq!(here.count(), 5, "round {round}: one success row per request made");
    }
    assert_eq!(denied_creates(&cast.admin, "limit_exceeded").await, 15 * ROUNDS, "one denied row per refusal");
    assert_eq!(cast.admin.ok("audit_verify", json!({})).await["ok"], true);
}

/// Twenty creates of "100" at once against `window_max_total = "500"`: five are made.
async fn parallel_creates_stop_at_the_window_total(backend: Backend) {
    let Some(cast) = cast(backend, 4, 0).await else { return };
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:total{round}");
        set_policy(&cast.admin, &scope, json!({"limits": {"window_hours": 24, "window_max_total": "500"}})).await;
        let calls = (0..PARALLEL)
            .map(|i| (&cast.members[i % 4], "request_create", purchase(&scope, "100", &format!("item {i}"))))
            .collect();
        let (won, lost) = split(race(calls, &[(-32002, "limit_exceeded")]).await);
        assert_eq!((won.len(), lost.len()), (5, 15), "round {round}: {lost:?}");
        for answer in &lost {
            let data = &answer["error"]["data"];
            let got = (&data["limit"], &data["allowed"], &data["attempted"], &data["used"]);
            assert_eq!(got, (&json!("window_max_total"), &json!("500"), &json!("600"), &json!("500")), "{answer}");
        }
        assert_holds_exactly(&cast, &scope, &won).await;
        let stored = count(
            &cast.server,
            "SELECT COUNT(*) FROM requests WHERE scope_id = $1 AND amount = '100'",
            Some(&scope),
            None,
        )
        .await;
        assert_eq!(stored, 5, "round {round}");
    }
    assert_eq!(denied_creates(&cast.admin, "limit_exceeded").await, 15 * ROUNDS);
}

/// Two approvals needed, three approvers: one approves, then the other two approve at once.
/// One of them casts the deciding vote and the request is executed; the other is
/// `conflict/request_not_pending` and leaves no vote. The requester hears of the approval
/// and of the execution once; the audit log records the move to `approved` once.
async fn the_last_approval_cast_twice_at_once_executes_once(backend: Backend) {
    let Some(cast) = cast(backend, 1, 3).await else { return };
    let (alice, approvers) = (&cast.members[0], &cast.approvers);
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:votes{round}");
        set_policy(&cast.admin, &scope, json!({"approvals_required": 2})).await;
        let request = alice.ok("request_create", purchase(&scope, "900", "two keys")).await["request"].clone();
        let rid = &request["id"];
        let first = &approvers[round % 3];
        let racers: Vec<&Client> = approvers.iter().filter(|a| id(a) != id(first)).collect();
        let one = first.ok("request_approve", json!({"request_id": rid})).await;
        assert_eq!(
            (&one["request"]["status"], &one["request"]["approvals"]["approved"]),
            (&json!("pending_approval"), &json!(1))
        );

        let calls =
            racers.iter().map(|a| (*a, "request_approve", json!({"request_id": rid, "comment": "ok"}))).collect();
        let answers = race(calls, &[(-32004, "request_not_pending")]).await;
        let winner = answers.iter().position(|a| a.get("result").is_some());
        let winner = winner.unwrap_or_else(|| panic!("round {round}: nobody won: {answers:?}"));
        let (won, lost) = (&answers[winner]["result"]["request"], &answers[1 - winner]);
        let loser = racers[1 - winner];
        assert_eq!((&won["status"], &won["approvals"]["approved"]), (&json!("executed"), &json!(2)), "{won}");
        assert_error(lost, -32004, "request_not_pending");
        assert_eq!(lost["error"]["data"]["status"], "executed", "{lost}");

        let now = cast.admin.ok("request_get", json!({"request_id": rid})).await["request"].clone();
        assert_eq!(now["status"], "executed");
        let voters: Vec<&Value> =
            now["approvals"]["decisions"].as_array().unwrap().iter().map(|d| &d["account_id"]).collect();
        assert!(!voters.contains(&&json!(id(loser))), "round {round}: the losing vote was kept: {now}");
        assert_eq!(voters.len(), 2, "{now}");
        let sql = "SELECT COUNT(*) FROM request_decisions WHERE request_id = $1";
        assert_eq!(count(&cast.server, sql, None, Some(rid)).await, 2, "round {round}");

        for (kind, times) in [("request_decision", 2), ("request_approved", 1), ("request_executed", 1)] {
            assert_eq!(told(alice, kind, rid).await, times, "round {round}: alice told {kind}");
        }
        assert_eq!(told(loser, "request_executed", rid).await, 0, "only voters hear of the execution");
        assert_eq!(told(racers[winner], "request_executed", rid).await, 1);
        // Every success row about the request: its creation, then the two votes that counted
        // (a refusal's row may name the request too, as long as it is not a success).
        let rows = cast.admin.ok("audit_list", json!({"subject_id": rid, "limit": 1000})).await["events"].clone();
        let (rows, refused): (Vec<Value>, Vec<Value>) =
            rows.as_array().unwrap().iter().cloned().partition(|r| r["outcome"] == "success");
        assert!(refused.iter().all(|r| r["data"]["reason"] == "request_not_pending"), "{refused:?}");
        let events: Vec<(&Value, &Value)> = rows.iter().map(|r| (&r["event_type"], &r["outcome"])).collect();
        let (create, approve) =
            ((&json!("request_create"), &json!("success")), (&json!("request_approve"), &json!("success")));
        assert_eq!(events, vec![create, approve, approve], "round {round}: {rows:?}");
        let approving: Vec<&Value> = rows
            .iter()
            .filter(|r| r["data"]["transitions"].as_array().unwrap().iter().any(|t| t["to"] == "approved"))
            .collect();
        assert_eq!(approving.len(), 1, "round {round}: {rows:?}");
        assert_eq!(approving[0]["account_id"], json!(id(racers[winner])));
    }
    // Each losing vote left one failure row.
    let failed = audit(&cast.admin, "request_approve", None).await;
    let failed = failed.iter().filter(|r| r["outcome"] == "failure" && r["data"]["reason"] == "request_not_pending");
    assert_eq!(failed.count(), ROUNDS);
    assert_eq!(cast.admin.ok("audit_verify", json!({})).await["ok"], true);
}

/// The requester cancels while an approver casts the one approval needed. With a cancel
/// window of 0 hours exactly one wins: an approval first executes the request and the
/// cancel is `conflict/cancel_window_closed`; a cancel first ends it, and the vote is
/// `conflict/request_not_pending` and is not kept. With the default 24-hour window (odd
/// rounds) an approval first is followed by a cancel that revokes the executed request.
async fn cancel_races_the_approval_and_exactly_one_wins(backend: Backend) {
    const CANCEL_ROUNDS: usize = 8;
    let Some(cast) = cast(backend, 1, 1).await else { return };
    let (alice, bob) = (&cast.members[0], &cast.approvers[0]);
    let (mut approved, mut cancelled) = (0, 0);
    for round in 0..CANCEL_ROUNDS {
        let scope = format!("org:acme/store:cancel{round}");
        let window = if round % 2 == 0 { 0 } else { 24 };
        set_policy(&cast.admin, &scope, json!({"approvals_required": 1, "cancel_window_hours": window})).await;
        let request = alice.ok("request_create", purchase(&scope, "50", "either way")).await["request"].clone();
        let rid = &request["id"];
        let allowed = [(-32004, "request_not_pending"), (-32004, "cancel_window_closed"), (-32004, "request_closed")];
        let calls = vec![
            (alice, "request_cancel", json!({"request_id": rid, "reason": "changed my mind"})),
            (bob, "request_approve", json!({"request_id": rid})),
        ];
        let answers = race(calls, &allowed).await;
        let (cancel, approve) = (&answers[0], &answers[1]);
        let now = cast.admin.ok("request_get", json!({"request_id": rid})).await["request"].clone();
        let sql = "SELECT COUNT(*) FROM request_decisions WHERE request_id = $1";
        let decisions = count(&cast.server, sql, None, Some(rid)).await;
        let cancel_status = &cancel["result"]["request"]["status"];
        let successes = match (cancel.get("result"), approve.get("result")) {
            (Some(_), None) if cancel_status == "cancelled" => {
                cancelled += 1;
                assert_error(approve, -32004, "request_not_pending");
                assert_eq!(approve["error"]["data"]["status"], "cancelled");
                assert_eq!((&now["status"], &now["executed_at"]), (&json!("cancelled"), &Value::Null), "{now}");
                assert_eq!((decisions, &now["approvals"]["approved"]), (0, &json!(0)), "a losing vote was kept: {now}");
                let heard = (told(alice, "request_cancelled", rid).await, told(alice, "request_decision", rid).await);
                assert_eq!(heard, (1, 0), "round {round}");
                1
            }
            (None, Some(result)) if window == 0 => {
                approved += 1;
                assert_eq!(result["request"]["status"], "executed");
                assert_error(cancel, -32004, "cancel_window_closed");
                assert_eq!((&now["status"], &now["cancelled_at"]), (&json!("executed"), &Value::Null), "{now}");
                assert_eq!(decisions, 1);
                let heard = (told(alice, "request_executed", rid).await, told(alice, "request_cancelled", rid).await);
                assert_eq!(heard, (1, 0), "round {round}");
                1
            }
            (Some(_), Some(result)) if window > 0 && cancel_status == "revoked" => {
                approved += 1;
                assert_eq!(result["request"]["status"], "executed");
                assert_eq!((&now["status"], &now["cancelled_by"]), (&json!("revoked"), &json!(id(alice))), "{now}");
                assert_eq!(decisions, 1);
                let heard = (told(alice, "request_executed", rid).await, told(alice, "request_revoked", rid).await);
                assert_eq!(heard, (1, 1), "round {round}");
                assert_eq!(told(bob, "request_revoked", rid).await, 1, "the voter hears of the revoke");
                2
            }
            _ => panic!("round {round} (window {window}): not a serial outcome: {cancel} {approve}"),
        };
        let mut rows = audit(&cast.admin, "request_cancel", Some(rid)).await;
        rows.extend(audit(&cast.admin, "request_approve", Some(rid)).await);
        let succeeded = rows.iter().filter(|r| r["outcome"] == "success").count();
        assert_eq!(succeeded, successes, "round {round}: {rows:?}");
    }
    eprintln!("{backend:?} cancel/approve: {approved} approved first, {cancelled} cancelled first");
}

/// Alice sends one create with one idempotency key ten times at once: every answer is the
/// same request, one row exists, one success is audited and the approver is told once.
/// The same key with another payload afterwards is `conflict/idempotency_key_reused`.
async fn one_idempotency_key_sent_ten_times_at_once_makes_one_request(backend: Backend) {
    let Some(cast) = cast(backend, 1, 1).await else { return };
    let (alice, bob) = (&cast.members[0], &cast.approvers[0]);
    let alice2 = cast.server.login("member0", PASSWORD).await;
    for round in 0..ROUNDS {
        let scope = format!("org:acme/store:key{round}");
        let key = format!("order-{round}");
        let mut params = purchase(&scope, "1999.99", "once only");
        params["idempotency_key"] = json!(key);
        params["payload"] = json!({"sku": "a1"});
        let calls =
            (0..10).map(|i| (if i % 2 == 0 { alice } else { &alice2 }, "request_create", params.clone())).collect();
        let (made, failed) = split(race(calls, &[]).await);
        assert!(failed.is_empty(), "round {round}: a repeat of the same create must answer the first: {failed:?}");
        let request = &made[0]["request"];
        assert!(made.iter().all(|m| m["request"] == *request), "round {round}: {made:?}");
        let rid = &request["id"];
        let sql = "SELECT COUNT(*) FROM requests WHERE idempotency_key = $1";
        assert_eq!(count(&cast.server, sql, Some(&key), None).await, 1, "round {round}");
        let rows = audit(&cast.admin, "request_create", Some(rid)).await;
        assert_eq!(rows.iter().filter(|r| r["outcome"] == "success").count(), 1, "round {round}: {rows:?}");
        assert!(rows.iter().all(|r| r["outcome"] == "success"), "a repeat is no failure: {rows:?}");
        assert_eq!(told(bob, "request_approval_needed", rid).await, 1, "round {round}");

        params["payload"] = json!({"sku": "b2"});
        let reused = alice.call("request_create", params).await;
        assert_error(&reused, -32004, "idempotency_key_reused");
        assert_eq!(&reused["error"]["data"]["existing_request_id"], rid, "{reused}");
        assert_eq!(count(&cast.server, sql, Some(&key), None).await, 1, "round {round}");
    }
    let all = cast.admin.ok("request_list", json!({"limit": 500})).await["requests"].as_array().unwrap().len();
    assert_eq!(all, ROUNDS);
}

/// Two server instances on one database sweep the same backlog of expired requests (more
/// than one batch) at the same moment: every request is expired exactly once, with one
/// audit row and one notice to its requester, and neither sweep fails (each takes its
/// request locks in one order before writing).
async fn two_instances_sweeping_at_once_expire_each_request_once(backend: Backend) {
    const PER_MEMBER: usize = 33;
    let Some(cast) = cast(backend, 4, 1).await else { return };
    set_policy(&cast.admin, "org:acme", json!({"request_ttl_hours": 1})).await;
    let mut made = Vec::new();
    for (m, member) in cast.members.iter().enumerate() {
        for i in 0..PER_MEMBER {
            let created = member.ok("request_create", purchase("org:acme", "10.00", &format!("m{m} #{i}"))).await;
            assert_eq!(created["request"]["status"], "pending_approval");
            made.push(created["request"]["id"].clone());
        }
    }
    let other = cast.server.another_instance().await;
    for clock in [&cast.server.clock, &other.clock] {
        clock.advance(std::time::Duration::from_secs(2 * 3600));
    }
    let (here, there) = tokio::join!(
        countersign::requests::expiry::sweep(&cast.server.env),
        countersign::requests::expiry::sweep(&other.env)
    );
    assert_eq!(here.unwrap() + there.unwrap(), made.len(), "each request expires once, whichever instance does it");

    let expired = "SELECT COUNT(*) FROM requests WHERE status = $1";
    assert_eq!(count(&cast.server, expired, Some("expired"), None).await, made.len() as i64);
    let rows = "SELECT COUNT(*) FROM audit_log WHERE event_type = $1";
    assert_eq!(count(&cast.server, rows, Some("request_expire"), None).await, made.len() as i64, "one row each");
    for member in &cast.members {
        let page = member.ok("notifications_list", json!({"limit": 500})).await;
        let mut ids: Vec<String> = page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] == "request_expired")
            .map(|n| n["data"]["request"]["id"].as_str().unwrap().to_owned())
            .collect();
        let told = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!((told, ids.len()), (PER_MEMBER, PER_MEMBER), "one notice per request, to its requester");
    }
    assert_eq!(cast.admin.ok("audit_verify", json!({})).await["ok"], true);
}
