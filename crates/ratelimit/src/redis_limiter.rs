//! Budgets in Redis, shared by every replica (distributed profile).

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use coffee_domain::error::{InfraError, error_chain};
use coffee_domain::ratelimit::{RateDecision, RateLimiter, RatePolicy};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::gcra::{Gcra, Outcome};
use crate::memory::MemoryRateLimiter;

/// Where budgets live unless told otherwise: `coffee:ratelimit:<key>`.
pub const DEFAULT_KEY_PREFIX: &str = "coffee:ratelimit:";

/// Connecting, and each command, may take this long before Redis counts as down.
const REDIS_TIMEOUT: Duration = Duration::from_millis(200);
/// Bound on one whole check (after a Redis restart: EVALSHA, SCRIPT LOAD, EVALSHA).
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, checks skip Redis for this long, and then one check at
/// a time asks it (the others keep skipping it until that one is answered):
/// a Redis that hangs costs one timeout per second per replica, not one per
/// request.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// At most one warning per this time while Redis is failing.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// GCRA in Redis: one Lua script per check (`gcra.lua`, sent by EVALSHA and
/// loaded again whenever Redis has forgotten it) reads and moves the key's
/// TAT atomically on the Redis clock, so every replica shares one budget
/// and replicas with skewed clocks agree. A key expires when its budget is
/// full again, so Redis holds only the keys in use.
///
/// While Redis does not answer (or errs), checks are counted by an inner
/// [`MemoryRateLimiter`]: each replica keeps limiting on its own, a WARN is
/// logged at most every 30 s, and Redis is tried again a second later.
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
    fallback: MemoryRateLimiter,
    health: Mutex<Health>,
}

#[derive(Debug, Default)]
struct Health {
    /// Redis failed last time it was asked.
    down: bool,
    /// Checks go straight to the fallback until then.
    paused_until: Option<Instant>,
    /// While Redis is down, when the one check asking whether it is back
    /// started; one whose request was dropped before it ended counts for
    /// [`CHECK_TIMEOUT`] at most.
    probe_started: Option<Instant>,
    last_warning: Option<Instant>,
    /// Checks answered by the fallback since the last warning.
    fallback_checks: u64,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter").field("prefix", &self.prefix).field("fallback", &self.fallback).finish()
    }
}

impl RedisRateLimiter {
    /// Budgets under the key `prefix` (e.g. [`DEFAULT_KEY_PREFIX`]) on the
    /// Redis at `url`, with a default [`MemoryRateLimiter`] as fallback.
    /// Connects lazily, so the process starts while Redis is down; connecting
    /// and each command time out after 200 ms.
    ///
    /// # Errors
    /// The URL is malformed, or this is called outside a Tokio runtime.
    pub fn new(url: &str, prefix: &str) -> Result<Self, InfraError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(InfraError::new("the Redis rate limiter must be created inside a Tokio runtime"));
        }
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let conn = redis::Client::open(url)
            .and_then(|client| client.get_connection_manager_lazy(config))
            .map_err(|e| InfraError::caused_by("REDIS_URL", e))?;
        Ok(Self {
            conn,
            script: Script::new(include_str!("gcra.lua")),
            prefix: prefix.to_owned(),
            fallback: MemoryRateLimiter::new(),
            health: Mutex::default(),
        })
    }

    /// Uses `fallback` while Redis is unavailable.
    #[must_use]
    pub fn with_fallback(mut self, fallback: MemoryRateLimiter) -> Self {
        self.fallback = fallback;
        self
    }

    async fn check_in_redis(&self, key: &str, gcra: Gcra) -> Result<Outcome, String> {
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(gcra.interval).arg(gcra.limit);
        match tokio::time::timeout(CHECK_TIMEOUT, invocation.invoke_async::<(i64, i64, i64, i64)>(&mut conn)).await {
            Ok(Ok(raw)) => Ok(Outcome::from_script(raw)),
            Ok(Err(e)) => Err(error_chain(&e)),
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether Redis is to be skipped now: it failed less than a second ago,
    /// or it is down and another check is asking it whether it is back.
    /// Otherwise, while it is down, this check becomes that one.
    fn paused(&self, now: Instant) -> bool {
        let mut health = self.health();
        let probing = health.probe_started.is_some_and(|at| now < at + CHECK_TIMEOUT);
        let paused = health.paused_until.is_some_and(|until| now < until) || (health.down && probing);
        if health.down && !paused {
            health.probe_started = Some(now);
        }
        health.fallback_checks += u64::from(paused);
        paused
    }

    fn failed(&self, reason: &str, now: Instant) {
        let mut health = self.health();
        health.down = true;
        health.paused_until = Some(now + PAUSE_AFTER_FAILURE);
        health.probe_started = None;
        health.fallback_checks += 1;
        if health.last_warning.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            let fallback_checks = std::mem::take(&mut health.fallback_checks);
            health.last_warning = Some(now);
            drop(health);
            tracing::warn!(
                reason,
                fallback_checks,
                "rate limits: Redis unavailable, each replica limits in its own memory until Redis answers again"
            );
        }
    }

    fn answered(&self) {
        let mut health = self.health();
        if health.down {
            health.down = false;
            health.paused_until = None;
            health.probe_started = None;
            drop(health);
            tracing::info!("rate limits: Redis answers again, budgets are shared by every replica again");
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str, policy: &RatePolicy) -> RateDecision {
        if self.paused(Instant::now()) {
            return self.fallback.check(key, policy).await;
        }
        match self.check_in_redis(key, Gcra::new(policy)).await {
            Ok(outcome) => {
                self.answered();
                outcome.decision(policy.limit())
            }
            Err(reason) => {
                self.failed(&reason, Instant::now());
                self.fallback.check(key, policy).await
            }
        }
    }
}
