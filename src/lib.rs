//! # countersign
//!
//! A JSON-RPC 2.0 action server for consequential actions. Every method is declared as
//! data in `actions/*.toml` and bound by name to one handler; every call, whichever
//! transport brings it, takes one path through [`rpc::pipeline`]:
//!
//! ```text
//! transport (POST /rpc, GET /rpc/{method}, /ws)
//!   → pipeline: declaration → authenticate → authorize → validate → rate limit
//!   → handler (in one transaction when it has side effects) → commit → post-commit hooks
//!   → transport encodes the result or the error
//! ```
//!
//! Module map:
//! - [`transport`]: HTTP, WebSocket, health, metrics — thin adapters;
//! - [`rpc`]: declarations, registry, pipeline, context, the one error type;
//! - [`auth`]: identity — accounts, sessions, API tokens, bootstrap, login limits;
//! - [`authz`]: roles, scopes, permits and what they allow;
//! - [`offers`]: permit offers — consentful grants;
//! - [`audit`]: the hash-chained audit log and its one writer;
//! - [`notify`]: durable per-account notification streams, the hub, subscriptions;
//! - [`sockets`]: open WebSockets as domains see them (revocation, subscriptions);
//! - [`db`]: SQLite and PostgreSQL pools and the one transaction helper;
//! - [`config`], [`clock`], [`metrics`], [`schemas`]: supporting pieces;
//! - [`server`]: assembles all of it; [`app`]: the shared state it builds;
//! - [`offline`] and [`client`]: what the CLI does without a server, and its script client.

pub mod app;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod client;
pub mod clock;
pub mod config;
pub mod db;
pub mod handlers;
pub mod metrics;
pub mod notify;
pub mod offers;
pub mod offline;
pub mod rpc;
pub mod schemas;
pub mod server;
pub mod sockets;
pub mod transport;
