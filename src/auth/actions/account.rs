//! `account_login`, `account_logout`, `account_create`, `account_signup`,
//! `account_password_change`, `account_list`, `whoami`.

use std::borrow::Cow;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::audit_log::AuditEvent;
use crate::auth::accounts::{self, Account, WhoamiResult};
use crate::auth::bootstrap::AccountResult;
use crate::auth::{password, sessions};
use crate::call::caller::SessionCookie;
use crate::call::common::{EmptyParams, OkResult, page};
use crate::call::{Action, Ctx, Transport};
use crate::config::Signup as SignupMode;
use crate::error::{RpcError, RpcResult};
use crate::sockets::{self, CLOSE_REVOKED, SocketKey};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginParams {
    #[schemars(length(min = 1, max = 64))]
    pub username: String,
    #[schemars(length(max = 1024))]
    pub password: String,
}

/// The new session (its secret travels only in the cookie).
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionRef {
    pub id: Uuid,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LoginResult {
    pub account: Account,
    pub session: SessionRef,
}

pub struct Login;

impl Action for Login {
    const METHOD: &'static str = "account_login";
    type Params = LoginParams;
    type Output = LoginResult;

    async fn run(&self, ctx: &mut Ctx, p: LoginParams) -> RpcResult<LoginResult> {
        // The session's secret travels only in the cookie, which a socket cannot set.
        if ctx.caller.transport == Transport::WebSocket {
            return Err(RpcError::invalid_request("http_only")
                .message("account_login sets the session cookie: call it with POST /rpc, then open the socket."));
        }
        let (now, ip) = (ctx.now(), ctx.ip());
        ctx.env().login_limits.attempt(&ip, &p.username, now).map_err(RpcError::rate_limited)?;
        // The password check runs before the call's transaction begins, off the write lock.
        let found = accounts::find_for_login(ctx.reader().await?.conn(), &p.username).await?;
        let Some(found) = found else {
            // Same work as a wrong password, so timing does not tell whether the account exists.
            password::verify(p.password, None).await?;
            return Err(login_failed(&p.username));
        };
        if !password::verify(p.password, Some(found.password_hash.clone())).await? {
            return Err(login_failed(&p.username));
        }
        ctx.env().login_limits.succeeded(&ip, &p.username, now);
        let ttl = sessions::ttl(ctx.env());
        let session = sessions::create(ctx.conn().await?, found.account.id, ttl, now).await?;
        let event = AuditEvent::success("account_login").subject(session.id);
        ctx.audit(AuditEvent { account_id: Some(found.account.id), actor_id: Some(found.actor_id), ..event }).await?;
        ctx.set_session_cookie(SessionCookie::Set { token: session.token, expires_at: session.expires_at });
        Ok(LoginResult {
            account: found.account,
            session: SessionRef { id: session.id, expires_at: session.expires_at },
        })
    }
}

/// The answer to a failed login: it never says whether the account exists. Its audit
/// row names the username tried (who is being guessed at).
fn login_failed(username: &str) -> RpcError {
    RpcError::unauthenticated("invalid_credentials").message("Wrong username or password.").noting("username", username)
}

pub struct Logout;

impl Action for Logout {
    const METHOD: &'static str = "account_logout";
    type Params = EmptyParams;
    type Output = OkResult;

    async fn run(&self, ctx: &mut Ctx, _p: EmptyParams) -> RpcResult<OkResult> {
        let principal = ctx.require_principal()?.clone();
        let Some(session_id) = principal.session_id() else {
            return Err(
                RpcError::validation("not_a_session").message("Signed in with an API token: revoke it instead.")
            );
        };
        let now = ctx.now();
        sessions::revoke(ctx.conn().await?, principal.account_id, session_id, now).await?;
        ctx.audit(AuditEvent::success("account_logout").subject(session_id)).await?;
        credentials_ended(ctx, principal.account_id, vec![SocketKey::Session(session_id)]).await?;
        ctx.set_session_cookie(SessionCookie::Clear);
        Ok(OkResult::ok())
    }
}

/// After `account_id`'s credentials `keys` were revoked (or its password changed): once
/// that commits, nothing cached of the account's credentials is used again and the
/// revoked credentials' sockets close, on every instance.
pub async fn credentials_ended(ctx: &mut Ctx, account_id: Uuid, keys: Vec<SocketKey>) -> RpcResult<()> {
    ctx.credentials_changed(account_id).await?;
    for key in &keys {
        sockets::announce_close(ctx.conn().await?, *key).await?;
    }
    let sockets = ctx.env().sockets.clone();
    ctx.after_commit(move || {
        for key in keys {
            sockets.close_all(key, CLOSE_REVOKED);
        }
    });
    Ok(())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountParams {
    /// Unique, ignoring letter case.
    #[schemars(regex(pattern = accounts::USERNAME_PATTERN))]
    pub username: String,
    /// At least 12 characters.
    #[schemars(length(max = 1024))]
    pub password: String,
    #[schemars(length(max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+$"))]
    pub email: Option<String>,
}

/// Creates an account: `account_create`, `account_signup` and the command line's
/// `account create` (`event_type` names which in the audit log).
pub async fn create_account(ctx: &mut Ctx, p: CreateAccountParams, event_type: &str) -> RpcResult<AccountResult> {
    let now = ctx.now();
    let hash = password::hash_new(p.password).await?;
    let created = accounts::create(ctx.conn().await?, &p.username, p.email.as_deref(), &hash, now).await?;
    let event = AuditEvent::success(event_type).target(created.account.id).subject(created.account.id);
    ctx.audit(event).await?;
    Ok(AccountResult { account: created.account })
}

pub struct Create;

impl Action for Create {
    const METHOD: &'static str = "account_create";
    type Params = CreateAccountParams;
    type Output = AccountResult;

    async fn run(&self, ctx: &mut Ctx, p: CreateAccountParams) -> RpcResult<AccountResult> {
        create_account(ctx, p, Self::METHOD).await
    }
}

pub struct Signup;

impl Action for Signup {
    const METHOD: &'static str = "account_signup";
    type Params = CreateAccountParams;
    type Output = AccountResult;

    async fn run(&self, ctx: &mut Ctx, p: CreateAccountParams) -> RpcResult<AccountResult> {
        if ctx.env().config.auth.signup != SignupMode::Open {
            return Err(RpcError::forbidden("signup_closed").message("Sign-up is closed; ask an admin for an account."));
        }
        create_account(ctx, p, Self::METHOD).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeParams {
    #[schemars(length(max = 1024))]
    pub current_password: String,
    /// At least 12 characters.
    #[schemars(length(max = 1024))]
    pub new_password: String,
}

pub struct PasswordChange;

impl Action for PasswordChange {
    const METHOD: &'static str = "account_password_change";
    type Params = PasswordChangeParams;
    type Output = OkResult;

    async fn run(&self, ctx: &mut Ctx, p: PasswordChangeParams) -> RpcResult<OkResult> {
        let principal = ctx.require_principal()?.clone();
        let (now, ip) = (ctx.now(), ctx.ip());
        password::check_strength(&p.new_password)?;
        // A wrong current password counts as a failed login: a stolen session must not
        // become a way to guess the password.
        ctx.env().login_limits.attempt(&ip, &principal.username, now).map_err(RpcError::rate_limited)?;
        let stored = accounts::password_hash(ctx.reader().await?.conn(), principal.account_id).await?;
        if !password::verify(p.current_password, Some(stored)).await? {
            return Err(RpcError::forbidden("wrong_password").message("The current password is not right."));
        }
        ctx.env().login_limits.succeeded(&ip, &principal.username, now);
        let hash = password::hash_new(p.new_password).await?;
        accounts::set_password_hash(ctx.conn().await?, principal.account_id, &hash).await?;
        let ended =
            sessions::revoke_others(ctx.conn().await?, principal.account_id, principal.session_id(), now).await?;
        let event = AuditEvent::success(Self::METHOD)
            .subject(principal.account_id)
            .data(json!({ "sessions_ended": ended.len() }));
        ctx.audit(event).await?;
        credentials_ended(ctx, principal.account_id, ended.into_iter().map(SocketKey::Session).collect()).await?;
        Ok(OkResult::ok())
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAccountsParams {
    /// At most 500; default 100.
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "account_list";
    type Params = ListAccountsParams;
    type Output = AccountPage;

    async fn run(&self, ctx: &mut Ctx, p: ListAccountsParams) -> RpcResult<AccountPage> {
        let limit = i64::from(p.limit.unwrap_or(100));
        let accounts = accounts::list(ctx.conn().await?, p.cursor, limit + 1).await?;
        let (accounts, next_cursor) = page(accounts, limit, |a| a.id);
        Ok(AccountPage { accounts, next_cursor })
    }
}

/// `whoami`'s answer as the caller's principal keeps it: its [`WhoamiResult`], encoded
/// once per resolution (`accounts::shown`). Its schema is that of a `WhoamiResult`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ShownWhoami(Arc<RawValue>);

impl JsonSchema for ShownWhoami {
    fn schema_name() -> Cow<'static, str> {
        WhoamiResult::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        WhoamiResult::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        WhoamiResult::json_schema(generator)
    }
}

pub struct Whoami;

impl Action for Whoami {
    const METHOD: &'static str = "whoami";
    type Params = EmptyParams;
    type Output = ShownWhoami;

    async fn run(&self, ctx: &mut Ctx, _p: EmptyParams) -> RpcResult<ShownWhoami> {
        // The principal is current for this call (its account is enabled, or it would not
        // have resolved), and shows itself already encoded: nothing is read or encoded again.
        Ok(ShownWhoami(ctx.require_principal()?.shown.clone()))
    }
}
