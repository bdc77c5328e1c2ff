//! WebSocket tickets in Redis, shared by every replica (distributed profile).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use coffee_domain::error::InfraError;
use coffee_domain::realtime::{Issued, TicketGrant, TicketStore};
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::conn::{self, DEFAULT_TIMEOUT};

/// The key prefix of tickets by default: `coffee:ws-ticket:<digest>`.
pub const DEFAULT_TICKET_PREFIX: &str = "coffee:ws-ticket:";

/// One key per ticket, `<prefix><digest>` → `<user id> <session id>
/// <credential expiry, RFC 3339>`, written with
/// `SET … PX <ttl> NX` (Redis expires it) and consumed with `GETDEL`, which
/// is atomic across replicas (Redis ≥ 6.2). The tickets issued to a user
/// within a lifetime are counted in a sorted set, `<prefix>issued:<user>`
/// (ticket key → its expiry in ms), by the same script that writes the
/// ticket ([`ISSUE`]).
pub struct RedisTicketStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisTicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTicketStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisTicketStore {
    /// Tickets under `prefix` on the Redis at `url`. Connects lazily: the
    /// process starts while Redis is down, and issuing or redeeming fails
    /// until it is back.
    ///
    /// # Errors
    /// The URL is malformed.
    pub fn new(url: &str, prefix: &str) -> Result<Self, InfraError> {
        let client = conn::client(url)?;
        let conn = conn::manager(&client, DEFAULT_TIMEOUT)?;
        Ok(Self { conn, prefix: prefix.to_owned(), timeout: DEFAULT_TIMEOUT })
    }

    fn key(&self, ticket_digest: &str) -> String {
        format!("{}{ticket_digest}", self.prefix)
    }
}

/// `KEYS`: the ticket, the user's issues. `ARGV`: the grant, the lifetime
/// (ms), now (ms, the replica's clock), the bound. Answers `{1, 0}` when the
/// ticket is written, `{0, wait ms}` past the bound, `{-1, 0}` when the
/// digest is taken.
const ISSUE: &str = r"
local ttl, now, max = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= max then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, math.max(tonumber(oldest[2]) - now, 1)}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl, 'NX') then
  return {-1, 0}
end
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return {1, 0}
";

#[async_trait]
impl TicketStore for RedisTicketStore {
    async fn issue(
        &self,
        ticket_digest: &str,
        grant: TicketGrant,
        ttl: Duration,
        per_user: usize,
    ) -> Result<Issued, InfraError> {
        let millis = u64::try_from(ttl.as_millis()).map_err(|_| InfraError::new("ticket lifetime too long"))?;
        if millis == 0 {
            return Err(InfraError::new("a ticket needs a lifetime of at least 1 ms"));
        }
        let expires_at = grant.expires_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let value = format!("{} {} {expires_at}", grant.user_id, grant.session_id);
        let now = chrono::Utc::now().timestamp_millis();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ISSUE).arg(2).arg(self.key(ticket_digest)).arg(format!("{}issued:{}", self.prefix, grant.user_id));
        cmd.arg(value).arg(millis).arg(now).arg(per_user);
        // Sent once more on a new connection when the first attempt finds the
        // old one dropped (the first command after Redis was away, on a
        // replica that has been quiet since): otherwise that request fails
        // although Redis is back.
        match conn::query_again_if_dropped::<(i64, u64)>(&self.conn, &cmd, "issue ticket", self.timeout).await? {
            (1, _) => Ok(Issued::Stored),
            (0, wait) => Ok(Issued::Busy(Duration::from_millis(wait))),
            _ => Err(InfraError::new("ticket digest already issued")),
        }
    }

    async fn redeem(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError> {
        // (Had the first `GETDEL` run and only its answer been lost, the
        // ticket is spent: the client gets a new one. Never twice.)
        self.read("GETDEL", ticket_digest).await
    }

    async fn peek(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError> {
        self.read("GET", ticket_digest).await
    }
}

impl RedisTicketStore {
    /// The grant a ticket key holds, read with `command` (`GET`, or
    /// `GETDEL` to spend it), sent once more on a new connection if the old
    /// one was found dropped, as in `issue`.
    async fn read(&self, command: &'static str, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError> {
        let mut cmd = redis::cmd(command);
        cmd.arg(self.key(ticket_digest));
        let value = conn::query_again_if_dropped::<Option<String>>(&self.conn, &cmd, command, self.timeout).await?;
        self.grant_of(ticket_digest, value)
    }

    /// The grant a ticket key held (`<user> <session> <expiry>`).
    fn grant_of(&self, ticket_digest: &str, value: Option<String>) -> Result<Option<TicketGrant>, InfraError> {
        let Some(value) = value else { return Ok(None) };
        let corrupt = || InfraError::new(format!("ticket key {} holds no grant", self.key(ticket_digest)));
        let fields: Vec<&str> = value.split(' ').collect();
        let [user, session, expires_at] = fields[..] else {
            // A ticket of the release before sessions (`<user> <expiry>`,
            // alive for seconds during an upgrade) logs nobody in: the
            // client is told to get a new one.
            return if fields.len() == 2 { Ok(None) } else { Err(corrupt()) };
        };
        let uuid = |field: &str| Uuid::parse_str(field).map_err(|_| corrupt());
        let (user_id, session_id) = (uuid(user)?, uuid(session)?);
        let expires_at = DateTime::parse_from_rfc3339(expires_at).map_err(|_| corrupt())?.to_utc();
        Ok(Some(TicketGrant { user_id, session_id, expires_at }))
    }
}
