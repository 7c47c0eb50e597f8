//! `session_authenticate`: signing in a WebSocket with its first message, for clients that
//! cannot put credentials on the upgrade (a browser has no header API for it, and its
//! cookie may not reach another site). The token travels in a message, never in the URL,
//! where logs and proxies would keep it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{self, secret::API_TOKEN_PREFIX};
use crate::call::{Action, Credentials, Ctx};
use crate::error::{RpcError, RpcResult};
use crate::sockets::Handover;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionAuthenticateParams {
    /// An API token (`cst_…`) or a session's secret.
    #[schemars(length(min = 1, max = 200))]
    pub token: String,
}

/// Who the socket now calls as.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionAuthenticated {
    pub account_id: Uuid,
    pub username: String,
}

pub struct Authenticate;

impl Action for Authenticate {
    const METHOD: &'static str = "session_authenticate";
    type Params = SessionAuthenticateParams;
    type Output = SessionAuthenticated;

    async fn run(&self, ctx: &mut Ctx, p: SessionAuthenticateParams) -> RpcResult<SessionAuthenticated> {
        let link =
            ctx.require_socket("Over HTTP, send the token as `Authorization: Bearer` (or sign in for the cookie).")?;
        if ctx.principal().is_some() {
            return Err(RpcError::invalid_request("already_authenticated")
                .message("This socket was opened with credentials already."));
        }
        if !link.in_first_call() {
            return Err(RpcError::invalid_request("authenticate_first")
                .message("session_authenticate must be the first message on a socket opened without credentials."));
        }
        let bearer = p.token.starts_with(API_TOKEN_PREFIX);
        let credentials =
            if bearer { Credentials::Bearer(p.token.clone()) } else { Credentials::SessionSecret(p.token.clone()) };
        let env = ctx.env();
        let principal = auth::authenticate(env, &credentials)
            .await?
            .ok_or_else(|| RpcError::unauthenticated("invalid_credentials"))?;
        let max = env.config.websocket.max_sockets_per_account;
        let registration =
            env.sockets.register(principal.socket_key(), principal.account_id, max).ok_or_else(|| {
                RpcError::conflict("too_many_sockets")
                    .message("This account has as many sockets open as it may.")
                    .with("max", max)
            })?;
        let handover = Handover { token: p.token, bearer, recheck_at: principal.credential_expires_at, registration };
        if link.hand_over(handover).is_err() {
            return Err(
                RpcError::invalid_request("authenticate_first").message("This socket is authenticated already.")
            );
        }
        Ok(SessionAuthenticated { account_id: principal.account_id, username: principal.username.to_string() })
    }
}
