//! How the server hands out the web console (`src/transport/console.rs`): the page and its
//! assets with their content types, the caching each needs (the page revalidated, the
//! content-named assets kept), a Content-Security-Policy that allows no inline script and
//! nothing from elsewhere, and no other path taken over by it. What the console does in a
//! browser is `tests/web_console.rs`.

mod common;

use common::{Backend, TestServer, start};
use reqwest::header::HeaderMap;

backend_tests!(the_page_and_its_assets_are_served_with_types_caching_and_policy, the_console_takes_no_other_path);

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// GET `path` with optional `If-None-Match`: status, headers, body.
async fn fetch(server: &TestServer, path: &str, if_none_match: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = server.http.get(format!("{}{path}", server.base));
    if let Some(etag) = if_none_match {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// Every `/assets/…` path the page names in a `src` or `href`.
fn asset_paths(page: &str) -> Vec<String> {
    page.split(['"', '\'']).filter(|part| part.starts_with("/assets/")).map(str::to_owned).collect()
}

fn assert_policy(headers: &HeaderMap, what: &str) {
    let policy = header(headers, "content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{what}: {directive} missing from {policy:?}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{what}: {policy}");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff", "{what}");
}

async fn the_page_and_its_assets_are_served_with_types_caching_and_policy(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, headers, body) = fetch(&server, "/", None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "cache-control"), "no-cache", "the page is revalidated on every load");
    assert_policy(&headers, "/");
    let page = String::from_utf8(body.clone()).unwrap();
    assert!(!page.contains("<script>") && !page.contains("style="), "no inline script or style: {page}");
    let (_, _, same) = fetch(&server, "/index.html", None).await;
    assert_eq!(same, body, "/index.html is the same page");

    let etag = header(&headers, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag:?}");
    let (status, revalidated, unchanged) = fetch(&server, "/", Some(&etag)).await;
    assert_eq!((status, unchanged.len()), (304, 0), "unchanged: 304 without a body");
    assert_eq!(header(&revalidated, "etag"), etag);
    let (status, _, _) = fetch(&server, "/", Some("\"something-else\"")).await;
    assert_eq!(status, 200, "a stale ETag gets the page");

    let assets = asset_paths(&page);
    assert!(assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")), "{page}");
    for path in assets {
        let (status, headers, body) = fetch(&server, &path, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(!body.is_empty(), "{path}");
        let expected = if path.ends_with(".js") { "text/javascript; charset=utf-8" } else { "text/css; charset=utf-8" };
        assert_eq!(header(&headers, "content-type"), expected, "{path}");
        assert_eq!(header(&headers, "cache-control"), "public, max-age=31536000, immutable", "{path}");
        assert_policy(&headers, &path);
    }
}

async fn the_console_takes_no_other_path(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    for path in ["/assets/nope.js", "/assets/", "/app", "/requests", "/assets/../index.html.bak"] {
        let (status, headers, _) = fetch(&server, path, None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(header(&headers, "cache-control"), "no-store", "{path}: a 404 keeps the API's caching rule");
    }
    let response = server.http.post(format!("{}/", server.base)).body("x").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405, "the page is GET only");
}
