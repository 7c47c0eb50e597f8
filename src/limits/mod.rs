//! In-memory limits keyed by who is asking, kept per server instance:
//!
//! - [`rate`]: action rate limits, per configured class and per caller (the pipeline's
//!   429 `rate_limited`);
//! - [`login`]: failed sign-in attempts per IP and per username (docs/protocol.md §4).
//!
//! Neither touches the database: a limit must hold even when the database is the thing
//! being hammered.

pub mod login;
pub mod rate;

pub use login::LoginLimits;
pub use rate::{RateKey, RateLimits};
