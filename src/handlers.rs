//! Every handler the server binds, one line each. The registry pairs them with the
//! declarations in `actions/` and refuses to start on any mismatch.

use crate::rpc::Handler;
use crate::rpc::openrpc::Discover;
use crate::{audit, auth, authz, notify, offers};

pub fn all() -> Vec<Box<dyn Handler>> {
    let mut all: Vec<Box<dyn Handler>> = vec![Box::new(Discover)];
    all.extend(auth::actions::all());
    all.push(Box::new(audit::actions::List));
    all.push(Box::new(audit::actions::Verify));
    all.push(Box::new(notify::actions::Subscribe));
    all.push(Box::new(notify::actions::List));
    all.push(Box::new(authz::actions::RoleListAction));
    all.push(Box::new(authz::actions::PermissionCheck));
    all.push(Box::new(authz::actions::PermitListAction));
    all.push(Box::new(authz::actions::PermitGrant));
    all.push(Box::new(authz::actions::PermitRevoke));
    all.push(Box::new(offers::actions::Create));
    all.push(Box::new(offers::actions::Accept));
    all.push(Box::new(offers::actions::Decline));
    all.push(Box::new(offers::actions::Retract));
    all.push(Box::new(offers::actions::List));
    all.push(Box::new(offers::actions::History));
    all
}
