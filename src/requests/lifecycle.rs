//! The lifecycle of a request (docs/protocol.md §7.3) as one transition table: every
//! status change anywhere goes through [`Track::step`], and a step the table does not
//! allow is the `conflict` its reason names. Nothing here touches the database: the
//! caller saves the request, audits the [`Transition`]s and notifies from them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{Execution, Held, Status};
use crate::config::kinds::Executor;
use crate::error::{RpcError, RpcResult};

/// Something that moves a request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The requester (or a `confirm-any` holder) confirms it.
    Confirm,
    /// The approvals reached the number required (or an admin bypassed).
    Approve,
    /// The rejections reached `rejections_to_deny`.
    Reject,
    /// Handed to the executor: after approval, or directly by an `execute-*` holder.
    Execute,
    /// The executor succeeded.
    Succeed,
    /// The executor failed.
    Fail,
    /// A failed request is tried again.
    Retry,
    Cancel,
    Expire,
    /// An executed request is cancelled within its cancel window.
    Revoke,
}

/// The one transition table: where `step` takes a request in `from`, if anywhere.
pub fn next(from: Status, step: Step) -> Option<Status> {
    use Status::*;
    use Step as S;
    Some(match (from, step) {
        (AwaitingConfirmation, S::Confirm) => PendingApproval,
        (PendingApproval, S::Approve) => Approved,
        (PendingApproval, S::Reject) => Rejected,
        (AwaitingConfirmation | PendingApproval | Approved, S::Execute) => Executing,
        (Executing, S::Succeed) => Executed,
        (Executing, S::Fail) => Failed,
        (Failed, S::Retry) => Executing,
        (AwaitingConfirmation | PendingApproval | Approved, S::Cancel) => Cancelled,
        (AwaitingConfirmation | PendingApproval, S::Expire) => Expired,
        (Executed, S::Revoke) => Revoked,
        _ => return None,
    })
}

/// Why `step` cannot happen to a request in `from`, as the contract's `conflict` reason.
pub fn refusal(from: Status, step: Step) -> RpcError {
    let reason = match step {
        Step::Confirm => "request_not_awaiting_confirmation",
        Step::Approve | Step::Reject if from == Status::AwaitingConfirmation => "request_not_confirmed",
        Step::Retry => "request_not_failed",
        Step::Revoke => "request_not_executed",
        Step::Cancel => "request_closed",
        _ => "request_not_pending",
    };
    RpcError::conflict(reason)
        .message(format!("This request is {}.", from.as_str().replace('_', " ")))
        .with("status", from.as_str())
}

/// One status change, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// `null` for the status a request is created in.
    pub from: Option<Status>,
    pub to: Status,
}

/// A request moving through the table, keeping the transitions it made.
pub struct Track {
    pub held: Held,
    pub transitions: Vec<Transition>,
}

impl Track {
    /// A request just made, in the status it starts in.
    pub fn created(held: Held) -> Track {
        let to = held.request.status;
        Track { held, transitions: vec![Transition { from: None, to }] }
    }

    /// A request as it was loaded.
    pub fn loaded(held: Held) -> Track {
        Track { held, transitions: Vec::new() }
    }

    pub fn status(&self) -> Status {
        self.held.request.status
    }

    /// Takes `step`, or refuses it with the conflict the table names.
    pub fn step(&mut self, step: Step) -> RpcResult<()> {
        let from = self.status();
        let to = next(from, step).ok_or_else(|| self.refuse(refusal(from, step)))?;
        self.held.request.status = to;
        self.transitions.push(Transition { from: Some(from), to });
        Ok(())
    }

    /// `error`, its audit row naming the request's scope and id.
    pub fn refuse(&self, error: RpcError) -> RpcError {
        let request = &self.held.request;
        error.scoped(&request.scope_id, Some(request.id.to_string()))
    }

    /// Whether this call moved the request into `status`.
    pub fn entered(&self, status: Status) -> bool {
        self.transitions.iter().any(|t| t.to == status)
    }

    /// Moves on as far as it can without anyone acting: approved when the approvals reach
    /// the number required, rejected when the rejections reach `rejections_to_deny`, then
    /// into execution; a request made or confirmed needing no approval runs at once.
    pub fn settle(&mut self, now: DateTime<Utc>, executor: &Executor) -> RpcResult<()> {
        let (approvals, policy) = (&self.held.request.approvals, &self.held.policy);
        if self.status() == Status::PendingApproval {
            if approvals.approved >= approvals.required || self.held.request.bypassed_by.is_some() {
                self.step(Step::Approve)?;
            } else if policy.rejections_to_deny > 0 && approvals.rejected >= policy.rejections_to_deny {
                self.step(Step::Reject)?;
            }
        }
        match self.status() {
            Status::Approved => self.execute(now, executor),
            Status::Executing => self.run(now, executor),
            _ => Ok(()),
        }
    }

    /// Hands the request to its kind's executor and runs it.
    pub fn execute(&mut self, now: DateTime<Utc>, executor: &Executor) -> RpcResult<()> {
        self.step(Step::Execute)?;
        self.run(now, executor)
    }

    /// Runs an executing request. Executor `none` succeeds at once, inside the
    /// transaction. A webhook's attempt is counted and stamped here; it stays `executing`
    /// until the delivery, made after the commit, is recorded ([`Track::succeed`],
    /// [`Track::fail`]).
    pub fn run(&mut self, now: DateTime<Utc>, executor: &Executor) -> RpcResult<()> {
        if executor.webhook().is_none() {
            return self.succeed(now);
        }
        let execution = self.held.request.execution.get_or_insert_with(Execution::default);
        *execution = Execution { attempts: execution.attempts + 1, started_at: Some(now), ..Execution::default() };
        Ok(())
    }

    /// The executor succeeded: the cancel window opens.
    pub fn succeed(&mut self, now: DateTime<Utc>) -> RpcResult<()> {
        self.step(Step::Succeed)?;
        let request = &mut self.held.request;
        request.executed_at = Some(now);
        request.cancel_until = Some(now + chrono::Duration::hours(i64::from(self.held.policy.cancel_window_hours)));
        Ok(())
    }

    /// The executor failed, for `error`.
    pub fn fail(&mut self, error: String) -> RpcResult<()> {
        self.step(Step::Fail)?;
        self.held.request.execution.get_or_insert_with(Execution::default).last_error = Some(error);
        Ok(())
    }

    /// The attempt under way, when this call began one that is still to be delivered.
    pub fn attempt_to_deliver(&self) -> Option<u32> {
        let request = &self.held.request;
        let began = self.transitions.last().is_some_and(|t| t.to == Status::Executing);
        (began && request.status == Status::Executing).then(|| request.execution.as_ref().map(|e| e.attempts)).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_allows_exactly_the_contracts_transitions() {
        use Status::*;
        let allowed: Vec<(Status, Step, Status)> = Status::ALL
            .into_iter()
            .flat_map(|from| {
                [
                    Step::Confirm,
                    Step::Approve,
                    Step::Reject,
                    Step::Execute,
                    Step::Succeed,
                    Step::Fail,
                    Step::Retry,
                    Step::Cancel,
                    Step::Expire,
                    Step::Revoke,
                ]
                .into_iter()
                .filter_map(move |step| next(from, step).map(|to| (from, step, to)))
            })
            .collect();
        assert_eq!(allowed.len(), 15, "{allowed:?}");
        for final_status in [Executed, Cancelled, Expired, Rejected, Revoked] {
            let leaves: Vec<_> = allowed.iter().filter(|(from, ..)| *from == final_status).collect();
            assert!(leaves.len() <= 1 && leaves.iter().all(|(_, s, _)| *s == Step::Revoke), "{final_status:?}");
        }
        assert_eq!(next(Rejected, Step::Approve), None);
        assert_eq!(refusal(Executed, Step::Approve).reason, "request_not_pending");
        assert_eq!(refusal(AwaitingConfirmation, Step::Approve).reason, "request_not_confirmed");
        assert_eq!(refusal(Executed, Step::Cancel).reason, "request_closed");
    }
}
