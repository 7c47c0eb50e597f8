//! The JSON-RPC 2.0 envelope over POST and GET: every malformed input gets the error the
//! contract names (docs/protocol.md §1–2), with the right HTTP status, and never a 500.

mod common;

use common::{Backend, assert_error, start};
use serde_json::{Value, json};

backend_tests!(
    single_call_and_unknown_method,
    malformed_bodies_get_the_named_errors,
    batches_answer_in_order_and_skip_notifications,
    batch_limits,
    lone_notification_answers_204,
    oversize_body_is_refused,
    get_reads_and_refuses_mutations,
    get_malformed_queries,
);

async fn single_call_and_unknown_method(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let response = server.call("test_echo", json!({"text": "hi", "n": 3})).await;
    assert_eq!(response, json!({"jsonrpc": "2.0", "id": 1, "result": {"text": "hi", "n": 3}}));

    let response = server.call("no_such_method", json!({})).await;
    assert_error(&response, -32601, "unknown_method");
    assert_eq!(response["id"], 1);
}

async fn malformed_bodies_get_the_named_errors(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    // (body, code, reason, id answered with)
    let table: Vec<(&str, i64, &str, Value)> = vec![
        ("{not json", -32700, "invalid_json", Value::Null),
        ("", -32700, "invalid_json", Value::Null),
        (r#"{"jsonrpc":"1.0","id":4,"method":"test_echo"}"#, -32600, "wrong_version", json!(4)),
        (r#"{"id":4,"method":"test_echo"}"#, -32600, "wrong_version", json!(4)),
        (r#"{"jsonrpc":"2.0","id":5}"#, -32600, "missing_method", json!(5)),
        (r#"{"jsonrpc":"2.0","id":5,"method":7}"#, -32600, "missing_method", json!(5)),
        (r#"{"jsonrpc":"2.0","id":6,"method":"test_echo","params":5}"#, -32600, "params_not_structured", json!(6)),
        (r#"{"jsonrpc":"2.0","id":6,"method":"test_echo","params":"x"}"#, -32600, "params_not_structured", json!(6)),
        (r#"{"jsonrpc":"2.0","id":7,"method":"test_echo","params":["hi"]}"#, -32602, "schema", json!(7)),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"test_echo"}"#, -32600, "invalid_id", Value::Null),
        (r#""just a string""#, -32600, "not_an_object", Value::Null),
        ("42", -32600, "not_an_object", Value::Null),
    ];
    for (body, code, reason, id) in table {
        let (status, text) = server.post_raw(body.to_owned()).await;
        assert_eq!(status, 200, "POST answers 200 for every JSON-RPC response: {body}");
        let response: Value = serde_json::from_str(&text).unwrap();
        assert_error(&response, code, reason);
        assert_eq!(response["id"], id, "{body} → {response}");
        assert_eq!(response["jsonrpc"], "2.0");
    }
    // Schema issues point at the offending member.
    let response = server.call("test_echo", json!({"n": "three", "extra": true})).await;
    assert_error(&response, -32602, "schema");
    let paths: Vec<&str> =
        response["error"]["data"]["issues"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["/extra", "/n", "/text"], "{response}");
    let response = server.call("test_echo", json!({"text": "x".repeat(65)})).await;
    assert_eq!(response["error"]["data"]["issues"][0]["path"], "/text", "{response}");
}

async fn batches_answer_in_order_and_skip_notifications(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let batch = json!([
        {"jsonrpc": "2.0", "id": "a", "method": "test_echo", "params": {"text": "one"}},
        {"jsonrpc": "2.0", "method": "test_echo", "params": {"text": "notification"}},
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        1,
        {"jsonrpc": "2.0", "id": "c", "method": "test_echo", "params": {"text": "three"}},
    ]);
    let (status, response) = server.post(&batch).await;
    assert_eq!(status, 200);
    let answers = response.as_array().unwrap();
    assert_eq!(answers.len(), 4, "the notification gets no answer: {response}");
    assert_eq!(answers[0]["result"]["text"], "one");
    assert_eq!(answers[1]["id"], "b");
    assert_error(&answers[1], -32601, "unknown_method");
    assert_error(&answers[2], -32600, "not_an_object");
    assert_eq!(answers[3]["result"]["text"], "three");
}

async fn batch_limits(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": {"text": "x"}});
    let (_, response) = server.post(&Value::Array(vec![call.clone(); 100])).await;
    assert_eq!(response.as_array().unwrap().len(), 100, "a batch of 100 is allowed");

    let (status, response) = server.post(&Value::Array(vec![call; 101])).await;
    assert_eq!(status, 200);
    assert!(response.is_object(), "a batch of 101 gets one error, not a batch: {response}");
    assert_error(&response, -32600, "batch_too_large");
    assert_eq!(response["error"]["data"]["max"], 100);

    let (_, response) = server.post(&json!([])).await;
    assert_error(&response, -32600, "empty_batch");
}

async fn lone_notification_answers_204(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, body) = server.post_raw(r#"{"jsonrpc":"2.0","method":"test_write","params":{"key":"n1"}}"#).await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert!(common::doubles::probe_exists(&server, "n1").await, "a notification still runs");
    let two = json!([
        {"jsonrpc": "2.0", "method": "test_echo", "params": {"text": "x"}},
        {"jsonrpc": "2.0", "method": "test_echo", "params": {"text": "y"}},
    ]);
    let (status, body) = server.post_raw(two.to_string()).await;
    assert_eq!((status, body.as_str()), (204, ""));
}

async fn oversize_body_is_refused(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let limit = countersign::transport::request::MAX_BODY_BYTES;
    // Exactly at the limit is parsed (and fails as JSON); one byte over is refused unread.
    let (status, text) = server.post_raw(vec![b' '; limit]).await;
    assert_eq!(status, 200);
    assert_error(&serde_json::from_str(&text).unwrap(), -32700, "invalid_json");
    let (status, text) = server.post_raw(vec![b' '; limit + 1]).await;
    assert_eq!(status, 200);
    let response: Value = serde_json::from_str(&text).unwrap();
    assert_error(&response, -32600, "too_large");
    assert_eq!(response["error"]["data"]["max_bytes"], limit);
    // A streamed body with no Content-Length is cut off at the limit too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (_, text) = server.post_raw(body).await;
    assert_error(&serde_json::from_str(&text).unwrap(), -32600, "too_large");
}

async fn get_reads_and_refuses_mutations(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, _, body) = server.get("/rpc/test_echo?params=%7B%22text%22%3A%22hi%22%7D&id=42").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"jsonrpc": "2.0", "id": 42, "result": {"text": "hi", "n": null}}));
    let (_, _, body) = server.get("/rpc/test_echo?params=%7B%22text%22%3A%22hi%22%7D&id=abc").await;
    assert_eq!(body["id"], "abc");
    let (_, _, body) = server.get("/rpc/test_echo?params=%7B%22text%22%3A%22hi%22%7D").await;
    assert_eq!(body["id"], Value::Null, "id defaults to null");

    let (status, _, body) = server.get("/rpc/test_write?params=%7B%22key%22%3A%22g%22%7D&id=1").await;
    assert_eq!(status, 405);
    assert_error(&body, -32600, "method_requires_post");
    assert!(!common::doubles::probe_exists(&server, "g").await, "the mutation did not run");

    let (status, _, body) = server.get("/rpc/nope?id=1").await;
    assert_eq!(status, 404);
    assert_error(&body, -32601, "unknown_method");
}

async fn get_malformed_queries(backend: Backend) {
    let Some(server) = start(backend).await else { return };
    let (status, _, body) = server.get("/rpc/test_echo?params=%7Bnot-json&id=1").await;
    assert_eq!(status, 400);
    assert_error(&body, -32700, "invalid_json");
    let (status, _, body) = server.get("/rpc/test_echo?params=5&id=1").await;
    assert_eq!(status, 400);
    assert_error(&body, -32600, "params_not_structured");
    let (status, _, body) = server.get("/rpc/test_echo?params=%7B%7D&id=1").await;
    assert_eq!(status, 400);
    assert_error(&body, -32602, "schema");
    assert_eq!(body["error"]["data"]["issues"][0]["path"], "/text");
    let (status, _, body) = server.get("/rpc/test_private?params=%5B1%5D&id=1").await;
    assert_eq!(status, 401, "authentication is checked before params: {body}");
    // A filter written as a query key is not silently dropped.
    let (status, _, body) = server.get("/rpc/notifications_list?after=1&id=1").await;
    assert_eq!(status, 400);
    assert_error(&body, -32600, "unknown_query_key");
    assert_eq!(body["error"]["data"]["key"], "after");
    assert!(body["error"]["message"].as_str().unwrap().contains("`params`"), "{body}");
}
