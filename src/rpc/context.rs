//! What a handler gets: who is calling and from where, the call's database access, the
//! audit writer, the clock, and a place to queue work that must wait for the commit.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{RpcError, RpcResult};
use crate::app::App;
use crate::audit::{self, AuditEvent};
use crate::auth::Principal;
use crate::db::{ConnRef, ReadConn, Tx};
use crate::notify;
use crate::sockets::SocketLink;

/// Which transport a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Post,
    Get,
    WebSocket,
    /// The server's own housekeeping (expiring offers), not a client's call.
    System,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Post => "post",
            Transport::Get => "get",
            Transport::WebSocket => "ws",
            Transport::System => "system",
        }
    }
}

/// The credentials a request presented. Debug output never shows the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    None,
    /// The session cookie's token.
    Session(String),
    /// An `Authorization: Bearer` API token.
    Bearer(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Session(_) => "Session(<redacted>)",
            Credentials::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

/// Who is calling and from where, as the transport saw it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credentials: Credentials,
    pub ip: Option<IpAddr>,
    /// The `Origin` header, for the CSRF check of cookie-authenticated mutations.
    pub origin: Option<String>,
    pub transport: Transport,
    /// The socket a WebSocket call came through (subscriptions push through it).
    pub socket: Option<SocketLink>,
}

/// What the transport should do with the session cookie after a call.
#[derive(Clone, PartialEq, Eq)]
pub enum SessionCookie {
    Set { token: String, expires_at: DateTime<Utc> },
    Clear,
}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionCookie::Set { expires_at, .. } => write!(f, "Set(<redacted>, {expires_at})"),
            SessionCookie::Clear => f.write_str("Clear"),
        }
    }
}

enum CallDb {
    /// A mutation: everything happens in this transaction, begun on first use (so slow
    /// work before it, like hashing a password, does not hold SQLite's write lock).
    Write(Option<Tx>),
    /// A read: a pooled connection, taken on first use.
    Read(Option<ReadConn>),
}

/// Work queued on a call: after its commit, or after its answer has been queued.
pub type Hook = Box<dyn FnOnce() + Send>;

/// What a finished call hands back besides its result.
#[derive(Default)]
pub struct Finished {
    pub cookie: Option<SessionCookie>,
    /// To run once the answer is queued on the socket (a subscription starts pushing).
    pub after_answer: Vec<Hook>,
}

/// The context of one call, handed to its handler.
pub struct Ctx {
    pub request_id: Uuid,
    pub caller: Caller,
    principal: Option<Principal>,
    app: Arc<App>,
    db: CallDb,
    after_commit: Vec<Hook>,
    after_answer: Vec<Hook>,
    cookie: Option<SessionCookie>,
    /// Accounts notified in this call (each is announced and woken once).
    notified: HashSet<Uuid>,
}

impl Ctx {
    pub(crate) fn new(
        app: Arc<App>,
        caller: Caller,
        principal: Option<Principal>,
        request_id: Uuid,
        side_effects: bool,
    ) -> Ctx {
        let db = if side_effects { CallDb::Write(None) } else { CallDb::Read(None) };
        Ctx {
            request_id,
            caller,
            principal,
            app,
            db,
            after_commit: Vec::new(),
            after_answer: Vec::new(),
            cookie: None,
            notified: HashSet::new(),
        }
    }

    /// A context for the server's own housekeeping: no caller, one write transaction, the
    /// same audit and notification writers as any call. Finish it with [`Ctx::commit`].
    pub fn system(app: Arc<App>) -> Ctx {
        let caller = Caller {
            credentials: Credentials::None,
            ip: None,
            origin: None,
            transport: Transport::System,
            socket: None,
        };
        Ctx::new(app, caller, None, Uuid::now_v7(), true)
    }

    /// Commits a [`Ctx::system`] context and runs its post-commit hooks.
    pub async fn commit(self) -> RpcResult<()> {
        self.finish().await.map(|_| ())
    }

    /// The server's shared state (config, clock, registry).
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The shared state, to keep beyond the call (a subscription task).
    pub fn shared_app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// The current time on the server's (injectable) clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.app.clock.now()
    }

    /// The signed-in caller, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The signed-in caller; `unauthenticated` for anonymous calls.
    pub fn require_principal(&self) -> RpcResult<&Principal> {
        self.principal.as_ref().ok_or_else(|| RpcError::unauthenticated("no_credentials"))
    }

    /// The caller's IP as text, for audit rows and login limits.
    pub fn ip(&self) -> String {
        self.caller.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }

    /// The call's connection: its transaction for a mutation, a read connection otherwise.
    pub async fn conn(&mut self) -> RpcResult<ConnRef<'_>> {
        match &mut self.db {
            CallDb::Write(slot) => {
                if slot.is_none() {
                    *slot = Some(self.app.db.begin_write().await?);
                }
                Ok(slot.as_mut().expect("transaction was just begun").conn())
            }
            CallDb::Read(slot) => {
                if slot.is_none() {
                    *slot = Some(self.app.db.read().await?);
                }
                Ok(slot.as_mut().expect("connection was just taken").conn())
            }
        }
    }

    /// A pooled connection outside the call's transaction, for a read that should not
    /// wait inside it (checking a password before the transaction begins).
    pub async fn reader(&mut self) -> RpcResult<ReadConn> {
        Ok(self.app.db.read().await?)
    }

    /// Records an audit row in the call's transaction (mutations only).
    pub async fn audit(&mut self, event: AuditEvent) -> RpcResult<()> {
        let origin = audit::Origin {
            account_id: self.principal.as_ref().map(|p| p.account_id),
            actor_id: self.principal.as_ref().map(|p| p.actor_id),
            ip: self.caller.ip.map(|ip| ip.to_string()),
            request_id: self.request_id,
        };
        let now = self.now();
        if !matches!(self.db, CallDb::Write(_)) {
            return Err(RpcError::internal("audit rows are written only by actions with side effects"));
        }
        let conn = self.conn().await?;
        audit::append(conn, event, &origin, now).await.map(|_| ())
    }

    /// Queues `hook` to run after the call's transaction commits; dropped on rollback.
    pub fn after_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(hook));
    }

    /// Queues `hook` to run once the call's answer is queued on its socket, so that what
    /// the hook sends arrives after the answer (WebSocket calls only).
    pub fn after_answer(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after_answer.push(Box::new(hook));
    }

    /// Appends a notification to `account_id`'s stream in the call's transaction, and
    /// wakes its subscribers once that commits: the one way a handler notifies anyone.
    pub async fn notify(&mut self, account_id: Uuid, kind: &str, data: serde_json::Value) -> RpcResult<i64> {
        let now = self.now();
        let seq = notify::push(self.conn().await?, account_id, kind, &data, now).await?;
        if self.notified.insert(account_id) {
            notify::announce(self.conn().await?, account_id).await?;
            let hub = self.app.hub.clone();
            self.after_commit(move || hub.wake(account_id));
        }
        Ok(seq)
    }

    /// Asks the transport to set or clear the session cookie (HTTP only).
    pub fn set_session_cookie(&mut self, cookie: SessionCookie) {
        self.cookie = Some(cookie);
    }

    /// Commits the call's transaction (if any), then runs the post-commit hooks.
    pub(crate) async fn finish(self) -> RpcResult<Finished> {
        if let CallDb::Write(Some(tx)) = self.db {
            tx.commit().await?;
        }
        for hook in self.after_commit {
            hook();
        }
        Ok(Finished { cookie: self.cookie, after_answer: self.after_answer })
    }
}
