//! Operational endpoints: health, metrics and the OpenRPC document.
//!
//! `/metrics` answers in the format the scraper's `Accept` prefers: OpenMetrics 1.0 when it
//! ranks `application/openmetrics-text` above `text/plain` (Prometheus itself does), the
//! classic text format 0.0.4 otherwise — no `Accept`, `text/plain`, `*/*`, or anything else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::metrics::Format;
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

/// `GET /metrics`: Prometheus text exposition in the negotiated format, for the addresses
/// of `server.metrics_allow` only (the connection's own address: a proxy cannot forward it
/// open).
pub async fn metrics(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.ip().to_canonical();
    if !api.env.config.server.metrics_allow.iter().any(|net| net.contains(&peer)) {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "metrics_not_allowed"}))).into_response();
    }
    let format = negotiate(&headers);
    ([(CONTENT_TYPE, format.content_type()), (VARY, "Accept")], api.env.metrics.encode(format)).into_response()
}

/// The format `Accept` ranks higher: OpenMetrics only when it is preferred to `text/plain`
/// (or named, at the same rank, where `text/plain` is reached only by a wildcard).
fn negotiate(headers: &HeaderMap) -> Format {
    let ranges: Vec<&str> =
        headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let (om_named, om) = rank(&ranges, "application", "openmetrics-text");
    let (text_named, text) = rank(&ranges, "text", "plain");
    if om > 0.0 && (om > text || (om == text && om_named && !text_named)) {
        Format::OpenMetrics
    } else {
        Format::Classic
    }
}

/// The quality `ranges` give `kind/sub`, by the most specific range that matches it (RFC
/// 9110 §12.5.1), and whether that range named it exactly.
fn rank(ranges: &[&str], kind: &str, sub: &str) -> (bool, f32) {
    let mut best: Option<(u8, f32)> = None;
    for range in ranges {
        let mut parts = range.split(';').map(str::trim);
        let Some((k, s)) = parts.next().and_then(|media| media.split_once('/')) else { continue };
        let specificity = match (k, s) {
            _ if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
            ("*", "*") => 0,
            (_, "*") if k.eq_ignore_ascii_case(kind) => 1,
            _ => continue,
        };
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0));
        if best.is_none_or(|(seen, _)| specificity > seen) {
            best = Some((specificity, q));
        }
    }
    best.map_or((false, 0.0), |(specificity, q)| (specificity == 2, q))
}

/// `GET /openrpc.json`: the same document `rpc.discover` returns, serialized once.
pub async fn openrpc(State(api): State<Arc<Api>>) -> Response {
    ([(CONTENT_TYPE, "application/json")], Bytes::copy_from_slice(api.openrpc().as_bytes())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_for(accept: &[&str]) -> Format {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(ACCEPT, value.parse().unwrap());
        }
        negotiate(&headers)
    }

    #[test]
    fn openmetrics_only_when_preferred() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;\
                          version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(format_for(&[prometheus]), Format::OpenMetrics);
        assert_eq!(format_for(&["application/openmetrics-text"]), Format::OpenMetrics);
        assert_eq!(format_for(&["Application/OpenMetrics-Text; version=1.0.0"]), Format::OpenMetrics);
        assert_eq!(format_for(&["text/plain", "application/openmetrics-text;q=0.9"]), Format::Classic);
        assert_eq!(format_for(&["application/openmetrics-text, */*"]), Format::OpenMetrics);
        assert_eq!(format_for(&["application/openmetrics-text, text/plain"]), Format::Classic);
        assert_eq!(format_for(&["application/openmetrics-text;q=0, */*"]), Format::Classic);
        for classic in [&[][..], &["text/plain"], &["*/*"], &["text/*"], &["application/json"], &["garbage"]] {
            assert_eq!(format_for(classic), Format::Classic, "{classic:?}");
        }
    }
}
