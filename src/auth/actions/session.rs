//! `session_list`, `session_revoke`: the caller's own sessions only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::account::credentials_ended;
use crate::audit_log::AuditEvent;
use crate::auth::sessions::{self, SessionInfo};
use crate::call::common::{EmptyParams, OkResult};
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};
use crate::sockets::SocketKey;

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "session_list";
    type Params = EmptyParams;
    type Output = SessionList;

    async fn run(&self, ctx: &mut Ctx, _p: EmptyParams) -> RpcResult<SessionList> {
        let principal = ctx.require_principal()?.clone();
        let now = ctx.now();
        let mut sessions = sessions::list(ctx.conn().await?, principal.account_id, now).await?;
        for session in &mut sessions {
            session.current = principal.session_id() == Some(session.id);
        }
        Ok(SessionList { sessions })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRevokeParams {
    pub session_id: Uuid,
}

pub struct Revoke;

impl Action for Revoke {
    const METHOD: &'static str = "session_revoke";
    type Params = SessionRevokeParams;
    type Output = OkResult;

    async fn run(&self, ctx: &mut Ctx, p: SessionRevokeParams) -> RpcResult<OkResult> {
        let account_id = ctx.require_principal()?.account_id;
        let now = ctx.now();
        // Another account's session is as invisible as one that never existed.
        if !sessions::revoke(ctx.conn().await?, account_id, p.session_id, now).await? {
            return Err(RpcError::not_found());
        }
        ctx.audit(AuditEvent::success(Self::METHOD).subject(p.session_id)).await?;
        credentials_ended(ctx, account_id, vec![SocketKey::Session(p.session_id)]).await?;
        Ok(OkResult::ok())
    }
}
