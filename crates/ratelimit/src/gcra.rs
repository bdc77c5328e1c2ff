//! The generic cell rate algorithm (GCRA), in whole microseconds.
//!
//! One number per key, the theoretical arrival time (TAT): the instant at
//! which the key's budget would be full again. A request at `now` moves it to
//! `max(TAT, now) + interval` and is allowed if that is at most
//! `now + interval × limit`. So `limit` requests may come at once, then one
//! per `interval`; an idle key refills one request per `interval`. There is
//! no window edge to aim at, but the burst and a period's refill together
//! let up to twice the limit through in one period (10/min: 10 at once,
//! then one every 6 s); the WebSocket budgets, which SPEC counts "per 10 s",
//! use a sliding window instead.
//!
//! `gcra.lua` is the same computation for Redis; both must stay in step (the
//! Redis tests check the numbers).

use coffee_domain::ratelimit::{RateDecision, RatePolicy};
use std::time::Duration;

/// A policy turned into integer microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Time for one request to be restored (`period / limit`, rounded up so
    /// that rounding never grants more than the policy).
    pub(crate) interval: u64,
    /// The burst: the full budget.
    pub(crate) limit: u32,
}

/// The raw outcome of one check, as the Lua script returns it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) allowed: bool,
    pub(crate) remaining: u64,
    /// Microseconds until the budget is full again.
    pub(crate) reset_after: u64,
    /// Microseconds until one request is allowed again (0 when allowed).
    pub(crate) retry_after: u64,
}

impl Gcra {
    pub(crate) fn new(policy: &RatePolicy) -> Self {
        // A policy's period is at most a year: it fits in u64 microseconds.
        let period = u64::try_from(policy.period().as_micros()).unwrap_or(u64::MAX);
        let limit = policy.limit();
        Self { interval: period.div_ceil(u64::from(limit)).max(1), limit }
    }

    /// The time a full budget takes to refill from empty.
    fn span(self) -> u64 {
        self.interval.saturating_mul(u64::from(self.limit))
    }

    /// Checks one request at `now` against the stored `tat` (`None`: never
    /// seen or expired). Returns the outcome and, when allowed, the TAT to
    /// store (a refused request leaves the state as it was).
    pub(crate) fn check(self, tat: Option<u64>, now: u64) -> (Outcome, Option<u64>) {
        let tat = tat.unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(self.interval);
        // What the budget would owe after this request: the time until full.
        let debt = new_tat - now;
        if debt > self.span() {
            let outcome =
                Outcome { allowed: false, remaining: 0, reset_after: tat - now, retry_after: debt - self.span() };
            return (outcome, None);
        }
        let remaining = (self.span() - debt) / self.interval;
        (Outcome { allowed: true, remaining, reset_after: debt, retry_after: 0 }, Some(new_tat))
    }
}

impl Outcome {
    /// The reply of `gcra.lua`: `{allowed, remaining, reset_after, retry_after}`.
    pub(crate) fn from_script((allowed, remaining, reset_after, retry_after): (i64, i64, i64, i64)) -> Self {
        let micros = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            allowed: allowed == 1,
            remaining: micros(remaining),
            reset_after: micros(reset_after),
            retry_after: micros(retry_after),
        }
    }

    /// The port's answer for a policy with `limit`.
    pub(crate) fn decision(self, limit: u32) -> RateDecision {
        RateDecision {
            allowed: self.allowed,
            limit,
            remaining: u32::try_from(self.remaining).unwrap_or(u32::MAX).min(limit),
            reset_after: Duration::from_micros(self.reset_after),
            retry_after: (!self.allowed).then(|| Duration::from_micros(self.retry_after.max(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SEC: u64 = 1_000_000;

    fn gcra(text: &str) -> Gcra {
        Gcra::new(&RatePolicy::parse(text).unwrap().unwrap())
    }

    #[test]
    fn the_interval_is_the_period_over_the_limit_rounded_up() {
        assert_eq!(gcra("10/min"), Gcra { interval: 6 * SEC, limit: 10 });
        assert_eq!(gcra("3/s"), Gcra { interval: 333_334, limit: 3 });
        assert_eq!(gcra("4294967295/s"), Gcra { interval: 1, limit: u32::MAX });
    }

    #[test]
    fn a_fresh_key_spends_one_and_refills_in_one_interval() {
        let (outcome, tat) = gcra("10/min").check(None, 100 * SEC);
        assert_eq!(outcome, Outcome { allowed: true, remaining: 9, reset_after: 6 * SEC, retry_after: 0 });
        assert_eq!(tat, Some(106 * SEC));
    }

    #[test]
    fn an_exhausted_key_is_refused_until_one_interval_has_passed() {
        let g = gcra("10/min");
        let (outcome, tat) = g.check(Some(160 * SEC), 100 * SEC);
        assert_eq!(outcome, Outcome { allowed: false, remaining: 0, reset_after: 60 * SEC, retry_after: 6 * SEC });
        assert_eq!(tat, None);
        let (outcome, tat) = g.check(Some(160 * SEC), 106 * SEC);
        assert_eq!(outcome, Outcome { allowed: true, remaining: 0, reset_after: 60 * SEC, retry_after: 0 });
        assert_eq!(tat, Some(166 * SEC));
    }

    #[test]
    fn the_clock_may_start_at_zero() {
        let (outcome, tat) = gcra("10/min").check(None, 0);
        assert_eq!(outcome, Outcome { allowed: true, remaining: 9, reset_after: 6 * SEC, retry_after: 0 });
        assert_eq!(tat, Some(6 * SEC));
    }

    #[test]
    fn the_decision_carries_durations_and_a_retry_only_when_refused() {
        let refused = Outcome { allowed: false, remaining: 0, reset_after: 60 * SEC, retry_after: 1_500_000 };
        let d = refused.decision(10);
        assert_eq!((d.allowed, d.limit, d.remaining), (false, 10, 0));
        assert_eq!(d.reset_after, Duration::from_secs(60));
        assert_eq!(d.retry_after, Some(Duration::from_millis(1500)));
        let allowed = Outcome { allowed: true, remaining: 4, reset_after: 7, retry_after: 0 };
        assert_eq!(allowed.decision(10).retry_after, None);
    }
}
