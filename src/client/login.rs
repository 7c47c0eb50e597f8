//! `countersign login --url U --username N`: signs in with the account's password, mints an
//! API token, signs that session out again, and hands the token back for saving
//! (`credentials::store`), so scripts never handle the password or the cookie dance.
//!
//! The token is minted with the session cookie, so the call carries the `Origin` of `U`
//! (the CSRF rule, docs/protocol.md §4.2): `U` must be one of the server's trusted origins
//! — its public origin, or `http://127.0.0.1:PORT` / `http://localhost:PORT` by default.

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use super::{Failure, Outcome, base};

/// The session cookie's name (docs/protocol.md §4).
const SESSION_COOKIE: &str = "countersign_session";

/// Signs in at `url` and mints a token called `name`; its secret.
pub async fn mint_token(url: &str, username: &str, password: &str, name: &str) -> Result<String, Failure> {
    let http = reqwest::Client::new();
    let url = base(url);
    let login = json!({ "jsonrpc": "2.0", "id": 1, "method": "account_login",
                        "params": { "username": username, "password": password } });
    let response =
        http.post(format!("{url}/rpc")).json(&login).send().await.map_err(|e| Failure::unreachable(url, e))?;
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(str::to_owned);
    answer(url, response).await?;
    let cookie =
        cookie.ok_or_else(|| Failure::new(Outcome::Internal, "the server signed in but set no session cookie"))?;
    let origin = origin_of(url);
    let call = |method: &str, params: Value| {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        http.post(format!("{url}/rpc")).header(COOKIE, &cookie).header(ORIGIN, &origin).json(&body).send()
    };
    let minted = call("token_create", json!({ "name": name })).await.map_err(|e| Failure::unreachable(url, e))?;
    let minted = answer(url, minted).await.map_err(|failure| match failure.outcome {
        Outcome::Forbidden => {
            Failure::new(Outcome::Forbidden, format!("{} (use the server's public origin as --url)", failure.message))
        }
        _ => failure,
    })?;
    // The session was only for minting: end it (the token lives on).
    let _ = call("account_logout", json!({})).await;
    minted["secret"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::new(Outcome::Internal, "token_create answered without a secret"))
}

/// The `result` of a JSON-RPC answer, or the failure its error means.
async fn answer(url: &str, response: reqwest::Response) -> Result<Value, Failure> {
    super::call::answer(url, response).await?.map_err(|error| {
        let reason = error["data"]["reason"].as_str().unwrap_or("");
        let message = error["message"].as_str().unwrap_or("the server refused");
        Failure::new(Outcome::of_error(&error), format!("{message} ({reason})"))
    })
}

/// `scheme://host[:port]` of a base URL (what a browser would send as `Origin`).
fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => url.to_owned(),
    }
}
