//! Identity (docs/protocol.md §4): accounts, passwords, sessions, API tokens and the
//! bootstrap — and [`authenticate`], which turns a request's credentials into a
//! [`Principal`](crate::call::Principal) on every call.
//!
//! Credentials are resolved on every call, from the credential cache only while nothing
//! about them has changed (`resolve`): a revoked session or token fails its very next
//! call, on HTTP and on an open WebSocket alike. Only hashes of secrets are stored. A
//! session's expiry slides forward as it is used.

pub mod accounts;
pub mod actions;
pub mod bootstrap;
pub mod password;
pub mod resolve;
pub mod secret;
pub mod sessions;
pub mod tokens;

use uuid::Uuid;

pub use resolve::authenticate;

use crate::call::{Ctx, Env};
use crate::error::{RpcError, RpcResult};
use crate::sockets::{CLOSE_REVOKED, SocketKey};

/// Closes (4001) this instance's sockets whose session or token no longer works —
/// revoked, expired, or its account disabled; returns how many credentials that was. Run
/// after a gap in the PostgreSQL listener, while which a revocation made through another
/// instance may have gone unheard.
pub async fn close_stale_sockets(env: &Env) -> RpcResult<usize> {
    let keys = env.sockets.keys();
    if keys.is_empty() {
        return Ok(0);
    }
    let now = env.clock.now();
    let live = {
        let mut conn = env.db.read().await?;
        let mut live = sessions::live(conn.conn(), &keys, now).await?;
        live.extend(tokens::live(conn.conn(), &keys, now).await?);
        live
    };
    let stale: Vec<SocketKey> = keys.into_iter().filter(|key| !live.contains(key)).collect();
    for key in &stale {
        env.sockets.close_all(*key, CLOSE_REVOKED);
    }
    Ok(stale.len())
}

/// The account a listing is about: the caller's own when `requested` is absent; another
/// account's only for admins (`forbidden` otherwise, whether or not it exists), and
/// `not_found` when no such account exists.
pub async fn account_in_view(ctx: &mut Ctx, requested: Option<Uuid>) -> RpcResult<Uuid> {
    let principal = ctx.require_principal()?;
    let own = principal.account_id;
    let admin = principal.admin;
    match requested {
        None => Ok(own),
        Some(id) if id == own => Ok(own),
        Some(_) if !admin => Err(RpcError::forbidden("not_permitted")),
        Some(id) => {
            accounts::find(ctx.conn().await?, id).await?.ok_or_else(RpcError::not_found)?;
            Ok(id)
        }
    }
}
