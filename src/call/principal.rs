//! The authenticated caller of one call: who (account, actor), how they proved it (a
//! session or an API token), and the permits they hold, read for this very call. `auth`
//! builds it from the credentials; the pipeline, the handlers and the socket registry
//! read it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::authz::{ADMIN, KEEPER, Permit};
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
    /// When its session or token stops working, as of this call (`None`: a token that
    /// never expires). A session's slides forward as it is used.
    pub credential_expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// A principal of `account_id` holding `permits` (active at the time of the call).
    pub fn new(account_id: Uuid, actor_id: Uuid, username: String, via: Via, permits: Vec<Permit>) -> Principal {
        let global = |role: &str| permits.iter().any(|p| p.role == role && p.scope_id.is_none());
        let (admin, keeper) = (global(ADMIN), global(KEEPER));
        Principal { account_id, actor_id, username, via, admin, keeper, permits, credential_expires_at: None }
    }

    /// The same principal, whose credential stops working at `at`.
    pub fn expiring(self, at: Option<DateTime<Utc>>) -> Principal {
        Principal { credential_expires_at: at, ..self }
    }

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

    /// The methods its credential is limited to (`None`: every method).
    pub fn token_methods(&self) -> Option<&[String]> {
        match &self.via {
            Via::Token { methods: Some(methods), .. } => Some(methods),
            _ => None,
        }
    }

    /// Whether its credential allows calling `method` (tokens may be limited).
    pub fn may_call(&self, method: &str) -> bool {
        self.token_methods().is_none_or(|methods| methods.iter().any(|m| m == method))
    }
}
