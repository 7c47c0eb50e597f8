//! The authorization engine (docs/protocol.md §5): roles, scopes, permits, and what they
//! allow. It decides; it does not serve methods (those are in `permits/`), so every layer
//! above may ask it.
//!
//! - [`roles`]: the configured role catalogue, compiled once (`verb:*` expanded to every
//!   action kind);
//! - [`scope`]: scope paths, and which scopes a permit covers;
//! - [`permits`]: permit rows — grant, revoke, the active permits of an actor — and the
//!   notifications about them;
//! - [`access`]: the one permission check, and the permissions map `whoami` returns.
//!
//! Nothing here is cached across calls by this module: the caller's active permits come
//! with its principal (from the database, or the credential cache while nothing about
//! them has changed), so a revoked or expired permit stops granting on the very next call
//! of every open session and socket.

pub mod access;
pub mod grants;
pub mod permits;
pub mod roles;
pub mod scope;

pub use grants::Grants;
pub use permits::Permit;
pub use roles::{ADMIN, KEEPER, Roles};
