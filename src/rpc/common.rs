//! Params and results shared by many actions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// No params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyParams {}

/// `{ok: true}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OkResult {
    pub ok: bool,
}

impl OkResult {
    pub fn ok() -> OkResult {
        OkResult { ok: true }
    }
}
