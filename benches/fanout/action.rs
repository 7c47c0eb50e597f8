//! `bench_broadcast`, the bench-only action: one call, one transaction, one commit that
//! notifies every account it names. Declared with the same TOML and bound by the same
//! registry as the built-in actions, so the call takes the full pipeline.

use countersign::app::Extra;
use countersign::call::{Action, Ctx};
use countersign::error::RpcResult;
use countersign::notify::Notice;
use countersign::rpc::spec::parse_file;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const METHOD: &str = "bench_broadcast";
/// The `type` of the notifications it writes.
pub const KIND: &str = "bench_broadcast";

const SPECS: &str = r#"
[[action]]
method = "bench_broadcast"
description = "Notifies every listed account in one transaction (one commit), with `sent_at_micros` as data."
auth = "public"
side_effects = true
params = "BroadcastParams"
result = "BroadcastResult"
rate_limit = "write"
"#;

/// The declaration and handler to pass to `server::start`.
pub fn extra() -> Extra {
    Extra {
        specs: parse_file("bench_fanout.toml", SPECS).expect("the bench declaration parses"),
        handlers: vec![Box::new(Broadcast)],
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastParams {
    pub account_ids: Vec<Uuid>,
    /// When the client sent the call, in microseconds on its own monotonic clock; it
    /// also tells the rounds apart.
    pub sent_at_micros: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BroadcastResult {
    pub notified: usize,
}

/// The data of each notification: when the client sent the call.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Broadcasted {
    pub sent_at_micros: i64,
}

impl Notice for Broadcasted {
    const KIND: &'static str = KIND;
}

pub struct Broadcast;

impl Action for Broadcast {
    const METHOD: &'static str = METHOD;
    type Params = BroadcastParams;
    type Output = BroadcastResult;

    async fn run(&self, ctx: &mut Ctx, params: BroadcastParams) -> RpcResult<BroadcastResult> {
        let notice = Broadcasted { sent_at_micros: params.sent_at_micros };
        for account_id in &params.account_ids {
            ctx.notify(*account_id, &notice).await?;
        }
        Ok(BroadcastResult { notified: params.account_ids.len() })
    }
}
