//! Every handler the server binds, one line each. The registry pairs them with the
//! declarations in `actions/` and refuses to start on any mismatch.

use crate::rpc::Handler;
use crate::rpc::openrpc::Discover;

pub fn all() -> Vec<Box<dyn Handler>> {
    vec![Box::new(Discover)]
}
