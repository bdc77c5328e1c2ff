//! Two `RedisFanOut`s on one channel behave like two API replicas.

use std::sync::Arc;

use coffee_domain::realtime::FanOut;

use crate::support::{DEADLINE, Recorder, eventually, listeners, note, plain, redis_or_skip, replica, unique};

#[tokio::test]
async fn an_event_published_on_one_replica_reaches_the_sinks_of_both() {
    let Some(url) = redis_or_skip("an_event_published_on_one_replica_reaches_the_sinks_of_both") else { return };
    let channel = unique("live");
    let (a, seen_by_a) = replica(&url, &channel).await;
    let (b, seen_by_b) = replica(&url, &channel).await;

    a.publish(&note(1)).await.expect("published on A");
    seen_by_a.wait_for(&note(1), "A").await;
    seen_by_b.wait_for(&note(1), "B").await;

    b.publish(&note(2)).await.expect("published on B");
    seen_by_a.wait_for(&note(2), "A").await;
    seen_by_b.wait_for(&note(2), "B").await;
    assert_eq!(seen_by_a.events(), [note(1), note(2)], "each event exactly once");
    assert_eq!(seen_by_b.events(), [note(1), note(2)], "each event exactly once");
}

#[tokio::test]
async fn events_from_one_publisher_arrive_in_publish_order() {
    let Some(url) = redis_or_skip("events_from_one_publisher_arrive_in_publish_order") else { return };
    let channel = unique("order");
    let (a, seen_by_a) = replica(&url, &channel).await;
    let (_b, seen_by_b) = replica(&url, &channel).await;

    let sent: Vec<_> = (0..300).map(crate::support::note).collect();
    for event in &sent {
        a.publish(event).await.expect("published");
    }
    eventually("both replicas received all 300 events", || {
        seen_by_a.events().len() >= sent.len() && seen_by_b.events().len() >= sent.len()
    })
    .await;
    assert_eq!(seen_by_a.events(), sent);
    assert_eq!(seen_by_b.events(), sent);
}

#[tokio::test]
async fn every_sink_of_a_replica_receives_the_event() {
    let Some(url) = redis_or_skip("every_sink_of_a_replica_receives_the_event") else { return };
    let (a, first) = replica(&url, &unique("sinks")).await;
    let second = Arc::new(Recorder::default());
    a.subscribe(second.clone());
    a.publish(&note(5)).await.expect("published");
    first.wait_for(&note(5), "the first sink").await;
    second.wait_for(&note(5), "the second sink").await;
}

#[tokio::test]
async fn malformed_payloads_are_skipped_and_delivery_goes_on() {
    let Some(url) = redis_or_skip("malformed_payloads_are_skipped_and_delivery_goes_on") else { return };
    let channel = unique("malformed");
    let (a, seen) = replica(&url, &channel).await;
    let mut conn = plain(&url).await;
    for garbage in ["not json", r#"{"v":1,"event":{"n":"one"}}"#, r#"{"v":9,"event":{}}"#, ""] {
        let _: i64 = redis::cmd("PUBLISH").arg(&channel).arg(garbage).query_async(&mut conn).await.expect("PUBLISH");
    }
    a.publish(&note(3)).await.expect("published");
    seen.wait_for(&note(3), "A").await;
    assert_eq!(seen.events(), [note(3)], "only the well-formed event is delivered");
}

#[tokio::test]
async fn gap_is_reported_once_the_first_subscription_is_in_place() {
    let Some(url) = redis_or_skip("gap_is_reported_once_the_first_subscription_is_in_place") else { return };
    let (a, seen) = replica(&url, &unique("first-gap")).await;
    assert!(a.is_subscribed());
    eventually("the first subscription reported its gap", || seen.gaps() == 1).await;
}

#[tokio::test]
async fn shutdown_closes_the_listening_connection_and_publishing_still_works() {
    let Some(url) = redis_or_skip("shutdown_closes_the_listening_connection_and_publishing_still_works") else {
        return;
    };
    let channel = unique("shutdown");
    let (a, seen_by_a) = replica(&url, &channel).await;
    let (b, seen_by_b) = replica(&url, &channel).await;
    let mut conn = plain(&url).await;
    assert_eq!(listeners(&mut conn, &channel).await, 2);

    tokio::time::timeout(DEADLINE, a.shutdown()).await.expect("the listening task stops");
    assert!(!a.is_subscribed());
    let mut count = listeners(&mut conn, &channel).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while count != 1 {
        assert!(tokio::time::Instant::now() < deadline, "A still listens after shutdown ({count} listeners)");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        count = listeners(&mut conn, &channel).await;
    }

    a.publish(&note(4)).await.expect("A still publishes");
    seen_by_b.wait_for(&note(4), "B").await;
    b.publish(&note(5)).await.expect("published");
    seen_by_b.wait_for(&note(5), "B").await;
    assert!(seen_by_a.events().is_empty(), "A's sink receives nothing after shutdown");

    drop(b);
    eventually_no_listener(&mut conn, &channel).await;
}

async fn eventually_no_listener(conn: &mut redis::aio::MultiplexedConnection, channel: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while listeners(conn, channel).await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "a dropped fan-out still listens on {channel}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
