//! `RedisSocketSlots`: one bound per user shared by replicas, leases that lapse.

use std::time::Duration;

use coffee_domain::realtime::SocketSlots;
use coffee_realtime::RedisSocketSlots;
use uuid::Uuid;

use crate::support::{closed_port, redis_or_skip, unique};

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn two_replicas_share_one_bound_per_user() {
    let Some(url) = redis_or_skip("two_replicas_share_one_bound_per_user") else { return };
    let prefix = unique("slots");
    let (a, b) =
        (RedisSocketSlots::new(&url, &prefix).expect("url"), RedisSocketSlots::new(&url, &prefix).expect("url"));
    let user = Uuid::new_v4();
    let sockets: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    assert!(a.acquire(user, sockets[0], 3, LEASE).await.expect("redis"));
    assert!(b.acquire(user, sockets[1], 3, LEASE).await.expect("redis"));
    assert!(a.acquire(user, sockets[2], 3, LEASE).await.expect("redis"));
    assert!(!b.acquire(user, sockets[3], 3, LEASE).await.expect("redis"), "the bound holds across replicas");
    assert!(b.acquire(Uuid::new_v4(), sockets[3], 3, LEASE).await.expect("redis"), "another user has their own");
    assert!(a.acquire(user, sockets[0], 3, LEASE).await.expect("redis"), "a holder may re-acquire");
    a.release(user, sockets[1]).await.expect("redis");
    assert!(b.acquire(user, sockets[3], 3, LEASE).await.expect("redis"), "a released slot is free");
}

#[tokio::test]
async fn a_lease_that_is_not_renewed_lapses_and_a_renewed_one_holds() {
    let Some(url) = redis_or_skip("a_lease_that_is_not_renewed_lapses_and_a_renewed_one_holds") else { return };
    let slots = RedisSocketSlots::new(&url, &unique("slots")).expect("url");
    let user = Uuid::new_v4();
    let (kept, lapsing) = (Uuid::new_v4(), Uuid::new_v4());
    // Renewed every 200 ms for 1.6 s, a 1 s lease keeps 800 ms to spare, so
    // a test thread held up on a busy machine does not let it lapse.
    let short = Duration::from_secs(1);
    assert!(slots.acquire(user, kept, 2, short).await.expect("redis"));
    assert!(slots.acquire(user, lapsing, 2, short).await.expect("redis"));
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        slots.renew(user, kept, short).await.expect("redis");
    }
    assert!(slots.acquire(user, Uuid::new_v4(), 2, LEASE).await.expect("redis"), "the lapsed lease made room");
    assert!(!slots.acquire(user, Uuid::new_v4(), 2, LEASE).await.expect("redis"), "the renewed one still counts");
    slots.release(user, Uuid::new_v4()).await.expect("releasing an unknown socket is harmless");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_verdict() {
    let slots = RedisSocketSlots::new(&format!("redis://127.0.0.1:{}", closed_port()), "slots:").expect("url");
    assert!(slots.acquire(Uuid::new_v4(), Uuid::new_v4(), 5, LEASE).await.is_err());
}

#[tokio::test]
async fn live_sockets_take_their_slots_again_when_redis_lost_them() {
    let Some(url) = redis_or_skip("live_sockets_take_their_slots_again_when_redis_lost_them") else { return };
    let prefix = unique("slots");
    let slots = RedisSocketSlots::new(&url, &prefix).expect("url");
    let user = Uuid::new_v4();
    let open: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    for socket in &open {
        assert!(slots.acquire(user, *socket, 2, LEASE).await.expect("redis"));
    }
    // Redis loses the slots (FLUSHDB, a restart without persistence).
    let mut conn = crate::support::plain(&url).await;
    let _: () = redis::cmd("DEL").arg(format!("{prefix}{user}")).query_async(&mut conn).await.expect("DEL");
    assert!(slots.acquire(user, Uuid::new_v4(), 3, LEASE).await.expect("redis"), "forgotten for a moment");
    // With their next ping the live sockets count again.
    for socket in &open {
        slots.renew(user, *socket, LEASE).await.expect("redis");
    }
    assert!(!slots.acquire(user, Uuid::new_v4(), 3, LEASE).await.expect("redis"), "two live plus one: full");
}
