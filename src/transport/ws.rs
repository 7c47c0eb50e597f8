//! `GET /ws`: the same JSON-RPC calls over a WebSocket, with the credentials of the
//! upgrade request, plus server-pushed notifications.
//!
//! Each message is a body as POST takes it (a call or a batch), with a correlation id of
//! its own (its calls' `request_id`; the upgrade's `X-Request-Id` names only the upgrade).
//! Calls on one socket run concurrently, at most [`MAX_IN_FLIGHT`] at a time; past that the
//! socket stops reading, which slows only this socket. Answers and pushed notifications
//! share one bounded queue (`websocket.outbound_queue`) to one writer; pings and close
//! frames jump the queue.
//!
//! A socket closes with 1001 on shutdown (after finishing its calls), 4001 when the
//! session or token that opened it is revoked (after a `session_revoked` message), 4002
//! when a subscriber falls behind (after `resync_required`), 1000 when nothing, not
//! even a pong, was heard from it for `websocket.idle_timeout_s`, 1009 when a message is
//! over [`MAX_BODY_BYTES`] and 1007 when a text message is not UTF-8.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use super::http::refusal_headers;
use super::request::{MAX_BODY_BYTES, caller_from};
use crate::call::{Caller, Credentials, Transport};
use crate::clock::Clock;
use crate::notify::{ResyncRequired, SessionRevoked, envelope};
use crate::rpc::{Api, envelope as rpc_envelope, pipeline};
use crate::sockets::{CLOSE_RESYNC, CLOSE_REVOKED, Registration, SocketLink};

/// Calls one socket may have running at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Close code sent when the server shuts down ("going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code sent to a socket that went quiet.
pub const CLOSE_IDLE: u16 = 1000;
/// Close code sent for a message over [`MAX_BODY_BYTES`] ("message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code sent for a text message that is not UTF-8 ("invalid frame payload data").
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Initial read buffer of a socket.
const READ_BUFFER_BYTES: usize = 4096;
/// How long a closing socket may take to finish its calls and flush its last frames.
const CLOSING_GRACE: Duration = Duration::from_secs(5);

pub async fn upgrade(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if api.shutdown.is_cancelled() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let caller = caller_from(&api.env.config.server, &headers, peer, Transport::WebSocket);
    // A good credential registers the socket, so that revoking it closes the socket.
    let principal = match pipeline::admit_socket(&api, &caller).await {
        Ok(principal) => principal,
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut refusal = status.into_response();
            refusal_headers(&e, refusal.headers_mut());
            return refusal;
        }
    };
    let max = api.env.config.websocket.max_sockets_per_account;
    let standing = match principal {
        Some(p) => match api.env.sockets.register(p.socket_key(), p.account_id, max) {
            Some(registration) => Standing { registration: Some(registration), recheck_at: p.credential_expires_at },
            None => return StatusCode::TOO_MANY_REQUESTS.into_response(),
        },
        None => Standing { registration: None, recheck_at: None },
    };
    let connections = api.connections.clone();
    // A small read buffer (it grows for a larger frame): the default 128 KiB per socket
    // was most of an idle socket's memory (measured by benches/fanout.rs).
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| connections.track_future(serve(api, caller, standing, socket)))
}

/// Why the read loop ended.
enum Ending {
    /// The client closed or the connection broke: nothing more to send.
    Gone,
    /// The server closes, with this code, after sending these texts.
    Close(u16, &'static str, Vec<String>),
}

/// The socket's standing: what opened it, and until when its credential holds.
struct Standing {
    registration: Option<Registration>,
    /// When to check the credential again (its expiry as last seen).
    recheck_at: Option<DateTime<Utc>>,
}

async fn serve(api: Arc<Api>, mut caller: Caller, standing: Standing, socket: WebSocket) {
    let env = api.env.clone();
    env.metrics.socket_opened();
    let (sink, stream) = socket.split();
    let (queue_tx, queue_rx) = mpsc::channel::<String>(env.config.websocket.outbound_queue);
    let (ping_tx, ping_rx) = mpsc::channel::<Message>(1);
    let (last_tx, last_rx) = mpsc::channel::<Vec<Message>>(1);
    let link = SocketLink::new(queue_tx.clone());
    caller.socket = Some(link.clone());
    let writer = tokio::spawn(write(sink, queue_rx, ping_rx, last_rx));
    let calls = TaskTracker::new();
    let mut reader =
        Reader { api: &api, caller: caller.clone(), link: &link, queue: &queue_tx, pings: &ping_tx, calls: &calls };
    let ending = reader.read(stream, standing).await;

    link.close();
    calls.close();
    let _ = tokio::time::timeout(CLOSING_GRACE, calls.wait()).await;
    let last = match ending {
        Ending::Gone => Vec::new(),
        Ending::Close(code, reason, texts) => {
            let mut last: Vec<Message> = texts.into_iter().map(|text| Message::Text(text.into())).collect();
            last.push(Message::Close(Some(CloseFrame { code, reason: reason.into() })));
            last
        }
    };
    let _ = last_tx.send(last).await;
    drop((queue_tx, ping_tx, last_tx, caller));
    // A client that stopped reading cannot hold the socket open.
    let mut writer = writer;
    if tokio::time::timeout(CLOSING_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
    env.metrics.socket_closed();
}

/// What the read loop works with.
struct Reader<'a> {
    api: &'a Arc<Api>,
    /// Whose calls these are: the upgrade's credentials, or those its first call gave.
    caller: Caller,
    link: &'a SocketLink,
    queue: &'a mpsc::Sender<String>,
    pings: &'a mpsc::Sender<Message>,
    calls: &'a TaskTracker,
}

impl Reader<'_> {
    /// Reads calls and runs them until the socket must close, and says why.
    async fn read(&mut self, mut stream: SplitStream<WebSocket>, mut standing: Standing) -> Ending {
        let config = &self.api.env.config.websocket;
        let mut ping = tokio::time::interval(Duration::from_secs(config.ping_interval_s));
        ping.reset();
        let idle_timeout = Duration::from_secs(config.idle_timeout_s);
        // A socket without credentials is kept only while it calls: pongs do not count.
        let mut anonymous_idle = standing.registration.is_none().then(|| Duration::from_secs(config.anonymous_idle_s));
        // A socket opened without credentials may sign in with its first message.
        let mut first = standing.registration.is_none();
        let (mut last_heard, mut last_call) = (Instant::now(), Instant::now());
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        loop {
            let message = tokio::select! {
                _ = self.api.shutdown.cancelled() => return Ending::Close(CLOSE_GOING_AWAY, "server shutting down", vec![]),
                Some(code) = revoked(&mut standing.registration) => return self.revoked(code, "credentials revoked"),
                _ = self.link.resync_requested() => {
                    self.api.env.metrics.socket_resynced();
                    let resync = ResyncRequired::from(self.link.resync_point());
                    return Ending::Close(CLOSE_RESYNC, "resync required", pushes(self.link, &resync));
                }
                _ = until(standing.recheck_at, &self.api.env.clock, ping.period()) => {
                    // Boxed, like the first call below: a future awaited in this loop is
                    // part of every idle socket's memory, used or not.
                    match Box::pin(self.recheck(standing.recheck_at)).await {
                        Ok(next) => standing.recheck_at = next,
                        Err(()) => return self.revoked(CLOSE_REVOKED, "credentials expired"),
                    }
                    continue;
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle_timeout {
                        return Ending::Close(CLOSE_IDLE, "idle timeout", vec![]);
                    }
                    if anonymous_idle.is_some_and(|limit| last_call.elapsed() > limit) {
                        return Ending::Close(CLOSE_IDLE, "anonymous socket idle", vec![]);
                    }
                    let _ = self.pings.try_send(Message::Ping(Bytes::new()));
                    continue;
                }
                message = stream.next() => message,
            };
            last_heard = Instant::now();
            let body: Bytes = match message {
                Some(Ok(Message::Text(text))) => Bytes::from(text),
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(error)) => return unreadable(&error),
                Some(Ok(Message::Close(_))) | None => return Ending::Gone,
            };
            last_call = Instant::now();
            if std::mem::take(&mut first) && is_sign_in(&body) {
                if let Some(signed_in) = Box::pin(self.first_call(&body)).await {
                    standing = signed_in;
                    anonymous_idle = None;
                }
                continue;
            }
            let Ok(permit) = in_flight.clone().acquire_owned().await else { return Ending::Gone };
            let (api, caller, queue) = (self.api.clone(), self.caller.clone(), self.queue.clone());
            self.calls.spawn(async move {
                let answer = rpc_envelope::handle_body(&api, &caller, Uuid::now_v7(), &body).await;
                if let Some(body) = answer.body {
                    let _ = queue.send(body).await;
                }
                for hook in answer.after_answer {
                    hook();
                }
                drop(permit);
            });
        }
    }

    /// Runs a `session_authenticate` sent as the first message of a socket opened without
    /// credentials on its own, before reading on: when it succeeds, every later call runs
    /// with the credentials it gave, and the socket's new standing is returned.
    async fn first_call(&mut self, body: &Bytes) -> Option<Standing> {
        self.link.begin_first_call();
        let answer = rpc_envelope::handle_body(self.api, &self.caller, Uuid::now_v7(), body).await;
        let handover = self.link.end_first_call();
        if let Some(handover) = &handover {
            let token = handover.token.clone();
            self.caller.credentials =
                if handover.bearer { Credentials::Bearer(token) } else { Credentials::SessionSecret(token) };
        }
        if let Some(body) = answer.body {
            let _ = self.queue.send(body).await;
        }
        for hook in answer.after_answer {
            hook();
        }
        handover.map(|h| Standing { registration: Some(h.registration), recheck_at: h.recheck_at })
    }

    /// `session_revoked` to every subscription, then close with `code`.
    fn revoked(&self, code: u16, reason: &'static str) -> Ending {
        Ending::Close(code, reason, pushes(self.link, &SessionRevoked {}))
    }

    /// At (or past) `due`, the credential is looked up again: still good (a session used
    /// elsewhere slid forward), the next time to look; expired or gone, `Err`.
    async fn recheck(&self, due: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, ()> {
        if due.is_some_and(|due| due > self.api.env.clock.now()) {
            return Ok(due); // woken early, to notice a moved clock: not yet
        }
        match pipeline::admit_socket(self.api, &self.caller).await {
            Ok(Some(principal)) => Ok(principal.credential_expires_at),
            Ok(None) | Err(_) => Err(()),
        }
    }
}

/// How a socket ends on a message it could not read: over the size limit, 1009; a text
/// message that is not UTF-8, 1007; anything else (a broken connection, a protocol
/// violation) is dropped. Nothing more is read either way: past an oversized frame's
/// header, the reader would buffer the whole frame.
///
/// axum wraps the WebSocket library's error as its source: a message over the limit and
/// a text that is not UTF-8 get their close codes, anything else just ends the socket.
fn unreadable(error: &axum::Error) -> Ending {
    let cause = std::error::Error::source(error).and_then(|cause| cause.downcast_ref::<tungstenite::Error>());
    match cause {
        Some(tungstenite::Error::Capacity(_)) => Ending::Close(CLOSE_TOO_BIG, "message too big", vec![]),
        Some(tungstenite::Error::Utf8(_)) => Ending::Close(CLOSE_INVALID_PAYLOAD, "text message is not UTF-8", vec![]),
        _ => Ending::Gone,
    }
}

/// Resolves when `at` has passed on `clock`, or after `at_most` to look at the clock again
/// (a test may move it); never when there is nothing to wait for.
async fn until(at: Option<DateTime<Utc>>, clock: &Clock, at_most: Duration) {
    let Some(at) = at else { return std::future::pending().await };
    let left = (at - clock.now()).to_std().unwrap_or_default();
    tokio::time::sleep(left.min(at_most)).await;
}

/// The socket's one writer. Pings jump the queue; the last words (texts, then the close
/// frame) wait until the queue is drained, so they follow every answer already queued.
/// Texts already queued together go out in one flush.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<String>,
    mut pings: mpsc::Receiver<Message>,
    mut last_words: mpsc::Receiver<Vec<Message>>,
) {
    loop {
        let sent = tokio::select! {
            biased;
            Some(ping) = pings.recv() => sink.send(ping).await,
            Some(text) = queue.recv() => send_queued(&mut sink, &mut queue, text).await,
            Some(last) = last_words.recv() => {
                for message in last {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                return;
            }
            else => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Sends `first` and whatever else is queued already (up to a bound), flushing once.
async fn send_queued(
    sink: &mut SplitSink<WebSocket, Message>,
    queue: &mut mpsc::Receiver<String>,
    first: String,
) -> Result<(), axum::Error> {
    const AT_ONCE: usize = 64;
    sink.feed(Message::Text(first.into())).await?;
    for _ in 1..AT_ONCE {
        match queue.try_recv() {
            Ok(text) => sink.feed(Message::Text(text.into())).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}

/// Whether a message is one `session_authenticate` call: the one first message that runs
/// on its own, before the socket reads on (every other call runs beside the others).
fn is_sign_in(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Call {
        method: Option<String>,
    }
    serde_json::from_slice::<Call>(body).is_ok_and(|call| call.method.as_deref() == Some("session_authenticate"))
}

/// One message per subscription on the socket carrying `result` (or one without a
/// subscription id when there is none).
fn pushes(link: &SocketLink, result: &impl Serialize) -> Vec<String> {
    let ids = link.subscriptions();
    if ids.is_empty() {
        return vec![envelope(None, result)];
    }
    ids.iter().map(|id| envelope(Some(id), result)).collect()
}

/// Resolves with a close code when the socket's credential is revoked; never without one.
async fn revoked(registration: &mut Option<Registration>) -> Option<u16> {
    match registration {
        Some(registration) => registration.close.recv().await,
        None => std::future::pending().await,
    }
}
