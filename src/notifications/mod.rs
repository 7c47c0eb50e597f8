//! The notification methods (docs/protocol.md §8): `notifications_subscribe` (WebSocket
//! only), which starts a [`subscription`] task on the caller's socket,
//! `notifications_unsubscribe`, which ends one, and `notifications_list` (polling).
//! Writing and waking are `notify/`'s.

pub mod subscription;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};
use crate::notify::{Notification, ResyncRequired, after, head};
use subscription::Start;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeParams {
    /// The last `seq` you have: everything after it is replayed first. Omit for live only.
    #[schemars(range(min = 0))]
    pub after: Option<i64>,
}

pub struct Subscribe;

impl Action for Subscribe {
    const METHOD: &'static str = "notifications_subscribe";
    type Params = SubscribeParams;
    type Output = String;

    async fn run(&self, ctx: &mut Ctx, p: SubscribeParams) -> RpcResult<String> {
        let account_id = ctx.require_principal()?.account_id;
        let link =
            ctx.require_socket("Subscribe over the WebSocket (GET /ws); poll with notifications_list over HTTP.")?;
        let (head_seq, pruned_through) = head(ctx.conn().await?, account_id).await?;
        // An `after` beyond the head comes from a stream that is gone: start over, told so.
        let (after, resync) = match p.after {
            None => (head_seq, false),
            Some(after) if after > head_seq => (head_seq, true),
            Some(after) => (after, after < pruned_through),
        };
        let resync_first = resync.then(|| ResyncRequired::at(head_seq, pruned_through));
        let id = Uuid::now_v7().simple().to_string();
        let max = ctx.env().config.websocket.max_subscriptions_per_socket;
        let Some(ends) = link.add_subscription(id.clone(), max) else {
            return Err(RpcError::conflict("too_many_subscriptions")
                .message("This socket holds as many subscriptions as it may; one is enough per stream.")
                .with("max", max));
        };
        let env = ctx.shared_env();
        let start = Start { account_id, after, resync_first, ends };
        let sub_id = id.clone();
        ctx.after_answer(move || {
            tokio::spawn(subscription::run(env, sub_id, start, link));
        });
        Ok(id)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeParams {
    /// The id `notifications_subscribe` answered, on this socket.
    #[schemars(length(min = 1, max = 64))]
    pub subscription: String,
}

pub struct Unsubscribe;

impl Action for Unsubscribe {
    const METHOD: &'static str = "notifications_unsubscribe";
    type Params = UnsubscribeParams;
    type Output = bool;

    /// Ends a subscription of this socket: nothing more is pushed for it once the answer
    /// is sent (a push already queued before the answer may precede it).
    async fn run(&self, ctx: &mut Ctx, p: UnsubscribeParams) -> RpcResult<bool> {
        let link = ctx.require_socket("Subscriptions live on a WebSocket.")?;
        if !link.remove_subscription(&p.subscription) {
            return Err(RpcError::not_found().message("This socket has no subscription with that id."));
        }
        Ok(true)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Notifications after this `seq`; default 0 (from the oldest kept).
    #[schemars(range(min = 0))]
    pub after: Option<i64>,
    /// At most 500; default 100.
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    /// The newest `seq` of your stream (0 when it is empty).
    pub head_seq: i64,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "notifications_list";
    type Params = ListParams;
    type Output = NotificationPage;

    async fn run(&self, ctx: &mut Ctx, p: ListParams) -> RpcResult<NotificationPage> {
        let account_id = ctx.require_principal()?.account_id;
        let (head_seq, _) = head(ctx.conn().await?, account_id).await?;
        let limit = i64::from(p.limit.unwrap_or(100));
        let notifications = after(ctx.conn().await?, account_id, p.after.unwrap_or(0), limit).await?;
        Ok(NotificationPage { notifications, head_seq })
    }
}
