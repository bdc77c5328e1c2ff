//! The adapters of live delivery, picked by profile: Redis (pub/sub, tickets
//! and socket slots shared by every replica) or this process alone.

use std::sync::Arc;

use coffee_domain::error::error_chain;
use coffee_domain::live::{LiveEvent, LiveFeed};
use coffee_domain::realtime::{FanOut, SocketSlots, TicketStore};
use coffee_realtime::{
    LocalFanOut, MemorySocketSlots, MemoryTicketStore, RedisFanOut, RedisFanOutConfig, RedisSocketSlots,
    RedisTicketStore,
};

use crate::config::Config;
use crate::services::{Process, StartError};

/// Live delivery's adapters.
pub struct Live {
    /// Where events go; the API's WebSocket hub subscribes to it.
    pub fan_out: Arc<dyn FanOut<LiveEvent>>,
    /// Single-use WebSocket tickets.
    pub tickets: Arc<dyn TicketStore>,
    /// The bound on sockets per user.
    pub slots: Arc<dyn SocketSlots>,
    redis: Option<Arc<RedisFanOut<LiveEvent>>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("redis", &self.redis.is_some()).finish_non_exhaustive()
    }
}

/// The pub/sub channel of the deployment on `url` with the queue `queue`:
/// `<JOBS_QUEUE>:live`, or `<JOBS_QUEUE>:db<n>:live` on a database other than
/// 0. Pub/sub ignores the database number, so two deployments on databases 5
/// and 6 of one Redis, with the default `JOBS_QUEUE`, heard each other's
/// order and chat events; keys and the queue are per database already.
fn live_channel(url: &str, queue: &str) -> String {
    match redis::IntoConnectionInfo::into_connection_info(url).map(|info| info.redis_settings().db()) {
        Ok(0) | Err(_) => format!("{queue}:live"),
        Ok(db) => format!("{queue}:db{db}:live"),
    }
}

impl Live {
    /// With `REDIS_URL`: the channel [`live_channel`] and keys under
    /// `<JOBS_QUEUE>:ws-ticket:` and `<JOBS_QUEUE>:ws-slots:`, so deployments
    /// sharing a Redis stay apart. Without: in this process. The worker
    /// serves no sockets and publishes nothing: it gets the in-process kind.
    ///
    /// # Errors
    /// `REDIS_URL` is malformed.
    pub fn build(config: &Config, process: Process) -> Result<Self, StartError> {
        let redis_url = config.redis_url.as_deref().filter(|_| process == Process::Api);
        let Some(url) = redis_url else {
            return Ok(Self {
                fan_out: Arc::new(LocalFanOut::new()),
                tickets: Arc::new(MemoryTicketStore::new()),
                slots: Arc::new(MemorySocketSlots::new()),
                redis: None,
            });
        };
        let config_error = |e: coffee_domain::error::InfraError| StartError::Config(error_chain(&e));
        let queue = &config.jobs_queue;
        let redis =
            Arc::new(RedisFanOut::new(url, RedisFanOutConfig::new(live_channel(url, queue))).map_err(config_error)?);
        Ok(Self {
            fan_out: redis.clone(),
            tickets: Arc::new(RedisTicketStore::new(url, &format!("{queue}:ws-ticket:")).map_err(config_error)?),
            slots: Arc::new(RedisSocketSlots::new(url, &format!("{queue}:ws-slots:")).map_err(config_error)?),
            redis: Some(redis),
        })
    }

    /// The publishing side, for the use cases.
    pub fn feed(&self) -> LiveFeed {
        LiveFeed::new(self.fan_out.clone())
    }

    /// Returns once events published by other replicas reach this one (at
    /// once in the embedded profile; after the Redis subscription is in
    /// place otherwise).
    pub async fn wait_subscribed(&self) {
        if let Some(redis) = &self.redis {
            redis.wait_subscribed().await;
        }
    }

    /// Stops listening on Redis.
    pub async fn shutdown(&self) {
        if let Some(redis) = &self.redis {
            redis.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::live_channel;

    #[test]
    fn deployments_on_other_redis_databases_get_other_channels() {
        assert_eq!(live_channel("redis://127.0.0.1:6379", "coffee:jobs"), "coffee:jobs:live");
        assert_eq!(live_channel("redis://127.0.0.1:6379/0", "coffee:jobs"), "coffee:jobs:live");
        assert_eq!(live_channel("redis://127.0.0.1:6379/5", "coffee:jobs"), "coffee:jobs:db5:live");
        assert_eq!(live_channel("redis://:secret@redis:6379/6", "q"), "q:db6:live");
        assert_ne!(live_channel("redis://h/5", "q"), live_channel("redis://h/6", "q"));
    }
}
