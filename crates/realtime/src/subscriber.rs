//! The background task of a [`crate::RedisFanOut`]: one dedicated pub/sub
//! connection, re-established with backoff whenever it is lost.

use std::sync::Arc;
use std::time::Duration;

use coffee_domain::error::{InfraError, error_chain};
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::RedisFanOutConfig;
use crate::envelope::{self, Received, Skipped};
use crate::sinks::Sinks;

pub(crate) struct Subscriber<E> {
    pub(crate) client: redis::Client,
    pub(crate) config: RedisFanOutConfig,
    pub(crate) sinks: Arc<Sinks<E>>,
    pub(crate) subscribed: Arc<watch::Sender<bool>>,
    pub(crate) stop: CancellationToken,
}

impl<E: DeserializeOwned + Clone> Subscriber<E> {
    /// Subscribes, listens until the connection is lost, waits, repeats;
    /// returns when `stop` is cancelled.
    pub(crate) async fn run(self) {
        let channel = self.config.channel.as_str();
        let mut backoff = self.config.backoff_min;
        let mut failures: u32 = 0;
        loop {
            let attempt = tokio::select! {
                () = self.stop.cancelled() => return,
                attempt = self.connect() => attempt,
            };
            match attempt {
                Ok((sink, stream)) => {
                    let since = Instant::now();
                    self.subscribed.send_replace(true);
                    tracing::info!(channel, after_failures = failures, "live events: subscribed");
                    failures = 0;
                    self.sinks.gap();
                    let lost = self.listen(sink, stream).await;
                    self.subscribed.send_replace(false);
                    let Some(reason) = lost else { return };
                    tracing::warn!(channel, error = %error_chain(&reason), "live events: subscription lost, re-subscribing");
                    if since.elapsed() >= self.config.backoff_max {
                        backoff = self.config.backoff_min;
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(channel, attempt = failures, error = %error_chain(&e), retry_in = ?backoff, "live events: cannot subscribe");
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(jittered(backoff)) => {}
            }
            backoff = backoff.saturating_mul(2).min(self.config.backoff_max);
        }
    }

    async fn connect(&self) -> Result<(PubSubSink, PubSubStream), InfraError> {
        let limit = self.config.timeout;
        let pubsub = match tokio::time::timeout(limit, self.client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => return Err(InfraError::caused_by("redis pub/sub connection failed", e)),
            Err(_) => return Err(InfraError::new(format!("redis pub/sub connection timed out after {limit:?}"))),
        };
        let (mut sink, stream) = pubsub.split();
        match tokio::time::timeout(limit, sink.subscribe(&self.config.channel)).await {
            Ok(Ok(())) => Ok((sink, stream)),
            Ok(Err(e)) => Err(InfraError::caused_by("redis SUBSCRIBE failed", e)),
            Err(_) => Err(InfraError::new(format!("redis SUBSCRIBE timed out after {limit:?}"))),
        }
    }

    /// Delivers messages until the connection is lost (`Some(why)`) or
    /// `stop` is cancelled (`None`).
    async fn listen(&self, mut sink: PubSubSink, mut stream: PubSubStream) -> Option<InfraError> {
        let mut health =
            tokio::time::interval_at(Instant::now() + self.config.ping_interval, self.config.ping_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return None,
                message = stream.next() => match message {
                    Some(message) => self.handle(message.get_payload_bytes()),
                    None => return Some(InfraError::new("redis closed the pub/sub connection")),
                },
                _ = health.tick() => {
                    let limit = self.config.timeout;
                    match tokio::time::timeout(limit, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Some(InfraError::caused_by("redis pub/sub PING failed", e)),
                        Err(_) => return Some(InfraError::new(format!("redis pub/sub PING timed out after {limit:?}"))),
                    }
                }
            }
        }
    }

    fn handle(&self, payload: &[u8]) {
        match envelope::decode::<E>(payload) {
            Ok(Received::Event(event)) => self.sinks.deliver(event),
            // A replica's publish failed: what it meant to send is missing here too.
            Ok(Received::Gap) => self.sinks.gap(),
            // The payload itself is not logged: it may carry a chat message.
            Err(Skipped::Malformed(e)) => tracing::warn!(
                channel = self.config.channel,
                bytes = payload.len(),
                error = %e,
                "live events: malformed payload skipped"
            ),
            Err(Skipped::Version(v)) => tracing::warn!(
                channel = self.config.channel,
                version = v,
                expected = envelope::VERSION,
                "live events: envelope of another version skipped (rolling deploy?)"
            ),
        }
    }
}

/// Between half and all of `backoff`, so replicas that lost Redis together do
/// not all reconnect in the same instant.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(rand::random_range(0.5..=1.0))
}
