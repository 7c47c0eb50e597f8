//! Calling the systems outside countersign that carry out requests (docs/protocol.md §7.5):
//! one signed POST per delivery, under one deadline, with what came back read to at most
//! [`MAX_RESPONSE_BYTES`]. This module knows nothing of requests or of the database: the
//! requests domain decides what to send and records what it hears, so no transaction is
//! ever held open across a call to a stranger's server.
//!
//! The signature is Stripe's scheme, so receivers can reuse what they know:
//! `Countersign-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use sha2::Sha256;

use crate::config::kinds::{Secret, Webhook};

/// The most of a receiver's answer that is kept; the rest is not read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Countersign-Signature";
/// The header naming the delivery, for the receiver to deduplicate by.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The HTTP client every delivery goes through (one connection pool for the process).
pub struct Webhooks {
    client: reqwest::Client,
}

/// One POST to a webhook.
pub struct Delivery<'a> {
    pub target: &'a Webhook,
    pub idempotency_key: &'a str,
    /// The JSON body, signed as sent.
    pub body: Vec<u8>,
    /// The time the signature carries.
    pub at: DateTime<Utc>,
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// At most [`MAX_RESPONSE_BYTES`] of the body, as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body was longer, or stopped arriving, and `body` is only its start.
    pub truncated: bool,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx: it took the delivery.
    Accepted(Reply),
    /// Anything else — another status, a timeout, a refused or dropped connection — with
    /// why, and the answer when there was one.
    Refused { error: String, reply: Option<Reply> },
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &Secret, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).expect("HMAC takes a key of any length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Default for Webhooks {
    fn default() -> Webhooks {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds");
        Webhooks { client }
    }
}

impl Webhooks {
    /// POSTs `delivery`, signed, and waits at most the webhook's `timeout_ms` for the whole
    /// exchange. A 2xx status counts even when its body then stops arriving: the receiver
    /// has taken the delivery, and a retry under a new key must not repeat it.
    pub async fn post(&self, delivery: Delivery<'_>) -> Outcome {
        let target = delivery.target;
        let timeout = Duration::from_millis(target.timeout_ms);
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || Outcome::Refused { error: format!("timeout after {} ms", target.timeout_ms), reply: None };
        let sent = self
            .client
            .post(&target.url)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&target.secret, delivery.at.timestamp(), &delivery.body))
            .header(IDEMPOTENCY_HEADER, delivery.idempotency_key)
            .body(delivery.body)
            .send();
        let mut response = match tokio::time::timeout_at(deadline, sent).await {
            Err(_) => return timed_out(),
            Ok(Err(e)) if e.is_timeout() => return timed_out(),
            Ok(Err(e)) => return Outcome::Refused { error: describe(&e), reply: None },
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        let (body, truncated) = read_capped(&mut response, deadline).await;
        let reply = Reply { status: status.as_u16(), body, truncated };
        if status.is_success() {
            Outcome::Accepted(reply)
        } else {
            Outcome::Refused { error: format!("HTTP {}", status.as_u16()), reply: Some(reply) }
        }
    }
}

/// Up to [`MAX_RESPONSE_BYTES`] of the body, read until `deadline`; whether that is not all
/// of it.
async fn read_capped(response: &mut reqwest::Response, deadline: tokio::time::Instant) -> (String, bool) {
    let mut body = Vec::new();
    let complete = loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_RESPONSE_BYTES {
                    break false;
                }
            }
            Ok(Ok(None)) => break true,
            Ok(Err(_)) | Err(_) => break false,
        }
    };
    body.truncate(MAX_RESPONSE_BYTES);
    (String::from_utf8_lossy(&body).into_owned(), !complete)
}

/// Why a request could not be sent, without its URL (which may carry a credential):
/// "connection failed: Connection refused (os error 111)".
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_connect() { "connection failed" } else { "request failed" };
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    format!("{what}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef
        let secret: Secret = serde_json::from_str("\"0123456789abcdef\"").unwrap();
        let expected = "t=1700000000,v1=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23";
        assert_eq!(signature(&secret, 1_700_000_000, br#"{"a":1}"#), expected);
        assert_ne!(expected, signature(&secret, 1_700_000_001, br#"{"a":1}"#));
    }
}
