//! Calls one method over the WebSocket transport and prints the answer.
//!
//! ```text
//! cargo run --example ws_call -- ws://127.0.0.1:8080/ws rpc.discover '{}'
//! ```
//! Send an API token with `COUNTERSIGN_TOKEN=<secret>` (it goes in the upgrade request's
//! `Authorization: Bearer` header, as on HTTP).

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:8080/ws".to_owned());
    let method = args.next().unwrap_or_else(|| "rpc.discover".to_owned());
    let params: Value = serde_json::from_str(&args.next().unwrap_or_else(|| "{}".to_owned()))?;

    let mut request = url.into_client_request()?;
    if let Ok(token) = std::env::var("COUNTERSIGN_TOKEN") {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    socket.send(Message::text(call.to_string())).await?;
    while let Some(message) = socket.next().await {
        if let Message::Text(text) = message? {
            let answer: Value = serde_json::from_str(&text)?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            break;
        }
    }
    socket.close(None).await?;
    Ok(())
}
