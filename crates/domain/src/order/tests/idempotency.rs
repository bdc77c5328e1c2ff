#![allow(clippy::unwrap_used)]
//! `Idempotency-Key`: replays, reuse, keys in flight and taken over.

use super::*;

#[test]
fn a_repeated_key_replays_the_first_answer_without_a_second_order_or_mail() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let first = s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp").unwrap();
    let again = s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp").unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(again.response, first.response);
    assert_eq!((again.response.status, again.response.body.as_str()), (201, "order 1"));
    assert_eq!((s.fakes.orders.all().len(), s.mails().len()), (1, 1));
    // Keys are scoped to the caller: Bob's "key-1" is his own.
    let bobs = s.place_with_key(&s.bob, items(&[(latte, 1)]), "key-1", "fp").unwrap();
    assert!(!bobs.replayed);
    assert_eq!(s.fakes.orders.all().len(), 2);
}

#[test]
fn a_key_reused_with_another_body_is_refused() {
    let s = setup();
    let latte = s.product("Latte", 350);
    s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp-a").unwrap();
    let reused = s.place_with_key(&s.ann, items(&[(latte, 2)]), "key-1", "fp-b");
    assert!(matches!(reused, Err(OrderError::KeyReused)), "{reused:?}");
    assert_eq!(s.fakes.orders.all().len(), 1);
}

#[test]
fn a_key_in_flight_answers_in_flight_until_its_lease_ends() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let key = IdempotencyKey::parse("key-1", "fp".to_owned()).unwrap();
    let now = s.fakes.now();
    // Another request holds the key (claimed, not finished).
    use crate::order::IdempotencyStore;
    run(s.fakes.idempotency.claim(s.ann.id(), &key, now, now + TimeDelta::seconds(30), now + TimeDelta::hours(24)))
        .unwrap();
    let busy = s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp");
    assert!(matches!(busy, Err(OrderError::InFlight)), "{busy:?}");
    // The holder died: after its lease the key is free again.
    s.fakes.clock.advance(TimeDelta::seconds(31));
    assert!(!s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp").unwrap().replayed);
}

#[test]
fn a_refused_request_stores_its_refusal_and_an_expired_key_is_new_again() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let failed = s.place_with_key(&s.ann, OrderInput::default(), "key-1", "fp");
    assert!(matches!(failed, Err(OrderError::CartEmpty)), "{failed:?}");
    s.add_to_cart(&s.ann, latte, 1);
    // SPEC §6: "the first request's status and body are stored": the repeat
    // gets the refusal again, and the cart stays as it is.
    let again = s.place_with_key(&s.ann, OrderInput::default(), "key-1", "fp").unwrap();
    let refusal = StoredResponse { status: 409, order_id: None, body: "refused: the cart is empty".to_owned() };
    assert_eq!((again.response, again.replayed), (refusal, true));
    assert_eq!((s.fakes.orders.all().len(), s.cart_len(&s.ann)), (0, 1));
    s.fakes.clock.advance(TimeDelta::hours(25)); // Tuesday 10:00: open, past the 24 h retention
    let later = s.place_with_key(&s.ann, OrderInput::default(), "key-1", "fp").unwrap();
    assert!(!later.replayed && later.response.status == 201, "past IDEMPOTENCY_KEY_TTL the key is new");
    assert_eq!(s.fakes.idempotency.len(), 1);
}

#[test]
fn a_request_failing_for_a_passing_reason_releases_its_key() {
    let s = setup();
    let latte = s.product("Latte", 350);
    s.add_to_cart(&s.ann, latte, 1);
    s.fakes.fail_commit.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = s.place_with_key(&s.ann, OrderInput::default(), "key-1", "fp");
    assert!(matches!(failed, Err(OrderError::Unexpected(_))), "{failed:?}");
    let retried = s.place_with_key(&s.ann, OrderInput::default(), "key-1", "fp").unwrap();
    assert!(!retried.replayed && retried.response.status == 201, "a store failure does not burn the key");
    assert_eq!(s.fakes.orders.all().len(), 1);
}

#[test]
fn a_request_whose_key_was_taken_over_places_nothing() {
    use crate::order::{IdempotencyClaim, IdempotencyStore};
    let s = setup();
    let latte = s.product("Latte", 350);
    let key = IdempotencyKey::parse("key-1", "fp".to_owned()).unwrap();
    let now = s.fakes.now();
    let (lease, ttl) = (now + TimeDelta::seconds(30), now + TimeDelta::hours(24));
    // A slow first request claimed the key; its lease ran out and a retry
    // took the key over and placed the order.
    let slow = run(s.fakes.idempotency.claim(s.ann.id(), &key, now, lease, ttl)).unwrap();
    let IdempotencyClaim::Claimed(slow) = slow else { panic!("{slow:?}") };
    s.fakes.clock.advance(TimeDelta::seconds(31));
    let retry = s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp").unwrap();
    assert!(!retry.replayed);
    // The slow request can neither store its answer nor give the key away.
    let late = StoredResponse { status: 201, order_id: Some(Uuid::now_v7()), body: "late".to_owned() };
    assert!(!run(s.fakes.idempotency.complete(slow, &late, s.fakes.now())).unwrap());
    run(s.fakes.idempotency.release(slow)).unwrap();
    let again = s.place_with_key(&s.ann, items(&[(latte, 1)]), "key-1", "fp").unwrap();
    assert_eq!((again.response, again.replayed), (retry.response, true));
    assert_eq!(s.fakes.orders.all().len(), 1);
}

#[test]
fn a_checkout_that_finds_its_lease_taken_over_rolls_back_and_answers_in_flight() {
    let s = setup();
    let latte = s.product("Latte", 350);
    s.add_to_cart(&s.ann, latte, 1);
    s.fakes.idempotency.lose_next_lease();
    let late = s.place_with_key(&s.ann, OrderInput::default(), "key-1", "fp");
    assert!(matches!(late, Err(OrderError::InFlight)), "{late:?}");
    // The whole checkout rolled back: no order, no mail, the cart as it was.
    assert_eq!((s.fakes.orders.all().len(), s.mails().len(), s.cart_len(&s.ann)), (0, 0, 1));
}

#[test]
fn idempotency_keys_are_1_to_255_printable_characters() {
    assert!(IdempotencyKey::parse(&"k".repeat(255), String::new()).is_ok());
    assert!(IdempotencyKey::parse("a b-c_d.e~1", String::new()).is_ok());
    for bad in [String::new(), "k".repeat(256), "tab\there".to_owned(), "nul\0".to_owned(), "ключ".to_owned()] {
        assert_eq!(IdempotencyKey::parse(&bad, String::new()).unwrap_err().field, "Idempotency-Key", "{bad:?}");
    }
}
