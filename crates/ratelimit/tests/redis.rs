//! The Redis limiter against a real Redis. Cases that need one run only when
//! `TEST_REDIS_URL` is set (CI sets it) and then fail if it is unreachable;
//! the fallback cases need no Redis and always run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffee_domain::ratelimit::{RateLimiter, RatePolicy};
use coffee_ratelimit::{MemoryRateLimiter, RedisRateLimiter};
use redis::AsyncCommands;

use crate::support::{PrivateRedis, redis_or_skip, unique_prefix};

fn policy(text: &str) -> RatePolicy {
    RatePolicy::parse(text).unwrap().unwrap()
}

#[tokio::test]
async fn two_replicas_share_one_budget() {
    let Some(redis) = redis_or_skip("two_replicas_share_one_budget").await else { return };
    let prefix = unique_prefix();
    let (a, b) =
        (RedisRateLimiter::new(&redis.url, &prefix).unwrap(), RedisRateLimiter::new(&redis.url, &prefix).unwrap());
    let p = policy("10/h");
    let mut remaining = Vec::new();
    for i in 0..10 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let d = replica.check("ip", &p).await;
        assert!(d.allowed, "check {i}: {d:?}");
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, (0..10).rev().collect::<Vec<u32>>());
    assert!(!a.check("ip", &p).await.allowed);
    assert!(!b.check("ip", &p).await.allowed);
    assert!(redis.exists(&format!("{prefix}ip")).await, "the budget is kept in Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_checks_with_a_limit_of_ten_allow_exactly_ten() {
    let Some(redis) = redis_or_skip("fifty_concurrent_checks_with_a_limit_of_ten_allow_exactly_ten").await else {
        return;
    };
    let prefix = unique_prefix();
    let replicas = [
        Arc::new(RedisRateLimiter::new(&redis.url, &prefix).unwrap()),
        Arc::new(RedisRateLimiter::new(&redis.url, &prefix).unwrap()),
    ];
    let p = policy("10/h");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let limiter = replicas[i % 2].clone();
            tokio::spawn(async move { limiter.check("ip", &p).await.allowed })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap());
    }
    assert_eq!(allowed, 10);
    assert!(redis.exists(&format!("{prefix}ip")).await, "the budget is kept in Redis");
}

#[tokio::test]
async fn redis_reports_the_same_numbers_as_the_memory_limiter() {
    let Some(redis) = redis_or_skip("redis_reports_the_same_numbers_as_the_memory_limiter").await else { return };
    let shared = RedisRateLimiter::new(&redis.url, &unique_prefix()).unwrap();
    let local = MemoryRateLimiter::new();
    let p = policy("10/min");
    let second = Duration::from_secs(1);
    for i in 0..12 {
        let (r, m) = (shared.check("ip", &p).await, local.check("ip", &p).await);
        assert_eq!((r.allowed, r.limit, r.remaining), (m.allowed, m.limit, m.remaining), "check {i}");
        // The two clocks run a few milliseconds apart: compare with a margin.
        assert!(r.reset_after.abs_diff(m.reset_after) < second, "check {i}: {r:?} vs {m:?}");
        match (r.retry_after, m.retry_after) {
            (None, None) => {}
            (Some(r), Some(m)) => assert!(r.abs_diff(m) < second, "check {i}: {r:?} vs {m:?}"),
            other => panic!("check {i}: {other:?}"),
        }
    }
    let refused = shared.check("ip", &p).await;
    assert!(!refused.allowed);
    let retry = refused.retry_after.unwrap();
    assert!(retry > Duration::from_secs(4) && retry <= Duration::from_secs(6), "{refused:?}");
    assert!(refused.reset_after > Duration::from_secs(50) && refused.reset_after <= Duration::from_secs(60));
}

#[tokio::test]
async fn keys_expire_when_their_budget_is_full_again() {
    let Some(redis) = redis_or_skip("keys_expire_when_their_budget_is_full_again").await else { return };
    let prefix = unique_prefix();
    let limiter = RedisRateLimiter::new(&redis.url, &prefix).unwrap();
    let key = format!("{prefix}ip");
    limiter.check("ip", &policy("10/min")).await;
    let ttl = redis.pttl(&key).await;
    assert!(ttl > 0 && ttl <= 6_000, "one request costs one interval (6 s): {ttl} ms");
    for _ in 0..9 {
        limiter.check("ip", &policy("10/min")).await;
    }
    let ttl = redis.pttl(&key).await;
    assert!(ttl > 50_000 && ttl <= 60_000, "ten requests cost the whole period: {ttl} ms");

    let short = format!("{prefix}short");
    limiter.check("short", &policy("1/s")).await;
    assert!(redis.exists(&short).await);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!redis.exists(&short).await, "gone once the budget is full again");
}

#[tokio::test]
async fn a_limiter_whose_redis_is_down_still_limits_answers_quickly_and_never_fails() {
    // Port 1: nothing listens, the connection is refused at once.
    let limiter = RedisRateLimiter::new("redis://127.0.0.1:1", "test:ratelimit:down:").unwrap();
    let p = policy("3/h");
    let mut allowed = 0;
    for i in 0..20 {
        let started = Instant::now();
        let d = limiter.check("ip", &p).await;
        assert!(started.elapsed() < Duration::from_secs(1), "check {i} took {:?}", started.elapsed());
        allowed += usize::from(d.allowed);
        if !d.allowed {
            assert!(d.retry_after.is_some());
        }
    }
    assert_eq!(allowed, 3, "the per-replica fallback keeps the limit");
}

#[tokio::test]
async fn a_redis_that_hangs_costs_one_timeout_then_is_skipped() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let limiter = RedisRateLimiter::new(&url, "test:ratelimit:hang:").unwrap();
    let p = policy("5/h");
    let started = Instant::now();
    assert!(limiter.check("ip", &p).await.allowed);
    assert!(started.elapsed() < Duration::from_secs(1), "first check took {:?}", started.elapsed());
    let started = Instant::now();
    let allowed = count_allowed(&limiter, &p, 10).await;
    assert_eq!(allowed, 4, "the fallback keeps counting");
    // Ten checks that each waited for Redis would take 2 s or more.
    assert!(started.elapsed() < Duration::from_secs(1), "skipped checks took {:?}", started.elapsed());

    // Once the pause is over, one check at a time asks Redis again: of fifty
    // at once, at most one waits for it. (Measured: redis-rs answers at
    // once while it reconnects, so none waits today; the limiter does not
    // count on that.)
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let limiter = std::sync::Arc::new(limiter);
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let limiter = limiter.clone();
        checks.spawn(async move {
            let started = Instant::now();
            limiter.check("burst", &policy("1000/h")).await;
            started.elapsed()
        });
    }
    let waits = checks.join_all().await;
    let slow = waits.iter().filter(|w| **w >= Duration::from_millis(150)).count();
    assert!(slow <= 1, "{slow} checks waited for the hanging Redis: {waits:?}");
    hold.abort();
}

async fn count_allowed(limiter: &RedisRateLimiter, p: &RatePolicy, n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        allowed += usize::from(limiter.check("ip", p).await.allowed);
    }
    allowed
}

#[test]
fn a_malformed_url_or_a_missing_runtime_is_a_configuration_error_not_a_panic() {
    let err = RedisRateLimiter::new("redis://127.0.0.1:6379", "p:").unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(async { RedisRateLimiter::new("http://nope", "p:").unwrap_err() });
    assert_eq!(err.to_string(), "REDIS_URL");
}

#[tokio::test]
async fn the_limiter_goes_back_to_redis_when_it_answers_again() {
    if redis_or_skip("the_limiter_goes_back_to_redis_when_it_answers_again").await.is_none() {
        return;
    }
    let mut server = PrivateRedis::start().await;
    let limiter = RedisRateLimiter::new(&server.url(), "test:ratelimit:").unwrap();
    let p = policy("100/h");
    let key = "test:ratelimit:ip";
    assert!(limiter.check("ip", &p).await.allowed);
    let mut conn = server.connect().await;
    assert!(conn.exists::<_, bool>(key).await.unwrap(), "counted in Redis while it is up");

    server.stop();
    for _ in 0..5 {
        let started = Instant::now();
        assert!(limiter.check("ip", &p).await.allowed, "the fallback answers");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    server.restart().await;
    let mut conn = server.connect().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        limiter.check("ip", &p).await;
        if conn.exists::<_, bool>(key).await.unwrap() {
            break;
        }
        assert!(Instant::now() < deadline, "the limiter did not go back to Redis within 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
