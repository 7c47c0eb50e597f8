//! Params and results shared by many actions.

use chrono::{DateTime, SubsecRound, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{RpcError, RpcResult};

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

/// A requested expiry as it will be stored: to the microsecond (what both databases
/// keep), so the answer shows what later reads will. `validation_error/expiry_in_past`
/// unless absent or after `now`. (Years past 9999 never get here: the params schema's
/// `date-time` format refuses them.)
pub fn future_expiry(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> RpcResult<Option<DateTime<Utc>>> {
    let expires_at = expires_at.map(|at| at.trunc_subsecs(6));
    if expires_at.is_some_and(|at| at <= now) {
        return Err(RpcError::validation("expiry_in_past").message("expires_at must be in the future."));
    }
    Ok(expires_at)
}

/// One page of a listing. Fetch `limit + 1` rows: the page is the first `limit`, and the
/// extra row only says that more follow, so the last page never hands out a cursor to an
/// empty one. The cursor is `next` of the page's last row.
pub fn page<T, C>(mut rows: Vec<T>, limit: i64, next: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let cursor = rows.last().map(next);
    (rows, cursor)
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn a_cursor_only_when_more_rows_follow() {
        assert_eq!(page(vec![1, 2, 3], 2, |r| *r), (vec![1, 2], Some(2)));
        assert_eq!(page(vec![1, 2], 2, |r| *r), (vec![1, 2], None));
        assert_eq!(page(Vec::<i32>::new(), 2, |r| *r), (vec![], None));
    }
}
