//! The one way a change to who may do what is made known: after a change to an account's
//! sessions, tokens, password, enabled state or permits commits, nothing cached about its
//! credentials is used again — on this instance before the call answers, on the other
//! instances (PostgreSQL) before the call answers too (each acknowledges, or its lease
//! runs out first), and in other processes on the same SQLite file (the command line, a
//! second server) through the change file (`credential_cache` explains how).

use uuid::Uuid;

use super::ctx::Ctx;
use crate::credential_cache::{Announcement, PG_CHANNEL};
use crate::db::ConnRef;
use crate::error::RpcResult;

impl Ctx {
    /// Records, in the call's transaction, that `account_id`'s credentials or permits
    /// change: every cached resolution of them is dropped once it commits.
    pub async fn credentials_changed(&mut self, account_id: Uuid) -> RpcResult<()> {
        let env = self.shared_env();
        if let ConnRef::Postgres(c) = self.conn().await? {
            let expected = env.credentials.freshness().confirmations().expect();
            let announcement = Announcement { from: env.hub.instance(), change: expected.change, account_id };
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(PG_CHANNEL)
                .bind(announcement.payload())
                .execute(&mut *c)
                .await?;
            self.credential_changes.announced(expected);
        }
        self.credential_changes.changed(account_id);
        Ok(())
    }
}
