//! The identity methods of docs/protocol.md §4, one file per object: accounts (and signing in),
//! looking an account up by username, the admin's kill switch, sessions, signing in a socket,
//! API tokens. `account_bootstrap` lives with the bootstrap logic.

pub mod account;
pub mod disable;
pub mod lookup;
pub mod session;
pub mod socket;
pub mod token;

use crate::call::Handler;

/// Every identity handler.
pub fn all() -> Vec<Box<dyn Handler>> {
    vec![
        Box::new(super::bootstrap::AccountBootstrap),
        Box::new(account::Login),
        Box::new(account::Logout),
        Box::new(account::Create),
        Box::new(account::Signup),
        Box::new(account::PasswordChange),
        Box::new(account::List),
        Box::new(lookup::Lookup),
        Box::new(disable::Disable),
        Box::new(disable::Enable),
        Box::new(account::Whoami),
        Box::new(session::List),
        Box::new(session::Revoke),
        Box::new(socket::Authenticate),
        Box::new(token::Create),
        Box::new(token::List),
        Box::new(token::Revoke),
    ]
}
