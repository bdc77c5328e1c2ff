//! Copies of one queued job, in one worker or in two (two handlers, each
//! with its own in-process guard, on one database), send one mail, on
//! SQLite and, given `TEST_DATABASE_URL`, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use coffee_domain::clock::SystemClock;
use coffee_domain::error::InfraError;
use coffee_domain::jobs::Job;
use coffee_domain::mail::{Mail, Mailer};
use coffee_domain::outbox::{DeliveryLease, OutboxRepository};
use coffee_jobs::{JobHandler, QueuedJob};
use coffee_storage::{DbSettings, SeaOutboxRepository};
use coffee_testkit::TestDatabase;
use uuid::Uuid;

/// A mailer that takes 300 ms a mail, counts what it sent, and fails the
/// first `failures` sends.
struct Mailbox {
    sent: AtomicU32,
    failures: AtomicU32,
}

impl Mailbox {
    fn failing(failures: u32) -> Arc<Self> {
        Arc::new(Self { sent: AtomicU32::new(0), failures: AtomicU32::new(failures) })
    }

    fn sent(&self) -> u32 {
        self.sent.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Mailer for Mailbox {
    async fn send(&self, _: &Mail) -> Result<(), InfraError> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(InfraError::new("the SMTP server hung up"));
        }
        self.sent.fetch_add(1, Ordering::SeqCst);
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

/// A migrated database per engine, with one outbox entry handed over: its queued job.
async fn engines() -> Vec<(TestDatabase, Arc<SeaOutboxRepository>, QueuedJob)> {
    let mut engines = Vec::new();
    for database in TestDatabase::all().await {
        let settings =
            DbSettings { url: database.url.clone(), max_connections: 4, acquire_timeout: Duration::from_secs(10) };
        let db = coffee_storage::connect(&settings).await.unwrap();
        coffee_storage::migrate(&db).await.unwrap();
        let outbox = Arc::new(SeaOutboxRepository::new(db));
        outbox.record(&mail(), Utc::now()).await.unwrap();
        let entry = outbox.claim_due(Utc::now(), Utc::now() + TimeDelta::minutes(1), 1).await.unwrap().remove(0);
        engines.push((database, outbox, QueuedJob { outbox_id: Some(entry.id), job: entry.job.unwrap().into() }));
    }
    engines
}

/// A worker process's handler: its own guard against copies, the shared outbox.
fn worker(mailer: &Arc<Mailbox>, outbox: &Arc<SeaOutboxRepository>) -> JobHandler {
    JobHandler::with_ledger(mailer.clone(), outbox.clone(), Arc::new(SystemClock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_in_two_workers_at_once_send_one_mail() {
    for (database, outbox, queued) in engines().await {
        let mailer = Mailbox::failing(0);
        let (a, b) = (worker(&mailer, &outbox), worker(&mailer, &outbox));
        let (first, second) = tokio::join!(a.run_queued(&queued), b.run_queued(&queued));
        assert!(first.is_ok() && second.is_ok(), "{:?}: {first:?} {second:?}", database.backend);
        assert_eq!(mailer.sent(), 1, "{:?}: one mail", database.backend);
        // A later copy finds it delivered.
        worker(&mailer, &outbox).run_queued(&queued).await.unwrap();
        assert_eq!(mailer.sent(), 1, "{:?}", database.backend);
    }
}

/// What a stalled Redis hands out when it resumes: five copies at once, in
/// one worker. The first run fails; the others, arriving while it ran, are
/// skipped; the queue's retry then runs it (nothing was left marked running).
#[tokio::test]
async fn copies_in_one_worker_run_one_at_a_time_and_a_retry_runs_after_a_failure() {
    for (database, outbox, queued) in engines().await {
        let mailer = Mailbox::failing(1);
        let handler = worker(&mailer, &outbox);
        let run = || handler.run_queued(&queued);
        let copies = tokio::join!(run(), run(), run(), run(), run());
        let failed = [copies.0, copies.1, copies.2, copies.3, copies.4].iter().filter(|r| r.is_err()).count();
        assert_eq!((failed, mailer.sent()), (1, 0), "{:?}: one run, which failed", database.backend);
        handler.run_queued(&queued).await.unwrap();
        assert_eq!(mailer.sent(), 1, "{:?}: the retry ran", database.backend);
        handler.run_queued(&queued).await.unwrap();
        assert_eq!(mailer.sent(), 1, "{:?}: a later copy finds it delivered", database.backend);
    }
}

#[test]
fn a_queued_job_carries_its_outbox_entry_and_jobs_queued_before_still_decode() {
    let id = Uuid::now_v7();
    let queued = QueuedJob { outbox_id: Some(id), job: mail().into() };
    let text = serde_json::to_string(&queued).unwrap();
    assert!(text.contains(&id.to_string()), "{text}");
    assert_eq!(serde_json::from_str::<QueuedJob>(&text).unwrap(), queued);
    // What the queue held before the field existed: the bare job.
    let old = serde_json::to_string(&mail()).unwrap();
    assert_eq!(serde_json::from_str::<QueuedJob>(&old).unwrap(), QueuedJob { outbox_id: None, job: mail().into() });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_waiting_for_a_run_that_failed_runs_the_job() {
    for (database, outbox, queued) in engines().await {
        let mailer = Mailbox::failing(1);
        let (a, b) = (worker(&mailer, &outbox), worker(&mailer, &outbox));
        let (first, second) = tokio::join!(a.run_queued(&queued), b.run_queued(&queued));
        // Whichever ran first failed and let go; the other took over.
        assert!(first.is_ok() != second.is_ok(), "{:?}: {first:?} {second:?}", database.backend);
        assert_eq!(mailer.sent(), 1, "{:?}", database.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_runs_the_job_once_the_lease_of_a_dead_worker_lapses() {
    for (database, outbox, queued) in engines().await {
        let id = queued.outbox_id.unwrap();
        // A worker took the delivery and died: nobody renews its lease.
        let (now, lapses) = (Utc::now(), Duration::from_millis(800));
        let dead = outbox.lease_delivery(id, Uuid::now_v7(), now, now + TimeDelta::from_std(lapses).unwrap()).await;
        assert_eq!(dead.unwrap(), DeliveryLease::Granted);
        let mailer = Mailbox::failing(0);
        let started = Instant::now();
        worker(&mailer, &outbox).with_delivery_lease(Duration::from_secs(1)).run_queued(&queued).await.unwrap();
        assert_eq!(mailer.sent(), 1, "{:?}: the copy ran the job", database.backend);
        assert!(started.elapsed() >= Duration::from_millis(500), "{:?}: it waited for the lease", database.backend);
    }
}

/// The port's rules on one entry, on each engine.
#[tokio::test]
async fn a_delivery_lease_is_held_by_one_run_until_it_lapses_is_released_or_the_job_is_delivered() {
    for (database, outbox, queued) in engines().await {
        let id = queued.outbox_id.unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let t = Utc::now();
        let s = TimeDelta::seconds;
        let lease = |who, now, until| {
            let outbox = outbox.clone();
            async move { outbox.lease_delivery(id, who, now, until).await.unwrap() }
        };
        let backend = database.backend;
        assert_eq!(lease(a, t, t + s(10)).await, DeliveryLease::Granted, "{backend:?}");
        assert_eq!(lease(b, t + s(1), t + s(11)).await, DeliveryLease::Held, "{backend:?}");
        assert!(outbox.renew_delivery(id, a, t + s(20)).await.unwrap(), "{backend:?}: the holder renews");
        assert!(!outbox.renew_delivery(id, b, t + s(30)).await.unwrap(), "{backend:?}: nobody else does");
        assert_eq!(lease(b, t + s(15), t + s(25)).await, DeliveryLease::Held, "{backend:?}: renewed past 10 s");
        assert_eq!(lease(b, t + s(20), t + s(30)).await, DeliveryLease::Granted, "{backend:?}: lapsed at 20 s");
        outbox.release_delivery(id, a).await.unwrap();
        assert_eq!(
            lease(a, t + s(21), t + s(31)).await,
            DeliveryLease::Held,
            "{backend:?}: a stale release is ignored"
        );
        outbox.release_delivery(id, b).await.unwrap();
        assert_eq!(lease(a, t + s(22), t + s(32)).await, DeliveryLease::Granted, "{backend:?}: released");
        outbox.mark_delivered(id, t + s(23)).await.unwrap();
        assert_eq!(lease(b, t + s(60), t + s(70)).await, DeliveryLease::Delivered, "{backend:?}");
        let unknown = outbox.lease_delivery(Uuid::now_v7(), a, t, t + s(10)).await.unwrap();
        assert_eq!(unknown, DeliveryLease::Granted, "{backend:?}: nothing to hold, the job runs");
    }
}
