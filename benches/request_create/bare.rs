//! The baseline: the rows one `request_create` writes, written in one bare transaction in
//! this process — no HTTP, no JSON-RPC, no authentication, no policy read, no lookup of
//! who approves. The request is built as the handler builds it (`Track::created`, then
//! `settle`), and the rows are written by countersign's own writers, so the SQL, the
//! locks and the hash are the same: `requests::store::insert`; `audit_log::append` (lock
//! `audit_head`, insert the row with its hash, update the head); `notify::writer::write`
//! (bump the approver's `notification_heads` row, insert the notification) and
//! `notify::writer::announce` (`pg_notify` on PostgreSQL). The transaction is begun with
//! `Db::begin_write` on a pool from `Db::connect`, the same as the server's (on SQLite: the
//! in-process write lock and `BEGIN IMMEDIATE`).
//!
//! What does not depend on the database (the request, the audit data, the notice's JSON)
//! is made before the transaction begins, as a careful hand-written version would.

use chrono::Duration;
use countersign::audit_log::{self, AuditEvent, Origin};
use countersign::clock::Clock;
use countersign::config::Config;
use countersign::config::kinds::{Executor, Policy};
use countersign::db::Db;
use countersign::money::{Amount, Currency};
use countersign::notify::Notice as _;
use countersign::notify::writer::{self, Outgoing};
use countersign::requests::lifecycle::Track;
use countersign::requests::model::{Approvals, Held, Request, Status};
use countersign::requests::notices::RequestApprovalNeededNotice;
use countersign::requests::store;
use serde_json::{Map, json};
use uuid::Uuid;

use super::setup::{self, People};

/// A migrated database of its own, the accounts, and what every request carries.
pub struct Bare {
    db: Db,
    people: People,
    clock: Clock,
    policy: Policy,
    title: String,
    amount: Amount,
    currency: Currency,
}

impl Bare {
    /// Opens and migrates the database at `url` (empty), and creates the accounts there.
    pub async fn open(url: &str, title: &str, amount: &str, currency: &str) -> anyhow::Result<Bare> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        let people = setup::seed(&db).await?;
        let config = Config::embedded();
        let kind = config.kinds.get(setup::KIND).ok_or_else(|| anyhow::anyhow!("no kind {}", setup::KIND))?;
        let policy = kind.policy.clone();
        anyhow::ensure!(
            policy.enabled && !policy.requires_confirmation && policy.approvals_required > 0,
            "the default {} policy no longer makes a request wait for approval: {policy:?}",
            setup::KIND
        );
        Ok(Bare {
            db,
            people,
            clock: Clock::default(),
            policy,
            title: title.to_owned(),
            amount: Amount::try_from(amount.to_owned()).map_err(anyhow::Error::msg)?,
            currency: Currency::try_from(currency.to_owned()).map_err(anyhow::Error::msg)?,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn people(&self) -> &People {
        &self.people
    }

    /// One create's rows, in one transaction.
    pub async fn create(&self) -> Result<(), String> {
        let now = self.clock.now();
        let mut track = Track::created(self.new_request(now));
        track.settle(now, &Executor::default()).map_err(|e| e.to_string())?;
        let request = &track.held.request;
        if request.status != Status::PendingApproval {
            return Err(format!("the request is {}, expected pending_approval", request.status.as_str()));
        }
        // What `requests::announce::record` writes for a create.
        let record = json!({
            "kind": request.kind,
            "status": request.status,
            "transitions": track.transitions,
            "amount": request.amount,
            "currency": request.currency,
        });
        let event = AuditEvent::success(setup::METHOD)
            .target(request.requested_by)
            .scope(Some(request.scope_id.clone()))
            .subject(request.id)
            .data(record);
        let origin = Origin {
            account_id: Some(self.people.requester),
            actor_id: Some(self.people.requester_actor),
            ip: Some("127.0.0.1".to_owned()),
            request_id: Uuid::now_v7(),
        };
        let notice = serde_json::to_string(&RequestApprovalNeededNotice { request }).map_err(|e| e.to_string())?;
        let approver = self.people.approver;

        let mut tx = self.db.begin_write().await.map_err(|e| e.to_string())?;
        let written = async {
            store::insert(tx.conn(), &track.held, None).await?;
            audit_log::append(tx.conn(), event, &origin, now).await?;
            let outgoing = Outgoing { account_id: approver, kind: RequestApprovalNeededNotice::KIND, data: notice };
            writer::write(tx.conn(), vec![outgoing], now).await?;
            writer::announce(tx.conn(), Uuid::nil(), &[approver]).await
        };
        written.await.map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())
    }

    /// The request as `request_create` makes it under the kind's default policy (enabled,
    /// no confirmation, approvals needed: checked by [`Bare::open`]), waiting for approval.
    fn new_request(&self, now: chrono::DateTime<chrono::Utc>) -> Held {
        let policy = self.policy.clone();
        let request = Request {
            id: Uuid::now_v7(),
            kind: setup::KIND.to_owned(),
            scope_id: setup::SCOPE.to_owned(),
            title: self.title.clone(),
            amount: Some(self.amount),
            currency: Some(self.currency),
            percentage: None,
            payload: Map::new(),
            status: Status::PendingApproval,
            requested_by: self.people.requester,
            created_at: now,
            expires_at: now + Duration::hours(i64::from(policy.request_ttl_hours)),
            confirmed_at: None,
            confirmed_by: None,
            approvals: Approvals {
                required: policy.approvals_required,
                approved: 0,
                rejected: 0,
                decisions: Vec::new(),
            },
            bypassed_by: None,
            executed_by: None,
            executed_at: None,
            pre_approval_skip_reason: None,
            cancel_until: None,
            execution: None,
            cancelled_by: None,
            cancelled_at: None,
            cancel_reason: None,
        };
        Held { request, policy }
    }
}
