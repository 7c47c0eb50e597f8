//! Transports: thin adapters that turn bytes into calls of the pipeline and results back
//! into bytes. One port serves them all:
//!
//! | route | module |
//! |---|---|
//! | `POST /rpc`, `GET /rpc/{method}` | [`http`] |
//! | `GET /ws` | [`ws`] |
//! | `GET /health`, `GET /metrics`, `GET /openrpc.json` | [`ops`] |
//!
//! They know nothing of domains; everything about a call is decided in `rpc::pipeline`.
//! Their shared state is the [`Api`] being served.

pub mod http;
pub mod ops;
pub mod request;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

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
}
