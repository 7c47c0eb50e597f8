//! A single-page app served from another origin (a Vite dev server, say) calling the
//! server with the session cookie: an origin listed in `server.allowed_origins` gets its
//! preflights answered and CORS headers with credentials on every answer, signs in and
//! calls mutations; an origin not listed gets no CORS headers and its cookie calls are
//! `forbidden/csrf`, with a message naming the origins the server accepts. A request without
//! an `Origin` (a script) gets no `Access-Control-*` header, only the `Vary` that keeps a
//! cache from handing one origin's answer to another.

mod common;

use common::identity::{Auth, Client, PASSWORD, login_at};
use common::{Backend, assert_error};
use serde_json::json;

backend_tests!(
    a_listed_origin_signs_in_and_calls_across_origins,
    an_unlisted_origin_gets_no_cors_and_no_cookie_calls,
    a_request_without_an_origin_gets_only_vary,
);

const SPA: &str = "http://localhost:5173";

/// The server's anonymous client, calling as a page on `origin`.
fn page(server: &common::TestServer, origin: &str) -> Client {
    Client { origin: Some(origin.to_owned()), ..server.anonymous() }
}

/// A sign-in POSTed by a page on `origin`.
async fn sign_in_from(server: &common::TestServer, origin: &str) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "account_login",
                      "params": {"username": "admin", "password": PASSWORD}});
    server.http.post(format!("{}/rpc", server.base)).header("origin", origin).json(&body).send().await.unwrap()
}

/// The answer to a browser's preflight of a JSON POST from `origin`.
async fn preflight(server: &common::TestServer, origin: &str) -> reqwest::Response {
    server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/rpc", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

async fn a_listed_origin_signs_in_and_calls_across_origins(backend: Backend) {
    let Some(server) = common::start_with(backend, |c| c.server.allowed_origins.push(SPA.into())).await else { return };
    server.admin().await;
    let answer = preflight(&server, SPA).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], SPA);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("content-type"));

    // Signing in from the page: the cookie comes back, and the answer is readable there.
    let login = sign_in_from(&server, SPA).await;
    assert_eq!(login.headers()["access-control-allow-origin"], SPA);
    assert_eq!(login.headers()["access-control-allow-credentials"], "true");
    assert!(login.headers().get("set-cookie").is_some());

    let admin = login_at(page(&server, SPA), "admin", PASSWORD).await;
    assert!(matches!(admin.auth, Auth::Cookie(_)));
    let created = admin.ok("token_create", json!({"name": "from the spa"})).await;
    assert!(created["secret"].is_string(), "a cookie mutation from a listed origin works: {created}");
    // The public origin still works.
    let home = Client { origin: Some(server.env.config.server.public_origin.clone()), ..admin.clone() };
    assert!(home.ok("token_create", json!({"name": "from home"})).await["secret"].is_string());
}

async fn an_unlisted_origin_gets_no_cors_and_no_cookie_calls(backend: Backend) {
    let Some(server) = common::start(backend).await else { return };
    let admin = server.admin().await;
    let evil = "http://evil.example";
    let answer = preflight(&server, evil).await;
    assert!(answer.headers().get("access-control-allow-origin").is_none(), "{:?}", answer.headers());
    let answer = server.http.get(format!("{}/health", server.base)).header("origin", evil).send().await.unwrap();
    assert!(answer.headers().get("access-control-allow-origin").is_none());

    let refused = sign_in_from(&server, evil).await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    assert!(refused.headers().get("set-cookie").is_none());
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_error(&refused, -32002, "csrf");
    let message = refused["error"]["message"].as_str().unwrap();
    let ours = &server.env.config.server.public_origin;
    assert!(
        message.contains(ours.as_str()) && message.contains(evil) && message.contains("allowed_origins"),
        "{message}"
    );
    let forged = Client { origin: Some(evil.to_owned()), ..admin.clone() };
    assert_error(&forged.call("token_create", json!({"name": "stolen"})).await, -32002, "csrf");
    assert_eq!(admin.ok("token_list", json!({})).await["tokens"], json!([]));
}

async fn a_request_without_an_origin_gets_only_vary(backend: Backend) {
    let Some(server) = common::start_with(backend, |c| c.server.allowed_origins.push(SPA.into())).await else { return };
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"});
    let plain = server.http.post(format!("{}/rpc", server.base)).json(&body).send().await.unwrap();
    let headers = plain.headers();
    assert_eq!(headers["vary"], "origin, access-control-request-method, access-control-request-headers");
    assert!(headers.keys().all(|name| !name.as_str().starts_with("access-control-")), "{headers:?}");
    let from_spa = server.http.post(format!("{}/rpc", server.base)).header("origin", SPA).json(&body).send().await;
    let headers = from_spa.unwrap().headers().clone();
    assert_eq!(headers["access-control-allow-origin"], SPA);
    assert_eq!(headers["access-control-expose-headers"], "retry-after,x-request-id");
    assert!(headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("origin")), "{headers:?}");
}
