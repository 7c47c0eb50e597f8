//! `countersign watch [--after N]`: the caller's notifications as JSON lines on standard
//! output, one per push, over a WebSocket that is opened again (with jittered backoff)
//! whenever it drops, resuming after the last `seq` printed — so a script reading the
//! lines misses nothing across a network loss or a server restart. It ends only on what a
//! retry cannot mend (the token is refused or revoked), or when its output is closed.

use std::io::Write;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::credentials::Target;
use super::{Failure, Outcome, base, call};

/// Close code of a socket whose credential was revoked (docs/protocol.md §1.2).
const CLOSE_REVOKED: u16 = 4001;
/// The longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(250);

/// How one connection ended.
enum Ended {
    /// For good: the failure to exit with.
    Fatal(Failure),
    /// Worth another try; `subscribed`: it had got as far as a subscription.
    Dropped { why: String, subscribed: bool },
}

/// Watches until something a retry cannot mend; the failure that ended it.
pub async fn watch(target: &Target, mut after: Option<i64>) -> Failure {
    let Some(token) = target.token.as_deref() else {
        return Failure::new(Outcome::Unauthenticated, "watch needs a token: run `countersign login`, or pass --token");
    };
    let mut backoff = MIN_BACKOFF;
    loop {
        match connection(target, token, &mut after).await {
            Ended::Fatal(failure) => return failure,
            Ended::Dropped { why, subscribed } => {
                if subscribed {
                    backoff = MIN_BACKOFF;
                }
                let wait = backoff.mul_f64(1.0 + rand::random::<f64>() / 2.0);
                eprintln!("watch: {why}; reconnecting in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection: subscribe after `after`, print every push, move `after` along.
async fn connection(target: &Target, token: &str, after: &mut Option<i64>) -> Ended {
    if after.is_none() {
        // Start from the head now, so rows made during a later drop are not skipped.
        match call::call(target, "notifications_list", json!({ "limit": 1 }), true).await {
            Ok(Ok(page)) => *after = page["head_seq"].as_i64(),
            Ok(Err(error)) => return refused(&error),
            Err(failure) => return Ended::Dropped { why: failure.message, subscribed: false },
        }
    }
    let url = format!("{}/ws", base(&target.url)).replacen("http", "ws", 1);
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(e) => return Ended::Fatal(Failure::new(Outcome::Usage, format!("bad URL {url}: {e}"))),
    };
    match format!("Bearer {token}").parse() {
        Ok(value) => request.headers_mut().insert(AUTHORIZATION, value),
        Err(_) => return Ended::Fatal(Failure::new(Outcome::Usage, "the token is not a valid header value")),
    };
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(WsError::Http(response)) if response.status() == 401 => {
            return Ended::Fatal(Failure::new(Outcome::Unauthenticated, "the server refused the token"));
        }
        Err(e) => return Ended::Dropped { why: format!("cannot connect: {e}"), subscribed: false },
    };
    let subscribe =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "notifications_subscribe", "params": { "after": after } });
    if let Err(e) = socket.send(Message::text(subscribe.to_string())).await {
        return Ended::Dropped { why: format!("cannot subscribe: {e}"), subscribed: false };
    }
    let mut subscribed = false;
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(Some(frame))) if u16::from(frame.code) == CLOSE_REVOKED => {
                return Ended::Fatal(Failure::new(Outcome::Unauthenticated, "the token was revoked"));
            }
            Ok(Message::Close(frame)) => {
                let why = frame.map_or_else(|| "closed".to_owned(), |f| format!("closed ({} {})", f.code, f.reason));
                return Ended::Dropped { why, subscribed };
            }
            Ok(_) => continue,
            Err(e) => return Ended::Dropped { why: e.to_string(), subscribed },
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else { continue };
        if message["id"] == 1 {
            match message.get("error") {
                Some(error) => return refused(error),
                None => subscribed = true,
            }
            continue;
        }
        let result = &message["params"]["result"];
        if result["type"] == "session_revoked" {
            continue; // the close 4001 follows
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{result}").and_then(|()| out.flush()).is_err() {
            return Ended::Fatal(Failure::new(Outcome::Ok, "output closed"));
        }
        if let Some(seq) = result["seq"].as_i64() {
            *after = Some(seq);
        }
    }
    Ended::Dropped { why: "connection lost".to_owned(), subscribed }
}

/// A JSON-RPC error that ends the watch.
fn refused(error: &Value) -> Ended {
    let message = error["message"].as_str().unwrap_or("refused");
    Ended::Fatal(Failure::new(Outcome::of_error(error), format!("the server refused: {message}")))
}
