//! Adapters of the domain's [`RateLimiter`](coffee_domain::ratelimit::RateLimiter) port.
//!
//! Both count with GCRA (`gcra.rs`): a budget of `limit` requests refilled
//! one per `period / limit`, with the same arithmetic in Rust and in Lua so
//! that they report the same `remaining` and `reset_after`.
//!
//! * [`MemoryRateLimiter`]: budgets in this process (embedded profile);
//!   bounded memory whatever keys clients send.
//! * [`RedisRateLimiter`]: budgets in Redis, shared by every replica, one
//!   atomic Lua script per check on the Redis clock; while Redis is
//!   unreachable it limits with a per-replica [`MemoryRateLimiter`].

mod gcra;
mod memory;
mod redis_limiter;

pub use crate::memory::{DEFAULT_MAX_KEYS, MemoryRateLimiter};
pub use crate::redis_limiter::{DEFAULT_KEY_PREFIX, RedisRateLimiter};
