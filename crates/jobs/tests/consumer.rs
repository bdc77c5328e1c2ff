//! The Redis queue's consumer against a job this version cannot read (a
//! newer version's, during a rolling deploy): it is retried like any failing
//! job, and the jobs behind it run. Against the Redis at `TEST_REDIS_URL`,
//! in a queue of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::jobs::{HandOver, Job, JobQueue};
use coffee_domain::mail::{Mail, Mailer};
use coffee_jobs::{DeadJobs, JobHandler, QueuedJob, RedisQueue, Work, redis_config, run_consumer};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Counts the mails it is asked to send.
#[derive(Default)]
struct Counting(AtomicU32);

#[async_trait]
impl Mailer for Counting {
    async fn send(&self, _: &Mail) -> Result<(), InfraError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn mail() -> Job {
    Job::SendMail(Mail::Verification {
        to: "ann@example.com".to_owned(),
        code: "123456".to_owned(),
        link: "https://shop.example/auth/verify?token=t".to_owned(),
        valid_minutes: 60,
    })
}

#[test]
fn a_job_this_version_cannot_read_decodes_and_a_known_one_keeps_its_form() {
    let id = Uuid::now_v7();
    // A known job is written exactly as before `Work` existed.
    let queued = QueuedJob { outbox_id: Some(id), job: mail().into() };
    let mut expected = serde_json::to_value(mail()).unwrap();
    expected["outbox_id"] = serde_json::json!(id);
    assert_eq!(serde_json::to_value(&queued).unwrap(), expected);
    // A new kind of job, and a new kind of mail in a known one.
    for text in [
        r#"{"outbox_id":"0190d0a8-0000-7000-8000-000000000001","type":"send_sms","to":"+100"}"#,
        r#"{"type":"send_mail","kind":"birthday","to":"ann@example.com"}"#,
    ] {
        let decoded: QueuedJob = serde_json::from_str(text).unwrap();
        assert!(
            matches!(&decoded.job, Work::Unknown { error, .. } if error.contains("unknown variant")),
            "{text}: {decoded:?}"
        );
        // Written back as it came.
        let again: serde_json::Value = serde_json::to_value(&decoded).unwrap();
        assert_eq!(again, serde_json::from_str::<serde_json::Value>(text).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_this_version_cannot_read_is_retried_and_the_jobs_behind_it_run() {
    let Some(url) = coffee_testkit::redis_or_skip("a_job_this_version_cannot_read_is_retried…") else { return };
    let name = format!("consumer-test-{}", Uuid::now_v7().simple());
    let queue = RedisQueue::new(&url, &name).unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let conn = ConnectionManager::new(client).await.unwrap();
    // What a newer version pushes: a kind of job this one does not know.
    let mut raw: RedisStorage<serde_json::Value, ConnectionManager> =
        RedisStorage::new(conn).with_config(redis_config(&name));
    raw.push(serde_json::json!({"outbox_id": Uuid::now_v7(), "type": "send_sms", "to": "+100"})).await.unwrap();
    queue.enqueue(HandOver { entry: Uuid::now_v7(), attempts: 0 }, mail()).await.unwrap();

    let mailer = Arc::new(Counting::default());
    let handler = Arc::new(JobHandler::new(mailer.clone()));
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(run_consumer(queue.storage(), handler, 2, 2, stop.clone()));
    let dead = DeadJobs::connect(&url, &name).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // The known job runs; the unknown one is tried twice (JOB_MAX_ATTEMPTS
    // here) and, having no outbox to go back to, given up on.
    while mailer.0.load(Ordering::SeqCst) < 1 || dead.list().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sent {}, dead {:?}",
            mailer.0.load(Ordering::SeqCst),
            dead.list().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let parked = dead.list().await.unwrap();
    assert!(parked[0].last_error.as_deref().is_some_and(|e| e.contains("cannot run this job")), "{parked:?}");
    assert_eq!(parked[0].attempts, Some(2), "tried as often as any failing job: {parked:?}");
    assert_eq!(mailer.0.load(Ordering::SeqCst), 1);
    stop.cancel();
    consumer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_handed_over_again_while_its_job_is_queued_is_queued_once_per_attempt() {
    let Some(url) = coffee_testkit::redis_or_skip("an_entry_handed_over_again_while_its_job_is_queued…") else {
        return;
    };
    let name = format!("consumer-test-{}", Uuid::now_v7().simple());
    let queue = RedisQueue::new(&url, &name).unwrap();
    // No worker runs: the relay's hourly re-hand hands the same entry over
    // while its job waits.
    let entry = HandOver { entry: Uuid::now_v7(), attempts: 0 };
    for _ in 0..3 {
        queue.enqueue(entry, mail()).await.unwrap();
    }
    queue.enqueue(HandOver { entry: Uuid::now_v7(), attempts: 0 }, mail()).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().queued, 2, "one job per entry");
    // A job given back to be tried later is a new attempt: queued.
    queue.enqueue(HandOver { attempts: 1, ..entry }, mail()).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().queued, 3, "a later attempt is queued");
    // Lost by the queue (its data gone, as after a flush): queued anew.
    let mut conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let config = redis_config(&name);
    let _: () = redis::pipe()
        .del(config.job_data_hash())
        .del(config.active_jobs_list())
        .del(config.scheduled_jobs_set())
        .query_async(&mut conn)
        .await
        .unwrap();
    queue.enqueue(entry, mail()).await.unwrap();
    assert_eq!(queue.depth().await.unwrap().queued, 1, "a job the queue lost is queued again");

    let mailer = Arc::new(Counting::default());
    let stop = CancellationToken::new();
    let consumer =
        tokio::spawn(run_consumer(queue.storage(), Arc::new(JobHandler::new(mailer.clone())), 2, 2, stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while mailer.0.load(Ordering::SeqCst) < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the job did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(mailer.0.load(Ordering::SeqCst), 1, "run once");
    stop.cancel();
    consumer.await.unwrap();
}
