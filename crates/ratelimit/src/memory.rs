//! Budgets in this process's memory (embedded profile, and the fallback of
//! the Redis limiter).
//!
//! GCRA is written out in `gcra.rs` rather than taken from the `governor`
//! crate: the Redis limiter needs the same arithmetic in Lua, and one
//! hand-written version of it on each side is what keeps `remaining` and
//! `reset_after` identical between the two; governor also fixes one quota
//! per limiter, whereas the port passes the policy with every check.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use coffee_domain::ratelimit::{RateDecision, RateLimiter, RatePolicy};

use crate::gcra::Gcra;

/// How many keys a [`MemoryRateLimiter`] tracks by default (some 10 MB).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Expired keys are dropped after this many checks.
const PURGE_EVERY: u32 = 1024;

/// GCRA budgets in a map guarded by a mutex (held for a few hash operations,
/// never across an `.await`).
///
/// Memory stays bounded whatever keys clients make up: a key whose budget
/// is full again is forgotten (its state equals having none), those are
/// swept every 1024 checks, and at `max_keys` the eighth of the keys
/// closest to a full budget is dropped to make room; keys that are being
/// hammered, far from a full budget, are the ones kept.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    state: Mutex<State>,
    epoch: Instant,
    max_keys: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Key → theoretical arrival time, in microseconds since `epoch`.
    tats: HashMap<Box<str>, u64>,
    checks_since_purge: u32,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// A limiter tracking up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A limiter tracking up to `max_keys` keys (at least 8).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self { state: Mutex::default(), epoch: Instant::now(), max_keys: max_keys.max(8) }
    }

    /// How many keys are tracked now.
    pub fn tracked_keys(&self) -> usize {
        self.lock().tats.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`RateLimiter::check`] at the instant `now` (tests drive the clock).
    pub(crate) fn check_at(&self, key: &str, policy: &RatePolicy, now: Instant) -> RateDecision {
        let now = u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX);
        let gcra = Gcra::new(policy);
        let mut state = self.lock();
        state.checks_since_purge += 1;
        if state.checks_since_purge >= PURGE_EVERY {
            state.purge(now);
        }
        let (outcome, new_tat) = gcra.check(state.tats.get(key).copied(), now);
        if let Some(new_tat) = new_tat {
            if let Some(tat) = state.tats.get_mut(key) {
                *tat = new_tat;
            } else {
                if state.tats.len() >= self.max_keys {
                    state.make_room(now, self.max_keys);
                }
                state.tats.insert(key.into(), new_tat);
            }
        }
        outcome.decision(policy.limit())
    }
}

impl State {
    /// Forgets the keys whose budget is full again.
    fn purge(&mut self, now: u64) {
        self.tats.retain(|_, tat| *tat > now);
        self.checks_since_purge = 0;
    }

    /// Purges, and if that is not enough, drops the eighth of the keys
    /// nearest to a full budget (smallest TAT).
    fn make_room(&mut self, now: u64, max_keys: usize) {
        self.purge(now);
        if self.tats.len() < max_keys {
            return;
        }
        let evict = (max_keys / 8).max(1);
        let mut tats: Vec<u64> = self.tats.values().copied().collect();
        let (_, threshold, _) = tats.select_nth_unstable(evict - 1);
        let threshold = *threshold;
        let below = tats.iter().filter(|t| **t < threshold).count();
        let mut ties = evict - below;
        self.tats.retain(|_, tat| {
            if *tat < threshold {
                false
            } else if *tat == threshold && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &str, policy: &RatePolicy) -> RateDecision {
        self.check_at(key, policy, Instant::now())
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
