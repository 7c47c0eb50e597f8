//! Failed-login limits: at most N failures per window per IP and per username
//! (docs/protocol.md §4: 20 per IP and 5 per account per 15 minutes by default).
//!
//! Only failures count, and an attempt is refused before its password is checked once
//! either budget is spent, so guessing stops even when a later guess would be right. An
//! attempt counts as a failure from the moment it is let through ([`LoginLimits::attempt`])
//! until it succeeds ([`LoginLimits::succeeded`]), so parallel guesses cannot slip past the
//! limit while their passwords are being checked. The count is per server instance;
//! behind a load balancer each instance keeps its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::config::LoginLimits as Config;

#[derive(Default)]
struct Failures {
    by_key: HashMap<String, VecDeque<DateTime<Utc>>>,
}

pub struct LoginLimits {
    config: Config,
    failures: Mutex<Failures>,
}

impl LoginLimits {
    pub fn new(config: Config) -> LoginLimits {
        LoginLimits { config, failures: Mutex::new(Failures::default()) }
    }

    fn window(&self) -> Duration {
        Duration::minutes(i64::from(self.config.window_minutes))
    }

    /// Lets one attempt through and counts it as a failure until [`Self::succeeded`];
    /// `Err(seconds to wait)` when `ip` or `username` has no attempts left.
    pub fn attempt(&self, ip: &str, username: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let mut failures = self.failures.lock().expect("login limits lock");
        let window = self.window();
        let mut wait = 0i64;
        for (key, max) in [(ip_key(ip), self.config.per_ip), (user_key(username), self.config.per_account)] {
            if let Some(times) = failures.by_key.get_mut(&key) {
                while times.front().is_some_and(|t| *t + window <= now) {
                    times.pop_front();
                }
                if times.len() >= max as usize {
                    let oldest = times[times.len() - max as usize];
                    wait = wait.max((oldest + window - now).num_seconds() + 1);
                }
            }
        }
        if wait > 0 {
            return Err(wait as u64);
        }
        for key in [ip_key(ip), user_key(username)] {
            failures.by_key.entry(key).or_default().push_back(now);
        }
        Ok(())
    }

    /// Takes back the attempt let through at `at`: it succeeded.
    pub fn succeeded(&self, ip: &str, username: &str, at: DateTime<Utc>) {
        let mut failures = self.failures.lock().expect("login limits lock");
        for key in [ip_key(ip), user_key(username)] {
            if let Some(times) = failures.by_key.get_mut(&key) {
                if let Some(i) = times.iter().rposition(|t| *t == at) {
                    times.remove(i);
                }
            }
        }
    }

    /// Drops keys with no failure inside the window (run periodically).
    pub fn forget_old(&self, now: DateTime<Utc>) {
        let window = self.window();
        let mut failures = self.failures.lock().expect("login limits lock");
        failures.by_key.retain(|_, times| times.back().is_some_and(|t| *t + window > now));
    }
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

fn user_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_per_account_and_ip_expire_with_the_window() {
        let limits = LoginLimits::new(Config { per_ip: 3, per_account: 2, window_minutes: 15 });
        let t0 = Utc::now();
        limits.attempt("1.1.1.1", "Ann", t0).unwrap();
        limits.attempt("1.1.1.1", "ann", t0).unwrap();
        let wait = limits.attempt("2.2.2.2", "ANN", t0).unwrap_err();
        assert!((899..=901).contains(&wait), "{wait}");
        limits.attempt("1.1.1.1", "bob", t0).unwrap();
        assert!(limits.attempt("1.1.1.1", "carol", t0).is_err(), "the IP is spent");
        limits.succeeded("1.1.1.1", "bob", t0);
        limits.attempt("1.1.1.1", "carol", t0).expect("a success gives its attempt back");
        let later = t0 + Duration::minutes(15);
        assert!(limits.attempt("1.1.1.1", "ann", later).is_ok());
        limits.forget_old(later + Duration::minutes(15));
        assert!(limits.failures.lock().unwrap().by_key.is_empty());
    }
}
