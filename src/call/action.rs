//! How a handler is written: implement [`Action`] for a unit struct.
//!
//! The typed trait is what domain code implements; [`Handler`] is its type-erased form
//! the registry stores. Params arrive already validated against the schema generated
//! from `Action::Params`, so a handler only checks what a schema cannot.

use std::future::Future;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::ctx::Ctx;
use crate::error::{RpcError, RpcResult};

/// A method's implementation, bound by name to its declaration in `actions/`.
pub trait Action: Send + Sync + 'static {
    /// The declared method name.
    const METHOD: &'static str;
    type Params: DeserializeOwned + JsonSchema + Send;
    type Output: Serialize + JsonSchema;

    fn run(&self, ctx: &mut Ctx, params: Self::Params) -> impl Future<Output = RpcResult<Self::Output>> + Send;
}

/// The schema of a type, as JSON Schema draft 2020-12.
pub fn schema_of<T: JsonSchema>() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    schema.to_value()
}

/// A type-erased [`Action`].
pub trait Handler: Send + Sync {
    fn method(&self) -> &'static str;
    fn params_type(&self) -> String;
    fn result_type(&self) -> String;
    fn params_schema(&self) -> Value;
    fn result_schema(&self) -> Value;
    /// Runs the action on params that passed its schema; the result as JSON text.
    fn call<'a>(&'a self, ctx: &'a mut Ctx, params: Value) -> BoxFuture<'a, RpcResult<Box<RawValue>>>;
}

impl<A: Action> Handler for A {
    fn method(&self) -> &'static str {
        A::METHOD
    }
    fn params_type(&self) -> String {
        A::Params::schema_name().into_owned()
    }
    fn result_type(&self) -> String {
        A::Output::schema_name().into_owned()
    }
    fn params_schema(&self) -> Value {
        schema_of::<A::Params>()
    }
    fn result_schema(&self) -> Value {
        schema_of::<A::Output>()
    }
    fn call<'a>(&'a self, ctx: &'a mut Ctx, params: Value) -> BoxFuture<'a, RpcResult<Box<RawValue>>> {
        Box::pin(async move {
            let output = self.run(ctx, typed_params(params)?).await?;
            serde_json::value::to_raw_value(&output).map_err(RpcError::internal)
        })
    }
}

/// Params that passed their schema, as their type. A failure here is a type the schema
/// describes loosely (a number range, a format): it is reported like any schema issue.
pub fn typed_params<P: DeserializeOwned>(params: Value) -> RpcResult<P> {
    serde_path_to_error::deserialize(params).map_err(|e| {
        let path = pointer_of(e.path());
        RpcError::invalid_params(vec![json!({"path": path, "message": e.inner().to_string()})])
    })
}

/// A serde path (`a.b[0]`) as a JSON pointer (`/a/b/0`).
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}
