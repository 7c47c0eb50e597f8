//! Bench-only actions, declared with the same TOML and bound by the same registry as the
//! built-in ones, so a call to them takes the full pipeline.

use countersign::app::Extra;
use countersign::call::{Action, Ctx};
use countersign::error::RpcResult;
use countersign::on_conn;
use countersign::rpc::spec::parse_file;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const SPECS: &str = r#"
[[action]]
method = "bench_echo"
description = "Returns its text: the pipeline's own cost, with no work in the handler."
auth = "public"
side_effects = false
params = "BenchEchoParams"
result = "BenchEchoResult"
rate_limit = "read"

[[action]]
method = "bench_db_read"
description = "One indexed read on the call's pooled connection."
auth = "public"
side_effects = false
params = "BenchDbReadParams"
result = "BenchDbReadResult"
rate_limit = "read"
"#;

/// The declarations and handlers to pass to `server::start`.
pub fn extra() -> Extra {
    Extra {
        specs: parse_file("bench.toml", SPECS).expect("the bench declarations parse"),
        handlers: vec![Box::new(BenchEcho), Box::new(BenchDbRead)],
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchEchoParams {
    pub text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BenchEchoResult {
    pub text: String,
}

pub struct BenchEcho;

impl Action for BenchEcho {
    const METHOD: &'static str = "bench_echo";
    type Params = BenchEchoParams;
    type Output = BenchEchoResult;

    async fn run(&self, _ctx: &mut Ctx, params: BenchEchoParams) -> RpcResult<BenchEchoResult> {
        Ok(BenchEchoResult { text: params.text })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchDbReadParams {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BenchDbReadResult {
    pub installed_at: String,
}

pub struct BenchDbRead;

impl Action for BenchDbRead {
    const METHOD: &'static str = "bench_db_read";
    type Params = BenchDbReadParams;
    type Output = BenchDbReadResult;

    async fn run(&self, ctx: &mut Ctx, _params: BenchDbReadParams) -> RpcResult<BenchDbReadResult> {
        let conn = ctx.conn().await?;
        let installed_at = on_conn!(conn, c => sqlx::query_scalar::<_, String>(
            "SELECT value FROM countersign_meta WHERE key = $1"
        )
        .bind("installed_at")
        .fetch_one(&mut *c)
        .await)?;
        Ok(BenchDbReadResult { installed_at })
    }
}
