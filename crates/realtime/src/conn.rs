//! Redis connections with bounded waits, shared by the Redis adapters.

use std::time::Duration;

use coffee_domain::error::InfraError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one command (or one connection attempt) may take before Redis
/// counts as down: a request that needs Redis then fails instead of hanging.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The client for `url`.
pub(crate) fn client(url: &str) -> Result<redis::Client, InfraError> {
    redis::Client::open(url).map_err(|e| InfraError::caused_by("REDIS_URL", e))
}

/// A multiplexed connection that connects on first use and reconnects by
/// itself; each command and connection attempt is bounded by `timeout`.
pub(crate) fn manager(client: &redis::Client, timeout: Duration) -> Result<ConnectionManager, InfraError> {
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    client.get_connection_manager_lazy(config).map_err(|e| InfraError::caused_by("REDIS_URL", e))
}

/// Runs `cmd`, giving up after twice `timeout` (one connection attempt plus
/// one response) whatever the manager's own retries would do.
pub(crate) async fn query<T: redis::FromRedisValue>(
    conn: &ConnectionManager,
    cmd: &redis::Cmd,
    what: &'static str,
    timeout: Duration,
) -> Result<T, InfraError> {
    let mut conn = conn.clone();
    bounded(cmd.query_async::<T>(&mut conn), what, timeout).await
}

/// [`query`] for a command that may, rarely, run twice (`PUBLISH`), or whose
/// second run is harmless (`SET … NX`, `GETDEL` of a ticket): sent once
/// more when the first attempt finds the connection dropped. The manager only
/// notices a dead connection when a command fails on it, and then reconnects:
/// after Redis was away, its connection is one that died meanwhile (or its
/// last attempt to connect failed), so without the second attempt the first
/// command after every outage would fail although Redis is back. Both attempts
/// together are bounded like one [`query`]; a timeout is not retried.
pub(crate) async fn query_again_if_dropped<T: redis::FromRedisValue>(
    conn: &ConnectionManager,
    cmd: &redis::Cmd,
    what: &'static str,
    timeout: Duration,
) -> Result<T, InfraError> {
    let mut conn = conn.clone();
    let attempts = async {
        match cmd.query_async::<T>(&mut conn).await {
            Err(e) if e.is_connection_dropped() => {
                tracing::debug!(error = %e, "redis {what} found the connection dropped; once more on a new one");
                cmd.query_async::<T>(&mut conn).await
            }
            first => first,
        }
    };
    bounded(attempts, what, timeout).await
}

/// Awaits `command` for at most twice `timeout`, naming `what` in the error.
async fn bounded<T>(
    command: impl Future<Output = redis::RedisResult<T>>,
    what: &'static str,
    timeout: Duration,
) -> Result<T, InfraError> {
    let limit = timeout.saturating_mul(2);
    match tokio::time::timeout(limit, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(InfraError::caused_by(format!("redis {what} failed"), e)),
        Err(_) => Err(InfraError::new(format!("redis {what} timed out after {limit:?}"))),
    }
}
