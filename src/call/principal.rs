//! The authenticated caller of one call: who (account, actor), how they proved it (a
//! session or an API token), and the permits they hold, current for this very call
//! (read from the database, or from the credential cache while nothing about them has
//! changed). `auth` builds it from the credentials; the pipeline, the handlers and the
//! socket registry read it.
//!
//! A cached principal is cloned for every call it answers, so what it holds is cheap to
//! clone: its strings and lists are shared (`Arc`), never copied.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::authz::{ADMIN, Grants, KEEPER, Permit, Roles};
use crate::sockets::SocketKey;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A session cookie; `renewed_until` is set when this call slid its expiry.
    Session { id: Uuid, renewed_until: Option<DateTime<Utc>> },
    /// An API token, limited to `methods` when given.
    Token { id: Uuid, methods: Option<Arc<[String]>> },
}

/// The authenticated caller of one call.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: Uuid,
    pub actor_id: Uuid,
    pub username: Arc<str>,
    pub via: Via,
    /// Holds the `admin` role globally (everything, everywhere).
    pub admin: bool,
    /// Holds the `keeper` role globally (service accounts).
    pub keeper: bool,
    /// Its active permits, current for this call.
    pub permits: Arc<[Permit]>,
    /// What they allow, compiled for questions.
    pub grants: Arc<Grants>,
    /// How `whoami` shows it (its account, its permits and what they allow), as JSON:
    /// encoded once per resolution, since a cached principal answers many calls.
    pub shown: Arc<RawValue>,
    /// When its session or token stops working, as of this call (`None`: a token that
    /// never expires). A session's slides forward as it is used.
    pub credential_expires_at: Option<DateTime<Utc>>,
    /// When its session or token was last recorded as used (renewal and `last_used_at`
    /// are written at most once a minute).
    pub credential_used_at: Option<DateTime<Utc>>,
}

/// The account a principal is of, as its credential lookup read it
/// (`auth::accounts::HOLDER_COLUMNS`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Holder {
    pub account_id: Uuid,
    pub actor_id: Uuid,
    pub username: String,
    pub email: Option<String>,
    #[sqlx(rename = "account_created_at")]
    pub created_at: DateTime<Utc>,
}

impl Principal {
    /// A principal of `holder` holding `permits` (active at the time of the call) of
    /// `roles`, shown as `shown` (`whoami`'s answer, which `auth` encodes), whose credential
    /// stops working at `expires_at` and was last recorded as used at `used_at`.
    pub fn new(
        roles: &Roles,
        holder: Holder,
        via: Via,
        permits: Vec<Permit>,
        shown: Box<RawValue>,
        expires_at: Option<DateTime<Utc>>,
        used_at: Option<DateTime<Utc>>,
    ) -> Principal {
        let global = |role: &str| permits.iter().any(|p| p.role == role && p.scope_id.is_none());
        let (admin, keeper) = (global(ADMIN), global(KEEPER));
        let grants = Arc::new(Grants::compile(roles, &permits));
        Principal {
            account_id: holder.account_id,
            actor_id: holder.actor_id,
            username: holder.username.into(),
            via,
            admin,
            keeper,
            permits: permits.into(),
            grants,
            shown: shown.into(),
            credential_expires_at: expires_at,
            credential_used_at: used_at,
        }
    }

    /// Whether its credential and every permit are still unexpired at `now` (checked on
    /// every call: expiry is never cached).
    pub fn unexpired_at(&self, now: DateTime<Utc>) -> bool {
        self.credential_expires_at.is_none_or(|at| at > now)
            && self.permits.iter().all(|p| p.expires_at.is_none_or(|at| at > now))
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
