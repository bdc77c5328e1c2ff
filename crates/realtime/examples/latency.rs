//! Publish → deliver latency of `RedisFanOut` between two instances (two
//! "replicas" in one process) over loopback.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --release -p coffee-realtime --example latency [ROUNDS]
//! ```
//!
//! Each round publishes one event on A and waits until B's sink has it (the
//! sink pushes into a channel, like the WebSocket hub will), so the figures
//! are latency, not queueing. Then a burst of events is published without
//! waiting, to show throughput.
#![allow(clippy::print_stdout, reason = "a command-line report")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffee_domain::realtime::{FanOut, LiveSink};
use coffee_realtime::{RedisFanOut, RedisFanOutConfig};
use tokio::sync::mpsc;

struct ToChannel(mpsc::UnboundedSender<(u32, Instant)>);

impl LiveSink<u32> for ToChannel {
    fn deliver(&self, event: u32) {
        let _ = self.0.send((event, Instant::now()));
    }
}

async fn replica(url: &str, channel: &str) -> (RedisFanOut<u32>, mpsc::UnboundedReceiver<(u32, Instant)>) {
    let fan_out = RedisFanOut::new(url, RedisFanOutConfig::new(channel)).expect("a valid REDIS_URL");
    let (tx, rx) = mpsc::unbounded_channel();
    fan_out.subscribe(Arc::new(ToChannel(tx)));
    tokio::time::timeout(Duration::from_secs(10), fan_out.wait_subscribed()).await.expect("Redis answers");
    (fan_out, rx)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let rounds: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let channel = format!("coffee-bench:{}", uuid::Uuid::new_v4().simple());
    let (a, mut own) = replica(&url, &channel).await;
    let (_b, mut other) = replica(&url, &channel).await;

    let mut to_b = Vec::with_capacity(rounds as usize);
    let mut to_a = Vec::with_capacity(rounds as usize);
    for n in 0..rounds + 200 {
        let sent = Instant::now();
        a.publish(&n).await.expect("published");
        let (got, at_b) = other.recv().await.expect("B receives");
        let (_, at_a) = own.recv().await.expect("A receives its own event");
        assert_eq!(got, n, "in order");
        if n >= 200 {
            // The first 200 rounds warm up connections and allocators.
            to_b.push(at_b - sent);
            to_a.push(at_a - sent);
        }
    }
    for (name, mut samples) in [("A → B (other replica)", to_b), ("A → A (same replica)", to_a)] {
        samples.sort();
        println!(
            "{name}: {rounds} rounds, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
            percentile(&samples, 0.50),
            percentile(&samples, 0.90),
            percentile(&samples, 0.99),
            samples[samples.len() - 1],
        );
    }

    let burst = 20_000_u32;
    let started = Instant::now();
    for n in 0..burst {
        a.publish(&n).await.expect("published");
    }
    let published = started.elapsed();
    for n in 0..burst {
        let (got, _) = other.recv().await.expect("B receives");
        assert_eq!(got, n, "in order");
    }
    let delivered = started.elapsed();
    println!(
        "burst: {burst} sequential publishes in {published:?} ({:.0}/s), all delivered to B after {delivered:?}",
        f64::from(burst) / published.as_secs_f64()
    );
}
