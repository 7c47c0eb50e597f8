//! Parties of a story: signed-in accounts, each listening on its own WebSocket inbox, and
//! the admin's view of the audit log. Shared by the use-case tests.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::identity::Client;
use super::{TestServer, WsClient};

/// A signed-in account with a WebSocket subscribed to its notifications (live only).
pub struct Party {
    pub client: Client,
    pub id: String,
    pub inbox: WsClient,
    pub sub: String,
}

impl Party {
    pub async fn join(client: Client) -> Party {
        Party::resume(client, None).await
    }

    /// Subscribes on a fresh socket, replaying everything after `after` when given.
    pub async fn resume(client: Client, after: Option<i64>) -> Party {
        let mut inbox = client.ws().await.unwrap();
        let params = after.map_or(json!({}), |after| json!({"after": after}));
        let answer = inbox.call(1, "notifications_subscribe", params).await;
        let sub = answer["result"].as_str().unwrap_or_else(|| panic!("subscribe: {answer}")).to_owned();
        let id = client.account_id.clone().unwrap();
        Party { client, id, inbox, sub }
    }

    /// The next pushed notification, which must be of `kind`; returns its `data`.
    pub async fn told(&mut self, kind: &str) -> Value {
        let message = self.inbox.next_json().await;
        assert_eq!(message["method"], "notification", "{message}");
        assert_eq!(message["params"]["subscription"], self.sub.as_str(), "{message}");
        let pushed = &message["params"]["result"];
        assert_eq!(pushed["type"], kind, "{pushed}");
        pushed["data"].clone()
    }

    /// The next push must be `kind` about offer `offer_id`; returns the offer it carries.
    pub async fn told_about(&mut self, kind: &str, offer_id: &Value) -> Value {
        let data = self.told(kind).await;
        assert_eq!(&data["offer"]["id"], offer_id, "{kind}: {data}");
        data["offer"].clone()
    }

    /// Every notification type on the account's durable stream, in seq order.
    pub async fn stream(&self) -> Vec<String> {
        let page = self.client.ok("notifications_list", json!({})).await;
        page["notifications"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap().to_owned()).collect()
    }

    pub async fn head_seq(&self) -> i64 {
        self.client.ok("notifications_list", json!({})).await["head_seq"].as_i64().unwrap()
    }
}

/// A server with an admin and the accounts `names`, each already listening.
pub async fn cast<const N: usize>(server: &TestServer, names: [&str; N]) -> (Party, [Party; N]) {
    let admin = server.admin().await;
    let mut parties = Vec::new();
    for name in names {
        parties.push(Party::join(server.account(&admin, name).await).await);
    }
    (Party::join(admin).await, parties.try_into().ok().unwrap())
}

/// The admin grants `role` at `scope` to `holder`, who is told; returns the permit.
pub async fn grant(admin: &Party, holder: &mut Party, role: &str, scope: &str) -> Value {
    let params = json!({"to_account_id": holder.id, "role": role, "scope_id": scope});
    let permit = admin.client.ok("permit_grant", params).await["permit"].clone();
    assert_eq!(holder.told("permit_granted").await["permit"], permit);
    permit
}

/// A JSON time.
pub fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("not a time: {value}"))
}

/// The `id`s of a list of objects.
pub fn ids(offers: &Value) -> Vec<Value> {
    offers.as_array().unwrap_or_else(|| panic!("not a list: {offers}")).iter().map(|o| o["id"].clone()).collect()
}

/// The audit rows of `event_type` (about `subject` when given), oldest first.
pub async fn audit(admin: &Client, event_type: &str, subject: Option<&Value>) -> Vec<Value> {
    let mut params = json!({"event_type": event_type, "limit": 1000});
    if let Some(subject) = subject {
        params["subject_id"] = subject.clone();
    }
    admin.ok("audit_list", params).await["events"].as_array().unwrap().clone()
}

/// The one `success` audit row of `event_type` about `subject` (refusals about it may
/// stand beside it).
pub async fn audited(admin: &Client, event_type: &str, subject: &Value) -> Value {
    let rows = audit(admin, event_type, Some(subject)).await;
    let succeeded: Vec<&Value> = rows.iter().filter(|row| row["outcome"] == "success").collect();
    assert_eq!(succeeded.len(), 1, "{event_type} {subject}: {rows:?}");
    succeeded[0].clone()
}
