//! `GET /ws`: the same JSON-RPC calls over a WebSocket, with the credentials of the
//! upgrade request.
//!
//! Each message is a body as POST takes it (a call or a batch). Calls on one socket run
//! concurrently, at most [`MAX_IN_FLIGHT`] at a time; past that the socket stops reading,
//! which slows only this socket. Answers go through one bounded queue to one writer. On
//! shutdown the socket stops reading, finishes its calls, and closes with 1001; when the
//! session or token that opened it is revoked, it closes with 4001.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use super::{MAX_BODY_BYTES, caller_from};
use crate::app::App;
use crate::auth;
use crate::rpc::{Caller, Credentials, Transport, envelope};
use crate::sockets::{CLOSE_REVOKED, Registration};

/// Calls one socket may have running at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Messages queued for one socket's writer.
pub const OUTBOUND_QUEUE: usize = 256;
/// Close code sent when the server shuts down ("going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if app.shutdown.is_cancelled() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let caller = caller_from(&headers, peer, Transport::WebSocket);
    // Credentials are checked at the upgrade (and again on every call): a bad one is
    // refused here, and a good one registers the socket so revoking it closes the socket.
    let principal = match auth::authenticate(&app, &caller.credentials).await {
        Ok(principal) => principal,
        Err(e) => {
            return StatusCode::from_u16(e.kind.http_status())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
                .into_response();
        }
    };
    if principal.is_none() && caller.credentials != Credentials::None {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // Cookies ride along on cross-site handshakes too: a cookie socket must be opened by our origin.
    if matches!(caller.credentials, Credentials::Session(_)) {
        let ours = app.config.server.public_origin.trim_end_matches('/');
        if caller.origin.as_deref().map(|o| o.trim_end_matches('/')) != Some(ours) {
            return StatusCode::FORBIDDEN.into_response();
        }
    }
    let registration = principal.map(|p| app.sockets.register(p.socket_key()));
    let connections = app.connections.clone();
    ws.max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| connections.track_future(serve(app, caller, registration, socket)))
}

async fn serve(app: Arc<App>, caller: Caller, mut registration: Option<Registration>, socket: WebSocket) {
    app.metrics.socket_opened();
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });

    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let calls = TaskTracker::new();
    let close = loop {
        let message = tokio::select! {
            _ = app.shutdown.cancelled() => break Some(CLOSE_GOING_AWAY),
            Some(code) = revoked(&mut registration) => break Some(code),
            message = stream.next() => message,
        };
        let body: Bytes = match message {
            Some(Ok(Message::Text(text))) => Bytes::from(text),
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else { break None };
        let (app, caller, out_tx) = (app.clone(), caller.clone(), out_tx.clone());
        calls.spawn(async move {
            if let Some(answer) = envelope::handle_body(&app, &caller, &body).await.body {
                let _ = out_tx.send(Message::Text(answer.to_string().into())).await;
            }
            drop(permit);
        });
    };

    calls.close();
    calls.wait().await;
    if let Some(code) = close {
        let reason = if code == CLOSE_REVOKED { "credentials revoked" } else { "server shutting down" };
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = out_tx.send(Message::Close(Some(frame))).await;
    }
    drop(out_tx);
    let _ = writer.await;
    app.metrics.socket_closed();
}

/// Resolves with a close code when the socket's credential is revoked; never without one.
async fn revoked(registration: &mut Option<Registration>) -> Option<u16> {
    match registration {
        Some(registration) => registration.close.recv().await,
        None => std::future::pending().await,
    }
}
