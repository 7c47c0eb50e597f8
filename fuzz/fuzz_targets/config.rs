//! Fuzzes configuration parsing: `Config::from_text`, the embedded default with a config
//! file's text merged over it, key by key, then deserialized and validated (roles, kinds
//! and their default policies, rate limits, the server's addresses and timings).
//!
//! Input: UTF-8 text, as a config file holds (other input is skipped: reading a file
//! that is not UTF-8 fails before parsing).
//!
//! Why: a bad value must stop the start with the file, the key and the reason, never with
//! a panic, and a config that loads must hold what the rest of the server relies on
//! without checking again. Checked for every input:
//! - `from_text` returns `Ok` or `Err`, never panics;
//! - an error names the file (`config fuzz.toml: …`);
//! - a loaded config keeps the built-in roles (`admin` granting `*:*`, `keeper` not
//!   web-grantable), every role name, scope kind and grant is well formed, every kind's
//!   default policy is within its bounds, every rate-limit class allows at least one call,
//!   the websocket and login limits are positive, and `public_origin` is an http(s) origin
//!   with no path.

#![no_main]

use countersign::config::roles::{ADMIN, KEEPER, parse_grant};
use countersign::config::{Config, Overrides};
use libfuzzer_sys::fuzz_target;

const SOURCE: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_text(SOURCE, Some(text), &Overrides::default()) {
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with(&format!("config {SOURCE}: ")), "the error names the file: {message}");
        }
        Ok(config) => check(&config),
    }
});

fn check(config: &Config) {
    let admin = config.roles.get(ADMIN).expect("admin is built in");
    assert_eq!(admin.grants, ["*:*"], "admin grants everything");
    let keeper = config.roles.get(KEEPER).expect("keeper is built in");
    assert!(!keeper.web_grantable, "keeper is never web-grantable");
    for (name, role) in &config.roles {
        assert!(is_name(name), "role name {name:?}");
        for kind in &role.scopes {
            assert!(is_name(kind), "roles.{name}.scopes: {kind:?}");
        }
        for grant in &role.grants {
            assert!(
                (name == ADMIN && grant == "*:*") || parse_grant(grant).is_some(),
                "roles.{name}.grants: {grant:?}"
            );
        }
    }
    for (name, kind) in &config.kinds {
        assert!(is_name(name) && !name.contains('-'), "kind name {name:?}");
        assert_eq!(kind.policy.problem(), None, "kinds.{name}.policy");
        let limits = &kind.policy.limits;
        if limits.window_max_count.is_some() || limits.window_max_total.is_some() {
            assert!(limits.window_hours.is_some(), "kinds.{name}: a window needs its length");
        }
    }
    for (name, limit) in &config.rate_limits {
        assert!(limit.per_minute >= 1 && limit.burst >= 1, "rate_limits.{name}");
    }
    let ws = &config.websocket;
    assert!(ws.ping_interval_s >= 1 && ws.idle_timeout_s > ws.ping_interval_s, "websocket timings");
    assert!(ws.outbound_queue >= 1 && ws.slow_client_timeout_s >= 1, "websocket queue");
    let login = &config.auth.login_limits;
    assert!(login.per_ip >= 1 && login.per_account >= 1 && login.window_minutes >= 1, "login limits");
    assert!(config.auth.session_ttl_hours >= 1 && config.notifications.retention_days >= 1);
    assert!(config.offers.ttl_days >= 1 && config.server.housekeeping_interval_s >= 1);
    let url = &config.server.database_url;
    assert!(["sqlite:", "postgres:", "postgresql:"].iter().any(|p| url.starts_with(p)), "database_url {url:?}");
    let origin = &config.server.public_origin;
    let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    assert!(host.is_some_and(|h| !h.is_empty() && !h.contains('/')), "public_origin {origin:?}");
    assert_eq!(config.https(), origin.starts_with("https://"));
}

/// A role name or scope kind: a lowercase letter, then lowercase letters, digits, `_` and
/// `-`, at most 64 bytes.
fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && s.len() <= 64
}
