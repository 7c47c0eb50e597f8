//! docs/protocol.md use case 5, permission-gated UI affordances: a unit principal sees the
//! "validate module status" button (`module.status/<unit>` with verb `edit`), a standard
//! user does not. Over POST, GET and an open WebSocket, on both databases.

mod common;

use common::identity::Client;
use common::{Backend, TestServer, assert_error, start};
use serde_json::{Value, json};

backend_tests!(
    principal_sees_the_validate_button_and_standard_user_does_not,
    permission_check_answers_the_button_question_only_at_and_below_the_unit,
    revoking_hides_the_button_on_an_already_open_socket,
    principal_is_held_only_at_unit_scopes,
    a_keeper_asks_about_both_in_one_call_and_sam_may_not_ask_about_pia,
    a_misspelt_verb_or_resource_is_refused_not_answered_false,
);

const UNIT: &str = "unit:CF1234";
const BUTTON: &str = "module.status/unit:CF1234";

struct Story {
    server: TestServer,
    admin: Client,
    pia: Client,
    sam: Client,
    /// pia's `principal` permit at unit:CF1234.
    pia_permit: Value,
}

impl Story {
    fn pia_id(&self) -> &str {
        self.pia.account_id.as_deref().unwrap()
    }
    fn sam_id(&self) -> &str {
        self.sam.account_id.as_deref().unwrap()
    }
}

/// Admin grants `principal` at unit:CF1234 to pia and `standard` at unit:CF1234 to sam.
async fn story(backend: Backend) -> Option<Story> {
    let server = start(backend).await?;
    let admin = server.admin().await;
    let pia = server.account(&admin, "pia").await;
    let sam = server.account(&admin, "sam").await;
    let granted =
        admin.ok("permit_grant", json!({"to_account_id": pia.account_id, "role": "principal", "scope_id": UNIT})).await;
    let pia_permit = granted["permit"].clone();
    assert_eq!(pia_permit["role"], "principal", "{granted}");
    assert_eq!(pia_permit["scope_id"], UNIT, "{granted}");
    assert_eq!(pia_permit["account_id"], json!(pia.account_id), "{granted}");
    assert_eq!(pia_permit["granted_by"], json!(admin.account_id), "{granted}");
    let granted =
        admin.ok("permit_grant", json!({"to_account_id": sam.account_id, "role": "standard", "scope_id": UNIT})).await;
    assert_eq!(granted["permit"]["role"], "standard", "{granted}");
    Some(Story { server, admin, pia, sam, pia_permit })
}

/// `params` as the url-encoded query of a GET call.
fn get_path(method: &str, params: &Value, id: u64) -> String {
    let encoded: String = form_urlencoded::byte_serialize(params.to_string().as_bytes()).collect();
    format!("/rpc/{method}?params={encoded}&id={id}")
}

fn pia_permissions() -> Value {
    json!({BUTTON: ["edit"], "modules/unit:CF1234": ["edit", "view"]})
}

fn sam_permissions() -> Value {
    json!({"modules/unit:CF1234": ["edit-own", "view"]})
}

fn has_button(whoami: &Value) -> bool {
    whoami["permissions"].as_object().unwrap().keys().any(|k| k.starts_with("module.status"))
}

async fn principal_sees_the_validate_button_and_standard_user_does_not(backend: Backend) {
    let Some(s) = story(backend).await else { return };

    // POST whoami.
    let pia = s.pia.ok("whoami", json!({})).await;
    assert_eq!(pia["account"]["username"], "pia", "{pia}");
    assert_eq!(pia["permissions"], pia_permissions(), "{pia}");
    assert_eq!(pia["permissions"][BUTTON], json!(["edit"]), "the button is shown");
    assert_eq!(pia["permits"].as_array().unwrap().len(), 1, "{pia}");
    assert_eq!(pia["permits"][0]["id"], s.pia_permit["id"], "{pia}");
    assert_eq!(pia["permits"][0]["actor_id"], pia["actor_id"], "{pia}");

    let sam = s.sam.ok("whoami", json!({})).await;
    assert_eq!(sam["account"]["username"], "sam", "{sam}");
    assert_eq!(sam["permissions"], sam_permissions(), "{sam}");
    assert!(!has_button(&sam), "sam must not see the button: {sam}");
    assert_eq!(sam["permits"][0]["role"], "standard", "{sam}");

    // GET whoami answers the same, with the id given.
    let (status, _, body) = s.pia.get(&get_path("whoami", &json!({}), 41)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 41, "{body}");
    assert_eq!(body["result"]["permissions"], pia_permissions(), "{body}");
    let (status, _, body) = s.sam.get(&get_path("whoami", &json!({}), 42)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["permissions"], sam_permissions(), "{body}");
    assert!(!has_button(&body["result"]), "{body}");

    // Over a WebSocket too.
    let mut ws = s.pia.ws().await.unwrap();
    let answer = ws.call(3, "whoami", json!({})).await;
    assert_eq!(answer["id"], 3, "{answer}");
    assert_eq!(answer["result"]["permissions"], pia_permissions(), "{answer}");
    let mut ws = s.sam.ws().await.unwrap();
    let answer = ws.call(4, "whoami", json!({})).await;
    assert_eq!(answer["result"]["permissions"], sam_permissions(), "{answer}");

    // Without a session there is no whoami at all.
    let (status, _, body) = s.server.get(&get_path("whoami", &json!({}), 1)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], -32001, "{body}");
}

/// pia's questions and the expected answers: (resource, verb, scope, answer).
const PIA_QUESTIONS: [(&str, &str, Option<&str>, bool); 11] = [
    ("module.status", "edit", Some(UNIT), true),
    ("module.status", "edit", Some("unit:CF1234/module:x"), true),
    ("module.status", "edit", Some("org:acme/unit:CF1234"), false),
    ("module.status", "edit", Some("unit:CF9999"), false),
    ("module.status", "edit", Some("unit:CF12345"), false),
    ("module.status", "edit", Some("unit:cf1234"), false),
    ("module.status", "edit", None, false),
    ("module.status", "view", Some(UNIT), false),
    ("modules", "view", Some(UNIT), true),
    ("modules", "edit", Some(UNIT), true),
    ("modules", "edit-own", Some(UNIT), false),
];

fn checks_of(questions: &[(&str, &str, Option<&str>, bool)], account: Option<&str>) -> (Value, Value) {
    let checks: Vec<Value> = questions
        .iter()
        .map(|(resource, verb, scope, _)| {
            let mut check = json!({"resource": resource, "verb": verb});
            if let Some(scope) = scope {
                check["scope_id"] = json!(scope);
            }
            if let Some(account) = account {
                check["account_id"] = json!(account);
            }
            check
        })
        .collect();
    let answers: Vec<bool> = questions.iter().map(|q| q.3).collect();
    (json!({"checks": checks}), json!(answers))
}

async fn permission_check_answers_the_button_question_only_at_and_below_the_unit(backend: Backend) {
    let Some(s) = story(backend).await else { return };
    let (params, answers) = checks_of(&PIA_QUESTIONS, None);

    let result = s.pia.ok("permission_check", params.clone()).await;
    assert_eq!(result["results"], answers, "POST: {result}");

    let (status, _, body) = s.pia.get(&get_path("permission_check", &params, 9)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 9, "{body}");
    assert_eq!(body["result"]["results"], answers, "GET: {body}");

    // Asking about herself by id is the same question.
    let (own, _) = checks_of(&PIA_QUESTIONS[..1], Some(s.pia_id()));
    assert_eq!(s.pia.ok("permission_check", own).await["results"], json!([true]));

    // sam: no button anywhere, his own module edits at the unit only.
    let sam_questions = [
        ("module.status", "edit", Some(UNIT), false),
        ("module.status", "edit", Some("unit:CF1234/module:x"), false),
        ("modules", "edit-own", Some(UNIT), true),
        ("modules", "view", Some("unit:CF1234/module:x"), true),
        ("modules", "edit", Some(UNIT), false),
        ("modules", "view", Some("unit:CF9999"), false),
    ];
    let (params, answers) = checks_of(&sam_questions, None);
    let (status, _, body) = s.sam.get(&get_path("permission_check", &params, 10)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["results"], answers, "{body}");

    // A malformed scope is refused with the path of the bad question, over GET too.
    let bad = json!({"checks": [{"resource": "module.status", "verb": "edit", "scope_id": "unit CF1234"}]});
    let (status, _, body) = s.pia.get(&get_path("permission_check", &bad, 11)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(body["error"]["data"]["issues"][0]["path"], "/checks/0/scope_id", "{body}");
}

async fn revoking_hides_the_button_on_an_already_open_socket(backend: Backend) {
    let Some(s) = story(backend).await else { return };
    let mut pia_ws = s.pia.ws().await.unwrap();
    let mut sam_ws = s.sam.ws().await.unwrap();
    let button_check = json!({"checks": [{"resource": "module.status", "verb": "edit", "scope_id": UNIT}]});

    let before = pia_ws.call(1, "whoami", json!({})).await;
    assert_eq!(before["result"]["permissions"], pia_permissions(), "{before}");
    assert!(has_button(&before["result"]));
    assert_eq!(pia_ws.call(2, "permission_check", button_check.clone()).await["result"]["results"], json!([true]));
    let sam_before = sam_ws.call(1, "whoami", json!({})).await;
    assert_eq!(sam_before["result"]["permissions"], sam_permissions(), "{sam_before}");

    let revoked =
        s.admin.ok("permit_revoke", json!({"permit_id": s.pia_permit["id"], "reason": "moved to another unit"})).await;
    assert_eq!(revoked["permit"]["id"], s.pia_permit["id"], "{revoked}");
    assert_eq!(revoked["permit"]["revoked_by"], json!(s.admin.account_id), "{revoked}");
    assert_eq!(revoked["permit"]["revoked_reason"], "moved to another unit", "{revoked}");
    assert_eq!(revoked["superseded_offer_ids"], json!([]), "{revoked}");

    // The same socket, no reconnect: the very next call sees it gone.
    let after = pia_ws.call(3, "whoami", json!({})).await;
    assert_eq!(after["result"]["permissions"], json!({}), "{after}");
    assert!(!has_button(&after["result"]), "{after}");
    assert_eq!(after["result"]["permits"], json!([]), "{after}");
    assert_eq!(pia_ws.call(4, "permission_check", button_check.clone()).await["result"]["results"], json!([false]));
    // So does a fresh POST with the same session.
    assert_eq!(s.pia.ok("whoami", json!({})).await["permissions"], json!({}));

    // sam's socket is unaffected.
    let sam_after = sam_ws.call(2, "whoami", json!({})).await;
    assert_eq!(sam_after["result"]["permissions"], sam_permissions(), "{sam_after}");
    assert_eq!(sam_after["result"]["permits"], sam_before["result"]["permits"], "{sam_after}");

    // Granted again, the button comes back on the same socket.
    let again =
        s.admin.ok("permit_grant", json!({"to_account_id": s.pia_id(), "role": "principal", "scope_id": UNIT})).await;
    assert_ne!(again["permit"]["id"], s.pia_permit["id"], "{again}");
    let back = pia_ws.call(5, "whoami", json!({})).await;
    assert_eq!(back["result"]["permissions"], pia_permissions(), "{back}");
    assert_eq!(back["result"]["permits"][0]["id"], again["permit"]["id"], "{back}");
}

async fn principal_is_held_only_at_unit_scopes(backend: Backend) {
    let Some(s) = story(backend).await else { return };
    let permits_before = s.admin.ok("permit_list", json!({"account_id": s.sam_id()})).await;
    for scope in [None, Some("org:acme"), Some("unit:CF1234/org:acme")] {
        let mut params = json!({"to_account_id": s.sam_id(), "role": "principal"});
        if let Some(scope) = scope {
            params["scope_id"] = json!(scope);
        }
        let response = s.admin.call("permit_grant", params).await;
        assert_error(&response, -32005, "scope_not_applicable");
        assert_eq!(response["error"]["data"]["scopes"], json!(["unit"]), "{response}");
    }
    let permits_after = s.admin.ok("permit_list", json!({"account_id": s.sam_id()})).await;
    assert_eq!(permits_after, permits_before, "refused grants change nothing");
    let sam = s.sam.ok("whoami", json!({})).await;
    assert_eq!(sam["permissions"], sam_permissions(), "{sam}");

    // A unit below an org is a unit: the kind is the last segment's.
    let nested = "org:acme/unit:CF1234";
    let granted =
        s.admin.ok("permit_grant", json!({"to_account_id": s.sam_id(), "role": "principal", "scope_id": nested})).await;
    assert_eq!(granted["permit"]["scope_id"], nested, "{granted}");
    let sam = s.sam.ok("whoami", json!({})).await;
    assert_eq!(sam["permissions"]["module.status/org:acme/unit:CF1234"], json!(["edit"]), "{sam}");
    let checks = json!({"checks": [
        {"resource": "module.status", "verb": "edit", "scope_id": nested},
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT},
    ]});
    assert_eq!(s.sam.ok("permission_check", checks).await["results"], json!([true, false]));
}

async fn a_keeper_asks_about_both_in_one_call_and_sam_may_not_ask_about_pia(backend: Backend) {
    let Some(s) = story(backend).await else { return };
    let keeper = s.server.account(&s.admin, "gatekeeper").await;
    let keeper_id = keeper.account_id.clone().unwrap();
    s.server.grant_directly(&keeper_id, "keeper", None).await;
    assert_eq!(
        keeper.ok("whoami", json!({})).await["permits"][0]["role"],
        "keeper",
        "the directly granted keeper permit counts"
    );

    let unknown = uuid::Uuid::now_v7().to_string();
    let checks = json!({"checks": [
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT, "account_id": s.pia_id()},
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT, "account_id": s.sam_id()},
        {"resource": "modules", "verb": "edit-own", "scope_id": UNIT, "account_id": s.sam_id()},
        {"resource": "module.status", "verb": "edit", "scope_id": "unit:CF9999", "account_id": s.pia_id()},
        {"resource": "module.status", "verb": "edit", "scope_id": "org:acme/unit:CF1234", "account_id": s.pia_id()},
        {"resource": "modules", "verb": "view", "scope_id": "unit:CF1234/module:x", "account_id": s.pia_id()},
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT, "account_id": unknown},
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT},
    ]});
    let expected = json!([true, false, true, false, false, true, false, false]);
    let result = keeper.ok("permission_check", checks.clone()).await;
    assert_eq!(result["results"], expected, "{result}");

    // A script with the keeper's API token asks the same over GET.
    let secret = keeper.ok("token_create", json!({"name": "ui-gate", "methods": ["permission_check"]})).await;
    let script = keeper.with_bearer(secret["secret"].as_str().unwrap());
    let (status, _, body) = script.get(&get_path("permission_check", &checks, 5)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["results"], expected, "{body}");

    // sam holds no check:permissions: asking about pia is refused, even mixed with his own.
    let about_pia = json!({"checks": [
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT},
        {"resource": "module.status", "verb": "edit", "scope_id": UNIT, "account_id": s.pia_id()},
    ]});
    assert_error(&s.sam.call("permission_check", about_pia.clone()).await, -32002, "not_permitted");
    let (status, _, body) = s.sam.get(&get_path("permission_check", &about_pia, 6)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["data"]["reason"], "not_permitted", "{body}");
    // pia, a principal, may not ask about sam either.
    let about_sam =
        json!({"checks": [{"resource": "modules", "verb": "view", "scope_id": UNIT, "account_id": s.sam_id()}]});
    assert_error(&s.pia.call("permission_check", about_sam).await, -32002, "not_permitted");
    // The refusals are audited as denials.
    let denied = s.admin.ok("audit_list", json!({"event_type": "permission_check"})).await;
    let denied: Vec<&Value> =
        denied["events"].as_array().unwrap().iter().filter(|e| e["outcome"] == "denied").collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert_eq!(denied[0]["account_id"], json!(s.sam_id()), "{denied:?}");
    assert_eq!(denied[2]["account_id"], json!(s.pia_id()), "{denied:?}");
}

/// A question no grant could ever answer `true` — a misspelt verb or resource — is refused
/// with what is known, instead of an answer that would hide the button for good (§5.1).
async fn a_misspelt_verb_or_resource_is_refused_not_answered_false(backend: Backend) {
    let Some(story) = story(backend).await else { return };
    let ask = |resource: &str, verb: &str| {
        json!({"checks": [
            {"resource": "module.status", "verb": "edit", "scope_id": UNIT},
            {"resource": resource, "verb": verb, "scope_id": UNIT},
        ]})
    };
    let misspelt_verb = story.pia.call("permission_check", ask("module.status", "eddit")).await;
    assert_error(&misspelt_verb, -32005, "unknown_verb");
    let data = &misspelt_verb["error"]["data"];
    assert_eq!(
        (data["index"].clone(), data["known"].clone()),
        (json!(1), json!(["edit", "edit-own", "view"])),
        "{data}"
    );

    let misspelt_kind = story.pia.call("permission_check", ask("purchse", "approve")).await;
    assert_error(&misspelt_kind, -32005, "unknown_resource");
    let known = misspelt_kind["error"]["data"]["known"].as_array().unwrap().clone();
    for resource in ["purchase", "release_deploy", "policies", "audit", "module.status"] {
        assert!(known.contains(&json!(resource)), "{resource} in {known:?}");
    }
    // A verb of another resource is unknown here too: `approve` is a kind's verb, not a module's.
    let wrong_resource = story.pia.call("permission_check", ask("modules", "approve")).await;
    assert_error(&wrong_resource, -32005, "unknown_verb");

    let params = "%7B%22checks%22%3A%5B%7B%22resource%22%3A%22purchase%22%2C%22verb%22%3A%22aprove%22%7D%5D%7D";
    let (status, _, over_get) = story.pia.get(&format!("/rpc/permission_check?params={params}&id=1")).await;
    assert_eq!(status, 422, "{over_get}");
    assert_error(&over_get, -32005, "unknown_verb");
    let fine = story.pia.ok("permission_check", ask("modules", "edit-own")).await;
    assert_eq!(fine["results"], json!([true, false]), "known questions are still answered");
}
