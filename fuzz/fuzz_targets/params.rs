//! Fuzzes params validation for every declared method: the JSON Schema check the pipeline
//! runs (`BoundAction::validate`) before any handler sees its params.
//!
//! Input: the first byte picks the method (modulo the number of bound methods, in the
//! registry's order, which is by name), the rest is the params as JSON text; input that is
//! not JSON is skipped (the envelope target covers that). The API is bound once, exactly
//! as the server binds it (`app::bind` over the embedded default config).
//!
//! Why: every caller, signed in or not, reaches this check with params of their choosing,
//! and a handler trusts what passes it. Checked for every input:
//! - `validate` never panics;
//! - what passes is an object holding every required param and no unknown one (every
//!   params schema says `additionalProperties: false`; a schema that did not would be
//!   refused here);
//! - what fails carries at least one issue, sorted by path, each `{path, message}` with a
//!   JSON pointer (README: `data.issues: [{path: "/text", message}]`) that points into the
//!   params sent: at the offending value, or for a missing param at its parent object
//!   where the param is indeed absent.
//!
//! Deserializing into each handler's typed params is not reachable without a call
//! context; the integration tests cover that path.

#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use countersign::app::{Extra, bind};
use countersign::config::Config;
use countersign::rpc::Bound;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

struct Method {
    index: usize,
    known: BTreeSet<String>,
    required: BTreeSet<String>,
}

struct Shared {
    bound: Bound,
    methods: Vec<Method>,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let bound = bind(&Config::embedded(), Extra::default()).expect("the built-in API binds");
        let methods = bound
            .registry
            .iter()
            .enumerate()
            .map(|(index, action)| {
                let schema = &action.params_schema;
                let method = &action.spec.method;
                assert_eq!(schema["type"], "object", "{method}: params are an object");
                assert_eq!(schema["additionalProperties"], false, "{method}: unknown params are refused");
                let names = |v: &Value| -> BTreeSet<String> {
                    match v {
                        Value::Object(o) => o.keys().cloned().collect(),
                        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                        _ => BTreeSet::new(),
                    }
                };
                Method { index, known: names(&schema["properties"]), required: names(&schema["required"]) }
            })
            .collect::<Vec<_>>();
        assert!(!methods.is_empty());
        Shared { bound, methods }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(params) = serde_json::from_slice::<Value>(rest) else { return };
    let shared = shared();
    let method = &shared.methods[pick as usize % shared.methods.len()];
    let action = shared.bound.registry.iter().nth(method.index).expect("the registry does not change");
    let name = &action.spec.method;
    match action.validate(&params) {
        Ok(()) => {
            let object = params.as_object().unwrap_or_else(|| panic!("{name}: accepted non-object params {params}"));
            for key in object.keys() {
                assert!(method.known.contains(key), "{name}: accepted an unknown param `{key}`");
            }
            for key in &method.required {
                assert!(object.contains_key(key), "{name}: accepted params without `{key}`");
            }
        }
        Err(issues) => {
            assert!(!issues.is_empty(), "{name}: refused with no issue");
            let paths: Vec<&str> = issues.iter().map(|i| i["path"].as_str().expect("a path is a string")).collect();
            assert!(paths.is_sorted(), "{name}: issues sorted by path: {paths:?}");
            for issue in &issues {
                let path = issue["path"].as_str().unwrap_or_default();
                let message = issue["message"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "{name}: an issue without a message: {issue}");
                assert!(path.is_empty() || path.starts_with('/'), "{name}: not a JSON pointer: {issue}");
                if message == "is required" {
                    let (parent, key) = path.rsplit_once('/').expect("a missing param's path names it");
                    let key = key.replace("~1", "/").replace("~0", "~");
                    let parent = params.pointer(parent).and_then(Value::as_object);
                    let parent = parent.unwrap_or_else(|| panic!("{name}: {issue} is not inside {params}"));
                    assert!(!parent.contains_key(&key), "{name}: `{key}` is there: {issue}");
                } else {
                    assert!(params.pointer(path).is_some(), "{name}: {issue} points at nothing in {params}");
                }
            }
        }
    }
});
