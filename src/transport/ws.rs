//! `GET /ws`: the same JSON-RPC calls over a WebSocket, with the credentials of the
//! upgrade request.
//!
//! Each message is a body as POST takes it (a call or a batch). Calls on one socket run
//! concurrently, at most [`MAX_IN_FLIGHT`] at a time; past that the socket stops reading,
//! which slows only this socket. Answers go through one bounded queue to one writer. On
//! shutdown the socket stops reading, finishes its calls, and closes with 1001.

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
use crate::rpc::{Caller, Transport, envelope};

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
    let connections = app.connections.clone();
    ws.max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| connections.track_future(serve(app, caller, socket)))
}

async fn serve(app: Arc<App>, caller: Caller, socket: WebSocket) {
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
            if let Some(answer) = envelope::handle_body(&app, &caller, &body).await {
                let _ = out_tx.send(Message::Text(answer.to_string().into())).await;
            }
            drop(permit);
        });
    };

    calls.close();
    calls.wait().await;
    if let Some(code) = close {
        let frame = CloseFrame { code, reason: "server shutting down".into() };
        let _ = out_tx.send(Message::Close(Some(frame))).await;
    }
    drop(out_tx);
    let _ = writer.await;
    app.metrics.socket_closed();
}
