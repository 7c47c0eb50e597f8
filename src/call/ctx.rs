//! A call's context, handed to its handler: who is calling, the call's database access
//! (a transaction for a change), the audit and notification writers, the clock, and a
//! place to queue work that must wait for the commit. Background jobs and the command
//! line build one too ([`Ctx::system`], [`Ctx::command_line`]), so their changes are
//! written exactly as a call's are.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::caller::{Caller, SessionCookie, Transport};
use super::env::Env;
use super::principal::Principal;
use crate::audit_log::{self, AuditEvent};
use crate::credential_cache::CredentialChanges;
use crate::db::{ConnRef, ReadConn, Tx};
use crate::error::{RpcError, RpcResult};
use crate::notify::Notice;
use crate::notify::writer::{self, Outgoing, Written};
use crate::sockets::SocketLink;

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
    env: Arc<Env>,
    db: CallDb,
    after_commit: Vec<Hook>,
    after_answer: Vec<Hook>,
    cookie: Option<SessionCookie>,
    /// Notifications given to [`Ctx::notify`] and not yet written: they are written
    /// together, before the transaction is used again or commits.
    pending: Vec<Outgoing>,
    /// Notifications written in this transaction, handed to this instance's subscribers
    /// after commit.
    written: Vec<Written>,
    /// Accounts whose credentials or permits this call changed.
    pub(super) credential_changes: CredentialChanges,
}

impl Ctx {
    pub(crate) fn new(
        env: Arc<Env>,
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
            env,
            db,
            after_commit: Vec::new(),
            after_answer: Vec::new(),
            cookie: None,
            pending: Vec::new(),
            written: Vec::new(),
            credential_changes: CredentialChanges::default(),
        }
    }

    /// A context for the server's own housekeeping: no caller, one write transaction, the
    /// same audit and notification writers as any call. Finish it with [`Ctx::commit`].
    pub fn system(env: Arc<Env>) -> Ctx {
        Ctx::new(env, Caller::unattended(Transport::System), None, Uuid::now_v7(), true)
    }

    /// A context for one change made by the command line, straight on the database: the
    /// same domain code, checks and writers as the method that makes the change over the
    /// API. Finish it with [`Ctx::commit`].
    pub fn command_line(env: Arc<Env>) -> Ctx {
        Ctx::new(env, Caller::unattended(Transport::Cli), None, Uuid::now_v7(), true)
    }

    /// Commits a [`Ctx::system`] or [`Ctx::command_line`] context and runs its post-commit
    /// hooks.
    pub async fn commit(self) -> RpcResult<()> {
        self.finish().await.map(|_| ())
    }

    /// The environment: config, roles, clock, sockets, limits.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The environment, to keep beyond the call (a subscription task).
    pub fn shared_env(&self) -> Arc<Env> {
        self.env.clone()
    }

    /// The current time on the server's (injectable) clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.env.clock.now()
    }

    /// The signed-in caller, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// The caller's WebSocket; over HTTP `invalid_request/websocket_only`, saying `why`.
    pub fn require_socket(&self, why: &'static str) -> RpcResult<SocketLink> {
        self.caller.socket.clone().ok_or_else(|| RpcError::invalid_request("websocket_only").message(why))
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
    /// Notifications given so far are written first, so the transaction reads them.
    pub async fn conn(&mut self) -> RpcResult<ConnRef<'_>> {
        self.write_notifications().await?;
        self.open_conn().await
    }

    async fn open_conn(&mut self) -> RpcResult<ConnRef<'_>> {
        match &mut self.db {
            CallDb::Write(slot) => {
                if slot.is_none() {
                    *slot = Some(self.env.db.begin_write().await?);
                }
                Ok(slot.as_mut().expect("transaction was just begun").conn())
            }
            CallDb::Read(slot) => {
                if slot.is_none() {
                    *slot = Some(self.env.db.read().await?);
                }
                Ok(slot.as_mut().expect("connection was just taken").conn())
            }
        }
    }

    /// A pooled connection outside the call's transaction, for a read that should not
    /// wait inside it (checking a password before the transaction begins).
    pub async fn reader(&mut self) -> RpcResult<ReadConn> {
        Ok(self.env.db.read().await?)
    }

    /// Records an audit row in the call's transaction (mutations only): the one way a
    /// call, a job or the command line writes to the audit log.
    pub async fn audit(&mut self, event: AuditEvent) -> RpcResult<()> {
        let origin = audit_log::Origin {
            account_id: self.principal.as_ref().map(|p| p.account_id),
            actor_id: self.principal.as_ref().map(|p| p.actor_id),
            ip: self.caller.source(),
            request_id: self.request_id,
        };
        let now = self.now();
        if !matches!(self.db, CallDb::Write(_)) {
            return Err(RpcError::internal("audit rows are written only by actions with side effects"));
        }
        let conn = self.conn().await?;
        audit_log::append(conn, event, &origin, now).await.map(|_| ())
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

    /// Appends `notice` to `account_id`'s stream in the call's transaction (mutations
    /// only), and wakes its subscribers once that commits: the one way anything notifies
    /// anyone. The row is written, with the others of the call, before the transaction is
    /// next used ([`Ctx::conn`]) or commits; its `seq` is the account's head then.
    pub async fn notify<N: Notice>(&mut self, account_id: Uuid, notice: &N) -> RpcResult<()> {
        if !matches!(self.db, CallDb::Write(_)) {
            return Err(RpcError::internal("notifications are written only by actions with side effects"));
        }
        let data = serde_json::to_string(notice).map_err(RpcError::internal)?;
        self.pending.push(Outgoing { account_id, kind: N::KIND, data });
        Ok(())
    }

    /// Writes the notifications given since the last write, all in one go.
    async fn write_notifications(&mut self) -> RpcResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (batch, now) = (std::mem::take(&mut self.pending), self.now());
        let written = writer::write(self.open_conn().await?, batch, now).await?;
        self.written.extend(written);
        Ok(())
    }

    /// Asks the transport to set or clear the session cookie (HTTP only).
    pub fn set_session_cookie(&mut self, cookie: SessionCookie) {
        self.cookie = Some(cookie);
    }

    /// Writes the pending notifications and announces them (PostgreSQL), commits the
    /// call's transaction (if any), hands the notifications to this instance's subscribers,
    /// makes credential changes known (waiting for the other instances to hear them), then
    /// runs the post-commit hooks.
    pub(crate) async fn finish(mut self) -> RpcResult<Finished> {
        self.write_notifications().await?;
        let notified: BTreeSet<Uuid> = self.written.iter().map(|w| w.account_id).collect();
        if !notified.is_empty() {
            let accounts: Vec<Uuid> = notified.iter().copied().collect();
            let instance = self.env.hub.instance();
            writer::announce(self.open_conn().await?, instance, &accounts).await?;
        }
        let Ctx { db, env, written, after_commit, cookie, after_answer, credential_changes, .. } = self;
        if let CallDb::Write(Some(tx)) = db
            && let Err(e) = tx.commit().await
        {
            // It may have committed all the same (the answer was lost): look again.
            notified.into_iter().for_each(|account_id| env.hub.wake(account_id));
            credential_changes.made_known(env.credentials.freshness(), &env.db, env.hub.instance(), false).await;
            return Err(e.into());
        }
        env.hub.deliver(written);
        credential_changes.made_known(env.credentials.freshness(), &env.db, env.hub.instance(), true).await;
        for hook in after_commit {
            hook();
        }
        Ok(Finished { cookie, after_answer })
    }
}
