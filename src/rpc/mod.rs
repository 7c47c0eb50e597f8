//! The action pipeline, independent of any transport.
//!
//! - [`spec`]: declarations parsed from `actions/*.toml`;
//! - [`action`]: how a handler is written ([`Action`]) and its erased form;
//! - [`registry`]: binds each declaration to one handler, or refuses to start;
//! - [`context`]: what a handler gets (caller, transaction, clock, post-commit hooks);
//! - [`pipeline`]: authenticate → authorize → validate → rate limit → run → commit;
//! - [`envelope`]: JSON-RPC 2.0 framing of single calls and batches;
//! - [`error`]: the one error type;
//! - [`openrpc`]: the OpenRPC document and `rpc.discover`;
//! - [`ratelimit`]: per-class, per-caller limits.

pub mod action;
pub mod common;
pub mod context;
pub mod envelope;
pub mod error;
pub mod openrpc;
pub mod pipeline;
pub mod ratelimit;
pub mod registry;
pub mod spec;

pub use action::{Action, Handler};
pub use context::{Caller, Credentials, Ctx, Transport};
pub use error::{ErrorKind, RpcError, RpcResult};
