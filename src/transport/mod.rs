//! Transports: thin adapters that turn bytes into calls of the pipeline and results back
//! into bytes. One port serves them all:
//!
//! | route | module |
//! |---|---|
//! | `POST /rpc`, `GET /rpc/{method}` | [`http`] |
//! | `GET /ws` | [`ws`] |
//! | `GET /health`, `GET /metrics`, `GET /openrpc.json` | [`ops`] |
//! | `GET /`, `GET /index.html`, `GET /assets/{file}` | [`console`] |
//!
//! [`listen`] accepts the connections, under caps and timeouts.
//!
//! Every response the router gives carries `X-Request-Id`, the request's correlation id
//! ([`request_id`]: also in every error's `data.request_id`, the log and the audit rows).
//!
//! Every response the router gives — calls, refusals, operational endpoints, 404s — says
//! `X-Content-Type-Options: nosniff` (a JSON answer that echoes a client's text is never
//! read as HTML) and `Cache-Control: no-store` (answers carry accounts, tokens, permits:
//! no cache or proxy keeps them) — except the console's files, which hold no secrets and set
//! their own caching. Only hyper's own refusals of a malformed request, sent before the
//! router runs, go without.
//!
//! Pages on the trusted origins (`server.public_origin` and `server.allowed_origins`) may
//! call across origins: preflights are answered and answers carry `Access-Control-*` with
//! credentials allowed (the CSRF rule in `rpc::pipeline` accepts exactly the same origins).
//!
//! They know nothing of domains; everything about a call is decided in `rpc::pipeline`.
//! Their shared state is the [`Api`] being served.

pub mod console;
pub mod http;
pub mod listen;
pub mod ops;
pub mod request;
pub mod request_id;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Method};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::ServerConfig;

use crate::rpc::Api;

pub fn router(api: Arc<Api>) -> Router {
    let cors = cors(&api.env.config.server);
    let request_id = axum::middleware::from_fn_with_state(api.clone(), request_id::assign);
    Router::new()
        .route("/rpc", post(http::post_rpc))
        .route("/rpc/{method}", get(http::get_rpc))
        .route("/ws", get(ws::upgrade))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openrpc.json", get(ops::openrpc))
        .route("/", get(console::index))
        .route("/index.html", get(console::index))
        .route("/assets/{file}", get(console::asset))
        .with_state(api)
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(cors)
        .layer(request_id)
}

/// CORS for the trusted origins, cookies included; nothing for any other origin, whose
/// preflight is answered without an `Access-Control-Allow-Origin` (the browser stops there).
fn cors(server: &ServerConfig) -> CorsLayer {
    let origins = server.trusted_origins().filter_map(|origin| HeaderValue::from_str(origin).ok());
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([CONTENT_TYPE, AUTHORIZATION])
        .expose_headers([RETRY_AFTER, request_id::X_REQUEST_ID])
        .max_age(Duration::from_secs(600))
}
