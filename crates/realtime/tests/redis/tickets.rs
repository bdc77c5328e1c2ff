//! `RedisTicketStore`: single use, expiry, atomic redeem across replicas.

use std::sync::Arc;
use std::time::Duration;

use coffee_domain::realtime::{Issued, TicketGrant, TicketStore};
use coffee_realtime::RedisTicketStore;

use crate::support::{closed_port, plain, redis_or_skip, unique};

const TTL: Duration = Duration::from_secs(30);

fn grant() -> TicketGrant {
    TicketGrant { user_id: uuid::Uuid::new_v4(), session_id: uuid::Uuid::now_v7(), expires_at: chrono::Utc::now() }
}

fn store(url: &str, prefix: &str) -> RedisTicketStore {
    RedisTicketStore::new(url, prefix).expect("a valid URL")
}

#[tokio::test]
async fn a_ticket_logs_its_user_in_once_on_any_replica() {
    let Some(url) = redis_or_skip("a_ticket_logs_its_user_in_once_on_any_replica") else { return };
    let prefix = format!("{}:", unique("tickets"));
    let (issuer, other) = (store(&url, &prefix), store(&url, &prefix));
    let user = grant();
    issuer.issue("digest", user, TTL, 100).await.expect("issued");

    let mut conn = plain(&url).await;
    let ttl_ms: i64 = redis::cmd("PTTL").arg(format!("{prefix}digest")).query_async(&mut conn).await.expect("PTTL");
    assert!((1..=30_000).contains(&ttl_ms), "the key expires by itself (PTTL {ttl_ms})");

    assert_eq!(other.peek("digest").await.expect("read"), Some(user), "another replica reads it …");
    assert_eq!(other.peek("digest").await.expect("read"), Some(user), "… without spending it");
    assert_eq!(other.redeem("digest").await.expect("redeemed"), Some(user), "another replica redeems it");
    assert_eq!(issuer.peek("digest").await.expect("read"), None, "a spent ticket reads as none");
    assert_eq!(issuer.redeem("digest").await.expect("redeemed"), None, "but only once");
    assert_eq!(other.redeem("digest").await.expect("redeemed"), None, "but only once");
}

#[tokio::test]
async fn an_unknown_ticket_is_none() {
    let Some(url) = redis_or_skip("an_unknown_ticket_is_none") else { return };
    let tickets = store(&url, &format!("{}:", unique("tickets")));
    assert_eq!(tickets.redeem("never issued").await.expect("redeemed"), None);
}

#[tokio::test]
async fn a_ticket_expires_after_its_lifetime() {
    let Some(url) = redis_or_skip("a_ticket_expires_after_its_lifetime") else { return };
    let tickets = store(&url, &format!("{}:", unique("tickets")));
    tickets.issue("short", grant(), Duration::from_millis(200), 100).await.expect("issued");
    // Redis checks expiry on access, to the millisecond: once the lifetime
    // has passed, the key is gone whatever the machine's load.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(tickets.redeem("short").await.expect("redeemed"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_twenty_concurrent_redeems_on_two_replicas_exactly_one_wins() {
    let Some(url) = redis_or_skip("of_twenty_concurrent_redeems_on_two_replicas_exactly_one_wins") else { return };
    let prefix = format!("{}:", unique("tickets"));
    let replicas = [Arc::new(store(&url, &prefix)), Arc::new(store(&url, &prefix))];
    let user = grant();
    replicas[0].issue("contested", user, TTL, 100).await.expect("issued");

    let start = Arc::new(tokio::sync::Barrier::new(20));
    let redeems: Vec<_> = (0..20)
        .map(|i| {
            let (tickets, start) = (replicas[i % 2].clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                tickets.redeem("contested").await.expect("redeemed")
            })
        })
        .collect();
    let mut winners = Vec::new();
    for redeem in redeems {
        winners.extend(redeem.await.expect("task finished"));
    }
    assert_eq!(winners, [user]);
}

#[tokio::test]
async fn a_zero_lifetime_and_a_reused_digest_are_refused() {
    let Some(url) = redis_or_skip("a_zero_lifetime_and_a_reused_digest_are_refused") else { return };
    let tickets = store(&url, &format!("{}:", unique("tickets")));
    let user = grant();
    assert!(tickets.issue("zero", user, Duration::ZERO, 100).await.is_err());
    assert!(tickets.issue("sub-millisecond", user, Duration::from_micros(10), 100).await.is_err());
    tickets.issue("twice", user, TTL, 100).await.expect("issued");
    assert!(tickets.issue("twice", grant(), TTL, 100).await.is_err());
    assert_eq!(tickets.redeem("twice").await.expect("redeemed"), Some(user), "the first holder keeps it");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_panic() {
    // Needs no Redis: it runs everywhere.
    let tickets = store(&format!("redis://127.0.0.1:{}", closed_port()), "coffee-test:");
    assert!(tickets.issue("digest", grant(), TTL, 100).await.is_err());
    assert!(tickets.redeem("digest").await.is_err());
}

#[tokio::test]
async fn a_ticket_of_the_release_before_sessions_logs_nobody_in() {
    let Some(url) = redis_or_skip("a_ticket_of_the_release_before_sessions_logs_nobody_in") else { return };
    let prefix = format!("{}:", unique("tickets"));
    let mut conn = plain(&url).await;
    let old = format!("{} {}", uuid::Uuid::new_v4(), chrono::Utc::now().to_rfc3339());
    let _: () = redis::cmd("SET").arg(format!("{prefix}old")).arg(old).query_async(&mut conn).await.expect("SET");
    let _: () =
        redis::cmd("SET").arg(format!("{prefix}junk")).arg("a b c d").query_async(&mut conn).await.expect("SET");
    let tickets = store(&url, &prefix);
    assert_eq!(tickets.redeem("old").await.expect("redeemed"), None, "the client is told to get a new ticket");
    assert!(tickets.redeem("junk").await.is_err(), "anything else is reported");
}

#[tokio::test]
async fn a_user_gets_per_user_tickets_within_a_lifetime_over_all_replicas() {
    let Some(url) = redis_or_skip("a_user_gets_per_user_tickets_within_a_lifetime_over_all_replicas") else { return };
    let prefix = format!("{}:", unique("tickets"));
    let replicas = [store(&url, &prefix), store(&url, &prefix)];
    let (ann, bob) = (grant(), grant());
    let short = Duration::from_millis(1_500);
    assert_eq!(replicas[0].issue("a1", ann, short, 2).await.expect("issued"), Issued::Stored);
    assert_eq!(replicas[1].issue("a2", ann, short, 2).await.expect("issued"), Issued::Stored);
    assert_eq!(replicas[1].redeem("a1").await.expect("redeemed"), Some(ann), "redeemed tickets still count");
    let Issued::Busy(wait) = replicas[0].issue("a3", ann, short, 2).await.expect("answered") else {
        panic!("a third ticket within the lifetime")
    };
    assert!(wait > Duration::ZERO && wait <= short, "until the oldest lapses: {wait:?}");
    assert_eq!(replicas[0].issue("b1", bob, short, 2).await.expect("issued"), Issued::Stored, "others go on");
    assert_eq!(replicas[0].redeem("a3").await.expect("redeemed"), None, "the refused ticket was not written");
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    assert_eq!(replicas[1].issue("a3", ann, short, 2).await.expect("issued"), Issued::Stored);
}
