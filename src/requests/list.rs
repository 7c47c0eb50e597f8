//! `request_list`: newest first, paged by cursor, filtered — and only ever the requests
//! the caller may see. Visibility is the choke point's rule (`access::SEE_ANY`,
//! `access::SEE_OWN`) written into the query, so a caller with no reach reads nothing
//! and no page is padded with rows filtered out afterwards.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::{SEE_ANY, SEE_OWN};
use super::model::{Request, Status};
use super::store::{self, Bound};
use crate::authz::access::{self, Reach};
use crate::authz::scope::{SCOPE_MAX_LENGTH, SCOPE_PATTERN};
use crate::call::common::page;
use crate::call::{Action, Ctx, Env, Principal};
use crate::error::RpcResult;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestListParams {
    /// Requests at this scope and below it.
    #[schemars(regex(pattern = SCOPE_PATTERN), length(max = SCOPE_MAX_LENGTH))]
    pub scope_id: Option<String>,
    #[schemars(length(min = 1, max = 64))]
    pub kind: Option<String>,
    pub status: Option<Status>,
    /// Only the requests you made.
    pub mine: Option<bool>,
    /// Only requests waiting for approval that you may approve and have not voted on
    /// (never your own).
    pub awaiting_my_decision: Option<bool>,
    /// At most 500; default 100.
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestPage {
    /// Newest first.
    pub requests: Vec<Request>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

pub struct List;

impl Action for List {
    const METHOD: &'static str = "request_list";
    type Params = RequestListParams;
    type Output = RequestPage;

    async fn run(&self, ctx: &mut Ctx, p: RequestListParams) -> RpcResult<RequestPage> {
        let principal = ctx.require_principal()?.clone();
        let limit = i64::from(p.limit.unwrap_or(100));
        let mut query = Query { sql: store::select(), binds: Vec::new() };
        let me = query.bind(Bound::Id(principal.account_id));
        let seen = visible(ctx.env(), &principal, &me, &mut query);
        query.sql.push_str(&format!(" WHERE ({seen})"));
        if p.awaiting_my_decision == Some(true) {
            let approvable = reach_clause(ctx.env(), &principal, &["approve"], &mut query);
            query.sql.push_str(&format!(
                " AND r.status = 'pending_approval' AND r.requested_by <> {me} AND ({approvable}) AND NOT EXISTS \
                 (SELECT 1 FROM request_decisions d WHERE d.request_id = r.id AND d.account_id = {me})"
            ));
        }
        if let Some(scope_id) = p.scope_id {
            let at = query.bind(Bound::Text(scope_id));
            query.sql.push_str(&format!(" AND {}", covered("r.scope_id", &at)));
        }
        if let Some(kind) = p.kind {
            let kind = query.bind(Bound::Text(kind));
            query.sql.push_str(&format!(" AND r.kind = {kind}"));
        }
        if let Some(status) = p.status {
            let status = query.bind(Bound::Text(status.as_str().to_owned()));
            query.sql.push_str(&format!(" AND r.status = {status}"));
        }
        if p.mine == Some(true) {
            query.sql.push_str(&format!(" AND r.requested_by = {me}"));
        }
        if let Some(cursor) = p.cursor {
            let cursor = query.bind(Bound::Id(cursor));
            query.sql.push_str(&format!(" AND r.id < {cursor}"));
        }
        let limit_at = query.bind(Bound::Int(limit + 1));
        query.sql.push_str(&format!(" ORDER BY r.id DESC LIMIT {limit_at}"));
        let held = store::find_many(ctx.conn().await?, &query.sql, &query.binds).await?;
        let requests = held.into_iter().map(|h| h.request).collect();
        let (requests, next_cursor) = page(requests, limit, |r: &Request| r.id);
        Ok(RequestPage { requests, next_cursor })
    }
}

/// SQL text and the values bound into it, numbered as they are added.
struct Query {
    sql: String,
    binds: Vec<Bound>,
}

impl Query {
    /// Adds a value; returns its placeholder.
    fn bind(&mut self, value: Bound) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// `column` is the scope `at` or a scope below it, on whole segments.
fn covered(column: &str, at: &str) -> String {
    format!("({column} = {at} OR substr({column}, 1, length({at}) + 1) = {at} || '/')")
}

/// The requests the caller may see: any of a kind where they hold a [`SEE_ANY`] verb,
/// their own where they hold a [`SEE_OWN`] verb.
fn visible(env: &Env, principal: &Principal, me: &str, query: &mut Query) -> String {
    let any = reach_clause(env, principal, SEE_ANY, query);
    let own = reach_clause(env, principal, SEE_OWN, query);
    format!("({any}) OR (r.requested_by = {me} AND ({own}))")
}

/// Requests of a kind at a scope where the caller holds one of `verbs` on that kind.
fn reach_clause(env: &Env, principal: &Principal, verbs: &[&str], query: &mut Query) -> String {
    let mut clauses = Vec::new();
    for kind in env.config.kinds.keys() {
        let reaches = verbs.iter().map(|verb| access::reach(&env.roles, &principal.permits, verb, kind));
        let scopes = match Reach::union(reaches) {
            Reach::Everywhere => None,
            Reach::Scopes(scopes) if scopes.is_empty() => continue,
            Reach::Scopes(scopes) => Some(scopes),
        };
        let at_kind = query.bind(Bound::Text(kind.clone()));
        let within = match scopes {
            None => "1 = 1".to_owned(),
            Some(scopes) => {
                let each: Vec<String> =
                    scopes.into_iter().map(|scope| covered("r.scope_id", &query.bind(Bound::Text(scope)))).collect();
                each.join(" OR ")
            }
        };
        clauses.push(format!("(r.kind = {at_kind} AND ({within}))"));
    }
    if clauses.is_empty() { "1 = 0".to_owned() } else { clauses.join(" OR ") }
}
