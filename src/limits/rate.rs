//! Action rate limits: one keyed GCRA limiter (the `governor` crate) per configured class,
//! keyed by the caller (account, or IP when anonymous), timed by the server's clock.
//!
//! The key is a small value ([`RateKey`]), hashed as it is: every call checks it, so it is
//! never formatted into a string.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::RateLimit;

/// Whose budget a call takes from: its account when signed in, its address otherwise (an
/// account and an address never share a budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    Account(Uuid),
    /// An anonymous caller's address (`None`: unknown, one budget for all such callers).
    Ip(Option<IpAddr>),
}

type Keyed = RateLimiter<RateKey, DashMapStateStore<RateKey>, Clock, NoOpMiddleware<Duration>>;

pub struct RateLimits {
    classes: HashMap<String, Keyed>,
    clock: Clock,
}

impl RateLimits {
    pub fn new(config: &BTreeMap<String, RateLimit>, clock: Clock) -> RateLimits {
        let classes = config
            .iter()
            .map(|(name, limit)| {
                let per_minute = NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::per_minute(per_minute).allow_burst(burst);
                (name.clone(), RateLimiter::dashmap_with_clock(quota, clock.clone()))
            })
            .collect();
        RateLimits { classes, clock }
    }

    /// Takes one call from `key`'s budget in `class`; `Err(seconds)` to wait when empty.
    /// An unknown class never limits (the registry refuses to bind one).
    pub fn check(&self, class: &str, key: RateKey) -> Result<(), u64> {
        let Some(limiter) = self.classes.get(class) else { return Ok(()) };
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(GovernorClock::now(&self.clock));
            (wait.as_secs_f64().ceil() as u64).max(1)
        })
    }

    /// Forgets keys whose buckets are full again, so the map does not grow without bound.
    pub fn forget_idle(&self) {
        for limiter in self.classes.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_refills_with_the_clock() {
        let clock = Clock::default();
        let config = BTreeMap::from([("write".to_owned(), RateLimit { per_minute: 60, burst: 2 })]);
        let limits = RateLimits::new(&config, clock.clone());
        let (a, b) = (RateKey::Account(Uuid::now_v7()), RateKey::Ip(None));
        assert!(limits.check("write", a).is_ok());
        assert!(limits.check("write", a).is_ok());
        let wait = limits.check("write", a).unwrap_err();
        assert_eq!(wait, 1, "one call per second refills");
        assert!(limits.check("write", b).is_ok(), "other keys are unaffected");
        clock.advance(Duration::from_secs(1));
        assert!(limits.check("write", a).is_ok());
        assert!(limits.check("unconfigured", a).is_ok());
    }
}
