//! `permit_offer_create`, `_accept`, `_decline`, `_retract`, `_list`, `_history`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::notices::{OfferAcceptedNotice, OfferDeclinedNotice, OfferReceivedNotice, OfferRetractedNotice};
use super::store::{self, Offer, OfferStatus, Resolution};
use super::{Party, expiry, pending_for, supersede};
use crate::audit_log::AuditEvent;
use crate::auth::{account_in_view, accounts};
use crate::authz::access;
use crate::authz::permits::{self, NewPermit, Permit, PermitGrantedNotice, PermitKey};
use crate::authz::scope::{SCOPE_MAX_LENGTH, SCOPE_PATTERN};
use crate::call::common::{future_expiry, page};
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferCreateParams {
    pub to_account_id: Uuid,
    #[schemars(length(min = 1, max = 64))]
    pub role: String,
    /// Omit to offer the role globally.
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: Option<String>,
    /// Shown to the recipient.
    #[schemars(length(max = 500))]
    pub message: Option<String>,
    /// When the offer lapses; default `offers.ttl_days` (30 days) from now.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferResult {
    pub offer: Offer,
}

pub struct Create;

impl Action for Create {
    const METHOD: &'static str = "permit_offer_create";
    type Params = OfferCreateParams;
    type Output = OfferResult;

    async fn run(&self, ctx: &mut Ctx, p: OfferCreateParams) -> RpcResult<OfferResult> {
        let grantor = ctx.require_principal()?.clone();
        let now = ctx.now();
        let scope = p.scope_id.as_deref();
        if p.to_account_id == grantor.account_id {
            return Err(RpcError::validation("self_target").message("You cannot offer a role to yourself."));
        }
        ctx.env().roles.grantable(&p.role, scope)?;
        // Only what you hold, at or below where you hold it (admins hold everything).
        if !access::may_hand_out(&grantor.permits, &p.role, scope) {
            return Err(RpcError::forbidden("role_not_grantable"));
        }
        let expires_at = future_expiry(p.expires_at, now)?;
        let recipient =
            accounts::find_enabled(ctx.conn().await?, p.to_account_id).await?.ok_or_else(RpcError::not_found)?;
        let ttl = chrono::Duration::days(i64::from(ctx.env().config.offers.ttl_days));
        let expires_at = expires_at.unwrap_or(now + ttl);
        let key = PermitKey { account_id: recipient.account.id, role: &p.role, scope };
        key.lock(ctx.conn().await?).await?;
        let mut existing =
            store::pending_between(ctx.conn().await?, grantor.account_id, key.account_id, &p.role, scope).await?;
        // An earlier offer past its expiry is over, swept or not: it ends as expired (both
        // sides told) and this one starts afresh.
        if let Some(stale) = existing.take_if(|o| o.expires_at <= now) {
            expiry::expire(ctx, &stale).await?;
        }
        let (offer, renewed) = match existing {
            Some(existing) => {
                let renewed = store::renew(ctx.conn().await?, existing.id, p.message.as_deref(), expires_at).await?;
                (renewed.ok_or_else(|| RpcError::internal("a locked pending offer stopped being pending"))?, true)
            }
            None => {
                let offer = Offer {
                    id: Uuid::now_v7(),
                    from_account_id: grantor.account_id,
                    from_actor_id: grantor.actor_id,
                    to_account_id: key.account_id,
                    role: p.role.clone(),
                    scope_id: p.scope_id.clone(),
                    message: p.message.clone(),
                    status: OfferStatus::Pending,
                    created_at: now,
                    expires_at,
                    resolved_at: None,
                    decline_reason: None,
                    permit_id: None,
                    superseded_reason: None,
                    cause_id: None,
                };
                store::insert(ctx.conn().await?, &offer).await?;
                (offer, false)
            }
        };
        let event = AuditEvent::success(Self::METHOD)
            .target(offer.to_account_id)
            .scope(offer.scope_id.clone())
            .subject(offer.id)
            .data(json!({ "role": offer.role, "expires_at": offer.expires_at, "renewed": renewed }));
        ctx.audit(event).await?;
        ctx.notify(offer.to_account_id, &OfferReceivedNotice { offer: &offer, renewed }).await?;
        Ok(OfferResult { offer })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferIdParams {
    pub offer_id: Uuid,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferAccepted {
    pub offer: Offer,
    /// The permit the acceptance created.
    pub permit: Permit,
    /// Other pending offers of the same role and scope to you, now superseded.
    pub superseded_offer_ids: Vec<Uuid>,
}

pub struct Accept;

impl Action for Accept {
    const METHOD: &'static str = "permit_offer_accept";
    type Params = OfferIdParams;
    type Output = OfferAccepted;

    async fn run(&self, ctx: &mut Ctx, p: OfferIdParams) -> RpcResult<OfferAccepted> {
        let recipient = ctx.require_principal()?.clone();
        let now = ctx.now();
        let offer = pending_for(ctx, p.offer_id, Party::Recipient).await?;
        let scope = offer.scope_id.as_deref();
        // The grantor must still be able to give it: an offer does not outlive the
        // grantor's own permit, nor a role that stopped being web-grantable.
        let grantor_permits = permits::active_of_account(ctx.conn().await?, offer.from_account_id, now).await?;
        let grantable = ctx.env().roles.grantable(&offer.role, scope).is_ok();
        if !grantable || !access::may_hand_out(&grantor_permits, &offer.role, scope) {
            return Err(RpcError::forbidden("role_not_grantable")
                .message("The account that made this offer can no longer grant this role."));
        }
        let new = NewPermit {
            account_id: recipient.account_id,
            actor_id: recipient.actor_id,
            role: &offer.role,
            scope_id: scope,
            granted_by: Some(offer.from_account_id),
            source_offer_id: Some(offer.id),
            expires_at: None,
        };
        let (permit, replaced) = permits::grant(ctx.conn().await?, new, now).await?;
        ctx.credentials_changed(permit.account_id).await?;
        let accepted = Resolution { status: OfferStatus::Accepted, decline_reason: None, permit_id: Some(permit.id) };
        let offer = resolve(ctx, offer.id, accepted).await?;
        let superseded = supersede(ctx, &offer.permit_key(), Some(offer.id), "sibling_accepted", offer.id).await?;
        let event = AuditEvent::success(Self::METHOD)
            .target(offer.from_account_id)
            .scope(offer.scope_id.clone())
            .subject(offer.id)
            .data(json!({ "role": offer.role, "permit_id": permit.id, "replaced_permit_id": replaced,
                          "superseded_offer_ids": superseded }));
        ctx.audit(event).await?;
        ctx.notify(offer.from_account_id, &OfferAcceptedNotice { offer: &offer, permit: &permit }).await?;
        ctx.notify(recipient.account_id, &PermitGrantedNotice { permit: &permit }).await?;
        Ok(OfferAccepted { offer, permit, superseded_offer_ids: superseded })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferDeclineParams {
    pub offer_id: Uuid,
    /// Shown to the grantor.
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

pub struct Decline;

impl Action for Decline {
    const METHOD: &'static str = "permit_offer_decline";
    type Params = OfferDeclineParams;
    type Output = OfferResult;

    async fn run(&self, ctx: &mut Ctx, p: OfferDeclineParams) -> RpcResult<OfferResult> {
        let offer = pending_for(ctx, p.offer_id, Party::Recipient).await?;
        let declined =
            Resolution { status: OfferStatus::Declined, decline_reason: p.reason.as_deref(), permit_id: None };
        let offer = resolve(ctx, offer.id, declined).await?;
        let event = AuditEvent::success(Self::METHOD)
            .target(offer.from_account_id)
            .scope(offer.scope_id.clone())
            .subject(offer.id)
            .data(json!({ "role": offer.role, "reason": offer.decline_reason }));
        ctx.audit(event).await?;
        ctx.notify(offer.from_account_id, &OfferDeclinedNotice { offer: &offer }).await?;
        Ok(OfferResult { offer })
    }
}

pub struct Retract;

impl Action for Retract {
    const METHOD: &'static str = "permit_offer_retract";
    type Params = OfferIdParams;
    type Output = OfferResult;

    async fn run(&self, ctx: &mut Ctx, p: OfferIdParams) -> RpcResult<OfferResult> {
        let offer = pending_for(ctx, p.offer_id, Party::Grantor).await?;
        let retracted = Resolution { status: OfferStatus::Retracted, decline_reason: None, permit_id: None };
        let offer = resolve(ctx, offer.id, retracted).await?;
        let event = AuditEvent::success(Self::METHOD)
            .target(offer.to_account_id)
            .scope(offer.scope_id.clone())
            .subject(offer.id)
            .data(json!({ "role": offer.role }));
        ctx.audit(event).await?;
        ctx.notify(offer.to_account_id, &OfferRetractedNotice { offer: &offer }).await?;
        Ok(OfferResult { offer })
    }
}

/// Ends a pending offer that [`pending_for`] has locked and checked.
async fn resolve(ctx: &mut Ctx, id: Uuid, resolution: Resolution<'_>) -> RpcResult<Offer> {
    let now = ctx.now();
    store::resolve(ctx.conn().await?, id, resolution, now)
        .await?
        .ok_or_else(|| RpcError::internal("a locked pending offer stopped being pending"))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferListParams {
    /// Omit for your own; another account's needs admin.
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferList {
    /// Pending offers to the account, oldest first.
    pub incoming: Vec<Offer>,
    /// Pending offers the account made, oldest first.
    pub outgoing: Vec<Offer>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "permit_offer_list";
    type Params = OfferListParams;
    type Output = OfferList;

    async fn run(&self, ctx: &mut Ctx, p: OfferListParams) -> RpcResult<OfferList> {
        let account_id = account_in_view(ctx, p.account_id).await?;
        let now = ctx.now();
        let pending = store::pending_of(ctx.conn().await?, account_id, now).await?;
        let (incoming, outgoing) = pending.into_iter().partition(|o| o.to_account_id == account_id);
        Ok(OfferList { incoming, outgoing })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferHistoryParams {
    /// Omit for your own; another account's needs admin.
    pub account_id: Option<Uuid>,
    /// At most 500; default 100.
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferHistory {
    /// Offers to or from the account in any status, newest first.
    pub offers: Vec<Offer>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

pub struct History;

impl Action for History {
    const METHOD: &'static str = "permit_offer_history";
    type Params = OfferHistoryParams;
    type Output = OfferHistory;

    async fn run(&self, ctx: &mut Ctx, p: OfferHistoryParams) -> RpcResult<OfferHistory> {
        let account_id = account_in_view(ctx, p.account_id).await?;
        let limit = i64::from(p.limit.unwrap_or(100));
        let offers = store::history(ctx.conn().await?, account_id, p.cursor, limit + 1).await?;
        let (offers, next_cursor) = page(offers, limit, |o| o.id);
        Ok(OfferHistory { offers, next_cursor })
    }
}
