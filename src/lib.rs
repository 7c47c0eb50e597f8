//! # countersign
//!
//! A JSON-RPC 2.0 action server for consequential actions. Every method is declared as
//! data in `actions/*.toml` and bound by name to one handler; every call, whichever
//! transport brings it, takes one path through [`rpc::pipeline`]:
//!
//! ```text
//! transport (POST /rpc, GET /rpc/{method}, /ws)
//!   → pipeline: declaration → authenticate → rate limit → authorize → validate
//!   → handler (in one transaction when it has side effects) → commit → post-commit hooks
//!   → transport encodes the result or the error
//! ```
//!
//! Modules by layer, top to bottom; each imports only from its own layer and the layers
//! below (docs/architecture.md, enforced by `tests/architecture.rs`):
//! - assembly: [`app`] (builds the parts), [`server`] (runs them), [`offline`] (the CLI's
//!   changes), [`client`] (`countersign call`);
//! - transport: [`transport`] — HTTP, WebSocket, health, metrics, the web console's files;
//! - pipeline: [`rpc`] (declarations, registry, pipeline, envelope, OpenRPC), the
//!   catalogues [`handlers`] and [`notices`], and [`schemas`];
//! - domains, the methods and their rules: [`auth`], [`permits`], [`offers`], [`audit`],
//!   [`notifications`], [`policies`], [`requests`];
//! - kernel: [`call`] — the environment, the caller, `Ctx`, the `Action` trait;
//! - services every domain uses: [`authz`] (the authorization engine), [`audit_log`],
//!   [`notify`], [`sockets`], [`limits`], [`executors`] (signed webhook calls),
//!   [`credential_cache`] (resolved credentials, invalidated on every change);
//! - base: [`error`], [`db`], [`clock`], [`config`], [`metrics`], [`money`], [`logging`].
//!
//! No `unsafe` anywhere in the crate: what the fuzz targets exercise is safe Rust, so a
//! memory error could only come from a dependency (README "Fuzzing").

#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod audit_log;
pub mod auth;
pub mod authz;
pub mod call;
pub mod client;
pub mod clock;
pub mod config;
pub mod credential_cache;
pub mod db;
pub mod error;
pub mod executors;
pub mod handlers;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod money;
pub mod notices;
pub mod notifications;
pub mod notify;
pub mod offers;
pub mod offline;
pub mod permits;
pub mod policies;
pub mod requests;
pub mod rpc;
pub mod schemas;
pub mod server;
pub mod sockets;
pub mod transport;
