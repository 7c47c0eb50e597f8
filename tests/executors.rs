//! Webhook executors (docs/protocol.md §7.5) against a real receiver on loopback: every
//! answer a receiver can give maps to the right state, audit row and notification; a
//! retry is a new attempt under a new key, made once however many ask at once; an
//! executed request is revoked only when the receiver agrees, and only within its
//! window; an attempt whose outcome arrives too late is not recorded over the sweeper's
//! verdict; and the webhook secret shows up nowhere.

mod common;

use std::time::Duration;

use common::identity::{Auth, Client};
use common::receiver::{Answer, Receiver, SECRET};
use common::{Backend, TestServer, assert_error};
use countersign::config::kinds::{Executor, Policy};
use serde_json::{Value, json};

backend_tests!(
    a_2xx_executes_with_one_signed_delivery,
    every_other_answer_fails_with_why,
    a_retry_is_one_new_attempt_under_a_new_key,
    a_revoke_asks_the_receiver_first,
    cancel_racing_the_end_of_the_window_is_clean,
    a_late_answer_does_not_overwrite_an_interrupted_attempt,
    an_approved_request_is_delivered_after_the_vote_commits,
    a_killed_server_leaves_an_interrupted_attempt_never_resent,
);

/// The `purchase` executor: the test receiver's webhook.
fn webhook(url: &str, timeout_ms: u64) -> Executor {
    serde_json::from_value(json!({"type": "webhook", "url": url, "secret": SECRET, "timeout_ms": timeout_ms})).unwrap()
}

/// A server whose `purchase` requests go to `receiver` under `policy`, and its admin.
async fn serve_with(
    backend: Backend,
    receiver: &Receiver,
    timeout_ms: u64,
    policy: Policy,
) -> Option<(TestServer, Client)> {
    let url = receiver.url.clone();
    let server = common::start_with(backend, move |config| {
        let kind = config.kinds.get_mut("purchase").unwrap();
        kind.executor = webhook(&url, timeout_ms);
        kind.policy = policy;
    })
    .await?;
    let admin = server.admin().await;
    Some((server, admin))
}

/// A server whose `purchase` requests go straight to `receiver`: no confirmation, no
/// approval.
async fn serve(backend: Backend, receiver: &Receiver, timeout_ms: u64) -> Option<(TestServer, Client)> {
    let policy = Policy { enabled: true, requires_confirmation: false, approvals_required: 0, ..Policy::default() };
    serve_with(backend, receiver, timeout_ms, policy).await
}

/// A purchase by `by`; the request as created.
async fn purchase(by: &Client) -> Value {
    let params = json!({"kind": "purchase", "scope_id": "org:acme", "title": "Reserved instances",
                        "amount": "1200.00", "currency": "USD"});
    by.ok("request_create", params).await["request"].clone()
}

/// The request once it is no longer executing (at most 20 s).
async fn settled(by: &Client, id: &Value) -> Value {
    settled_within(by, id, 20).await
}

/// The notification types `by` was sent about request `id`.
async fn told(by: &Client, id: &Value) -> Vec<String> {
    let listed = by.ok("notifications_list", json!({"limit": 500})).await;
    listed["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["data"]["request"]["id"] == *id || n["data"]["request_id"] == *id)
        .map(|n| n["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The `request_execution` audit rows about `id`: (from, to, data) each.
async fn executions(admin: &Client, id: &Value) -> Vec<(Value, Value, Value)> {
    let rows = common::party::audit(admin, "request_execution", Some(id)).await;
    rows.into_iter()
        .map(|row| {
            let transitions = row["data"]["transitions"].as_array().unwrap().clone();
            assert_eq!(transitions.len(), 1, "{row}");
            (transitions[0]["from"].clone(), transitions[0]["to"].clone(), row["data"].clone())
        })
        .collect()
}

/// The secret is in no log line, audit row, answer `seen` or the OpenRPC document.
async fn assert_secret_hidden(server: &TestServer, admin: &Client, seen: &[&Value]) {
    assert!(!common::captured_logs().contains(SECRET), "the secret is in the log");
    let audit = admin.ok("audit_list", json!({"limit": 1000})).await;
    assert!(!audit.to_string().contains(SECRET), "the secret is in the audit log");
    let (_, _, openrpc) = server.get("/openrpc.json").await;
    assert!(!openrpc.to_string().contains(SECRET));
    for answer in seen {
        assert!(!answer.to_string().contains(SECRET), "{answer}");
    }
}

async fn a_2xx_executes_with_one_signed_delivery(backend: Backend) {
    let receiver = Receiver::start(Answer::Status(201, r#"{"charge":"ch_1"}"#.into())).await;
    let Some((server, admin)) = serve(backend, &receiver, 5_000).await else { return };
    let created = purchase(&admin).await;
    let id = created["id"].clone();
    assert_eq!(created["status"], "executing", "the answer comes before the delivery: {created}");
    assert_eq!(created["execution"]["attempts"], 1);
    assert!(created["execution"]["started_at"].is_string());

    let delivered = receiver.wait_for(1).await;
    assert_eq!(delivered[0].key, format!("{}:1", id.as_str().unwrap()));
    assert!(delivered[0].signed, "signed with the secret over the exact body");
    let body = &delivered[0].body;
    assert_eq!((&body["event"], &body["attempt"], &body["request"]["id"]), (&json!("request.execute"), &json!(1), &id));
    assert_eq!(body["request"]["amount"], "1200.00");

    let done = settled(&admin, &id).await;
    assert_eq!(done["status"], "executed", "{done}");
    let execution = &done["execution"];
    assert_eq!(execution["response"], r#"{"charge":"ch_1"}"#);
    assert_eq!((&execution["last_error"], &execution["response_truncated"]), (&Value::Null, &json!(false)));
    assert!(done["executed_at"].is_string() && done["cancel_until"].is_string());
    let rows = executions(&admin, &id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0].0, &rows[0].1), (&json!("executing"), &json!("executed")));
    assert_eq!((&rows[0].2["attempt"], &rows[0].2["http_status"]), (&json!(1), &json!(201)));
    assert!(told(&admin, &id).await.contains(&"request_executed".to_owned()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.delivered().len(), 1, "delivered once");
    let (_, _, metrics) = server.get("/metrics").await;
    let line = r#"countersign_webhook_deliveries_total{event="request.execute",outcome="accepted"} 1"#;
    assert!(metrics.as_str().unwrap().contains(line), "{metrics}");
    assert_secret_hidden(&server, &admin, &[&created, &done]).await;
}

async fn every_other_answer_fails_with_why(backend: Backend) {
    let receiver = Receiver::start(Answer::Status(500, "boom".into())).await;
    let Some((server, admin)) = serve(backend, &receiver, 400).await else { return };
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let big = "x".repeat(100_000);
    let cases: [(Answer, &str); 4] = [
        (Answer::Status(500, "boom".into()), "HTTP 500"),
        (Answer::Status(302, String::new()), "HTTP 302"),
        (Answer::Hang, "timeout after 400 ms"),
        (Answer::Close, "request failed: "),
    ];
    let mut seen = Vec::new();
    for (answer, error) in cases {
        receiver.answer(answer);
        let id = purchase(&admin).await["id"].clone();
        let failed = settled(&admin, &id).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        let last_error = failed["execution"]["last_error"].as_str().unwrap();
        assert!(last_error.starts_with(error), "{error}: {last_error}");
        let rows = executions(&admin, &id).await;
        assert_eq!(
            (&rows[0].0, &rows[0].1, &rows[0].2["last_error"]),
            (&json!("executing"), &json!("failed"), &json!(last_error))
        );
        assert!(told(&admin, &id).await.contains(&"request_failed".to_owned()));
        assert!(failed["executed_at"].is_null() && failed["cancel_until"].is_null());
        seen.push(failed);
    }
    assert_eq!(seen[0]["execution"]["response"], "boom", "a refusal's body is kept too");
    assert_eq!(receiver.delivered().len(), 4);

    // Nobody listening: the connection is refused.
    let unreachable = format!("http://127.0.0.1:{closed_port}/hook");
    let other = common::start_with(backend, |config| {
        let kind = config.kinds.get_mut("purchase").unwrap();
        kind.executor = webhook(&unreachable, 400);
        kind.policy =
            Policy { enabled: true, requires_confirmation: false, approvals_required: 0, ..Policy::default() };
    })
    .await
    .unwrap();
    let other_admin = other.admin().await;
    let id = purchase(&other_admin).await["id"].clone();
    let refused = settled(&other_admin, &id).await;
    assert!(refused["execution"]["last_error"].as_str().unwrap().starts_with("connection failed: "), "{refused}");

    // A large answer is kept to 64 KiB, and marked.
    receiver.answer(Answer::Status(200, big));
    let id = purchase(&admin).await["id"].clone();
    let executed = settled(&admin, &id).await;
    assert_eq!(executed["status"], "executed");
    assert_eq!(executed["execution"]["response"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(executed["execution"]["response_truncated"], true);
    let seen: Vec<&Value> = seen.iter().chain([&refused, &executed]).collect();
    assert_secret_hidden(&server, &admin, &seen).await;
}

async fn a_retry_is_one_new_attempt_under_a_new_key(backend: Backend) {
    let receiver = Receiver::start(Answer::Status(503, "later".into())).await;
    let Some((_server, admin)) = serve(backend, &receiver, 5_000).await else { return };
    let id = purchase(&admin).await["id"].clone();
    assert_eq!(settled(&admin, &id).await["status"], "failed");
    receiver.answer(Answer::Status(200, "ok".into()));

    let retries = (0..10).map(|_| {
        let admin = admin.clone();
        let id = id.clone();
        tokio::spawn(async move { admin.call("request_retry", json!({"request_id": id})).await })
    });
    let answers: Vec<Value> = futures::future::join_all(retries).await.into_iter().map(Result::unwrap).collect();
    let won: Vec<&Value> = answers.iter().filter(|a| a.get("result").is_some()).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert_eq!(won[0]["result"]["request"]["execution"]["attempts"], 2);
    for lost in answers.iter().filter(|a| a.get("error").is_some()) {
        assert_error(lost, -32004, "request_not_failed");
    }
    let done = settled(&admin, &id).await;
    assert_eq!((&done["status"], &done["execution"]["attempts"]), (&json!("executed"), &json!(2)));
    let id_text = id.as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((receiver.count(&format!("{id_text}:1")), receiver.count(&format!("{id_text}:2"))), (1, 1));
    assert_eq!(receiver.delivered().len(), 2);
    assert_eq!(receiver.delivered()[1].body["attempt"], 2);
    let rows = executions(&admin, &id).await;
    let outcomes: Vec<&Value> = rows.iter().map(|(_, to, _)| to).collect();
    assert_eq!(outcomes, [&json!("failed"), &json!("executed")]);
    let retried = common::party::audited(&admin, "request_retry", &id).await;
    assert_eq!(retried["data"]["transitions"], json!([{"from": "failed", "to": "executing"}]));
}

async fn a_revoke_asks_the_receiver_first(backend: Backend) {
    let receiver = Receiver::start(Answer::Status(200, "ok".into())).await;
    let Some((server, admin)) = serve(backend, &receiver, 5_000).await else { return };
    let id = purchase(&admin).await["id"].clone();
    assert_eq!(settled(&admin, &id).await["status"], "executed");

    receiver.answer(Answer::Status(409, "already shipped".into()));
    let refused = admin.call("request_cancel", json!({"request_id": id, "reason": "changed my mind"})).await;
    assert_error(&refused, -32004, "revoke_refused");
    let data = &refused["error"]["data"];
    assert_eq!(
        (&data["error"], &data["response"], &data["status"]),
        (&json!("HTTP 409"), &json!("already shipped"), &json!("executed"))
    );
    let still = admin.ok("request_get", json!({"request_id": id})).await["request"].clone();
    assert_eq!((&still["status"], &still["cancelled_at"]), (&json!("executed"), &Value::Null));
    let revoke = receiver.delivered()[1].clone();
    assert_eq!(revoke.key, format!("{}:revoke", id.as_str().unwrap()));
    assert!(revoke.signed);
    assert_eq!((&revoke.body["event"], &revoke.body["request"]["id"]), (&json!("request.revoke"), &id));

    receiver.answer(Answer::Status(200, "undone".into()));
    let revoked = admin.ok("request_cancel", json!({"request_id": id, "reason": "changed my mind"})).await;
    assert_eq!(revoked["request"]["status"], "revoked");
    assert_eq!(receiver.count(&format!("{}:revoke", id.as_str().unwrap())), 2, "the same key both times");
    assert!(told(&admin, &id).await.contains(&"request_revoked".to_owned()));
    let row = common::party::audited(&admin, "request_cancel", &id).await;
    assert_eq!(row["data"]["transitions"], json!([{"from": "executed", "to": "revoked"}]));

    // Past the window, the receiver is not asked.
    let late = purchase(&admin).await["id"].clone();
    assert_eq!(settled(&admin, &late).await["status"], "executed");
    server.clock.advance(Duration::from_secs(25 * 3600));
    let closed = admin.call("request_cancel", json!({"request_id": late})).await;
    assert_error(&closed, -32004, "cancel_window_closed");
    assert_eq!(receiver.count(&format!("{}:revoke", late.as_str().unwrap())), 0);
    assert_secret_hidden(&server, &admin, &[&refused, &revoked, &closed]).await;
}

/// Cancels race the clock passing the cancel window's end: each ends revoked with the
/// receiver asked, or refused with the receiver never asked — never a mix.
async fn cancel_racing_the_end_of_the_window_is_clean(backend: Backend) {
    let receiver = Receiver::start(Answer::Status(200, "ok".into())).await;
    let policy = Policy {
        enabled: true,
        requires_confirmation: false,
        approvals_required: 0,
        cancel_window_hours: 1,
        ..Policy::default()
    };
    let Some((server, admin)) = serve_with(backend, &receiver, 5_000, policy).await else { return };
    let mut ids = Vec::new();
    for _ in 0..8 {
        let id = purchase(&admin).await["id"].clone();
        assert_eq!(settled(&admin, &id).await["status"], "executed");
        ids.push(id);
    }
    // A minute before the window ends; the clock passes it while the cancels run.
    server.clock.advance(Duration::from_secs(3600 - 60));
    let cancels = ids.iter().cloned().enumerate().map(|(i, id)| {
        let admin = admin.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(6 * i as u64)).await;
            admin.call("request_cancel", json!({"request_id": id})).await
        })
    });
    let clock = server.clock.clone();
    let tick = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            clock.advance(Duration::from_secs(15));
        }
    });
    let answers: Vec<Value> = futures::future::join_all(cancels).await.into_iter().map(Result::unwrap).collect();
    tick.await.unwrap();
    for (id, answer) in ids.iter().zip(&answers) {
        let asked = receiver.count(&format!("{}:revoke", id.as_str().unwrap()));
        let status = admin.ok("request_get", json!({"request_id": id})).await["request"]["status"].clone();
        match answer.get("result") {
            Some(result) => {
                assert_eq!((&result["request"]["status"], &status, asked), (&json!("revoked"), &json!("revoked"), 1));
            }
            None => {
                assert_error(answer, -32004, "cancel_window_closed");
                assert_eq!((&status, asked), (&json!("executed"), 0), "{answer}");
            }
        }
    }
}

/// The receiver answers after the attempt was called interrupted: the request stays
/// `failed`, and a retry is a new attempt.
async fn a_late_answer_does_not_overwrite_an_interrupted_attempt(backend: Backend) {
    let receiver = Receiver::start(Answer::After(Duration::from_millis(1500), 200)).await;
    let Some((server, admin)) = serve(backend, &receiver, 60_000).await else { return };
    let id = purchase(&admin).await["id"].clone();
    receiver.wait_for(1).await;
    assert_eq!(countersign::requests::execution::sweep_interrupted(&server.env).await.unwrap(), 0, "not yet due");
    server.clock.advance(Duration::from_secs(75));
    assert_eq!(countersign::requests::execution::sweep_interrupted(&server.env).await.unwrap(), 1);
    let failed = admin.ok("request_get", json!({"request_id": id})).await["request"].clone();
    assert_eq!((&failed["status"], &failed["execution"]["last_error"]), (&json!("failed"), &json!("interrupted")));
    tokio::time::sleep(Duration::from_millis(2000)).await; // the answer arrives
    let after = admin.ok("request_get", json!({"request_id": id})).await["request"].clone();
    assert_eq!(after["status"], "failed", "a late answer is not recorded: {after}");
    assert!(common::captured_logs().contains("not recorded"));
    let rows = executions(&admin, &id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2["last_error"], "interrupted");
    assert!(told(&admin, &id).await.contains(&"request_failed".to_owned()));
}

/// With approvals, the approving vote commits first, then the delivery; the requester and
/// the voter hear of the outcome.
async fn an_approved_request_is_delivered_after_the_vote_commits(backend: Backend) {
    let receiver = Receiver::start(Answer::Status(200, "ok".into())).await;
    let policy = Policy { enabled: true, requires_confirmation: false, approvals_required: 1, ..Policy::default() };
    let Some((server, admin)) = serve_with(backend, &receiver, 5_000, policy).await else { return };
    let member = server.account(&admin, "mira").await;
    let approver = server.account(&admin, "aria").await;
    admin
        .ok("permit_grant", json!({"to_account_id": member.account_id, "role": "member", "scope_id": "org:acme"}))
        .await;
    admin
        .ok("permit_grant", json!({"to_account_id": approver.account_id, "role": "approver", "scope_id": "org:acme"}))
        .await;
    let id = purchase(&member).await["id"].clone();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(receiver.delivered().is_empty(), "nothing is sent before the approval");
    let approved = approver.ok("request_approve", json!({"request_id": id})).await["request"].clone();
    assert_eq!((&approved["status"], &approved["execution"]["attempts"]), (&json!("executing"), &json!(1)));
    receiver.wait_for(1).await;
    assert_eq!(settled(&member, &id).await["status"], "executed");
    assert!(told(&member, &id).await.contains(&"request_executed".to_owned()));
    assert!(told(&approver, &id).await.contains(&"request_executed".to_owned()));
}

/// The binary, killed (SIGKILL) while the receiver holds a delivery open, then restarted
/// on the same database: the attempt ends `failed/interrupted` with exactly one delivery,
/// and a retry delivers once more under a new key. Neither run logs the secret.
async fn a_killed_server_leaves_an_interrupted_attempt_never_resent(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = common::database_url(backend, dir.path()).await else { return };
    let receiver = Receiver::start(Answer::Hang).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("countersign.toml");
    let token_file = dir.path().join("bootstrap-token");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_origin = \"{origin}\"\ndatabase_url = \"{database_url}\"\n\
             housekeeping_interval_s = 1\n[auth]\nbootstrap_token_file = {token_file:?}\n\
             [kinds.purchase.executor]\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_ms = 1000\n\
             [kinds.purchase.policy]\nenabled = true\nrequires_confirmation = false\napprovals_required = 0\n",
            receiver.url
        ),
    )
    .unwrap();
    let serve = |log: &str| {
        let log = std::fs::File::create(dir.path().join(log)).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_countersign"))
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let healthy = |http: reqwest::Client| async move {
        for _ in 0..200 {
            if http.get(format!("http://127.0.0.1:{port}/health")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not start");
    };

    let mut first = serve("first.log");
    healthy(http.clone()).await;
    let anonymous = Client {
        base: origin.clone(),
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        http: http.clone(),
        auth: Auth::Anonymous,
        origin: Some(origin.clone()),
        account_id: None,
    };
    let token = std::fs::read_to_string(&token_file).unwrap();
    let bootstrap = json!({"token": token.trim(), "username": "admin", "password": common::identity::PASSWORD});
    anonymous.ok("account_bootstrap", bootstrap).await;
    let admin = common::identity::login_at(anonymous, "admin", common::identity::PASSWORD).await;
    let id = purchase(&admin).await["id"].clone();
    receiver.wait_for(1).await;
    first.kill().unwrap(); // SIGKILL, mid-delivery
    first.wait().unwrap();

    let mut second = serve("second.log");
    healthy(http).await;
    let failed = settled_within(&admin, &id, 40).await;
    assert_eq!((&failed["status"], &failed["execution"]["last_error"]), (&json!("failed"), &json!("interrupted")));
    let first_key = format!("{}:1", id.as_str().unwrap());
    assert_eq!((receiver.count(&first_key), receiver.delivered().len()), (1, 1), "never resent");

    receiver.answer(Answer::Status(200, "ok".into()));
    admin.ok("request_retry", json!({"request_id": id})).await;
    assert_eq!(settled(&admin, &id).await["status"], "executed");
    assert_eq!(receiver.count(&format!("{}:2", id.as_str().unwrap())), 1);
    assert_eq!(receiver.delivered().len(), 2);
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    second.wait().unwrap();
    for log in ["first.log", "second.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        assert!(text.contains("countersign listening") && !text.contains(SECRET), "{log}: {text}");
    }
}

/// The request once it is no longer executing, within `seconds`.
async fn settled_within(by: &Client, id: &Value, seconds: u64) -> Value {
    for _ in 0..seconds * 10 {
        let request = by.ok("request_get", json!({"request_id": id})).await["request"].clone();
        if request["status"] != "executing" {
            return request;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("request {id} is still executing after {seconds} s");
}
