//! A worker killed in the middle of a delivery: its job is orphaned, and a
//! live worker takes it over after 5 missed heartbeats (1 s each).

use std::time::{Duration, Instant};

use crate::harness::{Env, eventually, redis_or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_in_flight_when_the_worker_is_killed_is_delivered_by_the_next_worker() {
    let Some(redis) = redis_or_skip("a_mail_in_flight_when_the_worker_is_killed_is_delivered_by_the_next_worker")
    else {
        return;
    };
    let env = Env::start(&redis).await;
    // The sink holds its reply to the content: the delivery cannot complete.
    env.mail.delay_data(Duration::from_secs(30));
    let mut first = env.spawn_worker();

    let email = "grace@coffee.test";
    env.signup(email).await;
    assert!(
        env.mail.wait_data_received(1, Duration::from_secs(20)).await,
        "the first worker never started delivering the mail"
    );
    first.kill();
    // The sink saw the client vanish before it accepted the message.
    assert!(
        eventually(Duration::from_secs(5), || env.mail.abandoned() == 1).await,
        "the dead worker's SMTP connection stayed open"
    );
    assert!(env.mails_to(email).is_empty(), "the mail was delivered before the worker was killed");

    env.mail.delay_data(Duration::ZERO);
    let killed_at = Instant::now();
    let _second = env.spawn_worker();
    // At-least-once: a duplicate would be allowed, a loss is not (`mail_to`
    // fails the test when the mail does not come).
    env.mail_to(email, Duration::from_secs(20)).await;
    eprintln!("redelivered {:?} after the kill", killed_at.elapsed());
    assert!(env.api_mail.messages().is_empty(), "the API sent mail itself instead of queueing it");
}
