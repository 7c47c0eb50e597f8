//! Reading a client's JSON text: as `serde_json` reads it into a [`Value`], except that an
//! object naming the same key twice, at any depth, is refused.
//!
//! Why: `serde_json` keeps the last of repeated keys, other readers may keep the first, so
//! `{"method":"whoami","method":"token_list"}` could be logged, proxied or filtered as one
//! call and run as another (and a repeated `id` or param likewise). RFC 8259 leaves such
//! text's meaning to the reader; countersign refuses to guess (docs/protocol.md §2.2,
//! `invalid_request/duplicate_key`). Keys are compared once unescaped: `"a"` and `"\u0061"`
//! are the same key.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::RpcError;

/// Reads `text` as one JSON value: `parse_error/invalid_json` when it is not JSON,
/// [`duplicate_key`] when an object in it repeats a key.
pub fn parse(text: &[u8]) -> Result<Value, RpcError> {
    let repeated = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let parsed = Strict { repeated: &repeated }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|e| match repeated.take() {
        Some(key) => duplicate_key(key),
        None => RpcError::parse_error().with("detail", e.to_string()),
    })
}

/// `invalid_request/duplicate_key`, naming the key (`data.key`) given twice.
pub fn duplicate_key(key: impl Into<String>) -> RpcError {
    let key = key.into();
    RpcError::invalid_request("duplicate_key")
        .message(format!("The key `{key}` is given twice in one object: every key may appear once."))
        .with("key", key)
}

/// Builds a [`Value`] as `serde_json`'s own does, and stops at the first repeated key,
/// which it leaves in `repeated` (the error `serde_json` carries up cannot hold it).
/// The depth is bounded by `serde_json`'s recursion limit, as for a plain `Value`.
#[derive(Clone, Copy)]
struct Strict<'a> {
    repeated: &'a Cell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, but a value too large for f64 could be one.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                self.repeated.set(Some(key));
                return Err(de::Error::custom("a key is repeated"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(text: &str) -> (String, Value) {
        let error = parse(text.as_bytes()).expect_err(text);
        (error.reason.to_string(), error.data_field("key").cloned().unwrap_or(Value::Null))
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":18446744073709551615}"#;
        assert_eq!(parse(text.as_bytes()).unwrap(), serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(parse(b" 42 ").unwrap(), json!(42));
    }

    #[test]
    fn refuses_a_repeated_key_at_any_depth() {
        assert_eq!(refusal(r#"{"m":1,"m":2}"#), ("duplicate_key".into(), json!("m")));
        assert_eq!(refusal(r#"[{"p":{"q":[{"k":1,"k":1}]}}]"#), ("duplicate_key".into(), json!("k")));
        assert_eq!(refusal(r#"{"a":1,"\u0061":2}"#), ("duplicate_key".into(), json!("a")));
        // The same key in sibling objects is fine.
        assert!(parse(br#"[{"a":1},{"a":2}]"#).is_ok());
    }

    #[test]
    fn text_that_is_not_json_is_a_parse_error() {
        for text in ["{", "", "{} x", "[1,]", &"[".repeat(200)] {
            let (reason, _) = refusal(text);
            assert_eq!(reason, "invalid_json", "{text:?}");
        }
    }
}
