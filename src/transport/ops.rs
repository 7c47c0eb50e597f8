//! Operational endpoints: health, metrics and the OpenRPC document.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::rpc::Api;

/// How long `/health` waits for the database: less than health checkers wait for us.
const HEALTH_PATIENCE: Duration = Duration::from_secs(1);

/// `GET /health`: 200 when the database answers within `HEALTH_PATIENCE` (1 s), 503 otherwise
/// (at once while the database breaker is open).
pub async fn health(State(api): State<Arc<Api>>) -> Response {
    match api.env.db.ping(HEALTH_PATIENCE).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "database": "ok"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "degraded", "database": "unreachable"})))
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text exposition, for the addresses of `server.metrics_allow`
/// only (the connection's own address: a proxy cannot forward it open).
pub async fn metrics(State(api): State<Arc<Api>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    let peer = peer.ip().to_canonical();
    if !api.env.config.server.metrics_allow.iter().any(|net| net.contains(&peer)) {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "metrics_not_allowed"}))).into_response();
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(CONTENT_TYPE, content_type)], api.env.metrics.encode()).into_response()
}

/// `GET /openrpc.json`: the same document `rpc.discover` returns, serialized once.
pub async fn openrpc(State(api): State<Arc<Api>>) -> Response {
    ([(CONTENT_TYPE, "application/json")], Bytes::copy_from_slice(api.openrpc().as_bytes())).into_response()
}
