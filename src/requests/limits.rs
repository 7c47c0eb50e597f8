//! A policy's limits on a new request (docs/protocol.md §7.5): its own amount and
//! percentage, and what the requests of its kind under the policy add up to over the
//! trailing window — every request at and below the scope that set the policy (all of
//! them, for a kind's default), so a limit cannot be sidestepped by asking one scope
//! further down. The window is counted under a lock on (that scope, kind) held until the
//! call commits, so requests made at once are counted one after the other and N parallel
//! creates never pass a window limit together.

use rust_decimal::Decimal;
use serde_json::json;

use crate::call::Ctx;
use crate::config::kinds::Limits;
use crate::db;
use crate::error::{RpcError, RpcResult};
use crate::money::{Amount, Percentage};

use super::store;

/// What a new request is counted against: its own values, and the policy whose limits
/// hold — set at `window` (`None`: the kind's default, everywhere).
pub struct Asked<'a> {
    pub scope_id: &'a str,
    pub kind: &'a str,
    pub window: Option<&'a str>,
    pub amount: Option<Amount>,
    pub percentage: Option<Percentage>,
}

/// Refuses a request that would pass one of `limits`.
pub async fn check(ctx: &mut Ctx, asked: &Asked<'_>, limits: &Limits) -> RpcResult<()> {
    check_within(ctx, asked, limits).await.map_err(|e| e.scoped(asked.scope_id, None))
}

async fn check_within(ctx: &mut Ctx, asked: &Asked<'_>, limits: &Limits) -> RpcResult<()> {
    let (amount, percentage) = (asked.amount, asked.percentage);
    if let (Some(max), Some(amount)) = (limits.max_amount, amount) {
        if amount > max {
            return Err(exceeded("max_amount", max.0, amount.0));
        }
    }
    if let (Some(max), Some(percentage)) = (limits.max_percentage, percentage) {
        if percentage > max {
            return Err(exceeded("max_percentage", max.0, percentage.0));
        }
    }
    let Some(hours) = limits.window_hours else { return Ok(()) };
    if limits.window_max_count.is_none() && limits.window_max_total.is_none() {
        return Ok(());
    }
    let window = asked.window.unwrap_or("*");
    db::lock_key(ctx.conn().await?, &format!("requests/{window}/{}", asked.kind)).await?;
    let since = ctx.now() - chrono::Duration::hours(i64::from(hours));
    let amounts = store::window(ctx.conn().await?, asked.window, asked.kind, since).await?;
    if let Some(max) = limits.window_max_count {
        let count = amounts.len() as u64;
        if count >= u64::from(max) {
            return Err(
                exceeded("window_max_count", Decimal::from(max), Decimal::from(count + 1)).with("window_hours", hours)
            );
        }
    }
    if let (Some(max), Some(amount)) = (limits.window_max_total, amount) {
        let used = amounts.into_iter().flatten().try_fold(Decimal::ZERO, |sum, text| {
            let Amount(value) = Amount::try_from(text).map_err(RpcError::internal)?;
            Ok::<_, RpcError>(sum + value)
        })?;
        if used + amount.0 > max.0 {
            return Err(exceeded("window_max_total", max.0, used + amount.0)
                .with("window_hours", hours)
                .with("used", used.to_string()));
        }
    }
    Ok(())
}

/// `forbidden/limit_exceeded`, naming the limit, what it allows and what was attempted.
fn exceeded(limit: &str, allowed: Decimal, attempted: Decimal) -> RpcError {
    RpcError::forbidden("limit_exceeded")
        .message(format!("This would pass the policy's {limit} ({allowed})."))
        .with("limit", limit)
        .with("allowed", json!(allowed.to_string()))
        .with("attempted", json!(attempted.to_string()))
}
