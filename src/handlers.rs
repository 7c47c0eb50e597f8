//! Every handler the server binds, one line each (`rpc.discover` is the pipeline's own,
//! added by `rpc::bind`). The registry pairs them with the declarations in `actions/` and
//! refuses to start on any mismatch.

use crate::call::Handler;
use crate::{audit, auth, notifications, offers, permits, policies, requests};

pub fn all() -> Vec<Box<dyn Handler>> {
    let mut all: Vec<Box<dyn Handler>> = auth::actions::all();
    all.push(Box::new(audit::List));
    all.push(Box::new(audit::Verify));
    all.push(Box::new(notifications::Subscribe));
    all.push(Box::new(notifications::Unsubscribe));
    all.push(Box::new(notifications::List));
    all.push(Box::new(permits::actions::RoleListAction));
    all.push(Box::new(permits::actions::PermissionCheck));
    all.push(Box::new(permits::actions::PermitListAction));
    all.push(Box::new(permits::actions::PermitGrant));
    all.push(Box::new(permits::actions::PermitRevoke));
    all.push(Box::new(offers::actions::Create));
    all.push(Box::new(offers::actions::Accept));
    all.push(Box::new(offers::actions::Decline));
    all.push(Box::new(offers::actions::Retract));
    all.push(Box::new(offers::actions::List));
    all.push(Box::new(offers::actions::History));
    all.push(Box::new(policies::actions::Get));
    all.push(Box::new(policies::actions::List));
    all.push(Box::new(policies::actions::Set));
    all.push(Box::new(requests::create::Create));
    all.push(Box::new(requests::actions::Get));
    all.push(Box::new(requests::list::List));
    all.push(Box::new(requests::actions::Confirm));
    all.push(Box::new(requests::actions::Approve));
    all.push(Box::new(requests::actions::Reject));
    all.push(Box::new(requests::actions::Execute));
    all.push(Box::new(requests::actions::Cancel));
    all.push(Box::new(requests::actions::Retry));
    all
}
