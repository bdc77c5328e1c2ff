//! The distributed profile's happy path: the API records the mail in its
//! outbox and relays it to Redis; the worker process delivers it.

use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::{Env, redis_or_skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_process_delivers_the_verification_mail_of_a_signup() {
    let Some(redis) = redis_or_skip("the_worker_process_delivers_the_verification_mail_of_a_signup") else {
        return;
    };
    let env = Env::start(&redis).await;
    let _worker = env.spawn_worker();

    let email = "ada@coffee.test";
    env.signup(email).await;
    let mail = env.mail_to(email, Duration::from_secs(20)).await;

    // The mail is the real one: its code verifies the account through the API.
    let code = mail.verification_code().expect("a 6-digit code in the mail");
    assert_eq!(env.verify(email, &code).await, StatusCode::OK);
    // Delivered once, by the worker: the API's own mailer was never used.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.mails_to(email).len(), 1, "the verification mail was delivered more than once");
    assert!(env.api_mail.messages().is_empty(), "the API sent mail itself instead of queueing it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_the_smtp_server_refuses_once_is_retried_by_the_worker() {
    let Some(redis) = redis_or_skip("a_mail_the_smtp_server_refuses_once_is_retried_by_the_worker") else {
        return;
    };
    let env = Env::start(&redis).await;
    env.mail.fail_next(1);
    let _worker = env.spawn_worker();

    let email = "edsger@coffee.test";
    env.signup(email).await;
    // The first attempt gets a 451; the queue runs the job again (apalis-redis
    // waits `attempt` seconds), and the sink accepts it.
    env.mail_to(email, Duration::from_secs(20)).await;
    assert_eq!(env.mails_to(email).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_the_queue_lost_is_handed_over_again_and_delivered_once() {
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::{ConnectionTrait, Statement};
    let Some(redis) = redis_or_skip("a_mail_the_queue_lost_is_handed_over_again_and_delivered_once") else {
        return;
    };
    let env = Env::start(&redis).await;
    let db = sea_orm::Database::connect(env.database_url()).await.expect("connect to the test database");
    let relayed = || async {
        let sql = "SELECT COUNT(*) AS n FROM outbox WHERE relayed_at IS NOT NULL";
        let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    };
    let email = "lost@coffee.test";
    env.signup(email).await;
    // The API hands the mail to Redis; no worker runs yet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while relayed().await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the API did not hand the mail over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Redis loses it (flushed, restarted without persistence), and an hour passes.
    env.forget_queue();
    let long_ago = chrono::Utc::now() - chrono::TimeDelta::hours(2);
    let backdate = Query::update().table(Alias::new("outbox")).value(Alias::new("relayed_at"), long_ago).to_owned();
    db.execute(&backdate).await.unwrap();

    // A worker (whose relay looks for lost entries as it starts) hands it over again and delivers it.
    let _worker = env.spawn_worker();
    env.mail_to(email, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.mails_to(email).len(), 1);
}
