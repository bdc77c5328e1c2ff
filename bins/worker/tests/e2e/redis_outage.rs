//! Redis down while a user signs up: the signup does not depend on Redis (the
//! mail waits in the outbox), and the mail is delivered once Redis is back.
//! Uses a private `redis-server`: the shared one must stay up for the others.

use std::time::{Duration, Instant};

use crate::harness::{Env, eventually, redis_or_skip};
use coffee_testkit::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_while_redis_is_down_succeeds_and_its_mail_arrives_after_redis_returns() {
    if redis_or_skip("a_signup_while_redis_is_down_succeeds_and_its_mail_arrives_after_redis_returns").is_none() {
        return;
    }
    let mut redis = RedisServer::start().await;
    let env = Env::start(&redis.url()).await;
    let _worker = env.spawn_worker();
    // The whole pipeline works before the outage.
    env.signup("before@coffee.test").await;
    env.mail_to("before@coffee.test", Duration::from_secs(20)).await;

    redis.stop();
    let email = "during@coffee.test";
    let started = Instant::now();
    env.signup(email).await;
    eprintln!("signup with Redis down answered in {:?}", started.elapsed());
    // The relays try (and fail) to hand the mail over while Redis is down.
    assert!(
        !eventually(Duration::from_millis(2500), || !env.mails_to(email).is_empty()).await,
        "a mail was delivered while Redis was down"
    );

    redis.restart().await;
    let back = Instant::now();
    env.mail_to(email, Duration::from_secs(30)).await;
    eprintln!("delivered {:?} after Redis came back", back.elapsed());
    assert!(env.api_mail.messages().is_empty(), "the API sent mail itself instead of queueing it");
}
