//! What one call has in hand — or one background job, or one command-line change: the
//! kernel every method is written against.
//!
//! - [`env`](mod@env): [`Env`], the narrow environment (database, clock, roles, hub, sockets,
//!   config, metrics, login limits), shared by every call and job;
//! - [`caller`]: who is calling, through which transport, with which credentials;
//! - [`principal`]: the authenticated caller and the permits it holds for this call;
//! - [`ctx`]: [`Ctx`], a call's context: its connection or transaction, the audit and
//!   notification writers, post-commit hooks;
//! - [`credentials`]: `Ctx::credentials_changed`, the one way a change to an account's
//!   credentials or permits reaches the credential cache of every instance;
//! - [`action`]: how a method is written ([`Action`]) and its type-erased form;
//! - [`common`]: params and results many methods share.
//!
//! It knows nothing of HTTP or of the pipeline above it: the pipeline builds a `Ctx` per
//! call, background jobs build one with [`Ctx::system`], the CLI with
//! [`Ctx::command_line`]. Every change therefore takes one write path.

pub mod action;
pub mod caller;
pub mod common;
pub mod credentials;
pub mod ctx;
pub mod env;
pub mod principal;

pub use action::{Action, Handler};
pub use caller::{Caller, Credentials, Transport};
pub use ctx::Ctx;
pub use env::Env;
pub use principal::{Principal, Via};
