//! Every notification type the server sends, one line each: the catalogue that
//! `schemas/<type>.notification.json` and the OpenRPC document's `x-notifications` are
//! generated from (docs/protocol.md §8). A payload type that is not listed here has no
//! published schema, and the test suite fails when a test sees it pushed.

use serde_json::Value;

use crate::authz::permits::{PermitGrantedNotice, PermitRevokedNotice};
use crate::call::action::schema_of;
use crate::notify::{Notice, ResyncRequired, SessionRevoked};
use crate::offers::notices::{
    OfferAcceptedNotice, OfferDeclinedNotice, OfferExpiredNotice, OfferReceivedNotice, OfferRetractedNotice,
    OfferSupersededNotice,
};
use crate::requests::notices::{
    RequestApprovalNeededNotice, RequestApprovedNotice, RequestCancelledNotice, RequestDecisionNotice,
    RequestExecutedNotice, RequestExpiredNotice, RequestFailedNotice, RequestRejectedNotice, RequestRevokedNotice,
};

/// How a notification reaches a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A row of the account's durable stream (`{seq, type, data, created_at}`); the
    /// schema describes `data`.
    Stream,
    /// A message pushed to one socket, not kept; the schema describes the whole pushed
    /// `result`.
    Socket,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Stream => "stream",
            Delivery::Socket => "socket",
        }
    }
}

/// One notification type: its `type`, how it is delivered, and its JSON Schema.
pub struct NoticeSpec {
    pub kind: &'static str,
    pub delivery: Delivery,
    pub schema: Value,
}

impl NoticeSpec {
    /// The description of the type (its payload's doc comment).
    pub fn description(&self) -> &str {
        self.schema.get("description").and_then(Value::as_str).unwrap_or_default()
    }
}

fn stream<N: Notice>() -> NoticeSpec {
    NoticeSpec { kind: N::KIND, delivery: Delivery::Stream, schema: schema_of::<N>() }
}

fn socket<M: schemars::JsonSchema>(kind: &'static str) -> NoticeSpec {
    NoticeSpec { kind, delivery: Delivery::Socket, schema: schema_of::<M>() }
}

/// Every notification type, ordered by `type`.
pub fn all() -> Vec<NoticeSpec> {
    let mut all = vec![
        stream::<PermitGrantedNotice>(),
        stream::<PermitRevokedNotice>(),
        stream::<OfferReceivedNotice>(),
        stream::<OfferRetractedNotice>(),
        stream::<OfferAcceptedNotice>(),
        stream::<OfferDeclinedNotice>(),
        stream::<OfferSupersededNotice>(),
        stream::<OfferExpiredNotice>(),
        stream::<RequestApprovalNeededNotice>(),
        stream::<RequestDecisionNotice>(),
        stream::<RequestApprovedNotice>(),
        stream::<RequestRejectedNotice>(),
        stream::<RequestExecutedNotice>(),
        stream::<RequestFailedNotice>(),
        stream::<RequestCancelledNotice>(),
        stream::<RequestRevokedNotice>(),
        stream::<RequestExpiredNotice>(),
        socket::<ResyncRequired>(ResyncRequired::TYPE),
        socket::<SessionRevoked>(SessionRevoked::TYPE),
    ];
    all.sort_by_key(|spec| spec.kind);
    all
}
