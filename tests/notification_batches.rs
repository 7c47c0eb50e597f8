//! A transaction's notifications are written together, right before it reads again or
//! commits (`notify::writer`): one commit notifying many accounts, several rows each and
//! interleaved, delivers every row once, in order, with its own `seq`; a rolled-back one
//! delivers nothing and leaves no gap; concurrent writers to the same accounts, in opposite
//! orders, neither deadlock nor leave gaps or duplicates; and the committing instance
//! pushes each row once, as does another instance (PostgreSQL).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::doubles::TestEvent;
use common::identity::Client;
use common::{Backend, TestServer, WsClient, assert_error, start_custom};
use countersign::app::Extra;
use countersign::call::{Action, Ctx};
use countersign::error::{RpcError, RpcResult};
use countersign::rpc::spec::parse_file;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    one_commit_to_many_accounts_delivers_every_row_once_in_order,
    a_rolled_back_batch_delivers_nothing_and_leaves_no_gap,
    concurrent_batches_to_the_same_accounts_leave_no_gaps,
    each_instance_pushes_a_commit_once,
);

const SPECS: &str = r#"
[[action]]
method = "test_notify_many"
description = "Notifies each listed account in order, in one transaction; reads the database after `read_after` of them; fails at the end if asked to."
auth = "public"
side_effects = true
params = "NotifyManyParams"
result = "NotifyManyResult"
rate_limit = "write"
"#;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NotifyManyParams {
    /// One notification per entry, `i` = its index in this list.
    accounts: Vec<Uuid>,
    /// Use the transaction after this many (the rows so far are written then).
    read_after: Option<usize>,
    fail: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct NotifyManyResult {
    notified: usize,
}

struct NotifyMany;

impl Action for NotifyMany {
    const METHOD: &'static str = "test_notify_many";
    type Params = NotifyManyParams;
    type Output = NotifyManyResult;

    async fn run(&self, ctx: &mut Ctx, p: NotifyManyParams) -> RpcResult<NotifyManyResult> {
        for (i, account_id) in p.accounts.iter().enumerate() {
            if p.read_after == Some(i) {
                countersign::notify::head(ctx.conn().await?, *account_id).await?;
            }
            ctx.notify(*account_id, &TestEvent { i: i as u32, pad: String::new() }).await?;
        }
        if p.fail == Some(true) {
            return Err(RpcError::conflict("test_failure"));
        }
        Ok(NotifyManyResult { notified: p.accounts.len() })
    }
}

async fn start(backend: Backend) -> Option<TestServer> {
    let mut extra = common::doubles::extra();
    let mine =
        Extra { specs: parse_file("notification_batches.toml", SPECS).unwrap(), handlers: vec![Box::new(NotifyMany)] };
    extra.specs.extend(mine.specs);
    extra.handlers.extend(mine.handlers);
    start_custom(backend, extra, |_| {}).await
}

/// Accounts `names`, signed in.
async fn people(server: &TestServer, names: &[&str]) -> Vec<(Client, Uuid)> {
    let admin = server.admin().await;
    let mut people = Vec::new();
    for name in names {
        let client = server.account(&admin, name).await;
        let id = client.account_id.clone().unwrap().parse().unwrap();
        people.push((client, id));
    }
    people
}

/// A socket of `client`, subscribed after `after`, and its subscription id.
async fn subscribed(client: &Client, after: i64) -> (WsClient, String) {
    let mut ws = client.ws().await.unwrap();
    let answer = ws.call(1, "notifications_subscribe", json!({"after": after})).await;
    let id = answer["result"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    (ws, id)
}

async fn notify_many(server: &TestServer, accounts: &[Uuid], read_after: Option<usize>) -> Value {
    server.call("test_notify_many", json!({"accounts": accounts, "read_after": read_after})).await
}

/// The next `count` rows pushed to `subscription`, as (seq, i); then nothing more for a
/// while: no row is pushed twice.
async fn pushed(ws: &mut WsClient, subscription: &str, count: usize) -> Vec<(i64, i64)> {
    let mut rows = Vec::new();
    for _ in 0..count {
        let message = ws.next_json().await;
        assert_eq!(message["params"]["subscription"], subscription, "{message}");
        let row = &message["params"]["result"];
        rows.push((row["seq"].as_i64().unwrap(), row["data"]["i"].as_i64().unwrap()));
    }
    let more = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(more.is_err(), "nothing more is pushed, got {more:?}");
    rows
}

async fn one_commit_to_many_accounts_delivers_every_row_once_in_order(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let people = people(&server, &["ann", "bob", "cy"]).await;
    let [ann, bob, cy] = [people[0].1, people[1].1, people[2].1];
    let mut sockets = Vec::new();
    for (client, _) in &people {
        for _ in 0..2 {
            sockets.push(subscribed(client, 0).await);
        }
    }
    // Interleaved, and written in two goes: the transaction reads after the fourth.
    let order = [ann, bob, ann, cy, bob, ann, cy];
    assert_eq!(notify_many(&server, &order, Some(4)).await["result"]["notified"], 7);
    let expected = [vec![(1, 0), (2, 2), (3, 5)], vec![(1, 1), (2, 4)], vec![(1, 3), (2, 6)]];
    for (n, (ws, id)) in sockets.iter_mut().enumerate() {
        assert_eq!(pushed(ws, id, expected[n / 2].len()).await, expected[n / 2], "socket {n}");
    }
    let page = people[0].0.ok("notifications_list", json!({})).await;
    let listed: Vec<(i64, i64)> = page["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["seq"].as_i64().unwrap(), n["data"]["i"].as_i64().unwrap()))
        .collect();
    assert_eq!(listed, expected[0], "the stream holds what was pushed");
}

async fn a_rolled_back_batch_delivers_nothing_and_leaves_no_gap(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let people = people(&server, &["ann", "bob"]).await;
    let (ann, bob) = (people[0].1, people[1].1);
    let (mut ws, id) = subscribed(&people[0].0, 0).await;
    let failed =
        server.call("test_notify_many", json!({"accounts": [ann, bob, ann], "read_after": 2, "fail": true})).await;
    assert_error(&failed, -32004, "test_failure");
    notify_many(&server, &[bob, ann], None).await;
    assert_eq!(pushed(&mut ws, &id, 1).await, vec![(1, 1)], "seq 1 again: nothing of the rollback is left");
    let page = people[1].0.ok("notifications_list", json!({})).await;
    assert_eq!(page["head_seq"], 1, "{page}");
}

/// Eight writers, each committing 15 batches to ann and bob, half of them bob first: on
/// PostgreSQL one write locks its heads in one order whatever the call's, so none
/// deadlocks. (A call that makes the transaction read between its notifications writes them
/// in two goes, locking in call order: those lock in id order too.)
async fn concurrent_batches_to_the_same_accounts_leave_no_gaps(backend: Backend) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 15;
    let Some(server) = start(backend).await else { return };
    let server = Arc::new(server);
    let people = people(&server, &["ann", "bob"]).await;
    let (ann, bob) = (people[0].1, people[1].1);
    let (mut ws, id) = subscribed(&people[1].0, 0).await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let server = server.clone();
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let (low, high) = (ann.min(bob), ann.max(bob));
                    let (order, read_after) =
                        if (w + b) % 2 == 0 { ([low, high, ann], Some(1)) } else { ([high, low, ann], None) };
                    let answer = notify_many(&server, &order, read_after).await;
                    assert_eq!(answer["result"]["notified"], 3, "{answer}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let bob_rows = pushed(&mut ws, &id, WRITERS * BATCHES).await;
    let seqs: Vec<i64> = bob_rows.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=(WRITERS * BATCHES) as i64).collect::<Vec<_>>(), "bob's pushes skip or repeat nothing");
    let mut after = 0;
    let mut ann_seqs = Vec::new();
    loop {
        let page = people[0].0.ok("notifications_list", json!({"after": after, "limit": 500})).await;
        let rows = page["notifications"].as_array().unwrap().clone();
        let Some(last) = rows.last() else { break };
        after = last["seq"].as_i64().unwrap();
        ann_seqs.extend(rows.iter().map(|n| n["seq"].as_i64().unwrap()));
    }
    assert_eq!(ann_seqs, (1..=(2 * WRITERS * BATCHES) as i64).collect::<Vec<_>>(), "ann's stream has no gap");
}

/// With a socket of ann on the committing instance A and one on B, a commit through A
/// reaches each socket once per row: A wakes its own subscribers and ignores its own
/// `pg_notify`; B hears it.
async fn each_instance_pushes_a_commit_once(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // several instances share a database only with PostgreSQL
    }
    let Some(a) = start(backend).await else { return };
    let people = people(&a, &["ann"]).await;
    let ann = people[0].1;
    let b = a.another_instance().await;
    let ann_on_b = b.login("ann", common::identity::PASSWORD).await;
    let (mut on_a, id_a) = subscribed(&people[0].0, 0).await;
    let (mut on_b, id_b) = subscribed(&ann_on_b, 0).await;
    notify_many(&a, &[ann, ann], None).await;
    notify_many(&a, &[ann], None).await;
    let expected = vec![(1, 0), (2, 1), (3, 0)];
    assert_eq!(pushed(&mut on_a, &id_a, 3).await, expected);
    assert_eq!(pushed(&mut on_b, &id_b, 3).await, expected);
}
