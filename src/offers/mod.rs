//! Permit offers (docs/protocol.md §6): a role offered to an account, which accepts or declines.
//!
//! An offer is `pending` until exactly one thing ends it: the recipient accepts (a permit
//! is created, and every other pending offer of the same role and scope to the same
//! account is superseded) or declines, the grantor retracts, a permit revocation
//! supersedes it, or it expires (the [`expiry`] sweeper marks it and tells both sides).
//!
//! Races: every change to the offers or permits of one (recipient, role, scope) takes the
//! same lock first ([`PermitKey::lock`]: a PostgreSQL advisory lock; SQLite writes are
//! serialized anyway), then re-reads what it depends on. Two accepts, an accept and a
//! retract, or an accept and a revocation therefore run one after the other, and the
//! second sees the first's outcome as an ordinary `conflict`.
//!
//! Visibility: only the two parties see an offer; anyone else (admins included) gets
//! `not_found` when acting on it. Admins may list another account's offers.

pub mod actions;
pub mod expiry;
pub mod notices;
pub mod store;

use serde_json::json;
use uuid::Uuid;

use crate::authz::permits::PermitKey;
use crate::call::Ctx;
use crate::error::{RpcError, RpcResult};
use notices::OfferSupersededNotice;
pub use store::{Offer, OfferStatus};

/// Supersedes the pending offers of `key` (but `except`) and tells each one's grantor;
/// returns their ids.
pub async fn supersede(
    ctx: &mut Ctx,
    key: &PermitKey<'_>,
    except: Option<Uuid>,
    reason: &str,
    cause: Uuid,
) -> RpcResult<Vec<Uuid>> {
    let now = ctx.now();
    let superseded = store::supersede(ctx.conn().await?, key, except, reason, cause, now).await?;
    for offer in &superseded {
        ctx.notify(offer.from_account_id, &OfferSupersededNotice { offer }).await?;
    }
    Ok(superseded.into_iter().map(|o| o.id).collect())
}

/// The offer `offer_id` when `party` is the one allowed to act on it, locked against
/// every other change of its role and scope for the recipient, and still pending and
/// unexpired. Anyone else gets `not_found`: the offer is invisible to them.
pub async fn pending_for(ctx: &mut Ctx, offer_id: Uuid, party: Party) -> RpcResult<Offer> {
    let caller = ctx.require_principal()?.account_id;
    let offer = store::find(ctx.conn().await?, offer_id).await?.ok_or_else(RpcError::not_found)?;
    let entitled = match party {
        Party::Recipient => offer.to_account_id,
        Party::Grantor => offer.from_account_id,
    };
    if entitled != caller {
        return Err(RpcError::not_found());
    }
    offer.permit_key().lock(ctx.conn().await?).await?;
    // Re-read under the lock: a racing accept, retract or revocation may have ended it.
    let offer = store::find(ctx.conn().await?, offer_id).await?.ok_or_else(RpcError::not_found)?;
    let expired =
        offer.status == OfferStatus::Expired || (offer.status == OfferStatus::Pending && offer.expires_at <= ctx.now());
    if expired {
        return Err(RpcError::conflict("offer_expired")
            .message("This offer has expired; ask for a new one.")
            .with("expires_at", json!(offer.expires_at)));
    }
    if offer.status != OfferStatus::Pending {
        return Err(RpcError::conflict("offer_not_pending")
            .message(format!("This offer is already {}.", offer.status.as_str()))
            .with("status", offer.status.as_str()));
    }
    Ok(offer)
}

/// Which side of an offer may take an action.
#[derive(Debug, Clone, Copy)]
pub enum Party {
    Recipient,
    Grantor,
}
