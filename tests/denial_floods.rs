//! Floods of refused calls and of wrong passwords (docs/protocol.md §3.1, §4.2):
//!
//! - a member's denied calls count against its `refused` budget: past it they are
//!   `rate_limited` and write no audit row, so the log grows by the budget and no more,
//!   while the member's allowed calls still pass;
//! - unauthenticated calls are limited per IP, and one IP's flood leaves the others alone;
//! - wrong passwords for an account from strangers (believed through a trusted proxy's
//!   `X-Forwarded-For`) never lock its owner out, and a forwarding header from anyone
//!   else changes nothing.

mod common;

use std::net::IpAddr;

use common::identity::{ADMIN, PASSWORD};
use common::{Backend, TestServer, assert_error, start_with};
use countersign::config::{Config, RateLimit};
use serde_json::{Value, json};

backend_tests!(
    denied_calls_past_the_refused_budget_are_rate_limited_and_not_audited,
    unauthenticated_calls_are_limited_per_ip,
    strangers_cannot_lock_an_account_out,
);

/// The `refused` budget of these tests: a burst of 30, then one a second.
fn refused_budget(config: &mut Config) {
    config.rate_limits.insert("refused".into(), RateLimit { per_minute: 60, burst: 30 });
    config.rate_limits.insert("login".into(), RateLimit { per_minute: 100_000, burst: 100_000 });
}

/// POSTs `body` from `source` with the given extra headers; the parsed answer.
async fn post_from(server: &TestServer, source: &str, headers: &[(&str, &str)], body: &Value) -> Value {
    let client = reqwest::Client::builder().local_address(source.parse::<IpAddr>().unwrap()).build().unwrap();
    let mut request = client.post(format!("{}/rpc", server.base)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn reasons(answers: &Value) -> Vec<String> {
    let answers = answers.as_array().expect("a batch answer");
    answers.iter().map(|a| a["error"]["data"]["reason"].as_str().unwrap_or("ok").to_owned()).collect()
}

fn count(reasons: &[String], reason: &str) -> usize {
    reasons.iter().filter(|r| *r == reason).count()
}

/// 300 `account_list` calls by a member without the right, in batches of 100: about 30
/// are `forbidden` (the burst, plus what refills meanwhile) and audited, the rest are
/// `rate_limited` and not. The member's own `whoami` still answers.
async fn denied_calls_past_the_refused_budget_are_rate_limited_and_not_audited(backend: Backend) {
    let Some(server) = start_with(backend, refused_budget).await else { return };
    let admin = server.admin().await;
    let member = server.account(&admin, "mallory").await;
    let secret = member.ok("token_create", json!({"name": "flood"})).await["secret"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {secret}");
    let batch: Vec<Value> =
        (0..100).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "account_list", "params": {}})).collect();
    let mut all = Vec::new();
    for _ in 0..3 {
        all.extend(reasons(&post_from(&server, "127.0.0.1", &[("authorization", &bearer)], &json!(batch)).await));
    }
    let denied = count(&all, "not_permitted");
    assert_eq!(denied + count(&all, "rate_limited"), 300, "{all:?}");
    assert!((30..=40).contains(&denied), "{denied} denials answered as such");
    assert!(member.call("whoami", json!({})).await.get("result").is_some(), "allowed calls still pass");

    let filter = json!({"account_id": member.account_id, "event_type": "account_list", "limit": 1000});
    let rows = admin.ok("audit_list", filter).await["events"].as_array().unwrap().len();
    assert_eq!(rows, denied, "one row per denial answered, none for the rate-limited ones");
}

/// Calls without credentials to a method that needs them: 30 from one IP answer
/// `unauthenticated`, then `rate_limited`; another IP is still answered `unauthenticated`.
async fn unauthenticated_calls_are_limited_per_ip(backend: Backend) {
    let Some(server) = start_with(backend, refused_budget).await else { return };
    let batch: Vec<Value> =
        (0..100).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "token_list", "params": {}})).collect();
    let answers = reasons(&post_from(&server, "127.0.0.1", &[], &json!(batch)).await);
    let refused = count(&answers, "no_credentials");
    assert!((30..=32).contains(&refused), "{answers:?}");
    assert_eq!(refused + count(&answers, "rate_limited"), 100, "{answers:?}");
    let bad_token = [("authorization", "Bearer not-a-token")];
    let one = json!({"jsonrpc": "2.0", "id": 1, "method": "token_list"});
    assert_error(&post_from(&server, "127.0.0.1", &bad_token, &one).await, -32006, "rate_limited");
    assert_error(&post_from(&server, "127.0.0.2", &bad_token, &one).await, -32001, "invalid_credentials");
}

fn login(username: &str, password: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "account_login", "params": {"username": username, "password": password}})
}

/// Behind a trusted proxy (the test itself, on 127.0.0.1), with 5 failures per (IP,
/// username) and 10 per username from everywhere:
/// - a stranger's 5 wrong passwords lock that stranger out, not the admin elsewhere;
/// - strangers on 10 addresses spend the username's budget: an 11th address is refused
///   even with the right password, but the admin's usual address still gets in;
/// - the failed attempts are audited with the username tried and the stranger's address;
/// - from an untrusted peer (127.0.0.2) `X-Forwarded-For` is ignored: changing it does
///   not buy more guesses.
async fn strangers_cannot_lock_an_account_out(backend: Backend) {
    let tweak = |c: &mut Config| {
        refused_budget(c);
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.auth.login_limits.per_account = 10;
    };
    let Some(server) = start_with(backend, tweak).await else { return };
    let admin = server.admin().await;
    let via = |ip: &'static str| [("x-forwarded-for", ip)];
    let owner = via("198.51.100.1");
    let answer = post_from(&server, "127.0.0.1", &owner, &login(ADMIN, PASSWORD)).await;
    assert!(answer.get("result").is_some(), "{answer}");

    for _ in 0..5 {
        let answer = post_from(&server, "127.0.0.1", &via("203.0.113.7"), &login(ADMIN, "a wrong guess")).await;
        assert_error(&answer, -32001, "invalid_credentials");
    }
    let answer = post_from(&server, "127.0.0.1", &via("203.0.113.7"), &login(ADMIN, PASSWORD)).await;
    assert_error(&answer, -32006, "rate_limited");
    let answer = post_from(&server, "127.0.0.1", &via("192.0.2.50"), &login(ADMIN, PASSWORD)).await;
    assert!(answer.get("result").is_some(), "another address is not locked out: {answer}");

    for i in 1..=5 {
        let stranger = format!("203.0.113.{}", 100 + i);
        let answer = post_from(&server, "127.0.0.1", &[("x-forwarded-for", &stranger)], &login(ADMIN, "guess")).await;
        assert_error(&answer, -32001, "invalid_credentials");
    }
    let answer = post_from(&server, "127.0.0.1", &via("192.0.2.99"), &login(ADMIN, PASSWORD)).await;
    assert_error(&answer, -32006, "rate_limited");
    let answer = post_from(&server, "127.0.0.1", &owner, &login(ADMIN, PASSWORD)).await;
    assert!(answer.get("result").is_some(), "the owner's usual address gets in: {answer}");

    let filter = json!({"event_type": "account_login", "limit": 1000});
    let events = admin.ok("audit_list", filter).await["events"].as_array().unwrap().clone();
    let failed: Vec<&Value> = events.iter().filter(|e| e["outcome"] == "failure").collect();
    assert_eq!(failed.len(), 10, "{} rows", events.len());
    assert!(failed.iter().all(|e| e["data"]["username"] == ADMIN), "{:?}", failed[0]);
    assert!(failed.iter().any(|e| e["ip"] == "203.0.113.7"), "{:?}", failed[0]);

    for i in 0..6 {
        let forged = format!("192.0.2.{i}");
        let answer = post_from(&server, "127.0.0.2", &[("x-forwarded-for", &forged)], &login("ann", "guess")).await;
        let expected = if i < 5 { "invalid_credentials" } else { "rate_limited" };
        assert_eq!(answer["error"]["data"]["reason"], expected, "attempt {i}: {answer}");
    }
}
