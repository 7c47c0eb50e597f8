//! Inputs an attacker or a careless client sends that the contract has an answer for
//! (docs/protocol.md §2.2, §4.2):
//!
//! - a login from another site's page (login CSRF) is `forbidden/csrf`;
//! - `account_login` over a WebSocket is `invalid_request/http_only` (the session secret
//!   travels only in a cookie) and creates no session;
//! - an expiry past year 9999 is `invalid_params` and changes nothing; an accepted expiry
//!   is answered as stored (UTC, to the microsecond), the same as later reads show it;
//! - the `Bearer` scheme is case-insensitive;
//! - two `Origin` headers on a cookie mutation are `forbidden/csrf`, whatever they say.

mod common;

use common::identity::{ADMIN, Auth, Client, PASSWORD};
use common::{Backend, assert_error, start};
use serde_json::{Value, json};

backend_tests!(
    a_login_from_another_site_is_refused,
    account_login_over_a_websocket_is_refused_and_creates_no_session,
    expiries_past_year_9999_are_refused_and_accepted_ones_are_answered_as_stored,
    the_bearer_scheme_is_case_insensitive,
    two_origin_headers_are_never_ours,
);

fn login(password: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "account_login", "params": {"username": ADMIN, "password": password}})
}

/// POSTs `body` with the given extra headers; the parsed answer.
async fn post_with(client: &Client, headers: &[(&str, &str)], body: &Value) -> Value {
    let mut request = client.http.post(format!("{}/rpc", client.base)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn session_count(admin: &Client) -> usize {
    admin.ok("session_list", json!({})).await["sessions"].as_array().unwrap().len()
}

async fn a_login_from_another_site_is_refused(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let before = session_count(&admin).await;
    let anonymous = server.anonymous();
    let answer = post_with(&anonymous, &[("origin", "https://evil.example")], &login(PASSWORD)).await;
    assert_error(&answer, -32002, "csrf");
    assert_eq!(session_count(&admin).await, before, "no session was created");
    let ours = server.env.config.server.public_origin.clone();
    assert!(post_with(&anonymous, &[("origin", &ours)], &login(PASSWORD)).await.get("result").is_some());
    assert!(post_with(&anonymous, &[], &login(PASSWORD)).await.get("result").is_some(), "scripts send no Origin");
}

async fn account_login_over_a_websocket_is_refused_and_creates_no_session(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let before = session_count(&admin).await;
    let mut ws = server.ws().await;
    let answer = ws.call(1, "account_login", json!({"username": ADMIN, "password": PASSWORD})).await;
    assert_error(&answer, -32600, "http_only");
    assert_eq!(session_count(&admin).await, before);
}

async fn expiries_past_year_9999_are_refused_and_accepted_ones_are_answered_as_stored(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let ann_id = ann.account_id.clone().unwrap();
    let far = "+10000-01-01T00:00:00Z";
    let attempts = [
        ("permit_grant", json!({"to_account_id": ann_id, "role": "approver", "expires_at": far})),
        ("permit_offer_create", json!({"to_account_id": ann_id, "role": "approver", "expires_at": far})),
        ("token_create", json!({"name": "far", "expires_at": far})),
    ];
    for (method, params) in attempts {
        let answer = admin.call(method, params).await;
        assert_error(&answer, -32602, "schema");
        assert_eq!(answer["error"]["data"]["issues"][0]["path"], "/expires_at", "{answer}");
    }
    let listed = admin.ok("permit_list", json!({"account_id": ann_id})).await;
    assert_eq!(listed["permits"], json!([]), "nothing was granted");
    assert_eq!(admin.ok("token_list", json!({})).await["tokens"], json!([]), "no token was made");

    let precise = "2031-01-01T02:00:00.123456789+02:00";
    let granted =
        admin.ok("permit_grant", json!({"to_account_id": ann_id, "role": "approver", "expires_at": precise})).await;
    assert_eq!(granted["permit"]["expires_at"], "2031-01-01T00:00:00.123456Z");
    let listed = admin.ok("permit_list", json!({"account_id": ann_id})).await;
    assert_eq!(listed["permits"][0]["expires_at"], granted["permit"]["expires_at"]);
    let token = admin.ok("token_create", json!({"name": "precise", "expires_at": precise})).await;
    let listed = admin.ok("token_list", json!({})).await;
    assert_eq!(listed["tokens"][0]["expires_at"], token["token"]["expires_at"]);
    assert_eq!(token["token"]["expires_at"], "2031-01-01T00:00:00.123456Z");
}

async fn the_bearer_scheme_is_case_insensitive(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let secret = admin.ok("token_create", json!({"name": "s"})).await["secret"].as_str().unwrap().to_owned();
    let whoami = json!({"jsonrpc": "2.0", "id": 1, "method": "whoami"});
    for scheme in ["BEARER", "bearer", "Bearer"] {
        let answer = post_with(&server.anonymous(), &[("authorization", &format!("{scheme} {secret}"))], &whoami).await;
        assert_eq!(answer["result"]["account"]["username"], ADMIN, "{scheme}: {answer}");
    }
}

async fn two_origin_headers_are_never_ours(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let Auth::Cookie(cookie) = &admin.auth else { panic!("the admin signs in with a cookie") };
    let ours = server.env.config.server.public_origin.clone();
    let make = json!({"jsonrpc": "2.0", "id": 1, "method": "token_create", "params": {"name": "two"}});
    let headers = [("cookie", cookie.as_str()), ("origin", ours.as_str()), ("origin", ours.as_str())];
    assert_error(&post_with(&server.anonymous(), &headers, &make).await, -32002, "csrf");
    assert!(post_with(&server.anonymous(), &headers[..2], &make).await.get("result").is_some());
}
