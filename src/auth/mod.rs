//! Identity (SPEC.md §4): accounts, passwords, sessions, API tokens, bootstrap and the
//! login limits — and [`authenticate`], which turns a request's credentials into a
//! [`Principal`] on every call.
//!
//! Credentials are looked up on every call, never cached: a revoked session or token
//! fails its very next call, on HTTP and on an open WebSocket alike. Only hashes of
//! secrets are stored. A session's expiry slides forward as it is used.

pub mod accounts;
pub mod actions;
pub mod bootstrap;
pub mod login_limits;
pub mod password;
pub mod secret;
pub mod sessions;
pub mod tokens;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::App;
use crate::authz::{ADMIN, KEEPER, Permit};
use crate::rpc::{Credentials, RpcResult};
use crate::sockets::SocketKey;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A session cookie; `renewed_until` is set when this call slid its expiry.
    Session { id: Uuid, renewed_until: Option<DateTime<Utc>> },
    /// An API token, limited to `methods` when given.
    Token { id: Uuid, methods: Option<Vec<String>> },
}

/// The authenticated caller of one call.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: Uuid,
    pub actor_id: Uuid,
    pub username: String,
    pub via: Via,
    /// Holds the `admin` role globally (everything, everywhere).
    pub admin: bool,
    /// Holds the `keeper` role globally (service accounts).
    pub keeper: bool,
    /// Its active permits, read for this call.
    pub permits: Vec<Permit>,
}

impl Principal {
    /// The key its WebSockets are registered under.
    pub fn socket_key(&self) -> SocketKey {
        match &self.via {
            Via::Session { id, .. } => SocketKey::Session(*id),
            Via::Token { id, .. } => SocketKey::Token(*id),
        }
    }

    /// The session id, when signed in with a cookie.
    pub fn session_id(&self) -> Option<Uuid> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            Via::Token { .. } => None,
        }
    }

    /// Whether its credential allows calling `method` (tokens may be limited).
    pub fn may_call(&self, method: &str) -> bool {
        match &self.via {
            Via::Token { methods: Some(methods), .. } => methods.iter().any(|m| m == method),
            _ => true,
        }
    }
}

/// Who the credentials belong to, and the permits they hold now.
pub(crate) struct Resolved {
    pub account_id: Uuid,
    pub actor_id: Uuid,
    pub username: String,
    pub via: Via,
    pub permits: Vec<Permit>,
}

/// Resolves credentials to a principal; `None` when absent, unknown, expired or revoked.
pub async fn authenticate(app: &App, credentials: &Credentials) -> RpcResult<Option<Principal>> {
    let now = app.clock.now();
    let resolved = match credentials {
        Credentials::None => return Ok(None),
        Credentials::Session(token) => sessions::resolve(app, token, now).await?,
        Credentials::Bearer(token) => tokens::resolve(app, token, now).await?,
    };
    let Some(resolved) = resolved else { return Ok(None) };
    let permits = resolved.permits;
    let global = |role: &str| permits.iter().any(|p| p.role == role && p.scope_id.is_none());
    Ok(Some(Principal {
        account_id: resolved.account_id,
        actor_id: resolved.actor_id,
        username: resolved.username,
        via: resolved.via,
        admin: global(ADMIN),
        keeper: global(KEEPER),
        permits,
    }))
}
