//! What the transports read off a request before the pipeline sees it: who is calling
//! (credentials, address, `Origin`), and how large a body or message may be.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN};

use crate::call::{Caller, Credentials, Transport};

/// Largest body (POST) or message (WebSocket) accepted, in bytes (docs/protocol.md §1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "countersign_session";

/// Reads who is calling from a request's headers. A bearer token wins over a cookie.
pub fn caller_from(headers: &HeaderMap, peer: SocketAddr, transport: Transport) -> Caller {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|token| token.trim().to_owned());
    let session = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned());
    let credentials = match (bearer, session) {
        (Some(token), _) => Credentials::Bearer(token),
        (None, Some(token)) => Credentials::Session(token),
        (None, None) => Credentials::None,
    };
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Caller { credentials, ip: Some(peer.ip()), origin, transport, socket: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(pairs: &[(&'static str, &str)]) -> Caller {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, v.parse().unwrap());
        }
        caller_from(&headers, "127.0.0.1:1".parse().unwrap(), Transport::Post)
    }

    #[test]
    fn reads_bearer_cookie_and_origin() {
        assert_eq!(caller(&[]).credentials, Credentials::None);
        let c = caller(&[("cookie", "a=1; countersign_session=abc; b=2"), ("origin", "https://x")]);
        assert_eq!(c.credentials, Credentials::Session("abc".into()));
        assert_eq!(c.origin.as_deref(), Some("https://x"));
        let c = caller(&[("cookie", "countersign_session=abc"), ("authorization", "Bearer tok")]);
        assert_eq!(c.credentials, Credentials::Bearer("tok".into()));
        assert_eq!(format!("{:?}", c.credentials), "Bearer(<redacted>)");
    }
}
