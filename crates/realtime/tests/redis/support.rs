//! Recording sinks, polling with generous deadlines, unique names.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffee_domain::realtime::{FanOut, LiveSink};
use coffee_realtime::{RedisFanOut, RedisFanOutConfig};
use serde::{Deserialize, Serialize};

/// How long anything may take on a slow, busy machine before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub use coffee_testkit::redis_or_skip;

/// A name no other test (or earlier run) uses.
pub fn unique(kind: &str) -> String {
    format!("coffee-test:{kind}:{}", uuid::Uuid::new_v4().simple())
}

/// The event of these tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub n: u32,
    pub text: String,
}

pub fn note(n: u32) -> Note {
    Note { n, text: format!("note {n} <3") }
}

/// Remembers every event and counts gaps.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Note>>,
    gaps: AtomicUsize,
}

impl LiveSink<Note> for Recorder {
    fn deliver(&self, event: Note) {
        self.events.lock().expect("not poisoned").push(event);
    }

    fn gap(&self) {
        self.gaps.fetch_add(1, Ordering::SeqCst);
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<Note> {
        self.events.lock().expect("not poisoned").clone()
    }

    pub fn gaps(&self) -> usize {
        self.gaps.load(Ordering::SeqCst)
    }

    /// Waits until `note` has arrived.
    pub async fn wait_for(&self, note: &Note, who: &str) {
        eventually(&format!("{who} receives {note:?}"), || self.events().contains(note)).await;
    }
}

/// Polls `condition` every 10 ms until it holds; fails after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {DEADLINE:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fan-out on `channel` with a recording sink, subscribed.
pub async fn replica(url: &str, channel: &str) -> (RedisFanOut<Note>, Arc<Recorder>) {
    replica_with(url, RedisFanOutConfig { backoff_max: Duration::from_secs(1), ..RedisFanOutConfig::new(channel) })
        .await
}

/// A fan-out configured by `config` with a recording sink, subscribed.
pub async fn replica_with(url: &str, config: RedisFanOutConfig) -> (RedisFanOut<Note>, Arc<Recorder>) {
    let channel = config.channel.clone();
    let fan_out = RedisFanOut::new(url, config).expect("a valid URL");
    let recorder = Arc::new(Recorder::default());
    fan_out.subscribe(recorder.clone());
    tokio::time::timeout(DEADLINE, fan_out.wait_subscribed())
        .await
        .unwrap_or_else(|_| panic!("not subscribed to {channel} at {url} within {DEADLINE:?}: is Redis up?"));
    (fan_out, recorder)
}

/// A plain connection, for commands the adapters do not send.
pub async fn plain(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("a valid URL");
    tokio::time::timeout(DEADLINE, client.get_multiplexed_async_connection())
        .await
        .expect("connect in time")
        .unwrap_or_else(|e| panic!("Redis at {url} is unreachable: {e}"))
}

/// How many connections listen on `channel` (`PUBSUB NUMSUB`).
pub async fn listeners(conn: &mut redis::aio::MultiplexedConnection, channel: &str) -> i64 {
    let (_, count): (String, i64) =
        redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query_async(conn).await.expect("PUBSUB NUMSUB");
    count
}

/// A local port nothing listens on.
pub fn closed_port() -> u16 {
    coffee_testkit::free_port()
}
