//! The request expiry sweeper: requests still waiting for a confirmation or approvals past
//! `expires_at` become `expired`, with an audit row (`request_expire`) and the requester
//! and voters told. Until it runs, acting on such a request is already
//! `conflict/request_expired` (`access::open`).

use std::sync::Arc;

use serde_json::json;

use super::announce::announce;
use super::lifecycle::{Step, Track};
use super::store;
use crate::call::{Ctx, Env};
use crate::db;
use crate::error::RpcResult;

/// Requests expired per transaction (a backlog is worked through in batches).
const BATCH: i64 = 100;

/// Expires every waiting request past its expiry; returns how many.
pub async fn sweep(env: &Arc<Env>) -> RpcResult<usize> {
    let mut total = 0;
    loop {
        let mut ctx = Ctx::system(env.clone());
        let now = ctx.now();
        // Every lock first, in id order: instances sweeping the same backlog take them in
        // one order, and none is awaited while this transaction holds the audit head.
        let due = store::due(ctx.conn().await?, now, BATCH).await?;
        for id in &due {
            db::lock_key(ctx.conn().await?, &format!("request/{id}")).await?;
        }
        for id in &due {
            let Some(held) = store::find(ctx.conn().await?, *id).await? else { continue };
            if !held.request.status.is_pending() || held.request.expires_at > now {
                continue; // answered or cancelled meanwhile
            }
            let mut track = Track::loaded(held);
            track.step(Step::Expire)?;
            store::save(ctx.conn().await?, &track.held.request).await?;
            announce(&mut ctx, "request_expire", &track, false, json!({})).await?;
            total += 1;
        }
        ctx.commit().await?;
        if (due.len() as i64) < BATCH {
            return Ok(total);
        }
    }
}
