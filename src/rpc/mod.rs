//! The action pipeline, independent of any transport: what turns a request into a call
//! of a handler, and an [`Api`] to run it on.
//!
//! - [`spec`]: declarations parsed from `actions/*.toml`;
//! - [`registry`]: binds each declaration to one handler, or refuses to start;
//! - [`pipeline`]: authenticate → rate limit → authorize → validate → run → commit;
//! - [`envelope`]: JSON-RPC 2.0 framing of single calls and batches;
//! - [`json`]: reading a client's JSON text, refusing a key given twice;
//! - [`openrpc`]: the OpenRPC document and `rpc.discover`.
//!
//! Handlers are written against the kernel (`call/`) and live in the domains; the
//! pipeline above them never sees HTTP either.

pub mod envelope;
pub mod json;
pub mod openrpc;
pub mod pipeline;
pub mod registry;
pub mod spec;

use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::{Env, Handler};
use crate::error::{RpcError, RpcResult};
use crate::limits::RateLimits;
use crate::notices::NoticeSpec;
use openrpc::Discover;
use registry::{Registry, RegistryError};
use spec::ActionSpec;

/// The declarations bound to their handlers (`rpc.discover` included), the notification
/// types, and the OpenRPC document built from both.
pub struct Bound {
    pub registry: Registry,
    pub notices: Vec<NoticeSpec>,
    pub document: Value,
    slot: Arc<OnceLock<Box<RawValue>>>,
}

/// Binds `specs` to `handlers` plus the pipeline's own `rpc.discover`, and builds the
/// document that method returns.
pub fn bind<'a>(
    specs: Vec<ActionSpec>,
    mut handlers: Vec<Box<dyn Handler>>,
    notices: Vec<NoticeSpec>,
    rate_limit_classes: impl IntoIterator<Item = &'a String>,
) -> Result<Bound, RegistryError> {
    let slot = Arc::new(OnceLock::new());
    handlers.push(Box::new(Discover { document: slot.clone() }));
    let registry = Registry::bind(specs, handlers, rate_limit_classes)?;
    let document = openrpc::document(&registry, &notices);
    let text = RawValue::from_string(document.to_string()).expect("a JSON value serializes to JSON");
    slot.set(text).expect("the slot is new");
    Ok(Bound { registry, notices, document, slot })
}

/// The API being served: the bound actions, the environment they run in, the action rate
/// limits, and the lifecycle the transports follow.
pub struct Api {
    pub env: Arc<Env>,
    pub registry: Registry,
    document: Arc<OnceLock<Box<RawValue>>>,
    pub rate_limits: RateLimits,
    /// Cancelled when the server begins a graceful shutdown.
    pub shutdown: CancellationToken,
    /// Long-lived connection tasks (WebSockets) that shutdown waits for.
    pub connections: TaskTracker,
}

impl Api {
    pub fn new(env: Arc<Env>, bound: Bound) -> Api {
        let rate_limits = RateLimits::new(&env.config.rate_limits, env.clock.clone());
        Api {
            env,
            registry: bound.registry,
            document: bound.slot,
            rate_limits,
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
        }
    }

    /// The OpenRPC document, serialized once.
    pub fn openrpc(&self) -> &str {
        self.document.get().map_or("{}", |raw| raw.get())
    }

    /// `params` checked against `method`'s schema, as its handler's params type: the
    /// command line's changes run the same checks as the API's.
    pub fn params<P: DeserializeOwned>(&self, method: &str, params: Value) -> RpcResult<P> {
        self.registry.get(method).ok_or_else(RpcError::method_not_found)?.params(params)
    }
}
