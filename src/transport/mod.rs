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
//! call across origins ([`cors`]).
//!
//! They know nothing of domains; everything about a call is decided in `rpc::pipeline`.
//! Their shared state is the [`Api`] being served.

pub mod console;
pub mod cors;
pub mod http;
pub mod listen;
pub mod ops;
pub mod request;
pub mod request_id;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeader;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::rpc::Api;

/// The routes inside every layer: what [`service`] returns, as a type.
pub type Service =
    request_id::Assigning<cors::Asked<SetResponseHeader<SetResponseHeader<Router, HeaderValue>, HeaderValue>>>;

/// The routes, inside the layers every response goes through. The layers wrap the router
/// as a whole: axum's `Router::layer` would wrap each route in each layer and box it again,
/// and each of those boxes was cloned, and its future moved, for every request (about 4 %
/// of the server's CPU on `GET whoami`, measured with `perf`).
pub fn service(api: Arc<Api>) -> Service {
    let cors = cors::CorsWhenAsked::new(&api.env.config.server);
    let request_id = request_id::AssignRequestId::new(&api.env.config.server.trusted_proxies);
    ServiceBuilder::new()
        .layer(request_id)
        .layer(cors)
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .service(routes(api))
}

fn routes(api: Arc<Api>) -> Router {
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
}
