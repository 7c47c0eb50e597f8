//! Fuzzes the JSON-RPC 2.0 envelope: a whole POST body or WebSocket message, as
//! `rpc::envelope::handle_body` takes it apart — JSON text read by `rpc::json::parse`
//! (which refuses a key given twice), then a single request or a batch of 1 to
//! `MAX_BATCH` entries, each checked by `rpc::envelope::parse_request`. (`handle_body`
//! itself needs a running server, so its batch split is repeated here.)
//!
//! Why: this is the first code every byte a client sends goes through, before any
//! authentication. It must never panic, and it must answer as docs/protocol.md §1-2 says.
//! Checked for every input:
//! - `json::parse` reads exactly what `serde_json` reads, except that a body in which an
//!   object repeats a key is refused with `duplicate_key`, naming the first repeated key
//!   (found here independently); text that is not JSON is `invalid_json`;
//! - `parse_request` agrees with an independent model of the envelope rules: which entries
//!   are accepted, and for a refused one, which `data.reason` and which `id`; an id is a
//!   string, an integer of at most 64 bits, or null;
//! - an accepted request keeps the method and id it was sent with, and its params are an
//!   object or an array (absent or `null` params become `{}`);
//! - every answer the envelope frames — parse error, duplicate key, batch errors,
//!   refusals, and a success carrying the params back as its result — is valid JSON-RPC
//!   2.0 text with the exact id and the error code it should have.

#![no_main]

use std::collections::HashSet;
use std::fmt;

use countersign::error::{ErrorKind, RpcError};
use countersign::rpc::envelope::{MAX_BATCH, error_response, parse_request, success_response};
use countersign::rpc::json;
use libfuzzer_sys::fuzz_target;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let plain = serde_json::from_slice::<Value>(data);
    let repeated = first_repeated_key(data);
    let parsed = match json::parse(data) {
        Ok(value) => {
            assert_eq!(repeated, None, "a body repeating a key is refused");
            assert_eq!(plain.as_ref().ok(), Some(&value), "json::parse reads what serde_json reads");
            value
        }
        Err(error) => {
            let text = error_response(Value::Null, &error, None);
            match &repeated {
                Some(key) => {
                    check_error_text(&text, &Value::Null, -32600, "duplicate_key");
                    assert_eq!(error.data_field("key"), Some(&Value::String(key.clone())), "names the key");
                }
                None => {
                    assert!(plain.is_err(), "json::parse refused JSON that serde_json reads: {error}");
                    check_error_text(&text, &Value::Null, -32700, "invalid_json");
                }
            }
            return;
        }
    };
    let Value::Array(entries) = parsed else {
        check_entry(parsed);
        return;
    };
    if entries.is_empty() {
        let error = RpcError::invalid_request("empty_batch");
        check_error_text(&error_response(Value::Null, &error, None), &Value::Null, -32600, "empty_batch");
        return;
    }
    if entries.len() > MAX_BATCH {
        let error = RpcError::invalid_request("batch_too_large").with("max", MAX_BATCH).with("got", entries.len());
        check_error_text(&error_response(Value::Null, &error, None), &Value::Null, -32600, "batch_too_large");
        return;
    }
    for entry in entries {
        check_entry(entry);
    }
});

/// What the contract says of one entry: `Ok((id, method, params))`, or `Err((id to answer
/// with, reason))`. Written from docs/protocol.md §1.1 and §2, independently of `parse_request`.
#[allow(clippy::type_complexity)]
fn model(entry: &Value) -> Result<(Option<Value>, String, Value), (Value, &'static str)> {
    let Some(object) = entry.as_object() else { return Err((Value::Null, "not_an_object")) };
    let id = object.get("id").cloned();
    let integer = |n: &serde_json::Number| n.as_i64().is_some() || n.as_u64().is_some();
    match &id {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Number(n)) if integer(n) => {}
        Some(_) => return Err((Value::Null, "invalid_id")),
    }
    let answer_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err((answer_id, "wrong_version"));
    }
    let Some(Value::String(method)) = object.get("method") else { return Err((answer_id, "missing_method")) };
    let params = match object.get("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(params @ (Value::Object(_) | Value::Array(_))) => params.clone(),
        Some(_) => return Err((answer_id, "params_not_structured")),
    };
    Ok((id, method.clone(), params))
}

fn check_entry(entry: Value) {
    let expected = model(&entry);
    match (parse_request(entry), expected) {
        (Ok(request), Ok((id, method, params))) => {
            assert_eq!(request.id, id, "the id is kept as sent");
            assert_eq!(request.method, method, "the method is kept as sent");
            assert_eq!(request.params, params, "params are kept, absent or null ones become {{}}");
            assert!(request.params.is_object() || request.params.is_array());
            if let Some(id) = request.id {
                // A success answer carries the id back and the result as it is written.
                let result = serde_json::value::to_raw_value(&request.params).expect("a value serializes");
                let text = success_response(id.clone(), &result);
                let answer: Value = serde_json::from_str(&text).expect("a success answer is JSON");
                assert_eq!(answer["jsonrpc"], "2.0", "{text}");
                assert_eq!(answer["id"], id, "the answer's id is exactly the request's: {text}");
                assert!(same(&answer["result"], &request.params), "{text}");
                assert!(answer.get("error").is_none(), "{text}");
            }
        }
        (Err(rejected), Err((id, reason))) => {
            let (answer_id, error) = *rejected;
            assert_eq!(error.kind, ErrorKind::InvalidRequest, "an envelope refusal is -32600");
            assert_eq!(error.reason, reason, "the refusal names the contract's reason");
            assert_eq!(answer_id, id, "a refusal answers with the request's id when it is usable");
            check_error_text(&error_response(answer_id, &error, None), &id, -32600, reason);
        }
        (Ok(request), Err((_, reason))) => {
            panic!("parse_request accepted `{}` where the contract refuses it ({reason})", request.method)
        }
        (Err(rejected), Ok(_)) => panic!("parse_request refused a valid entry: {}", rejected.1),
    }
}

/// An error answer is JSON-RPC 2.0 text with `id`, `error.code`, a message and
/// `data.reason`, and no result.
fn check_error_text(text: &str, id: &Value, code: i64, reason: &str) {
    let answer: Value = serde_json::from_str(text).expect("an error answer is JSON");
    assert_eq!(answer["jsonrpc"], "2.0", "{text}");
    assert_eq!(&answer["id"], id, "{text}");
    assert_eq!(answer["error"]["code"], code, "{text}");
    assert!(answer["error"]["message"].is_string(), "{text}");
    assert_eq!(answer["error"]["data"]["reason"], reason, "{text}");
    assert!(answer.get("result").is_none(), "{text}");
}

/// JSON equality, except that a float may move by a rounding step: serde_json (without
/// its `float_roundtrip` feature, as countersign builds it) may parse back its own shortest
/// float text one unit in the last place away. Integers must match exactly. (For results
/// only: an id is never a float.)
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The first key, in reading order, that an object of `text` gives twice (keys compared
/// unescaped), found by reading as far as the text is JSON.
fn first_repeated_key(text: &[u8]) -> Option<String> {
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let _ = Walk { found: &mut found }.deserialize(&mut deserializer);
    found
}

struct Walk<'a> {
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk { found: &mut *self.found })?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                *self.found = Some(key);
                return Err(de::Error::custom("repeated"));
            }
            map.next_value_seed(Walk { found: &mut *self.found })?;
        }
        Ok(())
    }
}
