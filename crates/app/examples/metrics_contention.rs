//! The cost of recording one request in the metrics when two threads record
//! at once, as the two HTTP workers of a 2-core replica do: with one shard
//! (every thread on the same counter and histogram, as before the shards)
//! beside one shard per thread, alternating in one run.
//!
//! Usage: `cargo run --release -p coffee-app --example metrics_contention -- [rounds] [observations per thread]`
//! (defaults 5 and 2 000 000). See `bench/README.md` ("Metrics").
#![allow(clippy::print_stdout)] // printing the result is the point

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use coffee_app::Metrics;

const THREADS: usize = 2;

fn arg(n: usize, default: u32) -> u32 {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// Nanoseconds per observation, per thread, with `shards` shards.
fn run(shards: usize, per_thread: u32) -> f64 {
    let metrics = Arc::new(Metrics::new(None, shards));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (metrics, start) = (metrics.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                for i in 0..per_thread {
                    let status = if i % 16 == 0 { "404" } else { "200" };
                    metrics.observe_request("/me", "GET", status, Duration::from_micros(u64::from(i % 4000)));
                }
                began.elapsed()
            })
        })
        .collect();
    start.wait();
    let slowest = threads.into_iter().map(|t| t.join().unwrap_or_default()).max().unwrap_or_default();
    slowest.as_secs_f64() * 1e9 / f64::from(per_thread)
}

fn main() {
    let (rounds, per_thread) = (arg(1, 5), arg(2, 2_000_000));
    println!("{THREADS} threads × {per_thread} observations, {rounds} rounds");
    println!("| round | one shared shard, ns / observation | a shard per thread, ns / observation |");
    println!("|---|---:|---:|");
    for round in 1..=rounds {
        // Each thread spawned gets a new thread number, so with two shards
        // the two threads always land on different ones.
        let (shared, sharded) = (run(1, per_thread), run(THREADS, per_thread));
        println!("| {round} | {shared:.0} | {sharded:.0} |");
    }
}
