//! Failed-login limits (docs/protocol.md §4.2), keyed so that a stranger cannot lock an
//! account's owner out:
//!
//! - per (IP, username): few failures (default 5) — guessing one password from one place;
//! - per IP: more (default 20) — one place guessing many usernames;
//! - per username from everywhere together: many more (default 100) — a guess spread over
//!   many addresses. Once spent, only addresses that have signed in to that username
//!   before (within [`KNOWN_FOR_DAYS`]) may keep trying, so the owner still gets in from
//!   where they usually do while the strangers wait.
//!
//! Only failures count, and an attempt is refused before its password is checked once a
//! budget is spent, so guessing stops even when a later guess would be right. An attempt
//! counts as a failure from the moment it is let through ([`LoginLimits::attempt`]) until
//! it succeeds ([`LoginLimits::succeeded`]), so parallel guesses cannot slip past the
//! limit while their passwords are being checked. The counts are per server instance;
//! behind a load balancer each instance keeps its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::config::LoginLimits as Config;

/// How long a successful sign-in makes its address known for that username.
pub const KNOWN_FOR_DAYS: i64 = 30;

/// Known addresses kept per username (the most recent).
const KNOWN_PER_USERNAME: usize = 16;

#[derive(Default)]
struct State {
    failures: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// Username → the addresses it signed in from, with when, most recent last.
    known: HashMap<String, VecDeque<(String, DateTime<Utc>)>>,
}

pub struct LoginLimits {
    config: Config,
    state: Mutex<State>,
}

impl LoginLimits {
    pub fn new(config: Config) -> LoginLimits {
        LoginLimits { config, state: Mutex::new(State::default()) }
    }

    fn window(&self) -> Duration {
        Duration::minutes(i64::from(self.config.window_minutes))
    }

    /// The failure keys of an attempt, with their budgets; the username's own budget
    /// does not bind an address that signed in to it before.
    fn budgets(&self, state: &State, ip: &str, username: &str, now: DateTime<Utc>) -> Vec<(String, u32, bool)> {
        let user = username.to_lowercase();
        let known = state
            .known
            .get(&user)
            .is_some_and(|seen| seen.iter().any(|(at, when)| at == ip && *when + Duration::days(KNOWN_FOR_DAYS) > now));
        vec![
            (format!("ip:{ip}|user:{user}"), self.config.per_ip_and_account, true),
            (format!("ip:{ip}"), self.config.per_ip, true),
            (format!("user:{user}"), self.config.per_account, !known),
        ]
    }

    /// Lets one attempt through and counts it as a failure until [`Self::succeeded`];
    /// `Err(seconds to wait)` when a budget that binds this attempt is spent.
    pub fn attempt(&self, ip: &str, username: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let mut state = self.state.lock().expect("login limits lock");
        let window = self.window();
        let budgets = self.budgets(&state, ip, username, now);
        let mut wait = 0i64;
        for (key, max, binds) in &budgets {
            let Some(times) = state.failures.get_mut(key) else { continue };
            while times.front().is_some_and(|t| *t + window <= now) {
                times.pop_front();
            }
            if *binds && times.len() >= *max as usize {
                let oldest = times[times.len() - *max as usize];
                wait = wait.max((oldest + window - now).num_seconds() + 1);
            }
        }
        if wait > 0 {
            return Err(wait as u64);
        }
        for (key, _, _) in budgets {
            state.failures.entry(key).or_default().push_back(now);
        }
        Ok(())
    }

    /// Takes back the attempt let through at `at`: it succeeded, and its address is now
    /// known for the username.
    pub fn succeeded(&self, ip: &str, username: &str, at: DateTime<Utc>) {
        let mut state = self.state.lock().expect("login limits lock");
        for (key, _, _) in self.budgets(&state, ip, username, at) {
            if let Some(times) = state.failures.get_mut(&key)
                && let Some(i) = times.iter().rposition(|t| *t == at)
            {
                times.remove(i);
            }
        }
        let seen = state.known.entry(username.to_lowercase()).or_default();
        seen.retain(|(address, _)| address != ip);
        seen.push_back((ip.to_owned(), at));
        if seen.len() > KNOWN_PER_USERNAME {
            seen.pop_front();
        }
    }

    /// Drops keys with no failure inside the window and addresses known too long ago
    /// (run periodically).
    pub fn forget_old(&self, now: DateTime<Utc>) {
        let window = self.window();
        let mut state = self.state.lock().expect("login limits lock");
        state.failures.retain(|_, times| times.back().is_some_and(|t| *t + window > now));
        for seen in state.known.values_mut() {
            seen.retain(|(_, when)| *when + Duration::days(KNOWN_FOR_DAYS) > now);
        }
        state.known.retain(|_, seen| !seen.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits::new(Config { per_ip_and_account: 2, per_ip: 3, per_account: 4, window_minutes: 15 })
    }

    #[test]
    fn failures_per_address_and_username_expire_with_the_window() {
        let limits = limits();
        let t0 = Utc::now();
        limits.attempt("1.1.1.1", "Ann", t0).unwrap();
        limits.attempt("1.1.1.1", "ann", t0).unwrap();
        let wait = limits.attempt("1.1.1.1", "ANN", t0).unwrap_err();
        assert!((899..=901).contains(&wait), "{wait}");
        limits.attempt("2.2.2.2", "ann", t0).expect("another address still may try");
        limits.attempt("1.1.1.1", "bob", t0).unwrap();
        assert!(limits.attempt("1.1.1.1", "carol", t0).is_err(), "the address is spent");
        limits.succeeded("1.1.1.1", "bob", t0);
        limits.attempt("1.1.1.1", "carol", t0).expect("a success gives its attempt back");
        let later = t0 + Duration::minutes(15);
        assert!(limits.attempt("1.1.1.1", "ann", later).is_ok());
        limits.forget_old(later + Duration::days(KNOWN_FOR_DAYS));
        let state = limits.state.lock().unwrap();
        assert!(state.failures.is_empty() && state.known.is_empty());
    }

    #[test]
    fn a_spent_username_still_lets_in_addresses_that_signed_in_before() {
        let limits = limits();
        let t0 = Utc::now();
        limits.attempt("9.9.9.9", "ann", t0).unwrap();
        limits.succeeded("9.9.9.9", "ann", t0);
        for stranger in ["1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4"] {
            limits.attempt(stranger, "ann", t0).unwrap();
        }
        assert!(limits.attempt("1.0.0.5", "ann", t0).is_err(), "the username is spent for strangers");
        limits.attempt("9.9.9.9", "ann", t0).expect("the owner's address is not locked out");
        let month = t0 + Duration::days(KNOWN_FOR_DAYS);
        for stranger in ["1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4"] {
            limits.attempt(stranger, "ann", month).unwrap();
        }
        assert!(limits.attempt("9.9.9.9", "ann", month).is_err(), "an address is known for a while only");
    }
}
