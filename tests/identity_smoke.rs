//! A first walk through identity, to keep the harness honest.

mod common;

use common::{Backend, assert_error, start};
use serde_json::json;

backend_tests!(bootstrap_login_whoami);

async fn bootstrap_login_whoami(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let me = admin.ok("whoami", json!({})).await;
    assert_eq!(me["account"]["username"], "admin");
    assert_eq!(me["permissions"], json!({"*": ["*"]}));
    let again = server
        .anonymous()
        .call("account_bootstrap", json!({"token": "x", "username": "b", "password": "long enough pw"}))
        .await;
    assert_error(&again, -32004, "already_bootstrapped");
    let ann = server.account(&admin, "ann").await;
    assert_eq!(ann.ok("whoami", json!({})).await["permissions"], json!({}));
    assert_error(&ann.call("account_list", json!({})).await, -32002, "not_permitted");
}
