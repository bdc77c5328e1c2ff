//! In-process fan-out for the embedded profile (one replica).

use std::sync::Arc;

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::realtime::{FanOut, LiveSink};

use crate::sinks::Sinks;

/// Delivers each event straight to the sinks of this process, on the
/// publisher's task, before `publish` returns. Nothing is ever lost, so
/// [`LiveSink::gap`] is never called, and `publish` never fails.
pub struct LocalFanOut<E> {
    sinks: Sinks<E>,
}

impl<E> std::fmt::Debug for LocalFanOut<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFanOut").finish_non_exhaustive()
    }
}

impl<E: Clone> LocalFanOut<E> {
    /// A fan-out with no sinks yet.
    pub fn new() -> Self {
        Self { sinks: Sinks::new() }
    }
}

impl<E: Clone> Default for LocalFanOut<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl<E> FanOut<E> for LocalFanOut<E>
where
    E: Clone + Send + Sync + 'static,
{
    async fn publish(&self, event: &E) -> Result<(), InfraError> {
        self.sinks.deliver(event.clone());
        Ok(())
    }

    fn subscribe(&self, sink: Arc<dyn LiveSink<E>>) {
        self.sinks.add(sink);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<u32>>,
    }

    impl LiveSink<u32> for Recorder {
        fn deliver(&self, event: u32) {
            self.events.lock().expect("not poisoned").push(event);
        }
    }

    struct Panicking;

    impl LiveSink<u32> for Panicking {
        fn deliver(&self, _: u32) {
            panic!("a broken sink");
        }
    }

    fn events(recorder: &Recorder) -> Vec<u32> {
        recorder.events.lock().expect("not poisoned").clone()
    }

    #[tokio::test]
    async fn every_subscriber_receives_every_event_in_publish_order() {
        let fan_out: Arc<dyn FanOut<u32>> = Arc::new(LocalFanOut::new());
        let (a, b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        fan_out.subscribe(a.clone());
        fan_out.subscribe(b.clone());
        for n in 0..100 {
            fan_out.publish(&n).await.expect("local publish never fails");
        }
        let expected: Vec<u32> = (0..100).collect();
        assert_eq!(events(&a), expected);
        assert_eq!(events(&b), expected);
    }

    #[tokio::test]
    async fn an_event_published_before_subscribing_is_not_delivered() {
        let fan_out = LocalFanOut::new();
        fan_out.publish(&1).await.expect("published");
        let sink = Arc::new(Recorder::default());
        fan_out.subscribe(sink.clone());
        fan_out.publish(&2).await.expect("published");
        assert_eq!(events(&sink), [2]);
    }

    #[tokio::test]
    async fn a_panicking_sink_does_not_stop_delivery_to_the_others() {
        let fan_out = LocalFanOut::new();
        let sink = Arc::new(Recorder::default());
        fan_out.subscribe(Arc::new(Panicking));
        fan_out.subscribe(sink.clone());
        fan_out.publish(&7).await.expect("published");
        fan_out.publish(&8).await.expect("published");
        assert_eq!(events(&sink), [7, 8]);
    }
}
