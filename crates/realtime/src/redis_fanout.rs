//! Fan-out across replicas over Redis pub/sub (distributed profile).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::realtime::{FanOut, LiveSink};
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::conn::{self, DEFAULT_TIMEOUT};
use crate::envelope;
use crate::sinks::Sinks;
use crate::subscriber::Subscriber;

/// The least time between two gap markers of one process: each makes every
/// socket of every replica resync, so a Redis that takes some publishes and
/// refuses others costs a resync a second at most, not one per failure.
const MARKER_EVERY: Duration = Duration::from_secs(1);

/// The channel every replica of one deployment publishes to and listens on.
pub const DEFAULT_CHANNEL: &str = "coffee:live";

/// Settings of a [`RedisFanOut`]; [`RedisFanOutConfig::new`] has the defaults.
#[derive(Debug, Clone)]
pub struct RedisFanOutConfig {
    /// The pub/sub channel. Pub/sub ignores the database number of the URL:
    /// deployments sharing one Redis need different channels.
    pub channel: String,
    /// Bound of one connection attempt, `SUBSCRIBE`, `PUBLISH` or health
    /// `PING` (a publish may take twice this: connect, then answer). 2 s.
    pub timeout: Duration,
    /// First wait before re-subscribing after a failure (then doubled, with
    /// jitter, up to `backoff_max`). 100 ms.
    pub backoff_min: Duration,
    /// Longest wait between two attempts to re-subscribe. 5 s.
    pub backoff_max: Duration,
    /// How often the listening connection is checked with `PING`, so that a
    /// connection that died silently (no TCP reset) is replaced. 15 s.
    pub ping_interval: Duration,
}

impl RedisFanOutConfig {
    /// The defaults, on `channel`.
    pub fn new(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            timeout: DEFAULT_TIMEOUT,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ping_interval: Duration::from_secs(15),
        }
    }
}

impl Default for RedisFanOutConfig {
    fn default() -> Self {
        Self::new(DEFAULT_CHANNEL)
    }
}

/// Publishes events as JSON (`{"v":1,"event":…}`) on a Redis channel and
/// delivers what arrives on that channel to the sinks of this process.
///
/// Publishing uses a multiplexed connection that reconnects by itself. The
/// first [`FanOut::subscribe`] starts a background task that listens on a
/// dedicated pub/sub connection; whenever that connection is lost (server
/// restart, `CLIENT KILL`, a failed health `PING`) it re-subscribes with
/// backoff and then calls [`LiveSink::gap`]. `gap` is also called after the
/// very first subscription, since events published before it were missed.
/// Events that are not valid JSON envelopes of `E` are logged and skipped.
///
/// A publish that fails may have lost its event for every replica (this one
/// included: its own sinks hear it through Redis too), whose subscriptions
/// may all be healthy. So the first failure calls this process's
/// [`LiveSink::gap`] at once, and a background task publishes a gap marker
/// as soon as Redis takes it, upon which every subscribed replica calls
/// `gap` as well (one marker for every failure until then).
///
/// The task stops on [`RedisFanOut::shutdown`] or when this value is dropped.
pub struct RedisFanOut<E> {
    client: redis::Client,
    publisher: ConnectionManager,
    config: RedisFanOutConfig,
    sinks: Arc<Sinks<E>>,
    runtime: tokio::runtime::Handle,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    subscribed: Arc<watch::Sender<bool>>,
    /// Publishes failed since the last gap marker went out (0: none owed).
    failed_publishes: Arc<AtomicU64>,
}

impl<E> std::fmt::Debug for RedisFanOut<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFanOut")
            .field("channel", &self.config.channel)
            .field("subscribed", &*self.subscribed.borrow())
            .finish_non_exhaustive()
    }
}

impl<E> RedisFanOut<E>
where
    E: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// A fan-out over the Redis at `url`. Connects lazily: the process starts
    /// while Redis is down; publishes fail and the subscription is retried
    /// until it is back. Must be called inside a Tokio runtime, on which the
    /// listening task will run.
    ///
    /// # Errors
    /// The URL is malformed, or there is no current Tokio runtime.
    pub fn new(url: &str, config: RedisFanOutConfig) -> Result<Self, InfraError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| InfraError::caused_by("RedisFanOut must be created inside a Tokio runtime", e))?;
        let client = conn::client(url)?;
        let publisher = conn::manager(&client, config.timeout)?;
        Ok(Self {
            client,
            publisher,
            config,
            sinks: Arc::new(Sinks::new()),
            runtime,
            stop: CancellationToken::new(),
            task: Mutex::new(None),
            subscribed: Arc::new(watch::Sender::new(false)),
            failed_publishes: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl<E> RedisFanOut<E> {
    /// The channel this fan-out uses.
    pub fn channel(&self) -> &str {
        &self.config.channel
    }

    /// Whether the listening connection is subscribed right now.
    pub fn is_subscribed(&self) -> bool {
        *self.subscribed.borrow()
    }

    /// Waits until the listening connection is subscribed (forever, if
    /// nothing subscribed or Redis stays down: wrap it in a timeout). Useful
    /// at start, so that no event published after it is missed here.
    pub async fn wait_subscribed(&self) {
        let mut state = self.subscribed.subscribe();
        // The sender lives in `self`, so the channel cannot close meanwhile.
        let _ = state.wait_for(|subscribed| *subscribed).await;
    }

    /// Stops the listening task and waits until it has closed its
    /// connection. Publishing keeps working; sinks receive nothing more.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl<E: Clone> RedisFanOut<E> {
    /// A publish failed. The first failure of a run tells this process's
    /// sinks and starts the task that publishes the gap marker, at most one
    /// each [`MARKER_EVERY`] and with the subscription's backoff while Redis
    /// refuses, until Redis takes it; a failure meanwhile makes it publish
    /// one more, so none goes unannounced. A marker still owed when the
    /// process stops is logged: the other replicas' clients catch up at
    /// their next resync or reload.
    fn owe_gap(&self) {
        if self.failed_publishes.fetch_add(1, Ordering::SeqCst) > 0 {
            return;
        }
        self.sinks.gap();
        let (publisher, config, failed) = (self.publisher.clone(), self.config.clone(), self.failed_publishes.clone());
        let stop = self.stop.clone();
        self.runtime.spawn(async move {
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(&config.channel).arg(envelope::GAP);
            let mut backoff = MARKER_EVERY;
            loop {
                tokio::select! {
                    () = stop.cancelled() => {
                        let owed = failed.load(Ordering::SeqCst);
                        tracing::warn!(channel = config.channel, failed_publishes = owed, "live events: stopping with a gap not announced");
                        return;
                    }
                    () = tokio::time::sleep(backoff) => {}
                }
                let owed = failed.load(Ordering::SeqCst);
                match conn::query_again_if_dropped::<i64>(&publisher, &cmd, "PUBLISH", config.timeout).await {
                    Ok(_) if failed.compare_exchange(owed, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() => {
                        tracing::info!(channel = config.channel, failed_publishes = owed, "live events: gap announced");
                        return;
                    }
                    // Another publish failed meanwhile: announce that one too.
                    Ok(_) => backoff = MARKER_EVERY,
                    Err(_) => backoff = backoff.saturating_mul(2).clamp(MARKER_EVERY, config.backoff_max.max(MARKER_EVERY)),
                }
            }
        });
    }
}

impl<E> Drop for RedisFanOut<E> {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl<E> FanOut<E> for RedisFanOut<E>
where
    E: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn publish(&self, event: &E) -> Result<(), InfraError> {
        let payload = envelope::encode(event).map_err(|e| InfraError::caused_by("cannot encode a live event", e))?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.config.channel).arg(payload);
        // The answer is the number of replicas listening right now; zero is
        // not an error (nobody is connected, or every replica is re-subscribing).
        // A connection that died while Redis was away is replaced at once:
        // otherwise the first event after an outage would reach no replica,
        // and no `gap` would tell anyone (the subscribers may be back already).
        // Should Redis have run the first attempt after all, an event arrives
        // twice; clients skip a `seq` they have.
        let published =
            conn::query_again_if_dropped::<i64>(&self.publisher, &cmd, "PUBLISH", self.config.timeout).await.map(drop);
        if published.is_err() {
            self.owe_gap();
        }
        published
    }

    fn subscribe(&self, sink: Arc<dyn LiveSink<E>>) {
        self.sinks.add(sink);
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.is_none() && !self.stop.is_cancelled() {
            let subscriber = Subscriber {
                client: self.client.clone(),
                config: self.config.clone(),
                sinks: self.sinks.clone(),
                subscribed: self.subscribed.clone(),
                stop: self.stop.clone(),
            };
            *task = Some(self.runtime.spawn(subscriber.run()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creating_one_outside_a_tokio_runtime_is_an_error_not_a_panic() {
        let created = RedisFanOut::<u32>::new("redis://127.0.0.1:6379", RedisFanOutConfig::default());
        assert!(created.is_err());
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error() {
        assert!(RedisFanOut::<u32>::new("not a url", RedisFanOutConfig::default()).is_err());
    }
}
