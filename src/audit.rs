//! The audit methods (docs/protocol.md §9): `audit_list`, scoped to where the caller
//! holds `view:audit`, and `audit_verify`. The log itself, its writer and its chain are in
//! `audit_log/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit_log::row::AuditRow;
use crate::audit_log::{self, ListFilter, VerifyReport};
use crate::authz::access::{self, Reach};
use crate::call::common::{EmptyParams, page};
use crate::call::{Action, Ctx};
use crate::error::RpcResult;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListParams {
    /// Rows after this seq (`next_after_seq` of the previous page); default 0.
    #[schemars(range(min = 0))]
    pub after_seq: Option<i64>,
    /// At most 1000; default 100.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    #[schemars(length(max = 100))]
    pub event_type: Option<String>,
    /// Rows where this account acted or was the target.
    pub account_id: Option<Uuid>,
    #[schemars(length(max = 200))]
    pub subject_id: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    pub events: Vec<AuditRow>,
    /// Pass as `after_seq` for the next page; `null` on the last page.
    pub next_after_seq: Option<i64>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "audit_list";
    type Params = AuditListParams;
    type Output = AuditPage;

    async fn run(&self, ctx: &mut Ctx, p: AuditListParams) -> RpcResult<AuditPage> {
        let principal = ctx.require_principal()?;
        // `view:audit` held at a scope shows the rows recorded at that scope and below.
        let within = match access::reach(&ctx.env().roles, &principal.permits, "view", "audit") {
            Reach::Everywhere => None,
            Reach::Scopes(scopes) => Some(scopes),
        };
        let limit = i64::from(p.limit.unwrap_or(100));
        let filter = ListFilter {
            after_seq: p.after_seq.unwrap_or(0),
            limit: limit + 1,
            event_type: p.event_type,
            account_id: p.account_id,
            subject_id: p.subject_id,
            within,
        };
        let events = audit_log::list(ctx.conn().await?, &filter).await?;
        let (events, next_after_seq) = page(events, limit, |e| e.seq);
        Ok(AuditPage { events, next_after_seq })
    }
}

pub struct Verify;

impl Action for Verify {
    const METHOD: &'static str = "audit_verify";
    type Params = EmptyParams;
    type Output = VerifyReport;

    async fn run(&self, ctx: &mut Ctx, _p: EmptyParams) -> RpcResult<VerifyReport> {
        audit_log::verify(ctx.conn().await?).await
    }
}
