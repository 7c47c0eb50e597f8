//! `account_lookup` (docs/protocol.md §4): any signed-in account finds the id of an enabled
//! account by its username — in any letter case, over POST and GET — and learns nothing else;
//! unknown and disabled names answer alike; strangers and malformed names are refused.

mod common;

use common::{Backend, assert_error, start};
use serde_json::json;

backend_tests!(
    a_member_finds_an_account_by_username_and_only_its_id,
    unknown_disabled_anonymous_and_malformed_are_refused
);

async fn a_member_finds_an_account_by_username_and_only_its_id(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let grantor = server.account(&admin, "Grantor").await;
    let bob = server.account(&admin, "Bob.Smith").await;
    let bob_id = bob.ok("whoami", json!({})).await["account"]["id"].clone();

    let found = grantor.ok("account_lookup", json!({"username": "bob.SMITH"})).await;
    assert_eq!(
        found,
        json!({"account": {"id": bob_id, "username": "Bob.Smith"}}),
        "the id and the username, nothing else"
    );

    let path = "/rpc/account_lookup?params=%7B%22username%22%3A%22Bob.Smith%22%7D&id=1";
    let (status, _, answer) = grantor.get(path).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["account"]["id"], bob_id);

    // What it is for: offering a role to the account found.
    let offer = json!({"to_account_id": bob_id, "role": "approver", "scope_id": "org:acme"});
    let grantor_id = grantor.ok("whoami", json!({})).await["account"]["id"].clone();
    admin.ok("permit_grant", json!({"to_account_id": grantor_id, "role": "approver", "scope_id": "org:acme"})).await;
    assert_eq!(grantor.ok("permit_offer_create", offer).await["offer"]["to_account_id"], bob_id);
}

async fn unknown_disabled_anonymous_and_malformed_are_refused(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let admin = server.admin().await;
    let member = server.account(&admin, "member").await;
    let gone = server.account(&admin, "gone").await;
    let gone_id = gone.ok("whoami", json!({})).await["account"]["id"].clone();
    admin.ok("account_disable", json!({"account_id": gone_id})).await;

    let unknown = member.call("account_lookup", json!({"username": "nobody"})).await;
    assert_error(&unknown, -32003, "not_found");
    let disabled = member.call("account_lookup", json!({"username": "GONE"})).await;
    let shown = |answer: &serde_json::Value| {
        (answer["error"]["code"].clone(), answer["error"]["message"].clone(), answer["error"]["data"]["reason"].clone())
    };
    assert_eq!(shown(&disabled), shown(&unknown), "a disabled name answers exactly as an unknown one");

    let anonymous = server.anonymous().call("account_lookup", json!({"username": "member"})).await;
    assert_error(&anonymous, -32001, "no_credentials");
    for bad in
        [json!({"username": ""}), json!({"username": "with space"}), json!({}), json!({"username": "a", "email": "x"})]
    {
        assert_error(&member.call("account_lookup", bad).await, -32602, "schema");
    }
}
