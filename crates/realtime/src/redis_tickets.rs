//! WebSocket tickets in Redis, shared by every replica (distributed profile).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use coffee_domain::error::InfraError;
use coffee_domain::realtime::{TicketGrant, TicketStore};
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::conn::{self, DEFAULT_TIMEOUT};

/// The key prefix of tickets by default: `coffee:ws-ticket:<digest>`.
pub const DEFAULT_TICKET_PREFIX: &str = "coffee:ws-ticket:";

/// One key per ticket, `<prefix><digest>` → `<user id> <session id>
/// <credential expiry, RFC 3339>`, written with
/// `SET … PX <ttl> NX` (Redis expires it) and consumed with `GETDEL`, which
/// is atomic across replicas (Redis ≥ 6.2).
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

#[async_trait]
impl TicketStore for RedisTicketStore {
    async fn issue(&self, ticket_digest: &str, grant: TicketGrant, ttl: Duration) -> Result<(), InfraError> {
        let millis = u64::try_from(ttl.as_millis()).map_err(|_| InfraError::new("ticket lifetime too long"))?;
        if millis == 0 {
            return Err(InfraError::new("a ticket needs a lifetime of at least 1 ms"));
        }
        let mut cmd = redis::cmd("SET");
        let expires_at = grant.expires_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let value = format!("{} {} {expires_at}", grant.user_id, grant.session_id);
        cmd.arg(self.key(ticket_digest)).arg(value).arg("PX").arg(millis).arg("NX");
        // `OK` when written, nil when the key exists. Sent once more on a new
        // connection when the first attempt finds the old one dropped (the
        // first command after Redis was away, on a replica that has been
        // quiet since): otherwise that request fails although Redis is back.
        match conn::query_again_if_dropped::<Option<String>>(&self.conn, &cmd, "SET ticket", self.timeout).await? {
            Some(_) => Ok(()),
            None => Err(InfraError::new("ticket digest already issued")),
        }
    }

    async fn redeem(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(ticket_digest));
        // Once more on a new connection if the old one was found dropped, as
        // in `issue`. (Had the first `GETDEL` run and only its answer been
        // lost, the ticket is spent: the client gets a new one. Never twice.)
        let Some(value) =
            conn::query_again_if_dropped::<Option<String>>(&self.conn, &cmd, "GETDEL ticket", self.timeout).await?
        else {
            return Ok(None);
        };
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
