//! A mail the SMTP server keeps refusing ends in the dead set after
//! `JOB_MAX_ATTEMPTS` deliveries, `coffee-worker dead list` shows it, and
//! once the server recovers `coffee-worker dead retry` delivers it, once.

use std::time::Duration;

use crate::harness::{Env, redis_or_skip};

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "coffee-worker failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_that_keeps_failing_is_parked_listed_and_delivered_after_a_retry() {
    let Some(redis) = redis_or_skip("a_mail_that_keeps_failing_is_parked_listed_and_delivered_after_a_retry") else {
        return;
    };
    let env = Env::start(&redis).await;
    env.mail.fail_next(usize::MAX);
    let _worker = env.spawn_worker_with(&[("JOB_MAX_ATTEMPTS", "2")]);
    assert_eq!(stdout(&env.worker_command(&["dead", "list"])), "", "nothing is dead yet");

    let email = "parked@coffee.test";
    env.signup(email).await;
    // Attempt 1, a 1 s pause, attempt 2, parked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = stdout(&env.worker_command(&["dead", "list"]));
        if !listed.is_empty() {
            break listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "the job was not parked within 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(listed.contains("attempts=2"), "{listed}");
    assert!(listed.contains(email), "the listing shows what the job is: {listed}");
    assert!(env.mails_to(email).is_empty());
    let id = listed.split('\t').next().expect("an id").to_owned();

    // Still refused: nothing is retried behind the operator's back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(env.mails_to(email).is_empty());

    env.mail.fail_next(0);
    let missing = env.worker_command(&["dead", "retry", "no-such-job"]);
    assert_eq!(missing.status.code(), Some(1), "an unknown id is an error");
    assert_eq!(stdout(&env.worker_command(&["dead", "retry", &id])), format!("re-queued {id}\n"));
    env.mail_to(email, Duration::from_secs(20)).await;
    assert_eq!(stdout(&env.worker_command(&["dead", "list"])), "", "the dead set is empty again");
    assert_eq!(stdout(&env.worker_command(&["dead", "retry-all"])), "re-queued 0 job(s)\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.mails_to(email).len(), 1, "delivered exactly once");
}
