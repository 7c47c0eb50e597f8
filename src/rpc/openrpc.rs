//! The OpenRPC 1.x document, built from the declarations, the generated schemas and the
//! notification catalogue, and the `rpc.discover` action that returns it.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::registry::Registry;
use crate::call::common::EmptyParams;
use crate::call::{Action, Ctx};
use crate::error::{RpcError, RpcResult};
use crate::notices::NoticeSpec;

/// Builds the document. Schema `$defs` move to `components.schemas`, with refs rewritten.
/// Notification types are listed under `x-notifications` (docs/protocol.md §8).
pub fn document(registry: &Registry, notices: &[NoticeSpec]) -> Value {
    let mut components = Map::new();
    let methods: Vec<Value> = registry
        .iter()
        .map(|action| {
            let spec = &action.spec;
            let params_schema = hoist_defs(action.params_schema.clone(), &mut components);
            let result_schema = hoist_defs(action.result_schema.clone(), &mut components);
            let required: Vec<&str> = params_schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let params: Vec<Value> = params_schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, schema)| {
                            json!({ "name": name, "required": required.contains(&name.as_str()), "schema": schema })
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "name": spec.method,
                "description": spec.description,
                "paramStructure": "by-name",
                "params": params,
                "result": { "name": spec.result, "schema": result_schema },
                "x-auth": spec.auth.as_str(),
                "x-side-effects": spec.side_effects,
                "x-rate-limit": spec.rate_limit,
                "x-permission": spec.permission.as_ref().map(ToString::to_string),
            })
        })
        .collect();
    let notifications: Vec<Value> = notices
        .iter()
        .map(|notice| {
            json!({
                "name": notice.kind,
                "description": notice.description(),
                "delivery": notice.delivery.as_str(),
                "schema": hoist_defs(notice.schema.clone(), &mut components),
            })
        })
        .collect();
    json!({
        "openrpc": "1.3.2",
        "info": {
            "title": "countersign",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON-RPC 2.0 action server for consequential actions."
        },
        "methods": methods,
        "x-notifications": notifications,
        "components": { "schemas": components },
    })
}

fn hoist_defs(mut schema: Value, components: &mut Map<String, Value>) -> Value {
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        if let Some(Value::Object(defs)) = object.remove("$defs") {
            for (name, def) in defs {
                components.insert(name, rewrite_refs(def));
            }
        }
    }
    rewrite_refs(schema)
}

fn rewrite_refs(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, v)| match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let r = r.replace("#/$defs/", "#/components/schemas/");
                        (key, Value::String(r))
                    }
                    (_, v) => (key, rewrite_refs(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(rewrite_refs).collect()),
        other => other,
    }
}

/// An OpenRPC document, as the JSON text it was serialized to once.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct OpenRpcDocument(Box<RawValue>);

impl JsonSchema for OpenRpcDocument {
    fn schema_name() -> Cow<'static, str> {
        "OpenRpcDocument".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "OpenRpcDocument",
            "description": "An OpenRPC 1.x document (https://spec.open-rpc.org).",
            "type": "object",
            "required": ["openrpc", "info", "methods"]
        })
    }
}

/// `rpc.discover`: the document, which is built from the registry this handler is bound
/// in, so it is filled in once binding is done.
pub struct Discover {
    pub document: Arc<OnceLock<Box<RawValue>>>,
}

impl Action for Discover {
    const METHOD: &'static str = "rpc.discover";
    type Params = EmptyParams;
    type Output = OpenRpcDocument;

    async fn run(&self, _ctx: &mut Ctx, _params: EmptyParams) -> RpcResult<OpenRpcDocument> {
        let document = self.document.get().ok_or_else(|| RpcError::internal("the OpenRPC document is not built"))?;
        Ok(OpenRpcDocument(document.clone()))
    }
}
