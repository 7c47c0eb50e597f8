//! Identity (docs/protocol.md §4), part 2: signing in, the session cookie, sessions and their
//! sliding expiry, logout, password changes, the failed-login limits and login timing.

mod common;

use std::time::{Duration, Instant};

use common::identity::{ADMIN, Auth, Client, PASSWORD};
use common::{Backend, TestServer, assert_error, error_less_request_id, start, start_with};
use countersign::config::{Config, RateLimit};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    login_sets_an_httponly_strict_cookie_without_secure_over_http,
    login_cookie_is_secure_when_the_public_origin_is_https,
    login_returns_the_session_but_never_its_secret,
    wrong_password_and_unknown_user_fail_identically,
    whoami_shows_the_signed_in_account,
    session_list_marks_the_current_session,
    revoking_another_accounts_session_is_not_found,
    revoking_an_own_session_ends_it_and_closes_its_sockets,
    logout_ends_the_session_and_clears_the_cookie,
    logout_with_a_bearer_token_is_not_a_session,
    sessions_slide_forward_with_use_and_expire_when_idle,
    password_change_checks_the_current_password_and_the_new_length,
    password_change_ends_every_other_session_and_its_sockets,
    five_failures_lock_the_account_even_for_the_right_password,
    parallel_failures_never_exceed_the_account_limit,
    failures_per_ip_lock_every_username,
    successful_logins_do_not_count_against_the_limit,
);

/// Takes the action rate limit of the `login` class (burst 10) out of the way, so only
/// the failed-login limits under test can refuse a login.
fn roomy_login_class(config: &mut Config) {
    config.rate_limits.insert("login".into(), RateLimit { per_minute: 100_000, burst: 100_000 });
}

/// Calls `method` as `client` over POST: (response headers, JSON-RPC response).
async fn call_with_headers(client: &Client, method: &str, params: Value) -> (HeaderMap, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = client.http.post(format!("{}/rpc", client.base)).json(&body);
    match &client.auth {
        Auth::Anonymous => {}
        Auth::Cookie(cookie) => {
            request = request.header("cookie", cookie);
            if let Some(origin) = &client.origin {
                request = request.header("origin", origin);
            }
        }
        Auth::Bearer(secret) => request = request.bearer_auth(secret),
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

/// The `Set-Cookie` headers that concern the session cookie.
fn session_set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .filter(|v| v.starts_with("countersign_session="))
        .collect()
}

/// The attributes of a `Set-Cookie` value, lower-cased, e.g. `["httponly", "max-age=0"]`.
fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_lowercase()).collect()
}

fn max_age(set_cookie: &str) -> i64 {
    let attributes = attributes(set_cookie);
    let value = attributes.iter().find_map(|a| a.strip_prefix("max-age=")).unwrap_or_else(|| panic!("{set_cookie}"));
    value.parse().unwrap()
}

/// Logs in over a raw request: (headers, response). Does not panic on failure.
async fn login_raw(server: &TestServer, username: &str, password: &str) -> (HeaderMap, Value) {
    call_with_headers(&server.anonymous(), "account_login", json!({"username": username, "password": password})).await
}

/// An anonymous login attempt's response.
async fn try_login(server: &TestServer, username: &str, password: &str) -> Value {
    server.anonymous().call("account_login", json!({"username": username, "password": password})).await
}

/// The id of the session `client` is calling with.
async fn current_session_id(client: &Client) -> String {
    let list = client.ok("session_list", json!({})).await;
    let sessions = list["sessions"].as_array().unwrap_or_else(|| panic!("{list}"));
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one current session: {list}");
    current[0]["id"].as_str().unwrap().to_owned()
}

/// Waits for the server to close the socket and returns the close code. Text messages
/// before it (protocol §8 sends a `session_revoked` notification first) are skipped.
async fn close_code(ws: &mut common::WsClient) -> u16 {
    loop {
        match ws.next().await {
            Message::Close(Some(frame)) => return u16::from(frame.code),
            Message::Text(_) => continue,
            other => panic!("expected a Close frame, got {other:?}"),
        }
    }
}

/// The session cookie is `HttpOnly; SameSite=Strict`, with no `Secure` over plain http.
async fn login_sets_an_httponly_strict_cookie_without_secure_over_http(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    server.admin().await;
    let (headers, body) = login_raw(&server, ADMIN, PASSWORD).await;
    let cookies = session_set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "one session cookie: {cookies:?} {body}");
    let attributes = attributes(&cookies[0]);
    assert!(attributes.contains(&"httponly".to_owned()), "{cookies:?}");
    assert!(attributes.contains(&"samesite=strict".to_owned()), "{cookies:?}");
    assert!(!attributes.contains(&"secure".to_owned()), "no Secure over http: {cookies:?}");
    let ttl = i64::from(server.env.config.auth.session_ttl_hours) * 3600;
    assert!((ttl - 5..=ttl).contains(&max_age(&cookies[0])), "Max-Age is the session TTL: {cookies:?}");
}

/// With an https public origin the cookie is also `Secure`.
async fn login_cookie_is_secure_when_the_public_origin_is_https(backend: Backend) {
    let tweak = |c: &mut Config| c.server.public_origin = "https://cs.example".into();
    let Some(server) = start_with(backend, tweak).await else { return };
    let admin = server.admin().await;
    let (headers, body) = login_raw(&server, ADMIN, PASSWORD).await;
    let cookies = session_set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "{cookies:?} {body}");
    let attributes = attributes(&cookies[0]);
    for wanted in ["secure", "httponly", "samesite=strict"] {
        assert!(attributes.contains(&wanted.to_owned()), "{wanted}: {cookies:?}");
    }
    assert_eq!(admin.origin.as_deref(), Some("https://cs.example"));
    admin.ok("token_create", json!({"name": "origin matches"})).await;
}

/// The login result has the account and `session: {id, expires_at}`, and nowhere the
/// session secret.
async fn login_returns_the_session_but_never_its_secret(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    server.admin().await;
    let (headers, body) = login_raw(&server, ADMIN, PASSWORD).await;
    let result = body.get("result").unwrap_or_else(|| panic!("{body}"));
    assert_eq!(result["account"]["username"], ADMIN, "{body}");
    assert!(result["account"]["id"].is_string(), "{body}");
    let session = result["session"].as_object().unwrap_or_else(|| panic!("{body}"));
    let mut keys: Vec<&String> = session.keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["expires_at", "id"], "{body}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(session["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires_at > server.clock.now(), "{body}");
    let cookie = session_set_cookies(&headers).pop().unwrap_or_else(|| panic!("no cookie: {body}"));
    let secret = cookie.split(';').next().unwrap().trim_start_matches("countersign_session=");
    assert!(secret.len() >= 20, "{cookie}");
    assert!(!body.to_string().contains(secret), "the session secret is only in the cookie: {body}");
    assert!(!body.to_string().contains("argon2"), "{body}");
}

/// A wrong password and an unknown username are both `invalid_credentials`, with bodies
/// that are the same but for each request's own `data.request_id`.
async fn wrong_password_and_unknown_user_fail_identically(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    server.admin().await;
    let (wrong_headers, wrong) = login_raw(&server, ADMIN, "not the admin password").await;
    let (unknown_headers, unknown) = login_raw(&server, "nobody", "not the admin password").await;
    assert_error(&wrong, -32001, "invalid_credentials");
    assert_error(&unknown, -32001, "invalid_credentials");
    let less_id = |response: &Value| {
        let mut response = response.clone();
        response["error"] = error_less_request_id(&response);
        response
    };
    assert_eq!(less_id(&wrong), less_id(&unknown), "the two failures look the same");
    assert!(session_set_cookies(&wrong_headers).is_empty(), "a failed login sets no cookie");
    assert!(session_set_cookies(&unknown_headers).is_empty(), "a failed login sets no cookie");
}

/// `whoami` returns the caller's account and actor; a non-admin has no permissions.
async fn whoami_shows_the_signed_in_account(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let me = ann.ok("whoami", json!({})).await;
    assert_eq!(me["account"]["username"], "ann", "{me}");
    assert_eq!(me["account"]["id"].as_str(), ann.account_id.as_deref(), "{me}");
    assert!(me["actor_id"].is_string() && me["actor_id"] != me["account"]["id"], "{me}");
    assert_eq!(me["permits"], json!([]), "{me}");
    assert_eq!(me["permissions"], json!({}), "{me}");
    assert_error(&server.anonymous().call("whoami", json!({})).await, -32001, "no_credentials");
    let mut forged = ann.clone();
    forged.auth = Auth::Cookie("countersign_session=made-up-session-token-0000000000".into());
    assert_error(&forged.call("whoami", json!({})).await, -32001, "invalid_credentials");
}

/// `session_list` shows both of an account's sessions, `current` only on the caller's.
async fn session_list_marks_the_current_session(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let first = server.admin().await;
    let second = server.login(ADMIN, PASSWORD).await;
    let first_id = current_session_id(&first).await;
    let second_id = current_session_id(&second).await;
    assert_ne!(first_id, second_id);
    let list = first.ok("session_list", json!({})).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    for session in sessions {
        let expect_current = session["id"] == first_id.as_str();
        assert_eq!(session["current"], expect_current, "{list}");
        for field in ["created_at", "last_seen_at", "expires_at"] {
            assert!(session[field].is_string(), "{field}: {list}");
        }
    }
    assert!(sessions.iter().any(|s| s["id"] == second_id.as_str()), "{list}");
    let ann = server.account(&first, "ann").await;
    let list = ann.ok("session_list", json!({})).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "own sessions only: {list}");
}

/// Revoking another account's session is `not_found`, and that session keeps working.
async fn revoking_another_accounts_session_is_not_found(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let ann_session = current_session_id(&ann).await;
    let response = admin.call("session_revoke", json!({"session_id": ann_session})).await;
    assert_error(&response, -32003, "not_found");
    let unknown = admin.call("session_revoke", json!({"session_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(
        error_less_request_id(&response),
        error_less_request_id(&unknown),
        "indistinguishable from a session that never existed"
    );
    let me = ann.call("whoami", json!({})).await;
    assert!(me.get("result").is_some(), "ann's session still works: {me}");
}

/// Revoking one's own other session: its next call is `invalid_credentials`, its open
/// socket is closed with 4001, and the calling session keeps working.
async fn revoking_an_own_session_ends_it_and_closes_its_sockets(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let first = server.admin().await;
    let second = server.login(ADMIN, PASSWORD).await;
    let second_id = current_session_id(&second).await;
    let mut socket = second.ws().await.expect("the second session opens a socket");
    let response = first.ok("session_revoke", json!({"session_id": second_id})).await;
    assert_eq!(response, json!({"ok": true}));
    assert_eq!(close_code(&mut socket).await, 4001);
    assert_error(&second.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let me = first.call("whoami", json!({})).await;
    assert!(me.get("result").is_some(), "{me}");
    let list = first.ok("session_list", json!({})).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "the revoked session is gone: {list}");
    let again = first.call("session_revoke", json!({"session_id": second_id})).await;
    assert_error(&again, -32003, "not_found");
}

/// Logout answers `{ok: true}`, clears the cookie (`Max-Age=0`), closes the session's
/// sockets, and the old cookie fails afterwards.
async fn logout_ends_the_session_and_clears_the_cookie(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let other = server.login(ADMIN, PASSWORD).await;
    let mut socket = admin.ws().await.expect("a socket of the session");
    let (headers, body) = call_with_headers(&admin, "account_logout", json!({})).await;
    assert_eq!(body["result"], json!({"ok": true}), "{body}");
    let cookies = session_set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("countersign_session=;"), "the value is cleared: {cookies:?}");
    assert_eq!(max_age(&cookies[0]), 0, "{cookies:?}");
    assert_eq!(close_code(&mut socket).await, 4001);
    assert_error(&admin.call("whoami", json!({})).await, -32001, "invalid_credentials");
    assert_error(&admin.call("account_logout", json!({})).await, -32001, "invalid_credentials");
    let me = other.call("whoami", json!({})).await;
    assert!(me.get("result").is_some(), "the account's other session is untouched: {me}");
}

/// Logging out with an API token is `validation_error/not_a_session`; the token still works.
async fn logout_with_a_bearer_token_is_not_a_session(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let secret = admin.ok("token_create", json!({"name": "script"})).await["secret"].as_str().unwrap().to_owned();
    let bearer = admin.with_bearer(&secret);
    assert_error(&bearer.call("account_logout", json!({})).await, -32005, "not_a_session");
    assert!(bearer.call("whoami", json!({})).await.get("result").is_some());
    assert!(admin.call("whoami", json!({})).await.get("result").is_some());
}

/// With a 1-hour TTL: used after 50 minutes the session slides (and the cookie is
/// re-set), so it still works 100 minutes in; idle for 2 hours it is gone.
async fn sessions_slide_forward_with_use_and_expire_when_idle(backend: Backend) {
    let Some(server) = start_with(backend, |c| c.auth.session_ttl_hours = 1).await else { return };
    let admin = server.admin().await;
    let minutes = |n: u64| Duration::from_secs(n * 60);

    server.clock.advance(minutes(50));
    let (headers, body) = call_with_headers(&admin, "whoami", json!({})).await;
    assert!(body.get("result").is_some(), "50 minutes in: {body}");
    let cookies = session_set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "the renewing call re-sets the cookie: {cookies:?}");
    assert!(cookies[0].starts_with(&format!("{};", cookie_of(&admin))), "the same session: {cookies:?}");
    assert!((3595..=3600).contains(&max_age(&cookies[0])), "a full hour again: {cookies:?}");
    let renewed = attributes(&cookies[0]);
    assert!(renewed.contains(&"httponly".into()) && renewed.contains(&"samesite=strict".into()), "{cookies:?}");
    let listed = admin.ok("session_list", json!({})).await;
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(listed["sessions"][0]["expires_at"].as_str().unwrap()).unwrap();
    let left = expires_at.with_timezone(&chrono::Utc) - server.clock.now();
    assert!(left > chrono::Duration::minutes(59), "expires_at slid forward: {listed}");

    server.clock.advance(minutes(50));
    let me = admin.call("whoami", json!({})).await;
    assert!(me.get("result").is_some(), "100 minutes in, 50 after last use: {me}");

    server.clock.advance(minutes(120));
    assert_error(&admin.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let (headers, _) = call_with_headers(&admin, "whoami", json!({})).await;
    assert!(
        session_set_cookies(&headers).iter().all(|c| max_age(c) == 0),
        "an expired session is never renewed: {headers:?}"
    );
}

fn cookie_of(client: &Client) -> String {
    match &client.auth {
        Auth::Cookie(cookie) => cookie.clone(),
        other => panic!("not a cookie client: {other:?}"),
    }
}

/// A wrong current password is `forbidden/wrong_password`; a short new one is
/// `validation_error/password_too_short`; neither changes the password.
async fn password_change_checks_the_current_password_and_the_new_length(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let new = "a brand new passphrase";
    let response =
        ann.call("account_password_change", json!({"current_password": "not my password", "new_password": new})).await;
    assert_error(&response, -32002, "wrong_password");
    let response =
        ann.call("account_password_change", json!({"current_password": PASSWORD, "new_password": "short"})).await;
    assert_error(&response, -32005, "password_too_short");
    assert_eq!(response["error"]["data"]["min_length"], 12, "{response}");
    assert_error(&try_login(&server, "ann", new).await, -32001, "invalid_credentials");
    server.login("ann", PASSWORD).await;
    assert!(ann.call("whoami", json!({})).await.get("result").is_some(), "the session survives");
}

/// A successful change: the old password stops working, the new one works, every other
/// session of the account ends (and its socket closes with 4001), the caller's stays.
async fn password_change_ends_every_other_session_and_its_sockets(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let ann_elsewhere = server.login("ann", PASSWORD).await;
    let ann_token = ann.ok("token_create", json!({"name": "kept"})).await["secret"].as_str().unwrap().to_owned();
    let mut socket = ann_elsewhere.ws().await.expect("the other session opens a socket");
    let opened = socket.call(1, "whoami", json!({})).await;
    assert!(opened.get("result").is_some(), "{opened}");

    let new = "a brand new passphrase";
    let response =
        ann.call("account_password_change", json!({"current_password": PASSWORD, "new_password": new})).await;
    assert_eq!(response["result"], json!({"ok": true}), "{response}");

    assert_eq!(close_code(&mut socket).await, 4001, "the other session's socket closes");
    assert_error(&ann_elsewhere.call("whoami", json!({})).await, -32001, "invalid_credentials");
    let me = ann.call("whoami", json!({})).await;
    assert!(me.get("result").is_some(), "the calling session stays: {me}");
    let list = ann.ok("session_list", json!({})).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");
    assert!(admin.call("whoami", json!({})).await.get("result").is_some(), "other accounts are untouched");
    assert!(ann.with_bearer(&ann_token).call("whoami", json!({})).await.get("result").is_some(), "tokens stay");

    assert_error(&try_login(&server, "ann", PASSWORD).await, -32001, "invalid_credentials");
    server.login("ann", new).await;
}

/// Five failed logins for one username: the sixth attempt, even with the right password
/// (and in any letter case), is `rate_limited` with `retry_after_s`; other usernames from
/// the same IP still sign in; after the 15-minute window the right password works.
async fn five_failures_lock_the_account_even_for_the_right_password(backend: Backend) {
    let Some(server) = start_with(backend, roomy_login_class).await else { return };
    let admin = server.admin().await;
    for username in ["ann", "bob"] {
        admin.ok("account_create", json!({"username": username, "password": PASSWORD})).await;
    }
    for attempt in 1..=5 {
        let response = try_login(&server, "ann", &format!("wrong guess number {attempt}")).await;
        assert_eq!(response["error"]["data"]["reason"], "invalid_credentials", "attempt {attempt}: {response}");
    }
    let (headers, limited) = login_raw(&server, "ann", PASSWORD).await;
    assert_error(&limited, -32006, "rate_limited");
    let retry = limited["error"]["data"]["retry_after_s"].as_u64().unwrap_or_else(|| panic!("{limited}"));
    assert!((1..=901).contains(&retry), "retry_after_s within the window: {limited}");
    assert!(session_set_cookies(&headers).is_empty(), "no session for a limited login");
    assert_error(&try_login(&server, "ANN", PASSWORD).await, -32006, "rate_limited");

    let bob = server.login("bob", PASSWORD).await;
    assert!(bob.call("whoami", json!({})).await.get("result").is_some());

    server.clock.advance(Duration::from_secs(15 * 60 + 1));
    let ann = server.login("ann", PASSWORD).await;
    assert!(ann.call("whoami", json!({})).await.get("result").is_some());
}

/// Twelve wrong guesses for one username sent at once: at most five are checked (answered
/// `invalid_credentials`), the rest are `rate_limited`, and so is the right password after.
/// (Each attempt counts from the moment it is let through, not once its slow password
/// check has failed.)
async fn parallel_failures_never_exceed_the_account_limit(backend: Backend) {
    let Some(server) = start_with(backend, roomy_login_class).await else { return };
    let admin = server.admin().await;
    admin.ok("account_create", json!({"username": "ann", "password": PASSWORD})).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(12));
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let (client, barrier) = (server.anonymous(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let params = json!({"username": "ann", "password": format!("parallel guess {i}")});
                client.call("account_login", params).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for guess in guesses {
        answers.push(guess.await.unwrap());
    }
    let reasons: Vec<&str> = answers.iter().map(|a| a["error"]["data"]["reason"].as_str().unwrap()).collect();
    let checked = reasons.iter().filter(|r| **r == "invalid_credentials").count();
    assert!(reasons.iter().all(|r| *r == "invalid_credentials" || *r == "rate_limited"), "{answers:?}");
    assert!(checked <= 5, "{checked} of 12 parallel guesses were checked, the limit is 5: {reasons:?}");
    assert_error(&try_login(&server, "ann", PASSWORD).await, -32006, "rate_limited");
}

/// With `per_ip = 3`, three failures across different usernames lock every username from
/// that IP, including a right password for an existing account.
async fn failures_per_ip_lock_every_username(backend: Backend) {
    let tweak = |c: &mut Config| {
        roomy_login_class(c);
        c.auth.login_limits.per_ip = 3;
        c.auth.login_limits.per_account = 100;
    };
    let Some(server) = start_with(backend, tweak).await else { return };
    let admin = server.admin().await;
    admin.ok("account_create", json!({"username": "ann", "password": PASSWORD})).await;
    for username in ["ann", "nobody", "someone-else"] {
        assert_error(&try_login(&server, username, "not the password").await, -32001, "invalid_credentials");
    }
    for username in [ADMIN, "ann", "fresh-name"] {
        let response = try_login(&server, username, PASSWORD).await;
        assert_error(&response, -32006, "rate_limited");
        assert!(response["error"]["data"]["retry_after_s"].as_u64().is_some_and(|s| s > 0), "{response}");
    }
    server.clock.advance(Duration::from_secs(15 * 60 + 1));
    server.login("ann", PASSWORD).await;
}

/// Successes never count: ten right logins in a row pass with `per_account = 5`.
async fn successful_logins_do_not_count_against_the_limit(backend: Backend) {
    let tweak = |c: &mut Config| {
        roomy_login_class(c);
        c.auth.login_limits.per_ip = 5;
        c.auth.login_limits.per_account = 5;
    };
    let Some(server) = start_with(backend, tweak).await else { return };
    server.admin().await;
    for attempt in 1..=10 {
        let response = try_login(&server, ADMIN, PASSWORD).await;
        assert!(response.get("result").is_some(), "login {attempt}: {response}");
    }
    // Four failures leave one attempt; the right password still gets in.
    for _ in 0..4 {
        assert_error(&try_login(&server, ADMIN, "not the password").await, -32001, "invalid_credentials");
    }
    assert!(try_login(&server, ADMIN, PASSWORD).await.get("result").is_some());
}

/// Unknown-user logins cost about what wrong-password logins cost (the dummy hash is
/// verified): the medians of 15 alternating attempts each are within a factor of 2.
/// SQLite only: this measures password hashing, not storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_logins_take_as_long_as_wrong_passwords() {
    let tweak = |c: &mut Config| {
        roomy_login_class(c);
        c.auth.login_limits.per_ip = 10_000;
        c.auth.login_limits.per_ip_and_account = 10_000;
        c.auth.login_limits.per_account = 10_000;
    };
    let server = start_with(Backend::Sqlite, tweak).await.expect("SQLite is always available");
    server.admin().await;
    // Warm up both paths (connection pool, the dummy hash computed once).
    try_login(&server, ADMIN, "warm-up wrong password").await;
    try_login(&server, "warm-up-nobody", "warm-up wrong password").await;
    let mut wrong_password = Vec::new();
    let mut unknown_user = Vec::new();
    for i in 0..15 {
        let started = Instant::now();
        let response = try_login(&server, ADMIN, &format!("wrong password {i}")).await;
        wrong_password.push(started.elapsed());
        assert_error(&response, -32001, "invalid_credentials");
        let started = Instant::now();
        let response = try_login(&server, &format!("nobody-{i}"), &format!("wrong password {i}")).await;
        unknown_user.push(started.elapsed());
        assert_error(&response, -32001, "invalid_credentials");
    }
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (wrong, unknown) = (median(wrong_password), median(unknown_user));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "median unknown-user login {unknown:?} vs wrong-password login {wrong:?} (ratio {ratio:.2})"
    );
    assert!(unknown >= Duration::from_millis(5), "an unknown user costs a real hash: {unknown:?}");
}
