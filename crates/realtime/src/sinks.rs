//! The sinks subscribed in this process, shared by both fan-out adapters.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock};

use coffee_domain::realtime::LiveSink;

/// The registered sinks. Delivery runs under a read lock (sinks must not
/// block), so subscribing never waits long.
pub(crate) struct Sinks<E> {
    sinks: RwLock<Vec<Arc<dyn LiveSink<E>>>>,
}

impl<E: Clone> Sinks<E> {
    pub(crate) fn new() -> Self {
        Self { sinks: RwLock::new(Vec::new()) }
    }

    pub(crate) fn add(&self, sink: Arc<dyn LiveSink<E>>) {
        self.sinks.write().unwrap_or_else(PoisonError::into_inner).push(sink);
    }

    /// Hands `event` to every sink. A sink that panics is logged and skipped,
    /// so one bad sink cannot stop delivery to the others, nor kill the task
    /// that receives from Redis.
    pub(crate) fn deliver(&self, event: E) {
        let sinks = self.sinks.read().unwrap_or_else(PoisonError::into_inner);
        let Some((last, others)) = sinks.split_last() else { return };
        for sink in others {
            guarded(|| sink.deliver(event.clone()));
        }
        guarded(|| last.deliver(event));
    }

    /// Tells every sink that events may have been lost.
    pub(crate) fn gap(&self) {
        for sink in self.sinks.read().unwrap_or_else(PoisonError::into_inner).iter() {
            guarded(|| sink.gap());
        }
    }
}

fn guarded(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        tracing::error!("a live sink panicked; the event is dropped for that sink");
    }
}
