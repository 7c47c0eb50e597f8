//! The OpenRPC 1.x document, built from the declarations and the generated schemas, and
//! the `rpc.discover` action that returns it.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::action::Action;
use super::common::EmptyParams;
use super::context::Ctx;
use super::error::RpcResult;
use super::registry::Registry;

/// Builds the document. Schema `$defs` move to `components.schemas`, with refs rewritten.
pub fn document(registry: &Registry) -> Value {
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
                "x-permission": spec.permission,
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

/// An OpenRPC document.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct OpenRpcDocument(pub Value);

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

pub struct Discover;

impl Action for Discover {
    const METHOD: &'static str = "rpc.discover";
    type Params = EmptyParams;
    type Output = OpenRpcDocument;

    async fn run(&self, ctx: &mut Ctx, _params: EmptyParams) -> RpcResult<OpenRpcDocument> {
        Ok(OpenRpcDocument(ctx.app().openrpc.clone()))
    }
}
