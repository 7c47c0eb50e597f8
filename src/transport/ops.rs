//! Operational endpoints: health, metrics and the OpenRPC document.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::rpc::Api;

/// `GET /health`: 200 when the database answers, 503 otherwise.
pub async fn health(State(api): State<Arc<Api>>) -> Response {
    match api.env.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "database": "ok"}))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "degraded", "database": "unreachable"})))
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(CONTENT_TYPE, content_type)], api.env.metrics.encode()).into_response()
}

/// `GET /openrpc.json`: the same document `rpc.discover` returns, serialized once.
pub async fn openrpc(State(api): State<Arc<Api>>) -> Response {
    ([(CONTENT_TYPE, "application/json")], Bytes::copy_from_slice(api.openrpc().as_bytes())).into_response()
}
