//! Signing in for tests: bootstrap the first admin, create accounts, log in, and call as
//! a signed-in account with a session cookie (plus the right Origin) or a bearer token.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{TestServer, WsClient};

/// The password every test account gets (long enough for the 12-character rule).
pub const PASSWORD: &str = "correct horse battery staple";
pub const ADMIN: &str = "admin";

/// How a [`Client`] proves who it is.
#[derive(Debug, Clone)]
pub enum Auth {
    Anonymous,
    /// `countersign_session=<token>`, sent with `Origin: <public origin>`.
    Cookie(String),
    Bearer(String),
}

/// An HTTP/WebSocket client acting as one caller.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub auth: Auth,
    /// The Origin header sent with cookie calls; the server's public origin by default.
    pub origin: Option<String>,
    /// The account this client is signed in as, when known.
    pub account_id: Option<String>,
}

impl TestServer {
    /// The one-time bootstrap token the server wrote at start.
    pub fn bootstrap_token(&self) -> String {
        let path = self.env.config.auth.bootstrap_token_file.clone().expect("tests set the token file");
        std::fs::read_to_string(path).expect("the bootstrap token file exists").trim().to_owned()
    }

    pub fn anonymous(&self) -> Client {
        Client {
            base: self.base.clone(),
            addr: self.addr,
            http: self.http.clone(),
            auth: Auth::Anonymous,
            origin: Some(self.env.config.server.public_origin.clone()),
            account_id: None,
        }
    }

    /// Bootstraps the first admin (`admin` / [`PASSWORD`]) and signs it in.
    pub async fn admin(&self) -> Client {
        let token = self.bootstrap_token();
        let response = self
            .anonymous()
            .call("account_bootstrap", json!({"token": token, "username": ADMIN, "password": PASSWORD}))
            .await;
        assert!(response.get("result").is_some(), "bootstrap: {response}");
        self.login(ADMIN, PASSWORD).await
    }

    /// Signs in; panics when that fails.
    pub async fn login(&self, username: &str, password: &str) -> Client {
        login_at(self.anonymous(), username, password).await
    }

    /// Creates an account through `admin` and signs it in.
    pub async fn account(&self, admin: &Client, username: &str) -> Client {
        let response = admin.call("account_create", json!({"username": username, "password": PASSWORD})).await;
        assert!(response.get("result").is_some(), "account_create {username}: {response}");
        self.login(username, PASSWORD).await
    }
}

impl Client {
    /// The same caller with a bearer token instead.
    pub fn with_bearer(&self, secret: &str) -> Client {
        Client { auth: Auth::Bearer(secret.to_owned()), ..self.clone() }
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Anonymous => request,
            Auth::Cookie(cookie) => {
                let request = request.header("cookie", cookie);
                match &self.origin {
                    Some(origin) => request.header("origin", origin),
                    None => request,
                }
            }
            Auth::Bearer(secret) => request.bearer_auth(secret),
        }
    }

    /// Calls `method` over POST; returns the whole JSON-RPC response.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self.authed(self.http.post(format!("{}/rpc", self.base)).json(&body)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Calls and returns `result`, panicking on an error.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        response.get("result").cloned().unwrap_or_else(|| panic!("{method} failed: {response}"))
    }

    /// GETs `path` (with query): (status, headers, body).
    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self.authed(self.http.get(format!("{}{path}", self.base))).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Opens a WebSocket with this client's credentials (and Origin for cookies).
    pub async fn ws(&self) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{}/ws", self.addr).into_client_request()?;
        let headers = request.headers_mut();
        match &self.auth {
            Auth::Anonymous => {}
            Auth::Cookie(cookie) => {
                headers.insert("cookie", cookie.parse().unwrap());
                if let Some(origin) = &self.origin {
                    headers.insert("origin", origin.parse().unwrap());
                }
            }
            Auth::Bearer(secret) => {
                headers.insert("authorization", format!("Bearer {secret}").parse().unwrap());
            }
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(WsClient { stream })
    }
}

impl TestServer {
    /// Grants `role` (at `scope`) to an account straight in the database, as an operator
    /// would with `countersign permit grant` (the only way to make a keeper).
    pub async fn grant_directly(
        &self,
        account_id: &str,
        role: &str,
        scope: Option<&str>,
    ) -> countersign::authz::Permit {
        use countersign::authz::permits::{self, NewPermit};
        let account_id: uuid::Uuid = account_id.parse().unwrap();
        let mut tx = self.env.db.begin_write().await.unwrap();
        let found = countersign::auth::accounts::find_enabled(tx.conn(), account_id).await.unwrap().unwrap();
        let new = NewPermit {
            account_id,
            actor_id: found.actor_id,
            role,
            scope_id: scope,
            granted_by: None,
            source_offer_id: None,
            expires_at: None,
        };
        let (permit, _) = permits::grant(tx.conn(), new, self.clock.now()).await.unwrap();
        tx.commit().await.unwrap();
        permit
    }

    /// Runs the offer expiry sweeper now (the server runs it every minute); returns how
    /// many offers it expired.
    pub async fn sweep_offers(&self) -> usize {
        countersign::offers::expiry::sweep(&self.env).await.unwrap()
    }

    /// Runs the request expiry sweeper now (the server runs it every minute); returns how
    /// many requests it expired.
    pub async fn sweep_requests(&self) -> usize {
        countersign::requests::expiry::sweep(&self.env).await.unwrap()
    }
}

/// Signs in as `username` on the server `anonymous` calls; panics when that fails.
pub async fn login_at(anonymous: Client, username: &str, password: &str) -> Client {
    let response = anonymous
        .http
        .post(format!("{}/rpc", anonymous.base))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "account_login",
                      "params": {"username": username, "password": password}}))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.starts_with("countersign_session=") && c.len() > 20))
        .map(str::to_owned);
    let body: Value = response.json().await.unwrap();
    let cookie = cookie.unwrap_or_else(|| panic!("login of {username} set no cookie: {body}"));
    let account_id = body["result"]["account"]["id"].as_str().map(str::to_owned);
    Client { auth: Auth::Cookie(cookie), account_id, ..anonymous }
}
