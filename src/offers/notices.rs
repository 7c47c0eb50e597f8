//! The notifications offers send (docs/protocol.md §8), one payload type each.

use schemars::JsonSchema;
use serde::Serialize;

use super::store::Offer;
use crate::authz::Permit;
use crate::notify::Notice;

/// A role was offered to you, or an offer to you was renewed (`renewed: true`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferReceivedNotice<'a> {
    pub offer: &'a Offer,
    /// Whether this repeats a pending offer (same grantor, role and scope), with a new
    /// message and expiry.
    pub renewed: bool,
}

impl Notice for OfferReceivedNotice<'_> {
    const KIND: &'static str = "permit_offer_received";
}

/// An offer to you was retracted by its grantor.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferRetractedNotice<'a> {
    pub offer: &'a Offer,
}

impl Notice for OfferRetractedNotice<'_> {
    const KIND: &'static str = "permit_offer_retracted";
}

/// Your offer was accepted; `permit` is the permit it created.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferAcceptedNotice<'a> {
    pub offer: &'a Offer,
    pub permit: &'a Permit,
}

impl Notice for OfferAcceptedNotice<'_> {
    const KIND: &'static str = "permit_offer_accepted";
}

/// Your offer was declined (with the recipient's reason, if any).
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferDeclinedNotice<'a> {
    pub offer: &'a Offer,
}

impl Notice for OfferDeclinedNotice<'_> {
    const KIND: &'static str = "permit_offer_declined";
}

/// Your offer was superseded: the recipient accepted another offer of the same role and
/// scope, or the permit it would have duplicated was revoked (`superseded_reason`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferSupersededNotice<'a> {
    pub offer: &'a Offer,
}

impl Notice for OfferSupersededNotice<'_> {
    const KIND: &'static str = "permit_offer_superseded";
}

/// An offer you made or received expired unanswered.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfferExpiredNotice<'a> {
    pub offer: &'a Offer,
}

impl Notice for OfferExpiredNotice<'_> {
    const KIND: &'static str = "permit_offer_expired";
}
