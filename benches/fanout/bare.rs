//! The raw stack, measured in the same run with the same client: axum's WebSocket
//! (tokio-tungstenite) on tokio, and nothing else: no database, no commit, no
//! credentials, no queue or writer task per socket. What it delivers in is about the least
//! any server on this stack and this machine needs to write one message to each of N
//! loopback sockets: one task wake, one frame and one `sendto` per socket.
//!
//! It speaks just enough of the contract for the client: a socket's first message is
//! answered as `notifications_subscribe` (a fresh subscription id), and `POST /rpc` sends
//! every socket one notification as countersign frames `bench_broadcast`'s (the same
//! envelope, a row of the same fields), and answers `{"notified": <accounts named>}`.
//! Each socket is one task waiting on a broadcast channel and on its own reads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use countersign::notify::StreamEnvelope;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::action;

/// Each socket's read buffer, as countersign sets it.
const READ_BUFFER_BYTES: usize = 4096;
/// Broadcasts a socket may fall behind by (rounds are a second apart: never reached).
const BACKLOG: usize = 16;

#[derive(Clone)]
struct Shared {
    rows: broadcast::Sender<Arc<str>>,
    open: Arc<AtomicUsize>,
    seq: Arc<AtomicI64>,
}

/// The raw-stack server, on a free loopback port.
pub struct Bare {
    pub addr: SocketAddr,
    shared: Shared,
    served: JoinHandle<std::io::Result<()>>,
}

impl Bare {
    pub async fn start() -> anyhow::Result<Bare> {
        // TCP_NODELAY, as countersign's listener sets it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let shared = Shared { rows: broadcast::channel(BACKLOG).0, open: Arc::default(), seq: Arc::default() };
        let app = axum::Router::new()
            .route("/ws", get(upgrade))
            .route("/rpc", post(broadcast_call))
            .with_state(shared.clone());
        let served = tokio::spawn(axum::serve(listener, app).into_future());
        Ok(Bare { addr, shared, served })
    }

    /// Sockets open now.
    pub fn sockets_open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    pub fn stop(self) {
        self.served.abort();
    }
}

async fn upgrade(State(shared): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(READ_BUFFER_BYTES).on_upgrade(move |mut socket| async move {
        shared.open.fetch_add(1, Ordering::SeqCst);
        // Subscribed to the broadcasts before the subscribe call is answered, as countersign's
        // subscriptions are: a broadcast sent after the answer is never missed.
        let _ = serve(shared.rows.subscribe(), &mut socket).await;
        shared.open.fetch_sub(1, Ordering::SeqCst);
    })
}

/// Answers the first message as a subscribe call, then sends each broadcast row until the
/// client goes (or falls [`BACKLOG`] behind, which fails its round).
async fn serve(mut rows: broadcast::Receiver<Arc<str>>, socket: &mut WebSocket) -> Result<(), axum::Error> {
    let Some(Ok(Message::Text(_))) = socket.recv().await else { return Ok(()) };
    let id = Uuid::now_v7().to_string();
    socket.send(Message::Text(json!({ "jsonrpc": "2.0", "id": 1, "result": id }).to_string().into())).await?;
    let envelope = StreamEnvelope::new(&id);
    loop {
        tokio::select! {
            row = rows.recv() => match row {
                Ok(row) => socket.send(Message::Text(envelope.frame(&row).into())).await?,
                Err(_) => return Ok(()),
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(()),
                Some(Ok(_)) => continue,
            },
        }
    }
}

/// `POST /rpc`: one `bench_broadcast` row to every socket.
async fn broadcast_call(State(shared): State<Shared>, Json(call): Json<Value>) -> Json<Value> {
    let params = &call["params"];
    let notified = params["account_ids"].as_array().map_or(0, Vec::len);
    let row = json!({
        "seq": shared.seq.fetch_add(1, Ordering::SeqCst) + 1,
        "type": action::KIND,
        "data": { "sent_at_micros": params["sent_at_micros"] },
        "created_at": chrono::Utc::now(),
    });
    let _ = shared.rows.send(row.to_string().into());
    Json(json!({ "jsonrpc": "2.0", "id": call["id"], "result": { "notified": notified } }))
}
