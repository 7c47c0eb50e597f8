//! The correlation id of every HTTP request: made (or taken from a trusted proxy) before
//! the route runs, handed to it as [`RequestId`], and answered as `X-Request-Id` on every
//! response the router gives — calls, refusals, the WebSocket upgrade, operational
//! endpoints, the console's files, 404s and CORS preflights.
//!
//! It is the id the calls of that request carry everywhere: in the log (`request_id`), in
//! their audit rows (`request_id`) and in every error's `data.request_id`. The calls of one
//! batch share it (it names the HTTP request); a WebSocket message gets one of its own
//! (`ws.rs`), as a POST body would.
//!
//! An incoming `X-Request-Id` is honoured only from a trusted proxy
//! (`server.trusted_proxies`, the same rule as `X-Forwarded-For`) and only when it is one
//! well-formed UUID (hyphenated, or the 32 hex digits nginx's `$request_id` makes), then
//! answered in hyphenated form: a proxy's own id then follows the call through our log and
//! audit rows. From anyone else it is ignored and a fresh UUIDv7 is made, so that no client
//! can choose the id its calls' rows in the tamper-evident audit log carry (it could
//! otherwise make them collide with another caller's).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use ipnet::IpNet;
use tower::{Layer, Service};
use uuid::Uuid;

use super::request::is_trusted_proxy;

/// The header that carries the correlation id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id even looked at.
const MAX_INCOMING_LEN: usize = 128;

/// The correlation id of the request being answered (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub Uuid);

/// The layer that gives every request its id and answers it as `X-Request-Id`. A plain
/// service (not `axum::middleware::from_fn`), so no call boxes its future or the router.
#[derive(Clone)]
pub struct AssignRequestId {
    trusted_proxies: Arc<[IpNet]>,
}

impl AssignRequestId {
    pub fn new(trusted_proxies: &[IpNet]) -> AssignRequestId {
        AssignRequestId { trusted_proxies: trusted_proxies.into() }
    }
}

impl<S> Layer<S> for AssignRequestId {
    type Service = Assigning<S>;

    fn layer(&self, inner: S) -> Assigning<S> {
        Assigning { inner, trusted_proxies: self.trusted_proxies.clone() }
    }
}

/// [`AssignRequestId`] around a service.
#[derive(Clone)]
pub struct Assigning<S> {
    inner: S,
    trusted_proxies: Arc<[IpNet]>,
}

impl<S> Service<Request> for Assigning<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
        let id = honoured(&self.trusted_proxies, request.headers(), peer).unwrap_or_else(Uuid::now_v7);
        request.extensions_mut().insert(RequestId(id));
        Answering { answer: self.inner.call(request), id }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, with the id put on it.
    pub struct Answering<F> {
        #[pin]
        answer: F,
        id: Uuid,
    }
}

impl<F, E> Future for Answering<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let id = *this.id;
        this.answer.poll(cx).map(|answer| {
            answer.map(|mut response| {
                let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
                let value = id.hyphenated().encode_lower(&mut text);
                let value = HeaderValue::from_str(value).expect("a UUID is a valid header value");
                response.headers_mut().insert(X_REQUEST_ID, value);
                response
            })
        })
    }
}

/// The incoming id, when a trusted proxy sent exactly one well-formed UUID.
fn honoured(trusted: &[IpNet], headers: &HeaderMap, peer: Option<IpAddr>) -> Option<Uuid> {
    if !is_trusted_proxy(trusted, peer?) {
        return None;
    }
    let mut given = headers.get_all(X_REQUEST_ID).iter();
    let (value, None) = (given.next()?, given.next()) else { return None };
    let value = value.to_str().ok()?;
    let sane = value.len() <= MAX_INCOMING_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    sane.then(|| Uuid::try_parse(value).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, values: &[&str]) -> Option<Uuid> {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_REQUEST_ID, value.parse().unwrap());
        }
        honoured(&trusted, &headers, Some(peer.parse().unwrap()))
    }

    #[test]
    fn only_a_trusted_proxys_one_uuid_is_honoured() {
        let id = "0190b7e4-6c1a-7cc2-9a4e-2f1d3c4b5a69";
        assert_eq!(from("10.0.0.2", &[id]), Some(id.parse().unwrap()));
        assert_eq!(from("::ffff:10.0.0.2", &[id]), Some(id.parse().unwrap()), "a mapped IPv4 address");
        assert_eq!(from("10.0.0.2", &["0190b7e46c1a7cc29a4e2f1d3c4b5a69"]), Some(id.parse().unwrap()), "nginx");
        assert_eq!(from("192.0.2.1", &[id]), None, "not from a trusted proxy");
        assert_eq!(from("10.0.0.2", &[id, id]), None, "given twice");
        for bad in
            ["", "abc", "{0190b7e4-6c1a-7cc2-9a4e-2f1d3c4b5a69}", "urn:uuid:0190b7e4-6c1a-7cc2-9a4e-2f1d3c4b5a69"]
        {
            assert_eq!(from("10.0.0.2", &[bad]), None, "{bad}");
        }
        assert_eq!(from("10.0.0.2", &[&"a".repeat(200)]), None);
    }
}
