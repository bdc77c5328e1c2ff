#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn policy(text: &str) -> RatePolicy {
    RatePolicy::parse(text).unwrap().unwrap()
}

/// A limiter and a fake clock: `at(ms)` is `ms` milliseconds after its start.
struct Fixture {
    limiter: MemoryRateLimiter,
    start: Instant,
}

impl Fixture {
    fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    fn with_max_keys(max_keys: usize) -> Self {
        let limiter = MemoryRateLimiter::with_max_keys(max_keys);
        let start = limiter.epoch;
        Self { limiter, start }
    }

    fn check(&self, key: &str, policy: &RatePolicy, ms: u64) -> RateDecision {
        self.limiter.check_at(key, policy, self.start + Duration::from_millis(ms))
    }
}

#[test]
fn a_burst_of_limit_requests_is_allowed_with_remaining_counting_down_then_refused() {
    let f = Fixture::new();
    let p = policy("10/min");
    for expected in (0..10).rev() {
        let d = f.check("ip", &p, 1_000);
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining, d.retry_after), (10, expected, None));
        assert_eq!(d.reset_after, Duration::from_secs(6 * u64::from(10 - expected)));
    }
    let d = f.check("ip", &p, 1_000);
    assert!(!d.allowed);
    assert_eq!((d.remaining, d.reset_after), (0, Duration::from_secs(60)));
    assert_eq!(d.retry_after, Some(Duration::from_secs(6)));
}

#[test]
fn one_request_comes_back_after_period_over_limit() {
    let f = Fixture::new();
    let p = policy("10/min");
    for _ in 0..10 {
        assert!(f.check("ip", &p, 0).allowed);
    }
    assert!(!f.check("ip", &p, 5_999).allowed);
    let d = f.check("ip", &p, 6_000);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    assert!(!f.check("ip", &p, 6_000).allowed);
    // After a whole idle period the full budget is back.
    let d = f.check("ip", &p, 66_000);
    assert!(d.allowed);
    assert_eq!(d.remaining, 9);
}

#[test]
fn retry_after_says_exactly_when_the_next_request_passes() {
    let f = Fixture::new();
    let p = policy("5/s");
    for _ in 0..5 {
        f.check("ip", &p, 0);
    }
    assert_eq!(f.check("ip", &p, 0).retry_after, Some(Duration::from_millis(200)));
    let d = f.check("ip", &p, 150);
    assert_eq!(d.retry_after, Some(Duration::from_millis(50)));
    assert_eq!(d.reset_after, Duration::from_millis(850));
    assert!(!f.check("ip", &p, 199).allowed);
    assert!(f.check("ip", &p, 200).allowed);
}

#[test]
fn the_edge_of_a_window_does_not_let_twice_the_limit_through() {
    let f = Fixture::new();
    let p = policy("10/min");
    // A fixed window starting at 0 would allow 10 at 59.9 s and 10 more at 60.1 s.
    assert!(f.check("ip", &p, 0).allowed);
    let late = (0..10).filter(|_| f.check("ip", &p, 59_900).allowed).count();
    let early = (0..10).filter(|_| f.check("ip", &p, 60_100).allowed).count();
    assert_eq!((late, early), (10, 0));
}

#[test]
fn a_client_hammering_for_ten_minutes_gets_the_sustained_rate_in_every_window() {
    let f = Fixture::new();
    let p = policy("10/min");
    let allowed: Vec<u64> = (0..6_000).map(|i| i * 100).filter(|ms| f.check("ip", &p, *ms).allowed).collect();
    // The first period has the burst plus the refill; after it, one request
    // per 6 s: any 60 s window holds at most the limit.
    for start in (60_000..540_000).step_by(100) {
        let in_window = allowed.iter().filter(|t| (start..start + 60_000).contains(*t)).count();
        assert!(in_window <= 10, "{in_window} requests in the minute from {start} ms");
    }
    assert_eq!(allowed.len(), 10 + 99, "burst + one per 6 s for the rest of the 600 s");
}

#[test]
fn keys_have_their_own_budgets() {
    let f = Fixture::new();
    let p = policy("1/min");
    assert!(f.check("a", &p, 0).allowed);
    assert!(!f.check("a", &p, 0).allowed);
    assert!(f.check("b", &p, 0).allowed);
}

#[test]
fn memory_stays_bounded_with_100_000_distinct_keys_and_a_hammered_key_stays_limited() {
    let f = Fixture::with_max_keys(10_000);
    let p = policy("10/min");
    for _ in 0..10 {
        assert!(f.check("attacker", &p, 0).allowed);
    }
    for i in 0..100_000_u64 {
        f.check(&format!("spoofed-{i}"), &p, i / 100);
        assert!(f.limiter.tracked_keys() <= 10_000);
    }
    assert!(!f.check("attacker", &p, 1_000).allowed, "the flood must not reset a hammered key");
}

#[test]
fn keys_whose_budget_is_full_again_are_purged() {
    let f = Fixture::new();
    let p = policy("10/min");
    for i in 0..5_000 {
        f.check(&format!("k{i}"), &p, 0);
    }
    assert_eq!(f.limiter.tracked_keys(), 5_000);
    // 6 s later every one of them is full again; the next sweep drops them.
    for _ in 0..PURGE_EVERY {
        f.check("busy", &p, 6_000);
    }
    assert_eq!(f.limiter.tracked_keys(), 1);
}

#[test]
fn a_cap_smaller_than_eight_is_raised_and_eviction_makes_room() {
    let f = Fixture::with_max_keys(1);
    let p = policy("1/h");
    for i in 0..100 {
        assert!(f.check(&format!("k{i}"), &p, i).allowed);
        assert!(f.limiter.tracked_keys() <= 8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_never_exceed_the_budget() {
    let limiter = Arc::new(MemoryRateLimiter::new());
    let p = policy("10/h");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.check("ip", &p).await.allowed })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap());
    }
    assert_eq!(allowed, 10);
}
