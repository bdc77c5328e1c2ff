//! What the cleanup removes from the Redis job queue, and what it keeps: a
//! parked job with its mail, until an operator re-queues it. Against the
//! Redis at `TEST_REDIS_URL`, in a queue of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apalis_redis::ConnectionManager;
use coffee_jobs::{DeadJobs, redis_config, vacuum_finished, vacuum_workers};
use redis::AsyncCommands;
use uuid::Uuid;

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// A connection to `TEST_REDIS_URL`, or `None` after saying why the test
/// does not run. Set but unreachable, the test fails.
async fn redis_or_skip(test: &str) -> Option<(String, ConnectionManager)> {
    let url = coffee_testkit::redis_or_skip(test)?;
    let client = redis::Client::open(url.as_str()).unwrap();
    let conn = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
        .await
        .unwrap_or_else(|_| panic!("TEST_REDIS_URL is set but Redis at {url} does not answer"))
        .unwrap_or_else(|e| panic!("TEST_REDIS_URL is set but Redis at {url} is unreachable: {e}"));
    Some((url, conn))
}

/// Stores job `id` as apalis-redis leaves it: its payload, and metadata
/// with `status` and, when it ended, `done_at`.
async fn job(conn: &mut ConnectionManager, queue: &str, id: &str, status: &str, done_at: Option<i64>) {
    let config = redis_config(queue);
    let () = conn.hset(config.job_data_hash(), id, format!("{{\"job\":\"{id}\"}}")).await.unwrap();
    let meta = format!("{}:{id}", config.job_meta_hash());
    let () = conn.hset_multiple(&meta, &[("status", status), ("attempts", "1")]).await.unwrap();
    if let Some(at) = done_at {
        let () = conn.hset(&meta, "done_at", at).await.unwrap();
    }
}

#[tokio::test]
async fn the_vacuum_removes_finished_jobs_and_keeps_parked_ones_and_retries() {
    let Some((url, mut conn)) = redis_or_skip("the_vacuum_removes_finished_jobs…").await else { return };
    let queue = format!("vacuum-test-{}", Uuid::now_v7().simple());
    let config = redis_config(&queue);
    let now = chrono::Utc::now().timestamp();
    let (old, recent) = (now - 8 * 24 * 3600, now - 24 * 3600);

    // More finished jobs than one HSCAN batch holds.
    for n in 0..1200 {
        let id = format!("done-old-{n}");
        job(&mut conn, &queue, &id, "Done", Some(old)).await;
        let () = conn.sadd(config.done_jobs_set(), &id).await.unwrap();
    }
    job(&mut conn, &queue, "done-recent", "Done", Some(recent)).await;
    let () = conn.sadd(config.done_jobs_set(), "done-recent").await.unwrap();
    job(&mut conn, &queue, "parked", "Killed", Some(old)).await;
    let () = conn.sadd(config.dead_jobs_set(), "parked").await.unwrap();
    job(&mut conn, &queue, "parked-failed", "Failed", Some(old)).await;
    let () = conn.sadd(config.dead_jobs_set(), "parked-failed").await.unwrap();
    job(&mut conn, &queue, "retry-due", "Failed", Some(old)).await;
    let () = conn.zadd(config.scheduled_jobs_set(), "retry-due", old + 1).await.unwrap();
    job(&mut conn, &queue, "pending", "Pending", None).await;

    let removed = vacuum_finished(&mut conn, &config, WEEK).await.unwrap();

    assert_eq!(removed, 1200);
    let mut left: Vec<String> = conn.hkeys(config.job_data_hash()).await.unwrap();
    left.sort();
    assert_eq!(left, ["done-recent", "parked", "parked-failed", "pending", "retry-due"]);
    for id in &left {
        let meta: bool = conn.exists(format!("{}:{id}", config.job_meta_hash())).await.unwrap();
        assert!(meta, "{id} keeps its metadata");
    }
    let done: Vec<String> = conn.smembers(config.done_jobs_set()).await.unwrap();
    assert_eq!(done, ["done-recent"], "a removed job leaves the done set too");
    let gone: bool = conn.exists(format!("{}:done-old-7", config.job_meta_hash())).await.unwrap();
    assert!(!gone, "a removed job's metadata is gone");

    // A parked job is listed with its mail, and goes back to the queue.
    let dead = DeadJobs::connect(&url, &queue).await.unwrap();
    let listed = dead.list().await.unwrap();
    assert!(listed.iter().all(|j| j.payload.is_some()), "{listed:?}");
    assert!(dead.retry("parked").await.unwrap());
    // One whose payload an older vacuum removed is refused, and stays listed.
    let () = conn.hdel(config.job_data_hash(), "parked-failed").await.unwrap();
    let refused = dead.retry("parked-failed").await.unwrap_err().to_string();
    assert!(refused.contains("no payload"), "{refused}");
    assert_eq!(dead.retry_all().await.unwrap(), 0);
    assert_eq!(dead.list().await.unwrap().len(), 1);
    let queued: Vec<String> = conn.lrange(config.active_jobs_list(), 0, -1).await.unwrap();
    assert_eq!(queued, ["parked"], "only the job with its payload was queued");

    let keys: Vec<String> = conn.keys(format!("{queue}*")).await.unwrap();
    let () = conn.del(keys).await.unwrap();
}

#[tokio::test]
async fn the_vacuum_forgets_stopped_workers_and_keeps_registered_ones() {
    let Some((_, mut conn)) = redis_or_skip("the_vacuum_forgets_stopped_workers…").await else { return };
    // Glob characters in the name: the pattern must match this queue only.
    let queue = format!("vacuum-[ab]-{}", Uuid::now_v7().simple());
    let neighbour = queue.replace("[ab]", "a");
    let config = redis_config(&queue);
    let metadata = |queue: &str, name: &str| format!("{queue}:workers:metadata:{name}");
    let fields = [("backend_name", "RedisStorage"), ("service", "deliver")];

    // A registered worker, and more stopped ones than one SCAN batch holds.
    let () = conn.zadd(config.workers_set(), "jobs-live", chrono::Utc::now().timestamp()).await.unwrap();
    let () = conn.hset_multiple(metadata(&queue, "jobs-live"), &fields).await.unwrap();
    for n in 0..700 {
        let () = conn.hset_multiple(metadata(&queue, &format!("jobs-{n}")), &fields).await.unwrap();
    }
    let () = conn.hset_multiple(metadata(&neighbour, "jobs-other"), &fields).await.unwrap();

    let removed = vacuum_workers(&mut conn, &config).await.unwrap();

    assert_eq!(removed, 700);
    let left: Vec<String> = conn.keys(format!("{}*", metadata(&queue, "")).replace('[', "\\[")).await.unwrap();
    assert_eq!(left, [metadata(&queue, "jobs-live")], "the registered worker keeps its metadata");
    let other: bool = conn.exists(metadata(&neighbour, "jobs-other")).await.unwrap();
    assert!(other, "another queue's workers are not this vacuum's");

    let () = conn
        .del(&[config.workers_set(), metadata(&queue, "jobs-live"), metadata(&neighbour, "jobs-other")])
        .await
        .unwrap();
}
