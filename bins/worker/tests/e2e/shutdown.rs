//! SIGTERM (container stop): the worker takes no new job, finishes the one in
//! flight, acknowledges it and exits 0; one still waiting for its database
//! exits 0 at once. And what a worker says while its database is not ready.

use std::time::Duration;

use crate::harness::{Env, redis_or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_mail_in_flight_finish_exactly_once() {
    let Some(redis) = redis_or_skip("sigterm_lets_the_mail_in_flight_finish_exactly_once") else {
        return;
    };
    let env = Env::start(&redis).await;
    env.mail.delay_data(Duration::from_secs(2));
    let mut worker = env.spawn_worker();

    let email = "barbara@coffee.test";
    env.signup(email).await;
    assert!(
        env.mail.wait_data_received(1, Duration::from_secs(20)).await,
        "the worker never started delivering the mail"
    );
    assert!(env.mails_to(email).is_empty(), "the sink accepted the mail before its delay");
    worker.terminate();

    let status =
        worker.wait_exit(Duration::from_secs(20)).await.expect("the worker did not exit within 20 s of SIGTERM");
    assert!(status.success(), "the worker exited with {status}");
    assert_eq!(env.mails_to(email).len(), 1, "the mail in flight was not delivered before the worker exited");
    assert_eq!(env.mail.abandoned(), 0, "the worker dropped its SMTP connection mid-delivery");
    let log = worker.log();
    assert!(log.contains("shutdown requested"), "the worker did not log the SIGTERM:\n{log}");

    // The job was acknowledged: a new worker does not find it orphaned. Jobs
    // of a worker silent for 5 heartbeats (5 s) are handed over on the next
    // heartbeat, so 8 s after the exit a leftover would have been delivered.
    env.mail.delay_data(Duration::ZERO);
    let _next = env.spawn_worker();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(env.mails_to(email).len(), 1, "the finished job was delivered again by the next worker");
    assert_eq!(env.mail.data_received(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_worker_still_waiting_for_its_database() {
    let Some(redis) = redis_or_skip("sigterm_ends_a_worker_still_waiting_for_its_database") else {
        return;
    };
    let env = Env::start(&redis).await;
    let nowhere = format!("postgres://postgres@127.0.0.1:{}/coffee", coffee_testkit::free_port());
    let mut worker = env.spawn_worker_with(&[("DATABASE_URL", &nowhere)]);
    // Attempt 1 (about 5 s), a 1 s pause, then inside attempt 2: the signal
    // arrives while it connects, not while it sleeps.
    tokio::time::sleep(Duration::from_millis(7500)).await;
    assert!(worker.log().contains("cannot start yet"), "the worker is not waiting for its database:\n{}", worker.log());
    worker.terminate();
    let status = worker.wait_exit(Duration::from_secs(3)).await.expect("the worker did not exit within 3 s of SIGTERM");
    assert!(status.success(), "the worker exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_a_database_not_yet_migrated_names_the_missing_table() {
    let Some(redis) = redis_or_skip("a_worker_on_a_database_not_yet_migrated_names_the_missing_table") else {
        return;
    };
    let env = Env::start(&redis).await;
    // The API migrates; a worker started first meets empty tables.
    let empty = coffee_testkit::TestDatabase::fresh().await;
    let worker = env.spawn_worker_with(&[("DATABASE_URL", &empty.url)]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log = worker.log();
        // Not just "storage failure": the database's own words.
        let named = |line: &str| line.contains("outbox") && line.contains("does not exist");
        if log.lines().any(named) || log.contains("no such table: outbox") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the log does not say what is missing:\n{log}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
