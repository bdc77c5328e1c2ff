//! A mail the SMTP server refuses for good (5xx) ends in the dead set at
//! once, `coffee-worker dead list` shows it, and once the server takes it
//! `coffee-worker dead retry` delivers it, once. A mail refused for now
//! (4xx) past `JOB_MAX_ATTEMPTS` deliveries goes back to the outbox, which
//! hands it over again later, and it is delivered once the server recovers.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};

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

/// The listing's entries: a line with the id, then its indented details.
fn entries(listed: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in listed.lines() {
        match entries.last_mut() {
            Some(entry) if line.starts_with(' ') => {
                entry.push('\n');
                entry.push_str(line);
            }
            _ => entries.push(line.to_owned()),
        }
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_refused_for_good_is_parked_listed_and_delivered_after_a_retry() {
    let Some(redis) = redis_or_skip("a_mail_refused_for_good_is_parked_listed_and_delivered_after_a_retry") else {
        return;
    };
    let env = Env::start(&redis).await;
    env.mail.reject_next(usize::MAX);
    let _worker = env.spawn_worker_with(&[("JOB_MAX_ATTEMPTS", "2")]);
    assert_eq!(stdout(&env.worker_command(&["dead", "list"])), "", "nothing is dead yet");

    // Two parked jobs, so the listing must pair each id with its own job.
    let (email, other) = ("parked@coffee.test", "parked-too@coffee.test");
    env.signup(email).await;
    env.signup(other).await;
    // Refused for good at the first attempt: no second one, parked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = stdout(&env.worker_command(&["dead", "list"]));
        if entries(&listed).len() == 2 {
            break listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "the jobs were not parked within 30 s: {listed}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let parked = entries(&listed);
    assert!(parked.iter().all(|entry| entry.contains("attempts=1")), "{listed}");
    let entry = parked.iter().find(|entry| entry.contains(email)).expect("the listing shows what each job is");
    assert!(!entry.contains(other), "one job per entry: {listed}");
    // Their outbox entries are parked too, so the relay never takes them for
    // lost and hands them over again behind the operator's back.
    let db = sea_orm::Database::connect(env.database_url()).await.expect("connect to the test database");
    let sql = "SELECT COUNT(*) FROM outbox WHERE parked_at IS NOT NULL AND delivered_at IS NULL";
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 2, "the dead jobs' outbox entries are parked");
    // Its last error names the cause, down to the SMTP server's reply.
    assert!(entry.contains("SMTP delivery failed") && entry.contains("Mailbox unavailable"), "{entry}");
    assert!(env.mails_to(email).is_empty());
    let id = entry.split('\t').next().expect("an id").to_owned();

    // Nothing is tried again behind the operator's back: the sink refuses
    // every delivery, so an attempt would show only as one more refusal.
    let refused = env.mail.refused();
    assert_eq!(refused, 2, "each job was tried once before it was parked");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(env.mail.refused(), refused, "no attempt after the jobs were parked");
    assert!(env.mails_to(email).is_empty());

    env.mail.reject_next(0);
    let missing = env.worker_command(&["dead", "retry", "no-such-job"]);
    assert_eq!(missing.status.code(), Some(1), "an unknown id is an error");
    assert_eq!(stdout(&env.worker_command(&["dead", "retry", &id])), format!("re-queued {id}\n"));
    // The id listed beside this e-mail was this e-mail's job.
    env.mail_to(email, Duration::from_secs(20)).await;
    let left = stdout(&env.worker_command(&["dead", "list"]));
    assert!(entries(&left).len() == 1 && left.contains(other), "the other job is still parked: {left}");
    assert!(env.mails_to(other).is_empty());
    assert_eq!(stdout(&env.worker_command(&["dead", "retry-all"])), "re-queued 1 job(s)\n");
    env.mail_to(other, Duration::from_secs(20)).await;
    assert_eq!(stdout(&env.worker_command(&["dead", "list"])), "", "the dead set is empty again");
    assert_eq!(stdout(&env.worker_command(&["dead", "retry-all"])), "re-queued 0 job(s)\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.mails_to(email).len(), 1, "delivered exactly once");
    assert_eq!(env.mails_to(other).len(), 1, "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_refused_for_now_past_its_tries_goes_back_to_the_outbox_and_is_delivered_later() {
    let Some(redis) =
        redis_or_skip("a_mail_refused_for_now_past_its_tries_goes_back_to_the_outbox_and_is_delivered_later")
    else {
        return;
    };
    let env = Env::start(&redis).await;
    env.mail.fail_next(usize::MAX);
    let _worker = env.spawn_worker_with(&[("JOB_MAX_ATTEMPTS", "2")]);
    let email = "patient@coffee.test";
    env.signup(email).await;

    // Attempt 1, a 1 s pause, attempt 2: the job is given back to its
    // outbox entry, due again in 15 minutes; nothing is dead.
    let db = sea_orm::Database::connect(env.database_url()).await.expect("connect to the test database");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let deferred = "SELECT COUNT(*) FROM outbox WHERE relayed_at IS NULL AND parked_at IS NULL \
                    AND delivered_at IS NULL AND available_at > created_at AND last_error LIKE '%Temporary failure%'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count(deferred).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the entry was not given back within 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(stdout(&env.worker_command(&["dead", "list"])), "", "nothing is dead");
    let refused = env.mail.refused();
    assert_eq!(refused, 2, "tried twice");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.mail.refused(), refused, "not tried again before it is due");

    // The server recovers, and the 15 minutes pass (the entry is made due).
    env.mail.fail_next(0);
    let sql = "UPDATE outbox SET available_at = created_at WHERE relayed_at IS NULL AND delivered_at IS NULL";
    db.execute_unprepared(sql).await.unwrap();
    env.mail_to(email, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.mails_to(email).len(), 1, "delivered exactly once");
    assert_eq!(count("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL AND parked_at IS NULL").await, 1);
}
