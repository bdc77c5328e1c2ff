//! Socket slots: at most N live sockets per user, in memory (embedded
//! profile) or in Redis (shared by every replica).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::realtime::SocketSlots;
use redis::Script;
use redis::aio::ConnectionManager;
use tokio::time::Instant;
use uuid::Uuid;

use crate::conn::{self, DEFAULT_TIMEOUT};

/// Slots in this process: user → socket → lease end. Entries leave when
/// released or, for a socket whose release never came, when the user's
/// slots are next looked at after the lease ran out.
#[derive(Debug, Default)]
pub struct MemorySocketSlots {
    slots: Mutex<HashMap<Uuid, HashMap<Uuid, Instant>>>,
}

impl MemorySocketSlots {
    /// No slot taken.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SocketSlots for MemorySocketSlots {
    async fn acquire(&self, user: Uuid, socket: Uuid, max: usize, lease: Duration) -> Result<bool, InfraError> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let held = slots.entry(user).or_default();
        held.retain(|_, until| *until > now);
        if held.len() >= max && !held.contains_key(&socket) {
            return Ok(false);
        }
        held.insert(socket, now + lease);
        Ok(true)
    }

    async fn renew(&self, user: Uuid, socket: Uuid, lease: Duration) -> Result<(), InfraError> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(user).or_default().insert(socket, Instant::now() + lease);
        Ok(())
    }

    async fn release(&self, user: Uuid, socket: Uuid) -> Result<(), InfraError> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = slots.get_mut(&user) {
            held.remove(&socket);
            if held.is_empty() {
                slots.remove(&user);
            }
        }
        Ok(())
    }
}

/// The key prefix of slots by default: `coffee:ws-slots:<user>`.
pub const DEFAULT_SLOTS_PREFIX: &str = "coffee:ws-slots:";

/// Takes a slot atomically: drops expired leases, counts the live ones and
/// adds this socket's if there is room (or it already holds one). The
/// sorted set's scores are lease ends in Redis server time (milliseconds),
/// so replicas' clocks do not matter; the key expires with its last lease.
const ACQUIRE: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
";

/// Extends a lease, and takes the slot again if Redis lost it (flushed,
/// restarted without persistence) or never had it (the socket opened while
/// Redis was away): a live socket always counts. A released slot is not
/// renewed: a socket releases its slot once, after its last renewal.
const RENEW: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now_ms + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
";

/// Slots in a Redis sorted set per user (`<prefix><user>`: socket id →
/// lease end), so the bound holds across every replica.
pub struct RedisSocketSlots {
    conn: ConnectionManager,
    prefix: String,
    acquire: Script,
    renew: Script,
}

impl std::fmt::Debug for RedisSocketSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSocketSlots").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisSocketSlots {
    /// Slots under `prefix` on the Redis at `url`; connects lazily.
    ///
    /// # Errors
    /// The URL is malformed.
    pub fn new(url: &str, prefix: &str) -> Result<Self, InfraError> {
        let client = conn::client(url)?;
        Ok(Self {
            conn: conn::manager(&client, DEFAULT_TIMEOUT)?,
            prefix: prefix.to_owned(),
            acquire: Script::new(ACQUIRE),
            renew: Script::new(RENEW),
        })
    }

    fn key(&self, user: Uuid) -> String {
        format!("{}{user}", self.prefix)
    }

    async fn run(&self, script: &Script, user: Uuid, args: &[String], what: &'static str) -> Result<i64, InfraError> {
        let mut invocation = script.key(self.key(user));
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.conn.clone();
        let limit = DEFAULT_TIMEOUT.saturating_mul(2);
        match tokio::time::timeout(limit, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(InfraError::caused_by(format!("redis {what} failed"), e)),
            Err(_) => Err(InfraError::new(format!("redis {what} timed out after {limit:?}"))),
        }
    }
}

fn millis(lease: Duration) -> String {
    lease.as_millis().max(1).to_string()
}

#[async_trait]
impl SocketSlots for RedisSocketSlots {
    async fn acquire(&self, user: Uuid, socket: Uuid, max: usize, lease: Duration) -> Result<bool, InfraError> {
        let args = [socket.to_string(), max.to_string(), millis(lease)];
        Ok(self.run(&self.acquire, user, &args, "acquire socket slot").await? == 1)
    }

    async fn renew(&self, user: Uuid, socket: Uuid, lease: Duration) -> Result<(), InfraError> {
        self.run(&self.renew, user, &[socket.to_string(), millis(lease)], "renew socket slot").await.map(drop)
    }

    async fn release(&self, user: Uuid, socket: Uuid) -> Result<(), InfraError> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.key(user)).arg(socket.to_string());
        conn::query::<i64>(&self.conn, &cmd, "release socket slot", DEFAULT_TIMEOUT).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_user_holds_at_most_max_slots_until_one_is_released_or_expires() {
        let slots = MemorySocketSlots::new();
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let sockets: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        assert!(slots.acquire(user, sockets[0], 2, LEASE).await.expect("memory"));
        assert!(slots.acquire(user, sockets[1], 2, Duration::from_secs(5)).await.expect("memory"));
        assert!(!slots.acquire(user, sockets[2], 2, LEASE).await.expect("memory"), "full");
        assert!(slots.acquire(other, sockets[2], 2, LEASE).await.expect("memory"), "per user");
        assert!(slots.acquire(user, sockets[0], 2, LEASE).await.expect("memory"), "a holder re-acquires");
        slots.release(user, sockets[0]).await.expect("memory");
        assert!(slots.acquire(user, sockets[2], 2, LEASE).await.expect("memory"), "released");
        tokio::time::advance(Duration::from_secs(4)).await;
        slots.renew(user, sockets[1], Duration::from_secs(5)).await.expect("memory");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!slots.acquire(user, Uuid::new_v4(), 2, LEASE).await.expect("memory"), "renewed, still held");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(slots.acquire(user, Uuid::new_v4(), 2, LEASE).await.expect("memory"), "lapsed lease freed");
    }
}
