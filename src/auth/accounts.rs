//! Accounts and their default actors: the rows, the one way to create an account (used by
//! `account_bootstrap`, `account_create`, `account_signup` and the CLI), and how a
//! signed-in account is shown (`whoami`'s answer, encoded once per credential resolution).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::authz::access::{self, Permissions};
use crate::authz::{Permit, Roles};
use crate::call::principal::Holder;
use crate::db::ConnRef;
use crate::error::{RpcError, RpcResult};
use crate::on_conn;

/// An account as every method returns it (never its password hash).
#[derive(Debug, Clone, Serialize, JsonSchema, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// An account with its default actor.
#[derive(Debug, Clone)]
pub struct Created {
    pub account: Account,
    pub actor_id: Uuid,
}

const COLUMNS: &str = "id, username, email, created_at, disabled_at";

/// Joins the default (first) actor of the account aliased `a` as `d` (select `d.id AS
/// actor_id`): a join, so it is looked up once per account however many rows the query gives
/// (a select-list subquery would run once per row: once per permit in a credential lookup).
pub const JOIN_DEFAULT_ACTOR: &str =
    "JOIN actors d ON d.id = (SELECT id FROM actors WHERE account_id = a.id ORDER BY created_at, id LIMIT 1)";

/// Select-list items for a credential lookup's account (`a`) and default actor (`d`),
/// read as a [`Holder`].
pub const HOLDER_COLUMNS: &str =
    "a.id AS account_id, d.id AS actor_id, a.username, a.email, a.created_at AS account_created_at";

// `whoami`'s answer: the caller's account and actor, and its permits with what they allow.
// (Not a doc comment: it would become the schema's description.)
#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoamiResult<'a> {
    pub account: Account,
    pub actor_id: Uuid,
    /// The caller's active permits.
    #[schemars(with = "Vec<Permit>")]
    pub permits: &'a [Permit],
    /// What the UI may offer: `resource` or `resource/scope` → sorted verbs.
    pub permissions: Permissions,
}

/// How a credential's holder, holding `permits` of `roles`, is shown: its [`WhoamiResult`],
/// encoded. Its principal keeps it so (built once per resolution, for `Principal::new`),
/// and `whoami` answers with it as it is. The account is enabled, or its credential would
/// not have resolved.
pub fn shown(roles: &Roles, holder: &Holder, permits: &[Permit]) -> Box<RawValue> {
    let account = Account {
        id: holder.account_id,
        username: holder.username.clone(),
        email: holder.email.clone(),
        created_at: holder.created_at,
        disabled_at: None,
    };
    let permissions = access::permissions(roles, permits);
    let answer = WhoamiResult { account, actor_id: holder.actor_id, permits, permissions };
    serde_json::value::to_raw_value(&answer).expect("ids, strings and times encode")
}

/// What a username may contain (also stated in the params schemas).
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._@+-]{1,64}$";

/// Checks a username against [`USERNAME_PATTERN`] (for callers that skip the schema: the CLI).
pub fn check_username(username: &str) -> RpcResult<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
    if username.is_empty() || username.len() > 64 || !username.chars().all(allowed) {
        return Err(RpcError::validation("invalid_username")
            .message("Usernames are 1 to 64 letters, digits and . _ @ + - characters."));
    }
    Ok(())
}

/// The case-insensitive key usernames are unique by.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// Creates an account and its default actor, with a hash from `password::hash_new`. A
/// username taken in any letter case is `conflict/username_taken`.
pub async fn create(
    mut conn: ConnRef<'_>,
    username: &str,
    email: Option<&str>,
    password_hash: &str,
    now: DateTime<Utc>,
) -> RpcResult<Created> {
    check_username(username)?;
    let key = username_key(username);
    let taken: Option<Uuid> = on_conn!(&mut conn, c => sqlx::query_scalar("SELECT id FROM accounts WHERE username_key = $1")
        .bind(&key).fetch_optional(&mut **c).await)?;
    if taken.is_some() {
        return Err(username_taken());
    }
    let account = Account {
        id: Uuid::now_v7(),
        username: username.to_owned(),
        email: email.map(str::to_owned),
        created_at: now,
        disabled_at: None,
    };
    let actor_id = Uuid::now_v7();
    let inserted = on_conn!(&mut conn, c => sqlx::query(
        "INSERT INTO accounts (id, username, username_key, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(account.id).bind(&account.username).bind(&key).bind(&account.email).bind(password_hash).bind(now)
        .execute(&mut **c).await.map(|_| ()));
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(username_taken()),
        other => other?,
    }
    on_conn!(&mut conn, c => sqlx::query("INSERT INTO actors (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(actor_id).bind(account.id).bind(&account.username).bind(now)
        .execute(&mut **c).await.map(|_| ()))?;
    Ok(Created { account, actor_id })
}

fn username_taken() -> RpcError {
    RpcError::conflict("username_taken").message("That username is taken (usernames ignore letter case).")
}

/// What a login needs: the account, its actor and its password hash.
pub struct LoginRecord {
    pub account: Account,
    pub actor_id: Uuid,
    pub password_hash: String,
}

/// Finds an enabled account by username, in any letter case.
pub async fn find_for_login(conn: ConnRef<'_>, username: &str) -> RpcResult<Option<LoginRecord>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: Account,
        actor_id: Uuid,
        password_hash: String,
    }
    let sql = format!(
        "SELECT a.id, a.username, a.email, a.created_at, a.disabled_at, a.password_hash, d.id AS actor_id \
               FROM accounts a {JOIN_DEFAULT_ACTOR} WHERE a.username_key = $1 AND a.disabled_at IS NULL"
    );
    let row: Option<Row> =
        on_conn!(conn, c => sqlx::query_as(&sql).bind(username_key(username)).fetch_optional(&mut *c).await)?;
    Ok(row.map(|r| LoginRecord { account: r.account, actor_id: r.actor_id, password_hash: r.password_hash }))
}

/// An enabled account with its default actor (who permits and offers are for).
pub async fn find_enabled(conn: ConnRef<'_>, id: Uuid) -> RpcResult<Option<Created>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: Account,
        actor_id: Uuid,
    }
    let sql = format!(
        "SELECT a.id, a.username, a.email, a.created_at, a.disabled_at, d.id AS actor_id \
         FROM accounts a {JOIN_DEFAULT_ACTOR} WHERE a.id = $1 AND a.disabled_at IS NULL"
    );
    let row: Option<Row> = on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?;
    Ok(row.map(|r| Created { account: r.account, actor_id: r.actor_id }))
}

pub async fn find(conn: ConnRef<'_>, id: Uuid) -> RpcResult<Option<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
}

pub async fn password_hash(conn: ConnRef<'_>, id: Uuid) -> RpcResult<String> {
    Ok(on_conn!(conn, c => sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = $1")
        .bind(id).fetch_one(&mut *c).await)?)
}

pub async fn set_password_hash(conn: ConnRef<'_>, id: Uuid, hash: &str) -> RpcResult<()> {
    on_conn!(conn, c => sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
        .bind(hash).bind(id).execute(&mut *c).await.map(|_| ()))?;
    Ok(())
}

/// Accounts in creation order (ids are UUIDv7), after `cursor`.
pub async fn list(conn: ConnRef<'_>, cursor: Option<Uuid>, limit: i64) -> RpcResult<Vec<Account>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(cursor).bind(limit).fetch_all(&mut *c).await)?)
}

/// Whether any account exists (the first row ends the search: no count of them all).
pub async fn any(conn: ConnRef<'_>) -> RpcResult<bool> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(ANY_ACCOUNT).fetch_one(&mut *c).await)?)
}

/// The statement of [`any`].
pub const ANY_ACCOUNT: &str = "SELECT EXISTS (SELECT 1 FROM accounts)";

/// Disables (`at` given) or re-enables (`None`) the account; `false` when it is already
/// so or does not exist.
pub async fn set_disabled(conn: ConnRef<'_>, id: Uuid, at: Option<DateTime<Utc>>) -> RpcResult<bool> {
    let sql = if at.is_some() {
        "UPDATE accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL"
    } else {
        "UPDATE accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NOT NULL"
    };
    let affected = on_conn!(conn, c => sqlx::query(sql)
        .bind(at).bind(id).execute(&mut *c).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// The id of the account named `username` (any letter case), enabled or not.
pub async fn id_by_username(conn: ConnRef<'_>, username: &str) -> RpcResult<Option<Uuid>> {
    let key = username_key(username);
    Ok(on_conn!(conn, c => sqlx::query_scalar("SELECT id FROM accounts WHERE username_key = $1")
        .bind(key).fetch_optional(&mut *c).await)?)
}
