//! `GET /ws`: the same JSON-RPC calls over a WebSocket, with the credentials of the
//! upgrade request, plus server-pushed notifications.
//!
//! Each message is a body as POST takes it (a call or a batch). Calls on one socket run
//! concurrently, at most [`MAX_IN_FLIGHT`] at a time; past that the socket stops reading,
//! which slows only this socket. Answers and pushed notifications share one bounded queue
//! (`websocket.outbound_queue`) to one writer; pings and close frames jump the queue.
//!
//! A socket closes with 1001 on shutdown (after finishing its calls), 4001 when the
//! session or token that opened it is revoked (after a `session_revoked` message), 4002
//! when a subscriber falls behind (after `resync_required`), and 1000 when nothing, not
//! even a pong, was heard from it for `websocket.idle_timeout_s`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use super::request::{MAX_BODY_BYTES, caller_from};
use crate::call::{Caller, Transport};
use crate::notify::{ResyncRequired, SessionRevoked, envelope};
use crate::rpc::{Api, envelope as rpc_envelope, pipeline};
use crate::sockets::{CLOSE_RESYNC, Registration, SocketLink};

/// Calls one socket may have running at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Close code sent when the server shuts down ("going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code sent to a socket that went quiet.
pub const CLOSE_IDLE: u16 = 1000;
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
    let caller = caller_from(&headers, peer, Transport::WebSocket);
    // A good credential registers the socket, so that revoking it closes the socket.
    let principal = match pipeline::admit_socket(&api, &caller).await {
        Ok(principal) => principal,
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return status.into_response();
        }
    };
    let registration = principal.map(|p| api.env.sockets.register(p.socket_key()));
    let connections = api.connections.clone();
    // A small read buffer (it grows for a larger frame): the default 128 KiB per socket
    // was most of an idle socket's memory (measured by benches/fanout.rs).
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| connections.track_future(serve(api, caller, registration, socket)))
}

/// Why the read loop ended.
enum Ending {
    /// The client closed or the connection broke: nothing more to send.
    Gone,
    /// The server closes, with this code, after sending these texts.
    Close(u16, &'static str, Vec<String>),
}

async fn serve(api: Arc<Api>, mut caller: Caller, mut registration: Option<Registration>, socket: WebSocket) {
    let env = api.env.clone();
    env.metrics.socket_opened();
    let (sink, mut stream) = socket.split();
    let (queue_tx, queue_rx) = mpsc::channel::<String>(env.config.websocket.outbound_queue);
    let (ping_tx, ping_rx) = mpsc::channel::<Message>(1);
    let (last_tx, last_rx) = mpsc::channel::<Vec<Message>>(1);
    let link = SocketLink::new(queue_tx.clone());
    caller.socket = Some(link.clone());
    let writer = tokio::spawn(write(sink, queue_rx, ping_rx, last_rx));

    let ws_config = &env.config.websocket;
    let mut ping = tokio::time::interval(Duration::from_secs(ws_config.ping_interval_s));
    ping.reset();
    let idle_timeout = Duration::from_secs(ws_config.idle_timeout_s);
    let mut last_heard = Instant::now();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let calls = TaskTracker::new();
    let ending = loop {
        let message = tokio::select! {
            _ = api.shutdown.cancelled() => break Ending::Close(CLOSE_GOING_AWAY, "server shutting down", vec![]),
            Some(code) = revoked(&mut registration) => {
                let texts = pushes(&link, &SessionRevoked {});
                break Ending::Close(code, "credentials revoked", texts);
            }
            _ = link.resync_requested() => {
                env.metrics.socket_resynced();
                let texts = pushes(&link, &ResyncRequired {});
                break Ending::Close(CLOSE_RESYNC, "resync required", texts);
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > idle_timeout {
                    break Ending::Close(CLOSE_IDLE, "idle timeout", vec![]);
                }
                let _ = ping_tx.try_send(Message::Ping(Bytes::new()));
                continue;
            }
            message = stream.next() => message,
        };
        last_heard = Instant::now();
        let body: Bytes = match message {
            Some(Ok(Message::Text(text))) => Bytes::from(text),
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break Ending::Gone,
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else { break Ending::Gone };
        let (api, caller, queue) = (api.clone(), caller.clone(), queue_tx.clone());
        calls.spawn(async move {
            let answer = rpc_envelope::handle_body(&api, &caller, &body).await;
            if let Some(body) = answer.body {
                let _ = queue.send(body).await;
            }
            for hook in answer.after_answer {
                hook();
            }
            drop(permit);
        });
    };

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

/// The socket's one writer. Pings jump the queue; the last words (texts, then the close
/// frame) wait until the queue is drained, so they follow every answer already queued.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<String>,
    mut pings: mpsc::Receiver<Message>,
    mut last_words: mpsc::Receiver<Vec<Message>>,
) {
    loop {
        let (messages, last) = tokio::select! {
            biased;
            Some(ping) = pings.recv() => (vec![ping], false),
            Some(text) = queue.recv() => (vec![Message::Text(text.into())], false),
            Some(last) = last_words.recv() => (last, true),
            else => return,
        };
        for message in messages {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        if last {
            return;
        }
    }
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
