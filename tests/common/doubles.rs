//! Test doubles: actions registered only in tests, declared with the same TOML and bound
//! by the same registry as the real ones.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use countersign::app::Extra;
use countersign::call::{Action, Ctx};
use countersign::config::{Config, RateLimit};
use countersign::error::{ErrorKind, RpcError, RpcResult};
use countersign::notify::Notice;
use countersign::on_conn;
use countersign::rpc::spec::parse_file;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TestServer;

const SPECS: &str = r#"
[[action]]
method = "test_echo"
description = "Returns its params."
auth = "public"
side_effects = false
params = "EchoParams"
result = "EchoResult"
rate_limit = "read"

[[action]]
method = "test_private"
description = "Echo for signed-in accounts."
auth = "account"
side_effects = false
params = "EchoParams"
result = "EchoResult"
rate_limit = "read"

[[action]]
method = "test_write"
description = "Writes a probe row, queues a post-commit hook, then fails if asked to."
auth = "public"
side_effects = true
params = "WriteParams"
result = "WriteResult"
rate_limit = "write"

[[action]]
method = "test_notify"
description = "Appends `count` notifications to an account's stream, then fails if asked to."
auth = "public"
side_effects = true
params = "NotifyParams"
result = "NotifyResult"
rate_limit = "write"

[[action]]
method = "test_fail"
description = "Fails with the named error kind."
auth = "public"
side_effects = false
params = "FailParams"
result = "EchoResult"
rate_limit = "read"

[[action]]
method = "test_slow"
description = "Sleeps, then echoes."
auth = "public"
side_effects = false
params = "SlowParams"
result = "EchoResult"
rate_limit = "read"

[[action]]
method = "test_limited"
description = "Echo under a tight rate limit."
auth = "public"
side_effects = false
params = "EchoParams"
result = "EchoResult"
rate_limit = "test_tight"
"#;

/// The tight class `test_limited` uses: a burst of 2, then one call a minute.
pub fn add_rate_limit_class(config: &mut Config) {
    config.rate_limits.insert("test_tight".into(), RateLimit { per_minute: 1, burst: 2 });
}

pub fn extra() -> Extra {
    Extra {
        specs: parse_file("test_doubles.toml", SPECS).unwrap(),
        handlers: vec![
            Box::new(Echo),
            Box::new(Private),
            Box::new(Write),
            Box::new(Notify),
            Box::new(Fail),
            Box::new(Slow),
            Box::new(Limited),
        ],
    }
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoParams {
    /// Any text up to 64 characters.
    #[schemars(length(max = 64))]
    pub text: String,
    pub n: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EchoResult {
    pub text: String,
    pub n: Option<u32>,
}

fn echo(p: EchoParams) -> EchoResult {
    EchoResult { text: p.text, n: p.n }
}

pub struct Echo;
impl Action for Echo {
    const METHOD: &'static str = "test_echo";
    type Params = EchoParams;
    type Output = EchoResult;
    async fn run(&self, _ctx: &mut Ctx, p: EchoParams) -> RpcResult<EchoResult> {
        Ok(echo(p))
    }
}

pub struct Private;
impl Action for Private {
    const METHOD: &'static str = "test_private";
    type Params = EchoParams;
    type Output = EchoResult;
    async fn run(&self, _ctx: &mut Ctx, p: EchoParams) -> RpcResult<EchoResult> {
        Ok(echo(p))
    }
}

pub struct Limited;
impl Action for Limited {
    const METHOD: &'static str = "test_limited";
    type Params = EchoParams;
    type Output = EchoResult;
    async fn run(&self, _ctx: &mut Ctx, p: EchoParams) -> RpcResult<EchoResult> {
        Ok(echo(p))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    pub key: String,
    /// An error kind name to fail with after writing, or `panic`.
    pub fail_with: Option<String>,
    /// PostgreSQL only: the first this many attempts end in a real serialization failure.
    pub transient_failures: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WriteResult {
    pub written: String,
}

/// Attempts `test_write` made per key (the pipeline reruns transient failures).
static ATTEMPTS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

pub fn attempts(key: &str) -> u32 {
    ATTEMPTS.lock().unwrap().as_ref().and_then(|m| m.get(key).copied()).unwrap_or(0)
}

/// Keys whose post-commit hook has run.
static HOOKS_RUN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

pub fn hook_ran(key: &str) -> bool {
    HOOKS_RUN.lock().unwrap().as_ref().is_some_and(|set| set.contains(key))
}

pub struct Write;
impl Action for Write {
    const METHOD: &'static str = "test_write";
    type Params = WriteParams;
    type Output = WriteResult;
    async fn run(&self, ctx: &mut Ctx, p: WriteParams) -> RpcResult<WriteResult> {
        let row_key = format!("probe:{}", p.key);
        let now = ctx.now();
        let conn = ctx.conn().await?;
        on_conn!(conn, c => sqlx::query("INSERT INTO countersign_meta (key, value, updated_at) VALUES ($1, $2, $3)")
            .bind(&row_key).bind("written").bind(now).execute(&mut *c).await.map(|_| ()))?;
        let attempt = {
            let mut guard = ATTEMPTS.lock().unwrap();
            let count = guard.get_or_insert_with(HashMap::new).entry(p.key.clone()).or_default();
            *count += 1;
            *count
        };
        if attempt <= p.transient_failures.unwrap_or(0) {
            let conn = ctx.conn().await?;
            on_conn!(conn, c => sqlx::query("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'serialization_failure'; END $$")
                .execute(&mut *c).await.map(|_| ()))?;
        }
        let hook_key = p.key.clone();
        ctx.after_commit(move || {
            HOOKS_RUN.lock().unwrap().get_or_insert_with(HashSet::new).insert(hook_key);
        });
        match p.fail_with.as_deref() {
            None => Ok(WriteResult { written: row_key }),
            Some("panic") => panic!("test_write asked to panic"),
            Some(kind) => Err(fail(kind)),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyParams {
    pub account_id: uuid::Uuid,
    pub count: u32,
    /// Characters of padding in each notification's data.
    pub pad: Option<usize>,
    /// Fail after writing, so the transaction rolls back.
    pub fail: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NotifyResult {
    pub seqs: Vec<i64>,
}

/// Notification types only the test doubles send (they have no published schema).
pub const TEST_NOTICE_KINDS: &[&str] = &[TestEvent::KIND];

/// The payload `test_notify` writes: a notification type only the tests send.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TestEvent {
    pub i: u32,
    pub pad: String,
}

impl Notice for TestEvent {
    const KIND: &'static str = "test_event";
}

pub struct Notify;
impl Action for Notify {
    const METHOD: &'static str = "test_notify";
    type Params = NotifyParams;
    type Output = NotifyResult;
    async fn run(&self, ctx: &mut Ctx, p: NotifyParams) -> RpcResult<NotifyResult> {
        let pad = "x".repeat(p.pad.unwrap_or(0));
        for i in 0..p.count {
            ctx.notify(p.account_id, &TestEvent { i, pad: pad.clone() }).await?;
        }
        // Written once the transaction is used again: the head is then the last of them.
        let (head, _) = countersign::notify::head(ctx.conn().await?, p.account_id).await?;
        let seqs = (head - i64::from(p.count) + 1..=head).collect();
        if p.fail == Some(true) {
            return Err(RpcError::conflict("test_failure"));
        }
        Ok(NotifyResult { seqs })
    }
}

fn fail(kind: &str) -> RpcError {
    match ErrorKind::from_name(kind) {
        Some(ErrorKind::InternalError) => RpcError::internal("secret internal detail"),
        Some(kind) => RpcError::new(kind, "test_failure"),
        None => RpcError::validation("unknown_kind"),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailParams {
    pub kind: String,
}

pub struct Fail;
impl Action for Fail {
    const METHOD: &'static str = "test_fail";
    type Params = FailParams;
    type Output = EchoResult;
    async fn run(&self, _ctx: &mut Ctx, p: FailParams) -> RpcResult<EchoResult> {
        Err(fail(&p.kind))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowParams {
    pub ms: u64,
    /// Calls with the same tag count towards one concurrency gauge (see [`max_concurrent`]).
    pub tag: Option<String>,
}

/// Per tag: (running now, most ever running at once).
static CONCURRENCY: Mutex<Option<HashMap<String, (usize, usize)>>> = Mutex::new(None);

/// The most `test_slow` calls with `tag` that were ever running at once.
pub fn max_concurrent(tag: &str) -> usize {
    CONCURRENCY.lock().unwrap().as_ref().and_then(|m| m.get(tag)).map_or(0, |(_, max)| *max)
}

fn track(tag: &str, delta: isize) {
    let mut guard = CONCURRENCY.lock().unwrap();
    let entry = guard.get_or_insert_with(HashMap::new).entry(tag.to_owned()).or_default();
    entry.0 = entry.0.checked_add_signed(delta).unwrap();
    entry.1 = entry.1.max(entry.0);
}

pub struct Slow;
impl Action for Slow {
    const METHOD: &'static str = "test_slow";
    type Params = SlowParams;
    type Output = EchoResult;
    async fn run(&self, _ctx: &mut Ctx, p: SlowParams) -> RpcResult<EchoResult> {
        if let Some(tag) = &p.tag {
            track(tag, 1);
        }
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        if let Some(tag) = &p.tag {
            track(tag, -1);
        }
        Ok(EchoResult { text: "slept".into(), n: None })
    }
}

/// Whether `test_write` left its probe row for `key`.
pub async fn probe_exists(server: &TestServer, key: &str) -> bool {
    let mut conn = server.env.db.read().await.unwrap();
    let row_key = format!("probe:{key}");
    let count: i64 =
        on_conn!(conn.conn(), c => sqlx::query_scalar("SELECT COUNT(*) FROM countersign_meta WHERE key = $1")
        .bind(&row_key).fetch_one(&mut *c).await)
        .unwrap();
    count == 1
}
