//! The web console: the single-page app of `clients/web`, built into `clients/web/dist`
//! (checked in, so building the server needs no Node) and embedded in the binary, so
//! running it needs nothing beside it. `GET /` (and `/index.html`) serves the page,
//! `GET /assets/<file>` its script and stylesheet; the app's own routes live after the `#`,
//! so no other path is the console's.
//!
//! Caching: the page is revalidated on every load (`no-cache` with an `ETag`, answered 304
//! when unchanged), so a new binary's console shows at once; the assets are named by a hash of
//! their content, so a browser may keep them for a year (`immutable`). Every answer carries a
//! Content-Security-Policy that allows only this origin's scripts and styles — no inline
//! script, no `eval`, nothing from elsewhere — and forbids framing.
//!
//! Every build carries the files in the binary, debug builds too (`debug-embed`), so the
//! tests serve exactly what ships; after `node build.mjs`, `cargo build` picks up the new
//! files (the page changes with every build, and cargo rebuilds on it).

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

/// The built console (`node build.mjs` in `clients/web`).
#[derive(RustEmbed)]
#[folder = "clients/web/dist"]
struct Dist;

/// Scripts and styles from this origin only; calls (and the WebSocket) to this origin only.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /` and `GET /index.html`: the page, revalidated on every load.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", "no-cache", &headers)
}

/// `GET /assets/{file}`: a content-named script or stylesheet, kept for good.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("assets/{file}"), "public, max-age=31536000, immutable", &headers)
}

/// One embedded file with its content type, caching and ETag, or 404.
fn serve(path: &str, cache: &'static str, request: &HeaderMap) -> Response {
    let Some(file) = Dist::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    if matches(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let content_type = match file.metadata.mimetype() {
        "text/html" | "text/css" | "text/javascript" => format!("{}; charset=utf-8", file.metadata.mimetype()),
        other => other.to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    (StatusCode::OK, headers, file.data.into_owned()).into_response()
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn matches(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == etag || candidate == "*")
}
