//! The `[kinds]` table: the action kinds a request may ask for (docs/protocol.md §7, §11),
//! each with its executor and its default policy — the policy in force at every scope
//! that has none of its own. A policy is the same shape here, in `policy_set` and in
//! `policy_get`'s answer.
//!
//! Every policy field has a conservative default, so a kind that names no policy is
//! disabled, needs a confirmation and one approval.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{Amount, Percentage};

/// One action kind as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    pub description: String,
    /// What carries out an approved request.
    #[serde(default)]
    pub executor: Executor,
    /// The policy wherever no scope sets one.
    #[serde(default)]
    pub policy: Policy,
}

/// What carries out an approved request of a kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Executor {
    /// Nothing outside countersign: the request is executed when it is approved. (A struct
    /// variant, so that a stray field such as `url` is refused rather than ignored.)
    None {},
    /// A system outside countersign, called with a signed POST (docs/protocol.md §7.5).
    Webhook(Webhook),
}

/// Where and how to call a kind's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://`; redirects are not followed.
    pub url: String,
    /// The HMAC-SHA256 key the receiver checks `Countersign-Signature` with (never
    /// serialized: a serialized configuration leaves it out).
    #[serde(skip_serializing)]
    pub secret: Secret,
    /// How long one delivery may take, connecting to reading the answer.
    #[serde(default = "Webhook::default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Webhook {
    /// The longest a delivery may take: five minutes.
    pub const MAX_TIMEOUT_MS: u64 = 300_000;
    /// The shortest secret accepted: a shorter HMAC key could be guessed.
    pub const MIN_SECRET_BYTES: usize = 16;

    fn default_timeout_ms() -> u64 {
        10_000
    }

    /// Why this webhook cannot be used, naming the field; `None` when it can.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => return Some(("url", format!("must be an http:// or https:// URL, not {:?}", self.url))),
        }
        if self.secret.0.len() < Self::MIN_SECRET_BYTES {
            return Some(("secret", format!("must be at least {} bytes", Self::MIN_SECRET_BYTES)));
        }
        if !(1..=Self::MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Some(("timeout_ms", format!("must be 1 to {}", Self::MAX_TIMEOUT_MS)));
        }
        None
    }
}

impl Default for Executor {
    fn default() -> Executor {
        Executor::None {}
    }
}

impl Executor {
    /// The webhook, when the kind is carried out outside countersign.
    pub fn webhook(&self) -> Option<&Webhook> {
        match self {
            Executor::None {} => None,
            Executor::Webhook(webhook) => Some(webhook),
        }
    }
}

/// A secret from the configuration. It has no `Serialize`, and its `Debug` shows no byte of
/// it, so it cannot reach a log line, an error, an answer or the audit log by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes, for the one place that signs with it.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The rules for requests of one kind at one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Whether requests may be made at all (`forbidden/action_disabled` otherwise).
    pub enabled: bool,
    /// Whether a request waits for `request_confirm` before anything else.
    pub requires_confirmation: bool,
    /// Approvals needed before execution; 0 = executed once created (and confirmed).
    #[schemars(range(max = 100))]
    pub approvals_required: u32,
    /// Rejections that end a request as `rejected`; 0 = a rejection never ends it.
    #[schemars(range(max = 100))]
    pub rejections_to_deny: u32,
    /// Whether the requester may approve their own request.
    pub allow_self_approval: bool,
    pub limits: Limits,
    /// How long a request waits for confirmation and approval before it expires.
    #[schemars(range(min = 1, max = 8760))]
    pub request_ttl_hours: u32,
    /// How long after execution a request may still be cancelled (revoked).
    #[schemars(range(max = 8760))]
    pub cancel_window_hours: u32,
}

/// What one request, and the requests of a trailing window, may add up to. Absent: no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest `amount` one request may carry.
    pub max_amount: Option<Amount>,
    /// The largest `percentage` one request may carry.
    pub max_percentage: Option<Percentage>,
    /// The trailing window the two window limits count over.
    #[schemars(range(min = 1, max = 8760))]
    pub window_hours: Option<u32>,
    /// Most requests (not cancelled) created in the window at the scope.
    #[schemars(range(min = 1))]
    pub window_max_count: Option<u32>,
    /// Most total `amount` of those requests.
    pub window_max_total: Option<Amount>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            enabled: false,
            requires_confirmation: true,
            approvals_required: 1,
            rejections_to_deny: 0,
            allow_self_approval: false,
            limits: Limits::default(),
            request_ttl_hours: 168,
            cancel_window_hours: 24,
        }
    }
}

impl Policy {
    /// Why the policy cannot be used, naming the field; `None` when it can.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let limits = &self.limits;
        let windowed = limits.window_max_count.is_some() || limits.window_max_total.is_some();
        if windowed && limits.window_hours.is_none() {
            return Some(("limits.window_hours", "is required with window_max_count or window_max_total"));
        }
        if !(1..=8760).contains(&self.request_ttl_hours) {
            return Some(("request_ttl_hours", "must be 1 to 8760"));
        }
        if self.cancel_window_hours > 8760 || self.approvals_required > 100 || self.rejections_to_deny > 100 {
            return Some(("policy", "cancel_window_hours must be at most 8760, approvals and rejections at most 100"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executor(toml_text: &str) -> Result<Executor, toml::de::Error> {
        #[derive(Deserialize)]
        struct Kind {
            executor: Executor,
        }
        toml::from_str::<Kind>(toml_text).map(|kind| kind.executor)
    }

    #[test]
    fn a_webhook_is_read_checked_and_never_shown() {
        let read = executor(
            r#"executor = { type = "webhook", url = "https://x.example/hook", secret = "0123456789abcdef-s3cr3t" }"#,
        );
        let Executor::Webhook(webhook) = read.unwrap() else { panic!("not a webhook") };
        assert_eq!(webhook.timeout_ms, 10_000);
        assert_eq!(webhook.problem(), None);
        assert!(!format!("{webhook:?}").contains("s3cr3t"), "{webhook:?}");
        assert!(
            executor(r#"executor = { type = "webhook", url = "https://x", secret = "0123456789abcdef", extra = 1 }"#)
                .is_err()
        );
        assert!(executor(r#"executor = { type = "none", url = "https://x" }"#).is_err());
        let bad = |url: &str, secret: &str, timeout_ms: u64| {
            Webhook { url: url.into(), secret: Secret(secret.into()), timeout_ms }.problem().map(|(field, _)| field)
        };
        assert_eq!(bad("ftp://x.example/", "0123456789abcdef", 1), Some("url"));
        assert_eq!(bad("not a url", "0123456789abcdef", 1), Some("url"));
        assert_eq!(bad("http://x.example/", "short", 1), Some("secret"));
        assert_eq!(bad("http://x.example/", "0123456789abcdef", 0), Some("timeout_ms"));
        assert_eq!(bad("http://x.example/", "0123456789abcdef", 300_001), Some("timeout_ms"));
    }
}
