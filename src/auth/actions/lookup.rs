//! `account_lookup`: the id of an account named by its username, for any signed-in account —
//! so that a grantor can address a permit offer to a person without being an admin
//! (`account_list` is admin-only and shows more). It tells the id and the username only;
//! unknown and disabled names are both `not_found`, as neither can be offered anything.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::accounts::{self, USERNAME_PATTERN};
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountLookupParams {
    /// The username, in any letter case.
    #[schemars(regex(pattern = USERNAME_PATTERN))]
    pub username: String,
}

/// An account as a lookup shows it: no email, no dates.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountRef {
    pub id: Uuid,
    /// As the account spelt it.
    pub username: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountLookupResult {
    pub account: AccountRef,
}

pub struct Lookup;

impl Action for Lookup {
    const METHOD: &'static str = "account_lookup";
    type Params = AccountLookupParams;
    type Output = AccountLookupResult;

    async fn run(&self, ctx: &mut Ctx, p: AccountLookupParams) -> RpcResult<AccountLookupResult> {
        ctx.require_principal()?;
        let found = accounts::find_for_login(ctx.conn().await?, &p.username).await?;
        let account = found.map(|record| record.account).ok_or_else(RpcError::not_found)?;
        Ok(AccountLookupResult { account: AccountRef { id: account.id, username: account.username } })
    }
}
