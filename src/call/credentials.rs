//! The one way a change to who may do what is made known: after a change to an account's
//! sessions, tokens, password, enabled state or permits commits, nothing cached about its
//! credentials is used again — on this instance before the call answers, on the other
//! instances (PostgreSQL) as soon as they hear it, and in other processes on the same
//! SQLite file (the command line, a second server) through the change file
//! (`credential_cache` explains how).

use uuid::Uuid;

use super::ctx::Ctx;
use crate::credential_cache::PG_CHANNEL;
use crate::db::ConnRef;
use crate::error::RpcResult;

impl Ctx {
    /// Records, in the call's transaction, that `account_id`'s credentials or permits
    /// change: every cached resolution of them is dropped once it commits.
    pub async fn credentials_changed(&mut self, account_id: Uuid) -> RpcResult<()> {
        if let ConnRef::Postgres(c) = self.conn().await? {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(PG_CHANNEL)
                .bind(account_id.to_string())
                .execute(&mut *c)
                .await?;
        }
        let freshness = self.env().credentials.freshness().clone();
        self.after_commit(move || freshness.changed(account_id));
        Ok(())
    }
}
