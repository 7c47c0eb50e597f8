//! `countersign call METHOD [PARAMS]`: one call over POST, or over GET with `--get` (reads
//! only), with the target's token. The answer's `result`, or its `error` object.

use serde_json::{Value, json};

use super::credentials::Target;
use super::{Failure, base};

/// Calls `method` on `target`; `Ok(Err(error))` when the server answered with an error.
pub async fn call(target: &Target, method: &str, params: Value, get: bool) -> Result<Result<Value, Value>, Failure> {
    let http = reqwest::Client::new();
    let url = base(&target.url);
    let mut request = if get {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("params", &params.to_string())
            .append_pair("id", "1")
            .finish();
        http.get(format!("{url}/rpc/{method}?{query}"))
    } else {
        http.post(format!("{url}/rpc")).json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
    };
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| Failure::unreachable(url, e.without_url()))?;
    answer(url, response).await
}

/// A JSON-RPC answer's `result`, or `Ok(Err(error))` for its `error` object; a response
/// that is neither is `Unreachable` (something other than the server answered).
pub async fn answer(url: &str, response: reqwest::Response) -> Result<Result<Value, Value>, Failure> {
    let status = response.status();
    let no_answer = || Failure::unreachable(url, format!("HTTP {status} without a JSON-RPC answer"));
    let mut answer: Value = response.json().await.map_err(|_| no_answer())?;
    if let Some(result) = answer.get_mut("result") {
        return Ok(Ok(result.take()));
    }
    answer.get_mut("error").map(|error| Err(error.take())).ok_or_else(no_answer)
}
