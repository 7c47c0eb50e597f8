//! The one choke point that decides "may this caller do this to this request now"
//! (docs/protocol.md §7.5). Every method that touches a request opens it here, inside
//! its transaction: the request is locked, read, hidden as `not_found` from a caller who
//! may not see it, and refused (`forbidden`) to one who may see it but not act on it.
//! There is no other path to a request, so no second rule can grow beside this one.

use uuid::Uuid;

use super::lifecycle::Track;
use super::model::Held;
use super::store;
use crate::authz::{ADMIN, scope};
use crate::call::{Ctx, Env, Principal};
use crate::db;
use crate::error::{RpcError, RpcResult};

/// What the caller wants to do to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    View,
    Confirm,
    /// Approve or reject; `bypass`: an admin requester approving their own at once.
    Vote {
        bypass: bool,
    },
    /// Execute directly, skipping the approvals.
    Execute,
    Cancel,
    Retry,
}

/// Verbs at a request's scope that let their holder see it, whoever made it.
pub const SEE_ANY: &[&str] = &["view-any", "approve", "confirm-any", "execute-any", "cancel-any", "retry-any"];
/// Verbs that let a requester see their own request.
pub const SEE_OWN: &[&str] = &["view-own", "create", "execute-own", "cancel-own", "retry-own"];

/// What a caller holds on one kind at one scope.
pub struct Standing<'a> {
    pub env: &'a Env,
    pub principal: &'a Principal,
    pub kind: &'a str,
    pub scope_id: &'a str,
}

impl Standing<'_> {
    /// Whether the caller holds `verb` on the kind at the scope.
    pub fn holds(&self, verb: &str) -> bool {
        self.principal.grants.allows(verb, self.kind, Some(self.scope_id))
    }

    /// Whether the caller holds `any_verb`, or `own_verb` and `own` is true.
    pub fn any_or_own(&self, any_verb: &str, own_verb: &str, own: bool) -> bool {
        self.holds(any_verb) || (own && self.holds(own_verb))
    }

    /// Whether the caller holds `admin` at or above the scope.
    pub fn admin(&self) -> bool {
        let covers = |held: Option<&str>| scope::covers(held, Some(self.scope_id));
        self.principal.permits.iter().any(|p| p.role == ADMIN && covers(p.scope_id.as_deref()))
    }

    /// Whether the caller may see a request made by `requested_by`.
    pub fn sees(&self, requested_by: Uuid) -> bool {
        let own = requested_by == self.principal.account_id;
        SEE_ANY.iter().any(|verb| self.holds(verb)) || (own && SEE_OWN.iter().any(|verb| self.holds(verb)))
    }
}

/// The request `id`, locked against every other change until the call commits, when the
/// caller may `act` on it now.
pub async fn open(ctx: &mut Ctx, id: Uuid, act: Act) -> RpcResult<Track> {
    if act != Act::View {
        db::lock_key(ctx.conn().await?, &format!("request/{id}")).await?;
    }
    let held = store::find(ctx.conn().await?, id).await?.ok_or_else(RpcError::not_found)?;
    judge(ctx, held, act)
}

/// The request `id` as it is now, read outside the call's transaction and not locked, when
/// the caller may `act` on it: for what must happen before the transaction begins (a call
/// to a webhook). Whatever it decides is checked again by [`open`].
pub async fn peek(ctx: &mut Ctx, id: Uuid, act: Act) -> RpcResult<Track> {
    let mut reader = ctx.reader().await?;
    let held = store::find(reader.conn(), id).await?.ok_or_else(RpcError::not_found)?;
    drop(reader);
    judge(ctx, held, act)
}

/// `held` when the caller may `act` on it now: `not_found` when they may not see it,
/// `forbidden` when they may see it but not act.
fn judge(ctx: &Ctx, held: Held, act: Act) -> RpcResult<Track> {
    let principal = ctx.require_principal()?;
    let id = held.request.id;
    let request = &held.request;
    let standing = Standing { env: ctx.env(), principal, kind: &request.kind, scope_id: &request.scope_id };
    if !standing.sees(request.requested_by) {
        return Err(RpcError::not_found());
    }
    let own = request.requested_by == principal.account_id;
    let about = |error: RpcError| error.scoped(&request.scope_id, Some(id.to_string()));
    let allowed = match act {
        Act::View => true,
        Act::Confirm => own || standing.holds("confirm-any"),
        Act::Vote { bypass: true } if !(own && standing.admin()) => {
            return Err(about(
                RpcError::forbidden("bypass_not_permitted")
                    .message("Only an admin may bypass the approvals, and only of their own request."),
            ));
        }
        Act::Vote { bypass: true } => true,
        Act::Vote { bypass: false } if !standing.holds("approve") => false,
        Act::Vote { bypass: false } if own && !held.policy.allow_self_approval => {
            return Err(about(RpcError::forbidden("self_approval").message("You may not vote on your own request.")));
        }
        Act::Vote { bypass: false } => true,
        Act::Execute => standing.any_or_own("execute-any", "execute-own", own),
        Act::Cancel => standing.any_or_own("cancel-any", "cancel-own", own),
        Act::Retry => standing.any_or_own("retry-any", "retry-own", own),
    };
    if !allowed {
        return Err(about(RpcError::forbidden("not_permitted")));
    }
    // Past its expiry a waiting request is over, swept or not.
    if act != Act::View && request.status.is_pending() && request.expires_at <= ctx.now() {
        return Err(about(
            RpcError::conflict("request_expired")
                .message("This request has expired.")
                .with("expires_at", request.expires_at.to_rfc3339()),
        ));
    }
    Ok(Track::loaded(held))
}
