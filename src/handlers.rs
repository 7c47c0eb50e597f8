//! Every handler the server binds, one line each. The registry pairs them with the
//! declarations in `actions/` and refuses to start on any mismatch.

use crate::rpc::Handler;
use crate::rpc::openrpc::Discover;
use crate::{audit, auth, notify};

pub fn all() -> Vec<Box<dyn Handler>> {
    let mut all: Vec<Box<dyn Handler>> = vec![Box::new(Discover)];
    all.extend(auth::actions::all());
    all.push(Box::new(audit::actions::List));
    all.push(Box::new(audit::actions::Verify));
    all.push(Box::new(notify::actions::Subscribe));
    all.push(Box::new(notify::actions::List));
    all
}
