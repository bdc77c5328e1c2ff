//! The admins' mail about a new order goes through the outbox and the worker:
//! exactly one per order, also when the order is retried with its
//! `Idempotency-Key`, and also when Redis is down between the order and the
//! delivery.

use std::io::Write;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Env, PASSWORD, eventually, redis_or_skip};
use coffee_testkit::RedisServer;

const ADMIN: &str = "boss@coffee.test";
const ADMIN_PASSWORD: &str = "boss-password-123";

/// A shop that never closes.
fn shop_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    let hours: String = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(|d| format!("[[opening_hours]]\nday = \"{d}\"\nopen = \"00:00\"\nclose = \"00:00\"\n"))
        .concat();
    write!(
        file,
        "name = \"E2E Coffee\"\naddress = \"1 Test St\"\nphone = \"+998 71 000 00 00\"\nemail = \"e2e@coffee.test\"\n\
         currency = \"EUR\"\ntimezone = \"UTC\"\nlocation = {{ lat = 41.3, lng = 69.3 }}\n{hours}"
    )
    .unwrap();
    file
}

async fn call(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = env.client.request(method, format!("{}{path}", env.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

async fn login(env: &Env, email: &str, password: &str) -> String {
    let resp =
        call(env, reqwest::Method::POST, "/auth/login", None, Some(&json!({"email": email, "password": password})))
            .await;
    assert_eq!(resp.status(), StatusCode::OK, "login of {email}");
    resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Admin token, a product, and a verified customer's token (the verification
/// code comes through the worker too).
async fn shop(env: &Env) -> (String, String) {
    let admin = login(env, ADMIN, ADMIN_PASSWORD).await;
    let product =
        call(env, reqwest::Method::POST, "/products", Some(&admin), Some(&json!({"name": "Latte", "price": 350})))
            .await;
    assert_eq!(product.status(), StatusCode::CREATED);
    let product = product.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    env.signup("ann@coffee.test").await;
    let code = env.mail_to("ann@coffee.test", Duration::from_secs(30)).await.verification_code().unwrap();
    assert_eq!(env.verify("ann@coffee.test", &code).await, StatusCode::OK);
    (login(env, "ann@coffee.test", PASSWORD).await, product)
}

async fn place(env: &Env, token: &str, key: &str, product: &str) -> reqwest::Response {
    env.client
        .post(format!("{}/orders", env.address))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"items": [{"product_id": product, "quantity": 2}]}))
        .send()
        .await
        .unwrap()
}

fn order_mails(env: &Env) -> usize {
    env.mails_to(ADMIN).iter().filter(|m| m.subject().is_some_and(|s| s.starts_with("New order"))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admin_mail_per_order_even_when_the_order_is_retried_with_its_key() {
    let Some(redis) = redis_or_skip("one_admin_mail_per_order_even_when_the_order_is_retried_with_its_key") else {
        return;
    };
    let file = shop_file();
    let path = file.path().to_str().unwrap().to_owned();
    let env = Env::start_with(
        &redis,
        &[("ADMIN_EMAIL", ADMIN), ("ADMIN_PASSWORD", ADMIN_PASSWORD), ("SHOP_INFO_FILE", &path)],
    )
    .await;
    let _worker = env.spawn_worker();
    let (token, latte) = shop(&env).await;
    let first = place(&env, &token, "e2e-order-1", &latte).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    for _ in 0..3 {
        let again = place(&env, &token, "e2e-order-1", &latte).await;
        assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    }
    assert!(eventually(Duration::from_secs(30), || order_mails(&env) == 1).await, "the admin mail did not arrive");
    // Give a duplicate every chance to show up.
    assert!(!eventually(Duration::from_secs(3), || order_mails(&env) > 1).await, "a second admin mail arrived");
    let mail =
        env.mails_to(ADMIN).into_iter().find(|m| m.subject().is_some_and(|s| s.starts_with("New order"))).unwrap();
    assert!(mail.text().unwrap().contains("2 × Latte"), "{:?}", mail.text());
    assert!(env.api_mail.messages().is_empty(), "the API sent mail itself instead of queueing it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_placed_while_redis_is_down_is_mailed_once_after_redis_returns() {
    if redis_or_skip("an_order_placed_while_redis_is_down_is_mailed_once_after_redis_returns").is_none() {
        return;
    }
    let mut redis = RedisServer::start().await;
    let file = shop_file();
    let path = file.path().to_str().unwrap().to_owned();
    let env = Env::start_with(
        &redis.url(),
        &[("ADMIN_EMAIL", ADMIN), ("ADMIN_PASSWORD", ADMIN_PASSWORD), ("SHOP_INFO_FILE", &path)],
    )
    .await;
    let _worker = env.spawn_worker();
    let (token, latte) = shop(&env).await;
    redis.stop();
    let placed = place(&env, &token, "e2e-order-2", &latte).await;
    assert_eq!(placed.status(), StatusCode::CREATED, "ordering does not need Redis");
    let replay = place(&env, &token, "e2e-order-2", &latte).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert!(!eventually(Duration::from_secs(2), || order_mails(&env) > 0).await, "mailed while Redis was down");
    redis.restart().await;
    assert!(eventually(Duration::from_secs(40), || order_mails(&env) == 1).await, "the admin mail did not arrive");
    assert!(!eventually(Duration::from_secs(3), || order_mails(&env) > 1).await, "a second admin mail arrived");
}
