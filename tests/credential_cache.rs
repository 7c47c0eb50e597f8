//! The credential cache keeps revocation immediate (docs/protocol.md §4.5): signed-in
//! calls are answered from memory, yet for each change that ends or narrows what a
//! credential may do — a session revoked, a token revoked, a permit revoked, a permit
//! expired, the account disabled, the password changed — the very next call is refused,
//! over POST, over GET and on a socket opened before; on the instance that made the
//! change, on another instance of the same SQLite file (through the change file), and
//! after the command line changed the database under a running server, and on another
//! PostgreSQL instance (the changing call answers once the others acknowledged it; one that
//! never does is waited out for the length of its lease). While a PostgreSQL listener is
//! away, the cache is not used.

mod common;

use common::identity::{Client, PASSWORD};
use common::{Backend, TestServer, WsClient, start};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    signed_in_calls_are_answered_from_memory,
    every_change_refuses_the_next_call_on_the_same_instance,
    every_change_refuses_the_next_call_on_another_instance,
    a_change_made_while_the_listener_is_away_is_not_served_from_memory,
    a_command_line_change_reaches_a_running_server,
    an_instance_that_never_acknowledges_is_waited_out,
);

/// What is changed, and what must be refused after.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    SessionRevoke,
    TokenRevoke,
    PermitRevoke,
    PermitExpiry,
    AccountDisable,
    NewPassword,
}

const CHANGES: [Change; 6] = [
    Change::SessionRevoke,
    Change::TokenRevoke,
    Change::PermitRevoke,
    Change::PermitExpiry,
    Change::AccountDisable,
    Change::NewPassword,
];

/// One account set up for one change: `main` (a session) makes its own changes, `probe` is
/// the credential whose next call must be refused, `permit_id` a permit it holds at `scope`.
struct Cast {
    account_id: String,
    main: Client,
    probe: Client,
    permit_id: String,
    scope: String,
}

async fn cast(server: &TestServer, admin: &Client, change: Change, n: usize) -> Cast {
    let username = format!("ann{n}");
    let main = server.account(admin, &username).await;
    let account_id = main.account_id.clone().unwrap();
    let scope = format!("org:c{n}");
    let expires_at = (server.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let grant = json!({"to_account_id": account_id, "role": "manager", "scope_id": scope, "expires_at": expires_at});
    let permit_id = admin.ok("permit_grant", grant).await["permit"]["id"].as_str().unwrap().to_owned();
    let probe = match change {
        Change::SessionRevoke | Change::NewPassword => server.login(&username, PASSWORD).await,
        _ => {
            let token = main.ok("token_create", json!({"name": "probe"})).await;
            main.with_bearer(token["secret"].as_str().unwrap())
        }
    };
    Cast { account_id, main, probe, permit_id, scope }
}

/// Makes `change` through `main`/`admin` (whichever instance they call).
async fn make(change: Change, cast: &Cast, admin: &Client, servers: [&TestServer; 2]) {
    match change {
        Change::SessionRevoke => {
            let sessions = cast.probe.ok("session_list", json!({})).await;
            let current = sessions["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
            cast.main.ok("session_revoke", json!({"session_id": current["id"]})).await;
        }
        Change::TokenRevoke => {
            let tokens = cast.main.ok("token_list", json!({})).await;
            cast.main.ok("token_revoke", json!({"token_id": tokens["tokens"][0]["id"]})).await;
        }
        Change::PermitRevoke => {
            admin.ok("permit_revoke", json!({"permit_id": cast.permit_id})).await;
        }
        Change::PermitExpiry => {
            for server in servers {
                server.clock.advance(std::time::Duration::from_secs(2 * 3600));
            }
        }
        Change::AccountDisable => {
            admin.ok("account_disable", json!({"account_id": cast.account_id})).await;
        }
        Change::NewPassword => {
            let new = json!({"current_password": PASSWORD, "new_password": "another horse battery staple"});
            cast.main.ok("account_password_change", new).await;
        }
    }
}

/// The probe's question: may it manage policies at its permit's scope?
fn question(cast: &Cast) -> Value {
    json!({"checks": [{"verb": "manage", "resource": "policies", "scope_id": cast.scope}]})
}

/// What the probe's call answered: `Some(allowed)`, or `None` when it was refused.
fn answer_of(response: &Value) -> Option<bool> {
    if response.get("error").is_some() {
        let reason = &response["error"]["data"]["reason"];
        assert!(reason == "invalid_credentials" || reason == "no_credentials", "{response}");
        return None;
    }
    Some(response["result"]["results"][0].as_bool().unwrap_or_else(|| panic!("{response}")))
}

/// The probe's call over POST, GET and its socket.
async fn ask(cast: &Cast, probe: &Client, ws: &mut Option<WsClient>) -> [Option<bool>; 3] {
    let post = answer_of(&probe.call("permission_check", question(cast)).await);
    let params = form_urlencoded::byte_serialize(question(cast).to_string().as_bytes()).collect::<String>();
    let (_, _, got) = probe.get(&format!("/rpc/permission_check?params={params}&id=1")).await;
    let get = answer_of(&got);
    let socket = match ws {
        Some(socket) => ask_on_socket(socket, cast).await,
        None => None,
    };
    if socket.is_none() {
        *ws = None;
    }
    [post, get, socket]
}

/// The answer on an open socket; `None` when the socket was closed as revoked or the call
/// refused.
async fn ask_on_socket(ws: &mut WsClient, cast: &Cast) -> Option<bool> {
    ws.send(&json!({"jsonrpc": "2.0", "id": 7, "method": "permission_check", "params": question(cast)}).to_string())
        .await;
    loop {
        match ws.next().await {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["params"]["result"]["type"] == "session_revoked" {
                    continue;
                }
                if value.get("id") == Some(&json!(7)) {
                    return answer_of(&value);
                }
            }
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4001, "closed as revoked");
                return None;
            }
            other => panic!("expected an answer or a close, got {other:?}"),
        }
    }
}

/// Tries a change only the probe's credential and permit allow (a policy at its scope);
/// whether it was refused.
async fn mutate(cast: &Cast, probe: &Client) -> bool {
    let policy = json!({"scope_id": cast.scope, "kind": "purchase", "approvals_required": 1});
    let response = probe.call("policy_set", policy).await;
    let reason = &response["error"]["data"]["reason"];
    reason == "invalid_credentials" || reason == "not_permitted"
}

/// What must be answered after `change`: refused outright, or allowed no more.
fn expected_after(change: Change) -> [Option<bool>; 3] {
    match change {
        Change::PermitRevoke | Change::PermitExpiry => [Some(false); 3],
        _ => [None; 3],
    }
}

/// The cache's hits so far on `server`.
fn hits(server: &TestServer) -> u64 {
    server.env.metrics.credential_cache().hits.get()
}

/// Waits until `server`'s PostgreSQL listener is connected (its cache trusted).
async fn listening(server: &TestServer) {
    let freshness = server.env.credentials.freshness();
    for _ in 0..500 {
        if freshness.is_trusted() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the listener did not connect within 5 s");
}

/// The same caller, calling `server` instead.
fn on(client: &Client, server: &TestServer) -> Client {
    Client { base: server.base.clone(), addr: server.addr, ..client.clone() }
}

/// For each change: the probe's calls through `serving` are answered (from memory: the hit
/// count grows), the change is made through `changing`, and the probe's next calls through
/// `serving` are refused.
async fn each_change(changing: &TestServer, serving: &TestServer) {
    let admin = changing.admin().await;
    for (n, change) in CHANGES.into_iter().enumerate() {
        let cast = cast(changing, &admin, change, n).await;
        let probe = on(&cast.probe, serving);
        let mut ws = Some(probe.ws().await.unwrap());
        assert_eq!(ask(&cast, &probe, &mut ws).await, [Some(true); 3], "{change:?}: before");
        let before = hits(serving);
        assert_eq!(ask(&cast, &probe, &mut ws).await, [Some(true); 3], "{change:?}: before, again");
        assert!(hits(serving) >= before + 3, "{change:?}: answered from memory");
        assert!(!mutate(&cast, &probe).await, "{change:?}: the probe may set a policy before");
        make(change, &cast, &admin, [changing, serving]).await;
        // Refused at once, on any instance: with PostgreSQL the changing call answered
        // only after the other instance acknowledged the change.
        assert!(mutate(&cast, &probe).await, "{change:?}: a change through the old credential");
        assert_eq!(ask(&cast, &probe, &mut ws).await, expected_after(change), "{change:?}: the very next calls");
    }
}

/// A signed-in `whoami` is answered without reading the database: the second call is a
/// hit, and it still says what the database says.
async fn signed_in_calls_are_answered_from_memory(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let first = ann.ok("whoami", json!({})).await;
    let before = hits(&server);
    let second = ann.ok("whoami", json!({})).await;
    assert_eq!(hits(&server), before + 1);
    assert_eq!(first, second);
    assert_eq!(second["account"]["username"], "ann");
    assert_eq!(second["account"]["disabled_at"], Value::Null);
    let (status, _, metrics) = server.anonymous().get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.as_str().unwrap().contains("countersign_credential_cache_hits_total"), "{metrics}");
}

async fn every_change_refuses_the_next_call_on_the_same_instance(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    each_change(&server, &server).await;
}

/// Changes made through instance A; the probe calls instance B, whose cache held it.
async fn every_change_refuses_the_next_call_on_another_instance(backend: Backend) {
    let Some(a) = start(backend).await else { return };
    let b = a.another_instance().await;
    listening(&b).await;
    each_change(&a, &b).await;
}

/// PostgreSQL: a token revoked straight in the database is heard by nobody; while B's
/// listener is away and after it is back, B does not answer from what it held.
async fn a_change_made_while_the_listener_is_away_is_not_served_from_memory(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // only PostgreSQL has a listener
    }
    let Some(a) = start(backend).await else { return };
    let admin = a.admin().await;
    let ann = a.account(&admin, "ann").await;
    let token = ann.ok("token_create", json!({"name": "b"})).await;
    let b = a.another_instance().await;
    listening(&b).await;
    let on_b = on(&ann, &b).with_bearer(token["secret"].as_str().unwrap());
    on_b.ok("whoami", json!({})).await;
    let token_id: uuid::Uuid = token["token"]["id"].as_str().unwrap().parse().unwrap();
    let mut conn = a.env.db.read().await.unwrap();
    countersign::on_conn!(conn.conn(), c => sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
        .bind(a.clock.now()).bind(token_id).execute(&mut *c).await.map(|_| ()))
    .unwrap();
    assert!(on_b.call("whoami", json!({})).await.get("result").is_some(), "unheard, so still cached (the premise)");
    let killed: Vec<bool> = countersign::on_conn!(conn.conn(), c => sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'countersign listener %'")
        .fetch_all(&mut *c).await)
    .unwrap();
    assert!(!killed.is_empty(), "the listeners were found");
    let freshness = b.env.credentials.freshness().clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // From the moment B knows its listener is gone until it is back, nothing is trusted;
    // once back, what it held before is gone. Either way the call is refused.
    while freshness.is_trusted() && std::time::Instant::now() < deadline {
        if on_b.call("whoami", json!({})).await.get("error").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let refused = on_b.call("whoami", json!({})).await;
    assert_eq!(refused["error"]["data"]["reason"], "invalid_credentials", "{refused}");
}

/// The command line disables ann while a server has her token cached: her next call to
/// that server is refused (SQLite: the change file; PostgreSQL: the listener).
async fn a_command_line_change_reaches_a_running_server(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let token = ann.ok("token_create", json!({"name": "script"})).await;
    let script = ann.with_bearer(token["secret"].as_str().unwrap());
    script.ok("whoami", json!({})).await;
    let before = hits(&server);
    script.ok("whoami", json!({})).await;
    assert_eq!(hits(&server), before + 1, "cached");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["account", "disable", "--username", "ann", "--database-url", &server.database_url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // PostgreSQL: the command line cannot hear acknowledgements, so it returned only once
    // the server's lease could no longer cover what it held.
    let refused = script.call("whoami", json!({})).await;
    assert_eq!(refused["error"]["data"]["reason"], "invalid_credentials", "{refused}");
    assert!(ann.call("whoami", json!({})).await.get("error").is_some(), "her session too");
}

/// PostgreSQL: a listener that is connected but never acknowledges (here a bare connection
/// named like one) holds a change's answer until its lease has run out — and no longer;
/// without it, the same change answers as soon as the real instance acknowledged.
async fn an_instance_that_never_acknowledges_is_waited_out(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // only PostgreSQL instances acknowledge
    }
    let Some(a) = start(backend).await else { return };
    let b = a.another_instance().await;
    listening(&a).await;
    listening(&b).await;
    let admin = a.admin().await;
    let ann = a.account(&admin, "ann").await;
    let revoke = |token: Value| {
        let ann = ann.clone();
        async move {
            let started = std::time::Instant::now();
            ann.ok("token_revoke", json!({"token_id": token["token"]["id"]})).await;
            started.elapsed()
        }
    };
    let token = ann.ok("token_create", json!({"name": "one"})).await;
    let acknowledged = revoke(token).await;
    assert!(acknowledged < countersign::credential_cache::LEASE, "B acknowledged: {acknowledged:?}");

    let mut phantom = sqlx::PgConnection::connect(&a.database_url).await.unwrap();
    let name = countersign::credential_cache::listener_name(uuid::Uuid::now_v7());
    sqlx::query("SELECT set_config('application_name', $1, false)").bind(name).execute(&mut phantom).await.unwrap();
    let token = ann.ok("token_create", json!({"name": "two"})).await;
    let waited_out = revoke(token).await;
    assert!(waited_out >= countersign::credential_cache::LEASE, "the silent one was waited for: {waited_out:?}");
    assert!(waited_out < countersign::credential_cache::LEASE * 2, "and no longer: {waited_out:?}");
    eprintln!("revoke answered after {acknowledged:?} (acknowledged), {waited_out:?} (one silent listener)");
}
