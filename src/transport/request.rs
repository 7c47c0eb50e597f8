//! What the transports read off a request before the pipeline sees it: who is calling
//! (credentials, address, `Origin`), and how large a body or message may be.

use std::net::{IpAddr, SocketAddr};

use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN};
use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::call::{Caller, Credentials, Transport};
use crate::config::ServerConfig;

/// The forwarding header a trusted reverse proxy sets.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Largest body (POST) or message (WebSocket) accepted, in bytes (docs/protocol.md §1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "countersign_session";

/// Reads who is calling from a request's headers. A bearer token wins over a cookie; the
/// address is the connection's, or the forwarded one when a trusted proxy connected.
pub fn caller_from(server: &ServerConfig, headers: &HeaderMap, peer: SocketAddr, transport: Transport) -> Caller {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
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
    // Several Origin headers are kept joined: the result is never our origin, so the CSRF
    // check refuses rather than trusting whichever came first.
    let origins: Vec<&str> = headers.get_all(ORIGIN).iter().map(|v| v.to_str().unwrap_or("\u{fffd}")).collect();
    let origin = (!origins.is_empty()).then(|| origins.join(", "));
    let ip = client_ip(&server.trusted_proxies, headers, peer.ip());
    Caller { credentials, ip: Some(ip), origin, transport, socket: None }
}

/// Whether `peer` is one of `server.trusted_proxies`, whose forwarding headers
/// (`X-Forwarded-For`, `X-Request-Id`) are believed.
pub fn is_trusted_proxy(trusted: &[IpNet], peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    trusted.iter().any(|net| net.contains(&peer))
}

/// The client's address: the connection's own, unless that is a trusted proxy; then the
/// nearest `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
/// left were written by the client and prove nothing). A malformed entry stops the walk
/// at the last address known good.
fn client_ip(trusted: &[IpNet], headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    let is_trusted = |ip: &IpAddr| is_trusted_proxy(trusted, *ip);
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let forwarded: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in forwarded.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>() else { break };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller_via(trusted: &[&str], peer: &str, pairs: &[(&'static str, &str)]) -> Caller {
        let mut server = crate::config::Config::embedded().server;
        server.trusted_proxies = trusted.iter().map(|net| net.parse().unwrap()).collect();
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, v.parse().unwrap());
        }
        let peer = SocketAddr::new(peer.parse().unwrap(), 1);
        caller_from(&server, &headers, peer, Transport::Post)
    }

    fn caller(pairs: &[(&'static str, &str)]) -> Caller {
        caller_via(&[], "127.0.0.1", pairs)
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
        for scheme in ["BEARER", "bearer", "BeArEr"] {
            let c = caller(&[("authorization", &format!("{scheme} tok"))]);
            assert_eq!(c.credentials, Credentials::Bearer("tok".into()), "{scheme}");
        }
        assert_eq!(caller(&[("authorization", "Basic dTpw")]).credentials, Credentials::None);
    }

    #[test]
    fn two_origins_are_never_ours() {
        let c = caller(&[("origin", "http://127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(c.origin.as_deref(), Some("http://127.0.0.1:8080, http://127.0.0.1:8080"));
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let ip = |c: Caller| c.ip.unwrap().to_string();
        let forwarded = [("x-forwarded-for", "6.6.6.6, 203.0.113.9")];
        assert_eq!(ip(caller_via(&[], "10.0.0.2", &forwarded)), "10.0.0.2", "nobody is trusted by default");
        assert_eq!(ip(caller_via(&["10.0.0.0/8"], "192.0.2.1", &forwarded)), "192.0.2.1", "not from a proxy");
        assert_eq!(ip(caller_via(&["10.0.0.0/8"], "10.0.0.2", &forwarded)), "203.0.113.9", "the nearest entry");
        let chain = [("x-forwarded-for", "6.6.6.6, 203.0.113.9"), ("x-forwarded-for", "10.1.1.1")];
        assert_eq!(ip(caller_via(&["10.0.0.0/8"], "10.0.0.2", &chain)), "203.0.113.9", "proxies are skipped");
        let forged = [("x-forwarded-for", "6.6.6.6, garbage, 10.1.1.1")];
        assert_eq!(ip(caller_via(&["10.0.0.0/8"], "10.0.0.2", &forged)), "10.1.1.1", "a malformed entry stops");
        assert_eq!(ip(caller_via(&["10.0.0.0/8"], "10.0.0.2", &[])), "10.0.0.2", "no header: the proxy itself");
        assert_eq!(ip(caller_via(&["127.0.0.1/32"], "::ffff:127.0.0.1", &forwarded)), "203.0.113.9");
    }
}
