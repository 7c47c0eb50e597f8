//! The offer expiry sweeper: pending offers past `expires_at` become `expired`, and both
//! parties are told (`permit_offer_expired`). Until it runs, such an offer already counts
//! as expired: it is not listed as pending, and acting on it is `conflict/offer_expired`.

use std::sync::Arc;

use serde_json::json;

use super::notices::OfferExpiredNotice;
use super::store::{self, Offer};
use crate::audit_log::AuditEvent;
use crate::call::{Ctx, Env};
use crate::error::RpcResult;

/// Offers expired per transaction (a backlog is worked through in batches).
const BATCH: i64 = 100;

/// Expires every pending offer past its expiry; returns how many.
pub async fn sweep(env: &Arc<Env>) -> RpcResult<usize> {
    let mut total = 0;
    loop {
        let mut ctx = Ctx::system(env.clone());
        let now = ctx.now();
        let mut due = store::due(ctx.conn().await?, now, BATCH).await?;
        // Every lock first, in one order: instances sweeping the same backlog at once
        // cannot deadlock, and none is awaited while this transaction holds the audit head.
        due.sort_by_cached_key(|o| o.permit_key().lock_name());
        for offer in &due {
            offer.permit_key().lock(ctx.conn().await?).await?;
        }
        let mut expired = 0;
        for offer in &due {
            if expire(&mut ctx, offer).await? {
                expired += 1;
            }
        }
        ctx.commit().await?;
        total += expired;
        if (due.len() as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// Marks `offer` expired if it is still pending and past its expiry, with its audit row
/// and both parties' notifications; `false` when it was answered or renewed meanwhile.
/// The caller holds the offer's [`Offer::permit_key`] lock.
pub async fn expire(ctx: &mut Ctx, offer: &Offer) -> RpcResult<bool> {
    let now = ctx.now();
    let Some(offer) = store::expire(ctx.conn().await?, offer.id, now).await? else { return Ok(false) };
    let event = AuditEvent::success("permit_offer_expire")
        .target(offer.to_account_id)
        .scope(offer.scope_id.clone())
        .subject(offer.id)
        .data(json!({ "role": offer.role, "from_account_id": offer.from_account_id }));
    ctx.audit(event).await?;
    ctx.notify(offer.from_account_id, &OfferExpiredNotice { offer: &offer }).await?;
    ctx.notify(offer.to_account_id, &OfferExpiredNotice { offer: &offer }).await?;
    Ok(true)
}
