//! The job handler's retries and the in-process queue, with a fake mailer.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::jobs::{Job, JobQueue};
use coffee_domain::mail::{Mail, Mailer};
use coffee_jobs::{InProcessQueue, JobHandler, RetryPolicy};

/// Fails the first `failures` sends, then succeeds; records what it sent.
#[derive(Default)]
struct FakeMailer {
    failures: AtomicU32,
    calls: AtomicU32,
    delay: Duration,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
    sent: Mutex<Vec<String>>,
    panic_for: Option<String>,
}

impl FakeMailer {
    fn failing(failures: u32) -> Self {
        Self { failures: AtomicU32::new(failures), ..Self::default() }
    }
    fn slow(delay: Duration) -> Self {
        Self { delay, ..Self::default() }
    }
    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Mailer for FakeMailer {
    async fn send(&self, mail: &Mail) -> Result<(), InfraError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_ne!(self.panic_for.as_deref(), Some(mail.recipient()), "boom");
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(InfraError("451 try again later".into()));
        }
        self.sent.lock().unwrap().push(mail.recipient().to_owned());
        Ok(())
    }
}

fn mail_to(to: &str) -> Job {
    Job::SendMail(Mail::Verification {
        to: to.into(),
        code: "123456".into(),
        link: "http://localhost:8080/auth/verify?token=t".into(),
        valid_minutes: 60,
    })
}

fn fast(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, first_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5) }
}

fn handler(mailer: &Arc<FakeMailer>, retry: RetryPolicy) -> Arc<JobHandler> {
    Arc::new(JobHandler::new(mailer.clone()).with_retry(retry))
}

#[test]
fn default_backoff_is_1_2_4_8_seconds_capped() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.attempts, 5);
    let delays: Vec<u64> = (1..=4).map(|a| policy.delay_after(a).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8]);
    assert_eq!(policy.delay_after(7), Duration::from_secs(60));
    assert_eq!(policy.delay_after(1000), Duration::from_secs(60));
}

#[tokio::test]
async fn a_failing_mail_is_retried_until_it_succeeds() {
    let mailer = Arc::new(FakeMailer::failing(3));
    handler(&mailer, fast(5)).run(mail_to("ann@example.com")).await.unwrap();
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 4);
    assert_eq!(mailer.sent(), ["ann@example.com"]);
}

#[tokio::test]
async fn retries_give_up_after_the_limit() {
    let mailer = Arc::new(FakeMailer::failing(100));
    let err = handler(&mailer, fast(3)).run(mail_to("ann@example.com")).await.unwrap_err();
    assert!(err.to_string().contains("451"));
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 3);
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn zero_attempts_still_tries_once() {
    let mailer = Arc::new(FakeMailer::failing(100));
    assert!(handler(&mailer, fast(0)).run(mail_to("a@example.com")).await.is_err());
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_wait_with_exponential_backoff() {
    let mailer = Arc::new(FakeMailer::failing(2));
    let retry = RetryPolicy { attempts: 3, first_delay: Duration::from_millis(40), max_delay: Duration::from_secs(1) };
    let started = Instant::now();
    handler(&mailer, retry).run(mail_to("ann@example.com")).await.unwrap();
    // 40 ms after the first failure, 80 ms after the second.
    assert!(started.elapsed() >= Duration::from_millis(120), "{:?}", started.elapsed());
}

#[tokio::test]
async fn the_queue_runs_jobs_concurrently_and_shutdown_waits_for_all() {
    let mailer = Arc::new(FakeMailer::slow(Duration::from_millis(30)));
    let (queue, worker) = InProcessQueue::start(handler(&mailer, fast(3)), 16, 2);
    for i in 0..6 {
        queue.enqueue(mail_to(&format!("user{i}@example.com"))).await.unwrap();
    }
    worker.shutdown().await;
    let mut sent = mailer.sent();
    sent.sort();
    assert_eq!(sent.len(), 6, "{sent:?}");
    assert_eq!(mailer.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shutdown_finishes_a_job_that_is_still_retrying() {
    let mailer = Arc::new(FakeMailer::failing(2));
    let retry = RetryPolicy { attempts: 5, first_delay: Duration::from_millis(20), max_delay: Duration::from_secs(1) };
    let (queue, worker) = InProcessQueue::start(handler(&mailer, retry), 4, 1);
    queue.enqueue(mail_to("ann@example.com")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    worker.shutdown().await;
    assert_eq!(mailer.sent(), ["ann@example.com"]);
}

#[tokio::test]
async fn enqueue_after_shutdown_is_an_error() {
    let mailer = Arc::new(FakeMailer::default());
    let (queue, worker) = InProcessQueue::start(handler(&mailer, fast(1)), 4, 1);
    let clone = queue.clone();
    worker.shutdown().await;
    for q in [&queue, &clone] {
        let err = q.enqueue(mail_to("late@example.com")).await.unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
    }
    assert!(mailer.sent().is_empty());
}

#[tokio::test]
async fn dropping_the_worker_handle_does_not_stop_the_queue() {
    let mailer = Arc::new(FakeMailer::default());
    let (queue, worker) = InProcessQueue::start(handler(&mailer, fast(1)), 4, 1);
    drop(worker);
    queue.enqueue(mail_to("ann@example.com")).await.unwrap();
    for _ in 0..200 {
        if !mailer.sent().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the job never ran");
}

#[tokio::test]
async fn a_panicking_job_does_not_kill_the_worker() {
    let mailer = Arc::new(FakeMailer { panic_for: Some("bad@example.com".into()), ..FakeMailer::default() });
    let (queue, worker) = InProcessQueue::start(handler(&mailer, fast(1)), 4, 1);
    queue.enqueue(mail_to("bad@example.com")).await.unwrap();
    queue.enqueue(mail_to("good@example.com")).await.unwrap();
    worker.shutdown().await;
    assert_eq!(mailer.sent(), ["good@example.com"]);
}
