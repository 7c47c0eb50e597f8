//! Identity (docs/protocol.md §4), part 1: bootstrap, accounts, sign-up, CSRF, the check order of
//! §2 for identity methods, and secrets kept out of the logs. Sessions, logins, login
//! limits and password changes are in `identity_sessions.rs`.

mod common;

use common::identity::{ADMIN, Auth, Client, PASSWORD};
use common::{Backend, TestServer, assert_error, captured_logs, start, start_with};
use countersign::config::Signup;
use countersign::on_conn;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

backend_tests!(
    bootstrap_needs_the_right_token_and_runs_once,
    bootstrap_creates_a_global_admin,
    parallel_bootstraps_create_exactly_one_admin,
    bootstrap_applies_the_username_rules_of_account_create,
    only_admins_create_accounts,
    usernames_are_unique_ignoring_case,
    short_passwords_are_refused_and_create_nothing,
    malformed_account_params_are_invalid_params_with_paths,
    signup_is_closed_by_default,
    signup_works_when_open,
    account_list_pages_in_creation_order,
    cookie_mutations_from_a_foreign_or_missing_origin_are_csrf,
    bearer_mutations_need_no_origin,
    cookie_reads_need_no_origin,
    cookie_websocket_from_a_foreign_origin_is_refused,
    authentication_and_authorization_come_before_validation,
    secrets_never_reach_the_logs,
);

/// How many accounts the database holds, read directly (no API involved).
async fn account_count(server: &TestServer) -> i64 {
    let mut conn = server.env.db.read().await.unwrap();
    on_conn!(conn.conn(), c => sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&mut *c).await).unwrap()
}

/// The usernames `account_list` shows on its first page (up to 500).
async fn usernames(admin: &Client) -> Vec<String> {
    let page = admin.ok("account_list", json!({"limit": 500})).await;
    page["accounts"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap().to_owned()).collect()
}

/// The value of a cookie client's session cookie (the part after `countersign_session=`).
fn cookie_value(client: &Client) -> String {
    match &client.auth {
        Auth::Cookie(cookie) => cookie.strip_prefix("countersign_session=").expect("a session cookie").to_owned(),
        other => panic!("not a cookie client: {other:?}"),
    }
}

/// A wrong token is forbidden and creates nothing (the right one still works afterwards);
/// success removes the token file, and a second bootstrap is a conflict.
async fn bootstrap_needs_the_right_token_and_runs_once(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let path = server.env.config.auth.bootstrap_token_file.clone().unwrap();
    assert!(path.exists(), "the first start writes the bootstrap token file");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the token file is private: {mode:o}");
    let token = server.bootstrap_token();
    assert!(!token.is_empty());
    let anonymous = server.anonymous();

    let wrong = anonymous
        .call("account_bootstrap", json!({"token": format!("{token}x"), "username": "mallory", "password": PASSWORD}))
        .await;
    assert_error(&wrong, -32002, "invalid_bootstrap_token");
    assert_eq!(account_count(&server).await, 0, "a wrong token creates no account: {wrong}");
    assert!(path.exists(), "a wrong token leaves the token file in place");
    let login = anonymous.call("account_login", json!({"username": "mallory", "password": PASSWORD})).await;
    assert_error(&login, -32001, "invalid_credentials");

    let short =
        anonymous.call("account_bootstrap", json!({"token": token, "username": ADMIN, "password": "too short"})).await;
    assert_error(&short, -32005, "password_too_short");
    assert_eq!(account_count(&server).await, 0, "{short}");
    assert!(path.exists(), "a failed bootstrap does not use up the token");

    let right =
        anonymous.call("account_bootstrap", json!({"token": token, "username": ADMIN, "password": PASSWORD})).await;
    assert_eq!(right["result"]["account"]["username"], ADMIN, "the right token still works: {right}");
    assert!(!path.exists(), "a used token's file is removed");
    assert_eq!(account_count(&server).await, 1);

    let again =
        anonymous.call("account_bootstrap", json!({"token": token, "username": "second", "password": PASSWORD})).await;
    assert_error(&again, -32004, "already_bootstrapped");
    assert_eq!(account_count(&server).await, 1, "a second bootstrap creates nothing: {again}");
}

/// The bootstrapped account holds the global `admin` role: `{"*": ["*"]}`.
async fn bootstrap_creates_a_global_admin(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let me = admin.ok("whoami", json!({})).await;
    assert_eq!(me["account"]["username"], ADMIN, "{me}");
    assert_eq!(me["permissions"], json!({"*": ["*"]}), "{me}");
    let permits = me["permits"].as_array().unwrap_or_else(|| panic!("permits is a list: {me}"));
    assert!(
        permits.iter().any(|p| p["role"] == "admin" && p["scope_id"].is_null() && p["revoked_at"].is_null()),
        "a global admin permit: {me}"
    );
    assert!(me["actor_id"].is_string(), "{me}");
}

/// Two bootstraps racing with the right token: exactly one wins, the other is told
/// `already_bootstrapped`, and exactly one account exists. Three rounds, fresh servers.
async fn parallel_bootstraps_create_exactly_one_admin(backend: Backend) {
    for round in 0..3 {
        let Some(server) = start(backend).await else { return };
        let token = server.bootstrap_token();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = ["first", "second"]
            .into_iter()
            .map(|username| {
                let (client, token, barrier) = (server.anonymous(), token.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let params = json!({"token": token, "username": username, "password": PASSWORD});
                    (username, client.call("account_bootstrap", params).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut losers = Vec::new();
        for task in tasks {
            let (username, response) = task.await.unwrap();
            if response.get("result").is_some() { winners.push(username) } else { losers.push(response) }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one bootstrap succeeds: {winners:?} {losers:?}");
        for loser in &losers {
            assert_error(loser, -32004, "already_bootstrapped");
        }
        assert_eq!(account_count(&server).await, 1, "round {round}");
        let admin = server.login(winners[0], PASSWORD).await;
        assert_eq!(usernames(&admin).await, vec![winners[0].to_owned()], "round {round}");
    }
}

/// The first admin's username obeys the same rule as every other account's: characters
/// `account_create` refuses are refused by `account_bootstrap` too (`invalid_params` at
/// `/username`), and the token is not used up.
async fn bootstrap_applies_the_username_rules_of_account_create(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let token = server.bootstrap_token();
    let anonymous = server.anonymous();
    for bad in ["bad name!", "semi;colon", "ünïcode"] {
        let response =
            anonymous.call("account_bootstrap", json!({"token": token, "username": bad, "password": PASSWORD})).await;
        assert_error(&response, -32602, "schema");
        let issues = &response["error"]["data"]["issues"];
        assert!(issues.as_array().unwrap().iter().all(|i| i["path"] == "/username"), "username {bad:?}: {response}");
    }
    assert_eq!(account_count(&server).await, 0);
    let right =
        anonymous.call("account_bootstrap", json!({"token": token, "username": ADMIN, "password": PASSWORD})).await;
    assert!(right.get("result").is_some(), "{right}");
}

/// `account_create` is for admins: a signed-in non-admin is forbidden, anonymous is 401.
async fn only_admins_create_accounts(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let created =
        admin.ok("account_create", json!({"username": "ann", "password": PASSWORD, "email": "ann@x.io"})).await;
    assert_eq!(created["account"]["username"], "ann", "{created}");
    assert_eq!(created["account"]["email"], "ann@x.io", "{created}");
    assert!(created["account"].get("password_hash").is_none() && !created.to_string().contains("argon2"), "{created}");

    let ann = server.login("ann", PASSWORD).await;
    let response = ann.call("account_create", json!({"username": "bob", "password": PASSWORD})).await;
    assert_error(&response, -32002, "not_permitted");
    let response = server.anonymous().call("account_create", json!({"username": "bob", "password": PASSWORD})).await;
    assert_error(&response, -32001, "no_credentials");
    assert_eq!(usernames(&admin).await, vec!["admin", "ann"], "no bob was created");
}

/// "Bob" then "bob" (or "BOB"): the second is `conflict/username_taken`.
async fn usernames_are_unique_ignoring_case(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    admin.ok("account_create", json!({"username": "Bob", "password": PASSWORD})).await;
    for variant in ["bob", "BOB", "Bob"] {
        let response = admin.call("account_create", json!({"username": variant, "password": PASSWORD})).await;
        assert_error(&response, -32004, "username_taken");
    }
    let response = admin.call("account_create", json!({"username": "ADMIN", "password": PASSWORD})).await;
    assert_error(&response, -32004, "username_taken");
    assert_eq!(usernames(&admin).await, vec!["admin", "Bob"]);
}

/// A password under 12 characters is `validation_error/password_too_short` with
/// `data.min_length = 12`, and no account is created; exactly 12 is enough.
async fn short_passwords_are_refused_and_create_nothing(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let response = admin.call("account_create", json!({"username": "shorty", "password": "elevenchars"})).await;
    assert_error(&response, -32005, "password_too_short");
    assert_eq!(response["error"]["data"]["min_length"], 12, "{response}");
    assert_eq!(usernames(&admin).await, vec!["admin"], "nothing created: {response}");
    let login =
        server.anonymous().call("account_login", json!({"username": "shorty", "password": "elevenchars"})).await;
    assert_error(&login, -32001, "invalid_credentials");

    let response = admin.call("account_create", json!({"username": "shorty", "password": "twelve chars"})).await;
    assert!(response.get("result").is_some(), "12 characters are enough: {response}");
}

/// Bad username characters, missing or unknown fields: `invalid_params` with JSON-pointer
/// paths in `data.issues`.
async fn malformed_account_params_are_invalid_params_with_paths(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let paths = |response: &Value| -> Vec<String> {
        assert_error(response, -32602, "schema");
        let issues = response["error"]["data"]["issues"].as_array().unwrap_or_else(|| panic!("issues: {response}"));
        let mut paths: Vec<String> = issues.iter().map(|i| i["path"].as_str().unwrap().to_owned()).collect();
        paths.dedup();
        paths
    };
    for bad in ["has space", "semi;colon", "slash/name", "", "ünïcode"] {
        let response = admin.call("account_create", json!({"username": bad, "password": PASSWORD})).await;
        assert_eq!(paths(&response), vec!["/username"], "username {bad:?}: {response}");
    }
    let response = admin.call("account_create", json!({})).await;
    assert_eq!(paths(&response), vec!["/password", "/username"], "{response}");
    let response = admin.call("account_create", json!({"username": "ann"})).await;
    assert_eq!(paths(&response), vec!["/password"], "{response}");
    let response =
        admin.call("account_create", json!({"username": "ann", "password": PASSWORD, "role": "admin"})).await;
    assert_eq!(paths(&response), vec!["/role"], "{response}");
    let response = admin.call("account_create", json!({"username": "ann", "password": 123456789012_i64})).await;
    assert_eq!(paths(&response), vec!["/password"], "{response}");
    assert_eq!(usernames(&admin).await, vec!["admin"], "nothing was created");
}

/// With the default config, `account_signup` is `forbidden/signup_closed`.
async fn signup_is_closed_by_default(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let response = server.anonymous().call("account_signup", json!({"username": "eve", "password": PASSWORD})).await;
    assert_error(&response, -32002, "signup_closed");
    assert_eq!(usernames(&admin).await, vec!["admin"], "{response}");
}

/// With `auth.signup = open`, anyone signs up, gets no permissions, and can sign in.
async fn signup_works_when_open(backend: Backend) {
    let Some(server) = start_with(backend, |c| c.auth.signup = Signup::Open).await else { return };
    let admin = server.admin().await;
    let response = server.anonymous().call("account_signup", json!({"username": "eve", "password": PASSWORD})).await;
    assert_eq!(response["result"]["account"]["username"], "eve", "{response}");
    let eve = server.login("eve", PASSWORD).await;
    let me = eve.ok("whoami", json!({})).await;
    assert_eq!(me["permissions"], json!({}), "a signed-up account is not an admin: {me}");
    assert_eq!(me["permits"], json!([]), "{me}");
    let again = server.anonymous().call("account_signup", json!({"username": "EVE", "password": PASSWORD})).await;
    assert_error(&again, -32004, "username_taken");
    let short = server.anonymous().call("account_signup", json!({"username": "tim", "password": "short"})).await;
    assert_error(&short, -32005, "password_too_short");
    assert_eq!(usernames(&admin).await, vec!["admin", "eve"]);
}

/// `account_list` with `limit: 2` pages through every account once, in creation order,
/// until `next_cursor` is null.
async fn account_list_pages_in_creation_order(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let mut expected = vec![ADMIN.to_owned()];
    for i in 0..5 {
        let username = format!("user{i}");
        admin.ok("account_create", json!({"username": username, "password": PASSWORD})).await;
        expected.push(username);
    }
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..10 {
        let mut params = json!({"limit": 2});
        if !cursor.is_null() {
            params["cursor"] = cursor.clone();
        }
        let page = admin.ok("account_list", params).await;
        let accounts = page["accounts"].as_array().unwrap_or_else(|| panic!("{page}"));
        assert!(accounts.len() <= 2, "{page}");
        seen.extend(accounts.iter().map(|a| a["username"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert!(cursor.is_null(), "next_cursor ends at null");
    assert_eq!(seen, expected, "every account once, in creation order");
}

/// A cookie-authenticated mutation whose Origin is foreign, a look-alike, or missing is
/// `forbidden/csrf` and changes nothing.
async fn cookie_mutations_from_a_foreign_or_missing_origin_are_csrf(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let public_origin = server.env.config.server.public_origin.clone();
    let origins = [Some("https://evil.example".to_owned()), Some(format!("{public_origin}.evil.example")), None];
    for origin in origins {
        let mut forged = admin.clone();
        forged.origin = origin.clone();
        let response = forged.call("token_create", json!({"name": "stolen"})).await;
        assert_error(&response, -32002, "csrf");
        let response = forged.call("account_logout", json!({})).await;
        assert_error(&response, -32002, "csrf");
        let response = forged.call("account_create", json!({"username": "planted", "password": PASSWORD})).await;
        assert_error(&response, -32002, "csrf");
        assert_eq!(admin.ok("token_list", json!({})).await["tokens"], json!([]), "origin {origin:?}");
    }
    assert_eq!(usernames(&admin).await, vec!["admin"]);
    let me = admin.call("whoami", json!({})).await;
    assert!(me.get("result").is_some(), "the refused logouts did not end the session: {me}");
    let created = admin.ok("token_create", json!({"name": "real"})).await;
    assert!(created["secret"].is_string(), "the right Origin works: {created}");
}

/// The same mutation with a bearer token and no Origin works: tokens are never sent by a
/// browser on its own.
async fn bearer_mutations_need_no_origin(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let secret = admin.ok("token_create", json!({"name": "script"})).await["secret"].as_str().unwrap().to_owned();
    let mut bearer = admin.with_bearer(&secret);
    bearer.origin = None;
    let created = bearer.ok("token_create", json!({"name": "from a script"})).await;
    assert!(created["secret"].is_string(), "{created}");
    bearer.origin = Some("https://evil.example".into());
    bearer.ok("account_create", json!({"username": "ann", "password": PASSWORD})).await;
    let names: Vec<Value> = admin.ok("token_list", json!({})).await["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// Cookie-authenticated reads (POST or GET) need no Origin.
async fn cookie_reads_need_no_origin(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let mut admin = server.admin().await;
    admin.origin = None;
    let me = admin.ok("whoami", json!({})).await;
    assert_eq!(me["account"]["username"], ADMIN, "{me}");
    let (status, _, body) = admin.get("/rpc/whoami").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["account"]["username"], ADMIN, "{body}");
    admin.origin = Some("https://evil.example".into());
    let (status, _, body) = admin.get("/rpc/session_list?id=3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 3, "{body}");
}

/// A cookie WebSocket upgrade with a foreign Origin is refused with HTTP 403; with our
/// Origin it opens.
async fn cookie_websocket_from_a_foreign_origin_is_refused(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let mut foreign = admin.clone();
    foreign.origin = Some("https://evil.example".into());
    match foreign.ws().await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 403, "{response:?}"),
        Err(other) => panic!("expected HTTP 403 from the handshake, got {other:?}"),
        Ok(_) => panic!("a cookie WebSocket from a foreign Origin was accepted"),
    }
    let mut ws = admin.ws().await.expect("our own Origin opens the socket");
    let me = ws.call(1, "whoami", json!({})).await;
    assert_eq!(me["result"]["account"]["username"], ADMIN, "{me}");
}

/// protocol §2: authentication (401) and authorization (403) come before validation (400), so
/// a caller without the right learns nothing from its params.
async fn authentication_and_authorization_come_before_validation(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let anonymous = server.anonymous();
    let response = anonymous.call("whoami", json!({"bogus": 1})).await;
    assert_error(&response, -32001, "no_credentials");
    let (status, _, body) = anonymous.get("/rpc/whoami?params=%7B%22bogus%22%3A1%7D").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], -32001, "{body}");
    let response = anonymous.call("account_create", json!({"username": "bad name!"})).await;
    assert_error(&response, -32001, "no_credentials");
    let response = anonymous.with_bearer("cst_not_a_real_token").call("whoami", json!({"bogus": 1})).await;
    assert_error(&response, -32001, "invalid_credentials");

    admin.ok("account_create", json!({"username": "ann", "password": PASSWORD})).await;
    let ann = server.login("ann", PASSWORD).await;
    let response = ann.call("account_create", json!({"username": "bad name!", "password": 1})).await;
    assert_error(&response, -32002, "not_permitted");
    let response = ann.call("account_list", json!({"limit": "lots"})).await;
    assert_error(&response, -32002, "not_permitted");
    let (status, _, body) = ann.get("/rpc/account_list?params=%7B%22limit%22%3A%22lots%22%7D").await;
    assert_eq!(status, 403, "{body}");
    // With the right to call, the same params are a 400.
    let (status, _, body) = admin.get("/rpc/account_list?params=%7B%22limit%22%3A%22lots%22%7D").await;
    assert_eq!(status, 400, "{body}");
}

/// Passwords, API token secrets and session cookies never appear in the log output
/// (the bootstrap token is printed by design and is not checked).
async fn secrets_never_reach_the_logs(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let tag = format!("{backend:?}").to_lowercase();
    let admin = server.admin().await;
    let first = format!("{tag}-first-passphrase-7Qz");
    let second = format!("{tag}-second-passphrase-9Wx");
    let wrong = format!("{tag}-wrong-guess-passphrase-3Kd");
    let too_short = format!("Zq8-{}x", &tag[..4]);
    admin.ok("account_create", json!({"username": "ann", "password": first})).await;
    let response = server.anonymous().call("account_login", json!({"username": "ann", "password": wrong})).await;
    assert_error(&response, -32001, "invalid_credentials");
    let ann = server.login("ann", &first).await;
    let response =
        ann.call("account_password_change", json!({"current_password": first, "new_password": too_short})).await;
    assert_error(&response, -32005, "password_too_short");
    ann.ok("account_password_change", json!({"current_password": first, "new_password": second})).await;
    let ann = server.login("ann", &second).await;
    let secret = ann.ok("token_create", json!({"name": "logged?"})).await["secret"].as_str().unwrap().to_owned();
    ann.with_bearer(&secret).ok("whoami", json!({})).await;
    let (status, _, _) = ann.with_bearer(&secret).get("/rpc/token_list").await;
    assert_eq!(status, 200);
    ann.ok("account_logout", json!({})).await;
    let admin_cookie = cookie_value(&admin);
    let ann_cookie = cookie_value(&ann);

    let logs = captured_logs();
    assert!(logs.contains("account_login") && logs.contains("token_create"), "the calls were logged at all");
    for (what, secret) in [
        ("the shared test password", PASSWORD),
        ("ann's first password", first.as_str()),
        ("ann's second password", second.as_str()),
        ("a wrong password", wrong.as_str()),
        ("a refused short password", too_short.as_str()),
        ("the API token secret", secret.as_str()),
        ("the admin's session cookie", admin_cookie.as_str()),
        ("ann's session cookie", ann_cookie.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}
