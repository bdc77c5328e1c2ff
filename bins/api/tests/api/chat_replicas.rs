//! The chat across two API replicas sharing PostgreSQL (or SQLite) and
//! Redis: delivery from one to the other, `resume` after moving replicas,
//! live order frames, and recovery when Redis drops the subscribers.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use reqwest::{Method, StatusCode};

use crate::helpers::{
    LoggedIn, PASSWORD, TestApp, around_the_clock, id_of, spawn_app_with, spawn_replica_of, spawn_shop_app,
};
use crate::shopping::{Shop, product};
use crate::ws::{Ws, connect};

/// `REDIS_URL` and a `JOBS_QUEUE` of this test alone (so its channel too).
pub(crate) fn shared_redis(url: &str) -> Vec<(&'static str, String)> {
    vec![("REDIS_URL", url.to_owned()), ("JOBS_QUEUE", format!("coffee-test:{}", uuid::Uuid::new_v4().simple()))]
}

pub(crate) fn borrowed<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

pub(crate) async fn two_replicas(redis: &str) -> (TestApp, TestApp) {
    let settings = shared_redis(redis);
    let a = spawn_app_with(&borrowed(&settings)).await;
    let b = spawn_replica_of(&a, &borrowed(&settings)).await;
    (a, b)
}

/// A verified customer, without mail: with Redis the verification mail
/// waits in the queue for a `coffee-worker`, so the admin verifies them.
pub(crate) async fn customer(app: &TestApp, admin: &str, email: &str) -> LoggedIn {
    let user = app.signup(email, PASSWORD).await;
    let id = id_of(&user);
    let verified =
        app.send_json(Method::PATCH, &format!("/users/{id}"), Some(admin), &json!({"is_verified": true})).await;
    assert_eq!(verified.status(), StatusCode::OK);
    LoggedIn { id, token: app.login(email, PASSWORD).await.access }
}

/// Opens Ann's conversation from `ann`; returns its id after the agent saw it.
pub(crate) async fn open_conversation(ann: &mut Ws, agent: &mut Ws) -> String {
    ann.say("hello from replica A").await;
    let id = ann.next_of("conversation").await["id"].as_str().unwrap().to_owned();
    ann.next_of("message").await;
    assert_eq!(agent.next_of("conversation").await["id"], id.as_str());
    assert_eq!(agent.next_of("message").await["body"], "hello from replica A");
    id
}

#[tokio::test]
async fn a_customer_on_one_replica_and_an_agent_on_another_talk_and_resume_loses_nothing() {
    let Some(redis) = coffee_testkit::test_redis_url() else {
        eprintln!("note: skipped: the two-replica chat needs TEST_REDIS_URL");
        return;
    };
    let (a, b) = two_replicas(&redis).await;
    let admin = a.admin_token().await;
    let ann_user = customer(&a, &admin, "ann@example.com").await;
    let mut ann = connect(&a, &ann_user.token).await;
    let mut agent = connect(&b, &admin).await;
    let conversation = open_conversation(&mut ann, &mut agent).await;
    agent.say_in(&conversation, "hello from replica B").await;
    assert_eq!(agent.next_of("message").await["seq"], 2, "the acknowledgement");
    assert_eq!(ann.next_of("message").await["body"], "hello from replica B");

    // Ann drops off replica A; the agent keeps writing; Ann comes back on B.
    ann.leave().await;
    for n in 1..=3 {
        agent.say_in(&conversation, &format!("missed {n}")).await;
        agent.next_of("message").await;
    }
    let mut ann = connect(&b, &ann_user.token).await;
    ann.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 2})).await;
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(ann.next_of("message").await["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, [3, 4, 5]);
    // A second agent on replica A answers live.
    let mut other_agent = connect(&a, &admin).await;
    other_agent.say_in(&conversation, "live again").await;
    assert_eq!(ann.next_of("message").await["seq"], 6);
    assert_eq!(agent.next_of("message").await["seq"], 6);
    ann.quiet_for(std::time::Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_order_placed_on_one_replica_reaches_the_board_on_another() {
    let Some(redis) = coffee_testkit::test_redis_url() else {
        eprintln!("note: skipped: needs TEST_REDIS_URL");
        return;
    };
    let settings = shared_redis(&redis);
    let a = spawn_shop_app(&around_the_clock(), &borrowed(&settings)).await;
    let b = spawn_replica_of(&a, &borrowed(&settings)).await;
    let admin = a.admin_token().await;
    let latte = product(&a, &admin, "Latte", 350).await;
    let ann_user = customer(&a, &admin, "ann@example.com").await;
    let shop = Shop { app: a, admin, ann: ann_user, latte, cake: String::new() };
    let mut board = connect(&b, &shop.admin).await;
    let mut ann = connect(&b, &shop.ann.token).await;
    let order = shop.one_latte().await;
    assert_eq!(board.next_of("order").await["id"], order["id"]);
    assert_eq!(ann.next_of("order").await["status"], "pending");
    shop.moved(&order, "confirmed").await;
    assert_eq!(ann.next_of("order").await["status"], "confirmed");
    assert_eq!(board.next_of("order").await["status"], "confirmed");
}

/// `CLIENT KILL TYPE pubsub` on the server.
pub(crate) async fn kill_subscribers(redis_url: &str) {
    let reply = redis_inline(redis_url, "CLIENT KILL TYPE pubsub").await;
    assert!(reply.starts_with(':'), "CLIENT KILL answered {reply:?}");
}

/// The reply to one inline command (`INFO stats`), over a connection of
/// its own in plain RESP: for a private `redis-server` the app under test
/// does not know about. What the first read returns (up to 16 KiB).
pub(crate) async fn redis_inline(redis_url: &str, command: &str) -> String {
    let address = redis_url.trim_start_matches("redis://");
    let mut conn = tokio::net::TcpStream::connect(address).await.unwrap();
    conn.write_all(format!("{command}\r\n").as_bytes()).await.unwrap();
    let mut reply = vec![0_u8; 16 * 1024];
    let n = conn.read(&mut reply).await.unwrap();
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

#[tokio::test]
async fn when_redis_drops_the_subscribers_sockets_are_told_to_resync_and_delivery_recovers() {
    if coffee_testkit::test_redis_url().is_none() {
        eprintln!("note: skipped: needs TEST_REDIS_URL (and redis-server for a private Redis)");
        return;
    }
    let redis = coffee_testkit::RedisServer::start().await;
    let (a, b) = two_replicas(&redis.url()).await;
    let admin = a.admin_token().await;
    let ann_user = customer(&a, &admin, "ann@example.com").await;
    let mut ann = connect(&a, &ann_user.token).await;
    let mut agent = connect(&b, &admin).await;
    let conversation = open_conversation(&mut ann, &mut agent).await;

    kill_subscribers(&redis.url()).await;
    assert_eq!(ann.error_code().await, "resync");
    assert_eq!(agent.error_code().await, "resync");
    // Whatever was published during the gap is in the store: resume gets it.
    agent.send(json!({"type": "resume", "conversation_id": conversation, "after_seq": 0})).await;
    assert_eq!(agent.next_of("message").await["seq"], 1);
    ann.say("after the outage").await;
    ann.next_of("message").await;
    let live = agent.next_of("message").await;
    assert_eq!((live["seq"].as_i64(), live["body"].as_str()), (Some(2), Some("after the outage")));
}
