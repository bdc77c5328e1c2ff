//! `Idempotency-Key` on `POST /orders`: replays, reuse with another body,
//! requests in flight, scoping, and concurrent identical requests.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::categories::json_with;
use crate::helpers::{ADMIN_EMAIL, assert_problem, error_fields, header};
use crate::shopping::{Shop, open_shop};

async fn order_with_key(s: &Shop, token: &str, key: &str, body: &Value) -> Response {
    s.app.request(Method::POST, "/orders", Some(token)).header("idempotency-key", key).json(body).send().await.unwrap()
}

fn latte(s: &Shop, quantity: i64) -> Value {
    json!({"items": [{"product_id": s.latte, "quantity": quantity}], "comment": "Key test"})
}

#[tokio::test]
async fn a_repeat_with_the_same_key_and_body_gets_the_first_answer_and_creates_nothing() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    let first = order_with_key(&s, &token, "order-2026-0001", &latte(&s, 2)).await;
    let location = header(first.headers(), "location");
    assert!(header(first.headers(), "idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    // The same body written differently is the same request.
    let same = json!({"comment": "Key test", "items": [{"quantity": 2, "product_id": s.latte}]});
    let again = order_with_key(&s, &token, "order-2026-0001", &same).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(header(again.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(header(again.headers(), "location"), location);
    assert_eq!(again.text().await.unwrap(), first_body, "the stored body, byte for byte");
    assert_eq!(s.orders(&token).await["total"], 1);
    s.app.nth_mail_to(ADMIN_EMAIL, 1).await;
    s.app.settle().await;
    assert_eq!(s.app.mails_to(ADMIN_EMAIL).len(), 1, "no second mail");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    json_with(order_with_key(&s, &token, "k-1", &latte(&s, 1)).await, StatusCode::CREATED).await;
    assert_problem(order_with_key(&s, &token, "k-1", &latte(&s, 2)).await, 422, "idempotency_key_reused").await;
    assert_eq!(s.orders(&token).await["total"], 1);
}

#[tokio::test]
async fn keys_belong_to_the_caller_and_a_refusal_is_stored_like_an_order() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    json_with(order_with_key(&s, &s.ann.token, "shared", &latte(&s, 1)).await, StatusCode::CREATED).await;
    let bobs = order_with_key(&s, &bob.token, "shared", &latte(&s, 1)).await;
    assert!(header(bobs.headers(), "idempotent-replayed").is_none(), "Bob's key is his own");
    json_with(bobs, StatusCode::CREATED).await;
    // SPEC §6: "the first request's status and body are stored". A refused
    // checkout is the answer for its key: the repeat gets it again, byte for
    // byte, even though the cart has been filled meanwhile.
    let refused = order_with_key(&s, &bob.token, "cart-try", &json!({})).await;
    assert!(header(refused.headers(), "idempotent-replayed").is_none());
    let first = refused.text().await.unwrap();
    assert!(first.contains("\"cart_empty\""), "{first}");
    s.added(&bob.token, &s.cake, 1).await;
    let retry = order_with_key(&s, &bob.token, "cart-try", &json!({})).await;
    assert_eq!(header(retry.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(header(retry.headers(), "content-type").as_deref(), Some("application/problem+json"));
    assert!(header(retry.headers(), "location").is_none());
    assert_eq!(retry.status(), StatusCode::CONFLICT);
    assert_eq!(retry.text().await.unwrap(), first);
    assert_eq!(s.orders(&bob.token).await["total"], 1, "no second order");
    // A new key checks the (now filled) cart out.
    json_with(order_with_key(&s, &bob.token, "cart-try-2", &json!({})).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn a_validation_refusal_is_stored_and_replayed_too() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    // An item that names no product is refused by the checkout itself (not by
    // the body's shape), so the refusal is the key's answer.
    let body = json!({"items": [{"product_id": uuid::Uuid::now_v7(), "quantity": 1}]});
    let refused = order_with_key(&s, &token, "unknown-product", &body).await;
    assert!(header(refused.headers(), "idempotent-replayed").is_none());
    let first = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(error_fields(&first), ["items[0].product_id"]);
    let retry = order_with_key(&s, &token, "unknown-product", &body).await;
    assert_eq!(header(retry.headers(), "idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(header(retry.headers(), "content-type").as_deref(), Some("application/problem+json"));
    let again: Value = retry.json().await.unwrap();
    assert_eq!(again, first, "the stored problem, the first request_id included");
    assert_eq!(s.orders(&token).await["total"], 0);
}

#[tokio::test]
async fn malformed_keys_are_422_naming_the_header() {
    let s = open_shop().await;
    for key in ["k".repeat(256), "tab\tinside".to_owned(), " ".repeat(0)] {
        let resp = s
            .app
            .request(Method::POST, "/orders", Some(&s.ann.token))
            .header("idempotency-key", key.as_str())
            .json(&latte(&s, 1))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["Idempotency-Key"], "{key:?}");
    }
    let non_ascii = reqwest::header::HeaderValue::from_bytes("ключ".as_bytes()).unwrap();
    let resp = s
        .app
        .request(Method::POST, "/orders", Some(&s.ann.token))
        .header("idempotency-key", non_ascii)
        .json(&latte(&s, 1))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 422, "validation_failed").await;
    // Two header lines: which key was meant is unknowable, so neither is taken.
    let resp = s
        .app
        .request(Method::POST, "/orders", Some(&s.ann.token))
        .header("idempotency-key", "first")
        .header("idempotency-key", "second")
        .json(&latte(&s, 1))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
    assert_eq!(s.orders(&s.ann.token).await["total"], 0);
}

#[tokio::test]
async fn twenty_concurrent_identical_requests_create_one_order_and_one_mail() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    let body = latte(&s, 3);
    let attempts = (0..20).map(|_| order_with_key(&s, &token, "burst", &body));
    let responses = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    let mut replayed = 0;
    for resp in responses {
        match (resp.status().as_u16(), header(resp.headers(), "idempotent-replayed")) {
            (201, None) => created += 1,
            (201, Some(_)) => replayed += 1,
            (409, _) => {
                assert_eq!(header(resp.headers(), "retry-after").as_deref(), Some("1"));
                assert_problem(resp, 409, "idempotency_in_flight").await;
            }
            (status, _) => panic!("unexpected {status}: {}", resp.text().await.unwrap()),
        }
    }
    assert_eq!(created, 1, "exactly one request placed the order ({replayed} replays)");
    assert_eq!(s.orders(&token).await["total"], 1);
    s.app.nth_mail_to(ADMIN_EMAIL, 1).await;
    s.app.settle().await;
    assert_eq!(s.app.mails_to(ADMIN_EMAIL).len(), 1);
    let replay = order_with_key(&s, &token, "burst", &body).await;
    assert_eq!(header(replay.headers(), "idempotent-replayed").as_deref(), Some("true"));
}
