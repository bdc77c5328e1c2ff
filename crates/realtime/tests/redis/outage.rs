//! Lost connections and a Redis that is down, on a private `redis-server`
//! or behind a [`TcpProxy`] that cuts the shared one away.

use std::time::Duration;

use coffee_domain::realtime::FanOut;
use coffee_realtime::{RedisFanOut, RedisFanOutConfig};

use crate::support::{
    DEADLINE, Note, closed_port, eventually, note, plain, redis_or_skip, replica, replica_with, unique,
};
use coffee_testkit::{RedisServer, TcpProxy};

/// Publishes `event` until Redis takes it: the first command after an outage
/// may fail while the publishing connection reconnects.
async fn publish_until_accepted(fan_out: &RedisFanOut<Note>, event: &Note) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while let Err(e) = fan_out.publish(event).await {
        assert!(tokio::time::Instant::now() < deadline, "publishing still fails after {DEADLINE:?}: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_killed_pubsub_connection_is_re_established_and_reports_a_gap() {
    let Some(_) = redis_or_skip("a_killed_pubsub_connection_is_re_established_and_reports_a_gap") else { return };
    let server = RedisServer::start().await;
    let channel = unique("kill");
    let (a, seen_by_a) = replica(&server.url(), &channel).await;
    let (b, seen_by_b) = replica(&server.url(), &channel).await;
    eventually("both first subscriptions reported", || seen_by_a.gaps() == 1 && seen_by_b.gaps() == 1).await;

    let mut admin = plain(&server.url()).await;
    let killed: i64 =
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut admin).await.expect("CLIENT KILL");
    assert_eq!(killed, 2, "both listening connections were killed");

    eventually("both replicas re-subscribed and reported a gap", || {
        seen_by_a.gaps() == 2 && seen_by_b.gaps() == 2 && a.is_subscribed() && b.is_subscribed()
    })
    .await;
    publish_until_accepted(&a, &note(1)).await;
    seen_by_a.wait_for(&note(1), "A").await;
    seen_by_b.wait_for(&note(1), "B").await;
}

#[tokio::test]
async fn publishing_fails_while_redis_is_down_and_everything_recovers_when_it_is_back() {
    let Some(_) = redis_or_skip("publishing_fails_while_redis_is_down_and_everything_recovers_when_it_is_back") else {
        return;
    };
    let mut server = RedisServer::start().await;
    let channel = unique("restart");
    let (a, seen_by_a) = replica(&server.url(), &channel).await;
    let (b, seen_by_b) = replica(&server.url(), &channel).await;
    a.publish(&note(1)).await.expect("published while up");
    seen_by_b.wait_for(&note(1), "B").await;

    server.stop();
    let started = tokio::time::Instant::now();
    assert!(a.publish(&note(2)).await.is_err(), "a publish to a stopped Redis fails");
    assert!(started.elapsed() < DEADLINE, "and does not hang");
    eventually("both replicas noticed the outage", || !a.is_subscribed() && !b.is_subscribed()).await;

    server.restart().await;
    eventually("both replicas re-subscribed after the restart and reported a gap", || {
        a.is_subscribed() && b.is_subscribed() && seen_by_a.gaps() >= 2 && seen_by_b.gaps() >= 2
    })
    .await;
    publish_until_accepted(&a, &note(3)).await;
    seen_by_a.wait_for(&note(3), "A").await;
    seen_by_b.wait_for(&note(3), "B").await;
    assert!(!seen_by_b.events().contains(&note(2)), "the failed publish was not delivered");
}

#[tokio::test]
async fn a_listening_connection_that_goes_silent_is_replaced_after_a_failed_ping() {
    let Some(_) = redis_or_skip("a_listening_connection_that_goes_silent_is_replaced_after_a_failed_ping") else {
        return;
    };
    let server = RedisServer::start().await;
    let config = RedisFanOutConfig {
        timeout: Duration::from_millis(500),
        ping_interval: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ..RedisFanOutConfig::new(unique("silent"))
    };
    let (a, seen) = replica_with(&server.url(), config).await;

    server.freeze(true);
    eventually("the silent connection was given up", || !a.is_subscribed()).await;
    server.freeze(false);
    eventually("re-subscribed with a gap once the server answers again", || a.is_subscribed() && seen.gaps() == 2)
        .await;
    publish_until_accepted(&a, &note(1)).await;
    seen.wait_for(&note(1), "A").await;
}

#[tokio::test]
async fn a_redis_that_never_answers_makes_publish_fail_without_panicking() {
    // Needs no Redis: it runs everywhere.
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let fan_out: RedisFanOut<Note> =
        RedisFanOut::new(&url, RedisFanOutConfig::new(unique("nowhere"))).expect("construction does not connect");
    let started = tokio::time::Instant::now();
    assert!(fan_out.publish(&note(1)).await.is_err());
    assert!(started.elapsed() < DEADLINE, "the failure comes in bounded time");
    assert!(!fan_out.is_subscribed());
}

#[tokio::test]
async fn the_first_publish_after_the_connection_was_cut_reaches_the_other_replica() {
    let Some(url) = redis_or_skip("the_first_publish_after_the_connection_was_cut_reaches_the_other_replica") else {
        return;
    };
    // `redis://host:port` (CI's form) → `host:port`.
    let upstream = url.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = TcpProxy::start(upstream).await;
    let channel = unique("cut");
    let (a, _) = replica(&format!("redis://{}", proxy.addr()), &channel).await;
    let (_b, seen_by_b) = replica(&url, &channel).await;
    a.publish(&note(1)).await.expect("published before the cut");
    seen_by_b.wait_for(&note(1), "B").await;

    // Nothing is published while Redis is away; the publishing connection
    // dies with the cut, and whatever it reconnected to meanwhile died too.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    // Nothing would report this event lost (B never lost its subscription).
    a.publish(&note(2)).await.expect("the first publish after the cut reaches Redis");
    seen_by_b.wait_for(&note(2), "B").await;
}

#[tokio::test]
async fn the_first_ticket_after_the_connection_was_cut_is_issued_and_redeemed() {
    use coffee_domain::realtime::{TicketGrant, TicketStore};
    let Some(url) = redis_or_skip("the_first_ticket_after_the_connection_was_cut_is_issued_and_redeemed") else {
        return;
    };
    let upstream = url.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = TcpProxy::start(upstream).await;
    let prefix = format!("{}:", unique("tickets-cut"));
    let tickets =
        coffee_realtime::RedisTicketStore::new(&format!("redis://{}", proxy.addr()), &prefix).expect("a valid URL");
    let grant =
        TicketGrant { user_id: uuid::Uuid::new_v4(), session_id: uuid::Uuid::now_v7(), expires_at: chrono::Utc::now() };
    let ttl = Duration::from_secs(30);
    tickets.issue("before", grant, ttl, 100).await.expect("issued before the cut");

    // Redis goes away and comes back; this replica's connection died meanwhile.
    for (issued, redeemed) in [("after-1", "before"), ("after-2", "after-1")] {
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.restore();
        tickets.issue(issued, grant, ttl, 100).await.expect("the first issue after the cut reaches Redis");
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.restore();
        let found = tickets.redeem(redeemed).await.expect("the first redeem after the cut reaches Redis");
        assert_eq!(found, Some(grant), "{redeemed}");
    }
}

#[tokio::test]
async fn a_failed_publish_makes_every_replica_report_a_gap_once_redis_takes_the_marker() {
    let Some(url) = redis_or_skip("a_failed_publish_makes_every_replica_report_a_gap_once_redis_takes_the_marker")
    else {
        return;
    };
    let upstream = url.trim_start_matches("redis://").trim_end_matches('/');
    let proxy = TcpProxy::start(upstream).await;
    let channel = unique("lost-publish");
    let (a, seen_by_a) = replica(&format!("redis://{}", proxy.addr()), &channel).await;
    let (_b, seen_by_b) = replica(&url, &channel).await;
    eventually("both first subscriptions reported", || seen_by_a.gaps() == 1 && seen_by_b.gaps() == 1).await;

    // Only A loses Redis: B's subscription stays up, so nothing else would
    // tell B that A's event never came.
    proxy.cut();
    assert!(a.publish(&note(1)).await.is_err(), "a publish through the cut fails");
    assert!(a.publish(&note(2)).await.is_err(), "and so does the next");
    assert!(seen_by_a.gaps() >= 2, "A's own sinks are told at once");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen_by_b.gaps(), 1, "nothing reaches B while A cannot publish");
    proxy.restore();
    eventually("B reports a gap once A's marker gets through", || seen_by_b.gaps() == 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(seen_by_b.gaps(), 2, "one marker for both failures");
    assert!(seen_by_b.events().is_empty(), "a marker is not an event: {:?}", seen_by_b.events());

    // The next outage is announced too: the count of failures owed was reset.
    proxy.cut();
    assert!(a.publish(&note(3)).await.is_err(), "a publish through the second cut fails");
    proxy.restore();
    eventually("B reports a gap for the second outage", || seen_by_b.gaps() == 3).await;
}
