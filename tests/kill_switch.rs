//! The admin's kill switch (docs/protocol.md §4.4): `account_disable` ends every session
//! and token of a compromised account at once and closes its sockets; it cannot sign in
//! again until `account_enable`, and then only with fresh credentials. Every refusal
//! changes nothing, and no pair of disables can leave the server without a lasting admin.

mod common;

use common::identity::{Client, PASSWORD};
use common::party::audited;
use common::{Backend, TestServer, assert_error, start, start_with};
use countersign::config::{Config, RateLimit};
use serde_json::{Value, json};

backend_tests!(
    disabling_ends_every_credential_and_socket_at_once,
    refusals_name_their_reason_and_change_nothing,
    two_admins_disabling_each_other_at_once_leave_one,
);

fn id(client: &Client) -> String {
    client.account_id.clone().unwrap()
}

async fn try_login(server: &TestServer, username: &str) -> Value {
    server.anonymous().call("account_login", json!({"username": username, "password": PASSWORD})).await
}

async fn disabling_ends_every_credential_and_socket_at_once(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let secret = ann.ok("token_create", json!({"name": "script"})).await["secret"].as_str().unwrap().to_owned();
    let script = ann.with_bearer(&secret);
    let mut socket = script.ws().await.unwrap();
    assert!(socket.call(1, "notifications_subscribe", json!({})).await["result"].is_string());

    let params = json!({"account_id": id(&ann), "reason": "laptop stolen"});
    let disabled = admin.ok("account_disable", params).await;
    assert!(disabled["account"]["disabled_at"].is_string(), "{disabled}");
    assert_eq!((disabled["sessions_ended"].as_u64(), disabled["tokens_revoked"].as_u64()), (Some(1), Some(1)));
    socket.closed_as_revoked().await;
    assert_error(&ann.call("whoami", json!({})).await, -32001, "invalid_credentials");
    assert_error(&script.call("whoami", json!({})).await, -32001, "invalid_credentials");
    assert_error(&try_login(&server, "ann").await, -32001, "invalid_credentials");
    let row = audited(&admin, "account_disable", &json!(id(&ann))).await;
    assert_eq!(row["target_account_id"], id(&ann).as_str());
    assert_eq!(row["data"], json!({"reason": "laptop stolen", "sessions_ended": 1, "tokens_revoked": 1}));

    let enabled = admin.ok("account_enable", json!({"account_id": id(&ann)})).await;
    assert_eq!(enabled["account"]["disabled_at"], Value::Null);
    assert_error(&script.call("whoami", json!({})).await, -32001, "invalid_credentials");
    assert!(try_login(&server, "ann").await.get("result").is_some(), "ann signs in anew");
    assert_eq!(audited(&admin, "account_enable", &json!(id(&ann))).await["actor_id"], admin_actor(&admin).await);
}

/// The actor id of the signed-in `admin`, as audit rows name it.
async fn admin_actor(admin: &Client) -> Value {
    admin.ok("whoami", json!({})).await["actor_id"].clone()
}

/// Snapshot of what a refused call must leave alone: the accounts and the audit head.
async fn state(admin: &Client) -> Value {
    let accounts = admin.ok("account_list", json!({})).await["accounts"].clone();
    let head = admin.ok("audit_list", json!({"limit": 1000})).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "success")
        .count();
    json!({"accounts": accounts, "successes": head})
}

async fn refusals_name_their_reason_and_change_nothing(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let ann = server.account(&admin, "ann").await;
    let bob = server.account(&admin, "bob").await;
    admin.ok("account_disable", json!({"account_id": id(&bob)})).await;
    // ann holds an admin permit that expires: she is no lasting admin.
    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    admin.ok("permit_grant", json!({"to_account_id": id(&ann), "role": "admin", "expires_at": until})).await;
    let before = state(&admin).await;
    let nobody = uuid::Uuid::now_v7().to_string();
    let refused = [
        (&admin, "account_disable", json!({"account_id": id(&admin)}), -32005, "self_target"),
        (&admin, "account_disable", json!({"account_id": nobody}), -32003, "not_found"),
        (&admin, "account_disable", json!({"account_id": id(&bob)}), -32004, "already_disabled"),
        (&admin, "account_enable", json!({"account_id": id(&ann)}), -32004, "not_disabled"),
        (&admin, "account_enable", json!({"account_id": nobody}), -32003, "not_found"),
        (&ann, "account_disable", json!({"account_id": id(&admin)}), -32004, "last_admin"),
        (&admin, "account_disable", json!({"account_id": "not-a-uuid"}), -32602, "schema"),
    ];
    for (caller, method, params, code, reason) in refused {
        assert_error(&caller.call(method, params).await, code, reason);
    }
    assert_eq!(state(&admin).await, before);
    let member = server.account(&admin, "carol").await;
    let before = state(&admin).await;
    assert_error(&member.call("account_disable", json!({"account_id": id(&ann)})).await, -32002, "not_permitted");
    assert_eq!(state(&admin).await, before);
    assert!(ann.call("whoami", json!({})).await.get("result").is_some(), "ann was left alone");
}

/// Two lasting admins (and no other) disable each other at the same moment, five times
/// over: exactly one succeeds each time.
async fn two_admins_disabling_each_other_at_once_leave_one(backend: Backend) {
    let roomy = |c: &mut Config| {
        c.rate_limits.insert("login".into(), RateLimit { per_minute: 100_000, burst: 100_000 });
    };
    let Some(server) = start_with(backend, roomy).await else { return };
    let mut root = server.admin().await;
    for round in 0..5 {
        let a = server.account(&root, &format!("a{round}")).await;
        let b = server.account(&root, &format!("b{round}")).await;
        for who in [&a, &b] {
            root.ok("permit_grant", json!({"to_account_id": id(who), "role": "admin"})).await;
        }
        a.ok("account_disable", json!({"account_id": id(&root)})).await;
        let (x, y) = tokio::join!(
            a.call("account_disable", json!({"account_id": id(&b)})),
            b.call("account_disable", json!({"account_id": id(&a)})),
        );
        let won = [&x, &y].iter().filter(|r| r.get("result").is_some()).count();
        assert_eq!(won, 1, "round {round}: {x} {y}");
        // The loser is refused as the last admin, or — when the winner's disable landed
        // first — finds its own session already ended.
        let (survivor, lost) = if x.get("result").is_some() { (&a, &y) } else { (&b, &x) };
        let reason = lost["error"]["data"]["reason"].as_str();
        assert!(matches!(reason, Some("last_admin" | "invalid_credentials")), "round {round}: {lost}");
        survivor.ok("account_enable", json!({"account_id": id(&root)})).await;
        root = server.login(common::identity::ADMIN, PASSWORD).await;
        root.ok("account_disable", json!({"account_id": id(survivor)})).await;
    }
}
