//! `countersign call`: one JSON-RPC call over HTTP, for scripts.

use serde_json::{Value, json};

/// Calls `method` at `url` (the server's base URL) with an optional bearer token.
/// Returns the `result`, or the JSON-RPC `error` object as the error.
pub async fn call(url: &str, token: Option<&str>, method: &str, params: Value) -> anyhow::Result<Result<Value, Value>> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let mut request = reqwest::Client::new().post(format!("{}/rpc", url.trim_end_matches('/'))).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut answer: Value = request.send().await?.error_for_status()?.json().await?;
    match answer.get_mut("result") {
        Some(result) => Ok(Ok(result.take())),
        None => Ok(Err(answer.get_mut("error").map(Value::take).unwrap_or(answer))),
    }
}
