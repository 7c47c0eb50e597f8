//! Transports: thin adapters that turn bytes into calls of the pipeline and results back
//! into bytes. One port serves them all:
//!
//! | route | module |
//! |---|---|
//! | `POST /rpc`, `GET /rpc/{method}` | [`http`] |
//! | `GET /ws` | [`ws`] |
//! | `GET /health`, `GET /metrics`, `GET /openrpc.json` | [`ops`] |
//!
//! [`listen`] accepts the connections, under caps and timeouts.
//!
//! Every response the router gives — calls, refusals, operational endpoints, 404s — says
//! `X-Content-Type-Options: nosniff` (a JSON answer that echoes a client's text is never
//! read as HTML) and `Cache-Control: no-store` (answers carry accounts, tokens, permits:
//! no cache or proxy keeps them). Only hyper's own refusals of a malformed request, sent
//! before the router runs, go without.
//!
//! They know nothing of domains; everything about a call is decided in `rpc::pipeline`.
//! Their shared state is the [`Api`] being served.

pub mod http;
pub mod listen;
pub mod ops;
pub mod request;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::rpc::Api;

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/rpc", post(http::post_rpc))
        .route("/rpc/{method}", get(http::get_rpc))
        .route("/ws", get(ws::upgrade))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openrpc.json", get(ops::openrpc))
        .with_state(api)
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, HeaderValue::from_static("no-store")))
}
