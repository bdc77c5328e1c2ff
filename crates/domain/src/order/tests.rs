#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday};
use uuid::Uuid;

use super::{
    Condition, IdempotencyKey, ItemRequest, MAX_LINES, Order, OrderError, OrderInput, OrderPatch, OrderPorts,
    OrderService, OrderSettings, OrderStatus, PickupSettings, Precondition, Recipients, RenderAnswer, StoredResponse,
    TransitionError, Versions,
};
use crate::access::{AccessError, Caller};
use crate::cart::{CartRepository, Quantity};
use crate::catalog::Product;
use crate::jobs::Job;
use crate::live::fakes::RecordingFanOut;
use crate::live::{LiveEvent, LiveFeed, OrderUpdate};
use crate::mail::Mail;
use crate::money::{Currency, Money};
use crate::query::parse_list_query;
use crate::shop::{Location, OpeningHours, Shop, ShopInfo, ShopTimeZone};
use crate::testing::{Fakes, run, verified_user};
use crate::user::{Email, Role, User};

/// The shop's clocks show UTC.
struct Utc0;
impl ShopTimeZone for Utc0 {
    fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.naive_utc()
    }
}

/// Open 08:00–20:00 every day; the fake clock starts on Monday 5 Jan 2026, 09:00.
fn shop(fakes: &Fakes) -> Arc<Shop> {
    let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
    let week = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
    let info = ShopInfo {
        name: "Coffee".to_owned(),
        address: "1 Main St".to_owned(),
        location: Location { lat: 41.3, lng: 69.3 },
        phone: "+998 71 200 00 00".to_owned(),
        email: "hello@coffee.example".to_owned(),
        currency: Currency::parse("currency", "UZS").unwrap(),
        timezone: "UTC".to_owned(),
        opening_hours: week.map(|day| OpeningHours { day, open: t("08:00"), close: t("20:00") }).to_vec(),
    };
    Arc::new(Shop::new(info, Arc::new(Utc0), fakes.clock.clone()))
}

/// Answers as the tests read them: `order <number>`, `<status> <error>`.
struct Render;
impl RenderAnswer for Render {
    fn order(&self, order: &Order) -> String {
        format!("order {}", order.number)
    }
    fn refusal(&self, refusal: OrderError) -> (u16, String) {
        (409, format!("refused: {refusal}"))
    }
}

struct Setup {
    fakes: Fakes,
    service: OrderService,
    ann: Caller,
    bob: Caller,
    boss: Caller,
    live: Arc<RecordingFanOut>,
}

fn setup_with(notify: Recipients) -> Setup {
    let fakes = Fakes::new();
    let live = Arc::new(RecordingFanOut::default());
    let ports = OrderPorts {
        orders: fakes.orders.clone(),
        idempotency: fakes.idempotency.clone(),
        uow: fakes.uow(),
        shop: shop(&fakes),
        clock: fakes.clock.clone(),
        live: LiveFeed::new(live.clone()),
    };
    let settings = OrderSettings {
        pickup: PickupSettings::default(),
        idempotency_ttl: TimeDelta::hours(24),
        idempotency_lease: TimeDelta::seconds(30),
        notify,
    };
    let service = OrderService::new(ports, settings);
    let person = |address: &str, role: Role| {
        let mut u: User = verified_user(address, role, fakes.now());
        u.first_name = Some(address.split('@').next().unwrap_or_default().to_owned());
        fakes.users.insert(u.clone(), "x");
        fakes.caller(&u)
    };
    let (ann, bob, boss) = (
        person("ann@example.com", Role::User),
        person("bob@example.com", Role::User),
        person("boss@example.com", Role::Admin),
    );
    Setup { fakes, service, ann, bob, boss, live }
}

fn setup() -> Setup {
    setup_with(Recipients::Admins)
}

fn q(n: i64) -> Quantity {
    Quantity::parse("quantity", n).unwrap()
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

impl Setup {
    fn product(&self, name: &str, price: i64) -> Uuid {
        let now = self.fakes.now();
        let id = Uuid::now_v7();
        self.fakes.catalog.insert(Product {
            id,
            name: name.to_owned(),
            description: None,
            price: money(price),
            is_available: true,
            image: None,
            categories: Vec::new(),
            created_at: now,
            updated_at: now,
        });
        id
    }

    fn add_to_cart(&self, who: &Caller, product: Uuid, n: i64) {
        run(self.fakes.carts.add(who.id(), Uuid::now_v7(), product, q(n), self.fakes.now())).unwrap();
    }

    fn cart_len(&self, who: &Caller) -> usize {
        run(self.fakes.carts.entries(who.id())).unwrap().len()
    }

    fn place(&self, who: &Caller, input: OrderInput) -> Result<Order, OrderError> {
        let placed = run(self.service.place(who, input, None, &Render))?;
        Ok(run(self.fakes.orders.find_order(placed.response.order_id.unwrap())))
    }

    fn place_with_key(
        &self,
        who: &Caller,
        input: OrderInput,
        key: &str,
        body: &str,
    ) -> Result<super::Placed, OrderError> {
        let key = IdempotencyKey::parse(key, body.to_owned()).unwrap();
        run(self.service.place(who, input, Some(key), &Render))
    }

    fn mails(&self) -> Vec<Mail> {
        self.fakes.outbox.jobs().into_iter().map(|Job::SendMail(m)| m).collect()
    }

    fn status(&self, who: &Caller, id: Uuid, to: OrderStatus) -> Result<Order, OrderError> {
        run(self.service.patch(
            who,
            id,
            OrderPatch { status: Some(to), ..OrderPatch::default() },
            &Precondition::default(),
        ))
    }
}

impl crate::order::fakes::InMemoryOrders {
    async fn find_order(&self, id: Uuid) -> Order {
        use crate::order::OrderRepository;
        self.find(id).await.unwrap().unwrap()
    }
}

fn items(list: &[(Uuid, i64)]) -> OrderInput {
    OrderInput {
        items: Some(
            list.iter().map(|(product_id, n)| ItemRequest { product_id: *product_id, quantity: q(*n) }).collect(),
        ),
        ..OrderInput::default()
    }
}

// ---------------------------------------------------------------- placing

#[test]
fn checking_out_the_cart_creates_a_pending_order_with_snapshots_and_empties_the_cart() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let cake = s.product("Cake", 1_299);
    s.add_to_cart(&s.ann, latte, 2);
    s.add_to_cart(&s.ann, cake, 1);
    let order = s.place(&s.ann, OrderInput { comment: Some("No sugar".to_owned()), ..OrderInput::default() }).unwrap();
    assert_eq!((order.status, order.version, order.user_id, order.number), (OrderStatus::Pending, 1, s.ann.id(), 1));
    let lines: Vec<(&str, i64, u32, i64)> = order
        .items
        .iter()
        .map(|l| (l.name.as_str(), l.unit_price.minor(), l.quantity.get(), l.line_total.minor()))
        .collect();
    assert_eq!(lines, [("Latte", 350, 2, 700), ("Cake", 1_299, 1, 1_299)]);
    assert_eq!((order.total, order.comment.as_deref(), order.pickup_at), (money(1_999), Some("No sugar"), None));
    assert_eq!(s.cart_len(&s.ann), 0, "the cart is emptied with the order");
}

#[test]
fn explicit_items_leave_the_cart_alone_and_numbers_increase() {
    let s = setup();
    let latte = s.product("Latte", 350);
    s.add_to_cart(&s.ann, latte, 1);
    let first = s.place(&s.ann, items(&[(latte, 3)])).unwrap();
    let second = s.place(&s.bob, items(&[(latte, 1)])).unwrap();
    assert_eq!((first.number, second.number), (1, 2));
    assert_eq!(first.total, money(1_050));
    assert_eq!(s.cart_len(&s.ann), 1);
}

#[test]
fn an_empty_cart_cannot_be_checked_out() {
    let s = setup();
    assert!(matches!(s.place(&s.ann, OrderInput::default()), Err(OrderError::CartEmpty)));
    assert!(s.fakes.orders.all().is_empty() && s.mails().is_empty());
}

#[test]
fn a_cart_of_more_lines_than_an_order_holds_is_refused_and_kept() {
    let s = setup();
    for i in 0..=MAX_LINES {
        let p = s.product(&format!("Drink {i}"), 100);
        s.add_to_cart(&s.ann, p, 1);
    }
    let refused = s.place(&s.ann, OrderInput::default());
    assert!(matches!(&refused, Err(OrderError::Invalid(e)) if e[0].field == "items"), "{refused:?}");
    assert_eq!(s.cart_len(&s.ann), MAX_LINES + 1, "the cart is kept");
    assert!(s.fakes.orders.all().is_empty() && s.mails().is_empty());
}

#[test]
fn an_unavailable_product_fails_the_checkout_and_keeps_the_cart_as_it_was() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let gone = s.product("Pumpkin latte", 450);
    s.add_to_cart(&s.ann, latte, 1);
    s.add_to_cart(&s.ann, gone, 1);
    s.fakes.catalog.edit(gone, money(450), false);
    let refused = s.place(&s.ann, OrderInput::default());
    assert!(matches!(&refused, Err(OrderError::ProductUnavailable(ids)) if ids == &vec![gone]), "{refused:?}");
    assert_eq!(s.cart_len(&s.ann), 2, "the transaction rolled the cart back");
    assert!(s.fakes.orders.all().is_empty() && s.mails().is_empty());
}

#[test]
fn unknown_explicit_products_are_named_by_position() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let refused = s.place(&s.ann, items(&[(latte, 1), (Uuid::now_v7(), 1)]));
    let Err(OrderError::Invalid(errors)) = refused else { panic!("{refused:?}") };
    assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["items[1].product_id"]);
}

#[test]
fn later_menu_edits_and_deletions_never_change_a_placed_order() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 2)])).unwrap();
    s.fakes.catalog.edit(latte, money(999), false);
    s.fakes.catalog.remove(latte);
    let again = run(s.service.get(&s.ann, order.id)).unwrap();
    assert_eq!(again, order);
}

#[test]
fn a_new_order_mails_every_admin_once_with_its_details() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let at = s.fakes.now() + TimeDelta::hours(2);
    let input = OrderInput { pickup_at: Some(at), comment: Some("Oat milk".to_owned()), ..items(&[(latte, 2)]) };
    let order = s.place(&s.ann, input).unwrap();
    let mails = s.mails();
    assert_eq!(mails.len(), 1);
    let Mail::NewOrder { to, order: summary } = &mails[0] else { panic!("{mails:?}") };
    assert_eq!(to, &["boss@example.com"]);
    assert_eq!((summary.number, summary.total, summary.currency.as_str()), (order.number, 700, "UZS"));
    assert_eq!(summary.customer, "ann <ann@example.com>");
    assert_eq!((summary.items[0].name.as_str(), summary.items[0].quantity), ("Latte", 2));
    assert_eq!(summary.pickup.as_deref(), Some("Mon 5 Jan 2026, 11:00"));
    assert_eq!(summary.comment.as_deref(), Some("Oat milk"));
}

#[test]
fn admin_notify_emails_replace_the_admins_as_recipients() {
    let listed = vec![Email::parse("e", "kitchen@coffee.example").unwrap()];
    let s = setup_with(Recipients::Listed(listed));
    let latte = s.product("Latte", 350);
    s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    assert!(matches!(&s.mails()[..], [Mail::NewOrder { to, .. }] if to == &["kitchen@coffee.example"]));
}

#[test]
fn as_soon_as_possible_needs_an_open_shop_but_a_scheduled_pickup_does_not() {
    let s = setup();
    let latte = s.product("Latte", 350);
    s.fakes.clock.advance(TimeDelta::hours(12)); // 21:00: closed
    assert!(matches!(s.place(&s.ann, items(&[(latte, 1)])), Err(OrderError::ShopClosed)));
    let tomorrow = s.fakes.now() + TimeDelta::hours(12); // 09:00
    let order = s.place(&s.ann, OrderInput { pickup_at: Some(tomorrow), ..items(&[(latte, 1)]) }).unwrap();
    assert_eq!(order.pickup_at, Some(tomorrow));
    let night = s.fakes.now() + TimeDelta::hours(3); // 00:00
    let refused = s.place(&s.ann, OrderInput { pickup_at: Some(night), ..items(&[(latte, 1)]) });
    assert!(matches!(&refused, Err(OrderError::Invalid(e)) if e[0].field == "pickup_at"), "{refused:?}");
}

// ---------------------------------------------------------------- idempotency

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

// ---------------------------------------------------------------- status

#[test]
fn an_admin_moves_an_order_to_completion_and_the_customer_is_mailed_when_it_is_ready() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let mut version = order.version;
    for to in [OrderStatus::Confirmed, OrderStatus::Preparing, OrderStatus::Ready, OrderStatus::Completed] {
        let moved = s.status(&s.boss, order.id, to).unwrap();
        assert_eq!((moved.status, moved.version), (to, version + 1));
        version = moved.version;
    }
    let mails = s.mails();
    assert_eq!(mails.len(), 2, "the new-order mail and one when ready: {mails:?}");
    assert!(matches!(&mails[1], Mail::OrderStatus { to, status, .. } if to == "ann@example.com" && status == "ready"));
    let refused = s.status(&s.boss, order.id, OrderStatus::Cancelled);
    assert!(matches!(refused, Err(OrderError::Transition(TransitionError::Invalid { .. }))), "{refused:?}");
}

#[test]
fn every_new_changed_or_deleted_order_is_published_live() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let edit = OrderPatch { comment: Some(Some("extra hot".to_owned())), ..OrderPatch::default() };
    let edited = run(s.service.patch(&s.ann, order.id, edit, &Precondition::default())).unwrap();
    let replaced = run(s.service.replace(&s.ann, order.id, items(&[(latte, 2)]), &Precondition::default())).unwrap();
    let confirmed = s.status(&s.boss, order.id, OrderStatus::Confirmed).unwrap();
    run(s.service.delete(&s.boss, order.id, &Precondition::default())).unwrap();
    let updates: Vec<OrderUpdate> = s
        .live
        .events()
        .into_iter()
        .map(|e| match e {
            LiveEvent::Order(update) => update,
            other => panic!("only order events: {other:?}"),
        })
        .collect();
    let gone = OrderUpdate::deleted(&confirmed, s.fakes.now());
    assert_eq!(
        updates,
        [&order, &edited, &replaced, &confirmed].map(OrderUpdate::from).into_iter().chain([gone]).collect::<Vec<_>>()
    );
    assert_eq!((updates[0].user_id, updates[0].number), (s.ann.id(), order.number));
    assert!(updates[4].deleted && updates[4].status == OrderStatus::Confirmed, "{:?}", updates[4]);
}

#[test]
fn an_admin_cancelling_mails_the_customer_but_an_owner_cancelling_does_not() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let a = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let b = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    s.status(&s.boss, a.id, OrderStatus::Cancelled).unwrap();
    s.status(&s.ann, b.id, OrderStatus::Cancelled).unwrap();
    let status_mails = s.mails().into_iter().filter(|m| matches!(m, Mail::OrderStatus { .. })).count();
    assert_eq!(status_mails, 1);
}

#[test]
fn owners_may_only_cancel_and_only_while_pending() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let confirm = s.status(&s.ann, order.id, OrderStatus::Confirmed);
    assert!(matches!(confirm, Err(OrderError::Transition(TransitionError::StaffOnly(_)))), "{confirm:?}");
    s.status(&s.boss, order.id, OrderStatus::Confirmed).unwrap();
    let cancel = s.status(&s.ann, order.id, OrderStatus::Cancelled);
    assert!(matches!(cancel, Err(OrderError::Transition(TransitionError::Invalid { .. }))), "{cancel:?}");
}

#[test]
fn other_customers_orders_do_not_exist_for_them() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let not_found = |r: Result<_, OrderError>| matches!(r, Err(OrderError::Access(AccessError::NotFound)));
    assert!(not_found(run(s.service.get(&s.bob, order.id)).map(|_| ())));
    assert!(not_found(s.status(&s.bob, order.id, OrderStatus::Cancelled).map(|_| ())));
    assert!(not_found(run(s.service.delete(&s.bob, order.id, &Precondition::default()))));
    assert!(run(s.service.get(&s.boss, order.id)).is_ok(), "admins see every order");
    let query = parse_list_query::<super::OrderResource>(&[]).unwrap();
    assert_eq!(run(s.service.list(&s.bob, &query)).unwrap().total, 0);
    assert_eq!(run(s.service.list(&s.ann, &query)).unwrap().total, 1);
    assert_eq!(run(s.service.list(&s.boss, &query)).unwrap().total, 1);
}

#[test]
fn a_stale_if_match_is_refused_and_a_change_without_it_is_judged_on_the_current_state() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    s.status(&s.boss, order.id, OrderStatus::Confirmed).unwrap();
    let stale = OrderPatch { status: Some(OrderStatus::Preparing), ..OrderPatch::default() };
    let refused = run(s.service.patch(&s.boss, order.id, stale.clone(), &Precondition::at(order.version)));
    assert!(matches!(refused, Err(OrderError::PreconditionFailed(Condition::IfMatch))), "{refused:?}");
    let moved = run(s.service.patch(&s.boss, order.id, stale, &Precondition::at(2))).unwrap();
    assert_eq!((moved.status, moved.version), (OrderStatus::Preparing, 3));
    // Two admins confirming the same step: the second finds it done already.
    let again = s.status(&s.boss, order.id, OrderStatus::Preparing);
    assert!(matches!(again, Err(OrderError::Transition(TransitionError::Invalid { .. }))));
}

#[test]
fn if_match_lists_and_if_none_match_are_judged_on_the_current_version() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let confirm = OrderPatch { status: Some(OrderStatus::Confirmed), ..OrderPatch::default() };
    let when = |if_match: Option<Versions>, if_none_match: Option<Versions>| Precondition { if_match, if_none_match };
    // `If-None-Match` naming the current version (or `*`) refuses, and nothing changes.
    for current in [Versions::Of(vec![1]), Versions::Any] {
        let refused = run(s.service.patch(&s.boss, order.id, confirm.clone(), &when(None, Some(current))));
        assert!(matches!(refused, Err(OrderError::PreconditionFailed(Condition::IfNoneMatch))), "{refused:?}");
    }
    assert_eq!(run(s.service.get(&s.boss, order.id)).unwrap().version, 1, "nothing changed");
    // Both: `If-Match` holds, `If-None-Match` names another version only.
    let both = when(Some(Versions::Any), Some(Versions::Of(vec![7])));
    let replaced = run(s.service.replace(&s.ann, order.id, items(&[(latte, 3)]), &both)).unwrap();
    assert_eq!(replaced.version, 2);
    // An `If-Match` list applies when the current version is any of it.
    let moved = run(s.service.patch(&s.boss, order.id, confirm, &when(Some(Versions::Of(vec![9, 2])), None)));
    assert_eq!(moved.unwrap().version, 3);
    let deleted = run(s.service.delete(&s.boss, order.id, &when(None, Some(Versions::Of(vec![3])))));
    assert!(matches!(deleted, Err(OrderError::PreconditionFailed(Condition::IfNoneMatch))), "{deleted:?}");
    run(s.service.delete(&s.boss, order.id, &when(Some(Versions::Of(vec![3])), None))).unwrap();
}

#[test]
fn the_owner_edits_comment_and_pickup_only_while_pending() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let at = s.fakes.now() + TimeDelta::hours(1);
    let edit =
        OrderPatch { comment: Some(Some("Extra hot".to_owned())), pickup_at: Some(Some(at)), ..OrderPatch::default() };
    let edited = run(s.service.patch(&s.ann, order.id, edit.clone(), &Precondition::default())).unwrap();
    assert_eq!((edited.comment.as_deref(), edited.pickup_at, edited.version), (Some("Extra hot"), Some(at), 2));
    let same = run(s.service.patch(&s.ann, order.id, edit.clone(), &Precondition::at(2))).unwrap();
    assert_eq!(same.version, 2, "sending the values the order has changes nothing");
    // Within the lead time now, the kept pickup time is not judged again:
    // the comment still changes.
    s.fakes.clock.advance(TimeDelta::minutes(55));
    let kept = OrderPatch { comment: Some(Some("Oat milk".to_owned())), ..edit.clone() };
    let kept = run(s.service.patch(&s.ann, order.id, kept, &Precondition::default())).unwrap();
    assert_eq!((kept.comment.as_deref(), kept.pickup_at, kept.version), (Some("Oat milk"), Some(at), 3));
    s.fakes.clock.advance(TimeDelta::minutes(-55));
    let by_admin = run(s.service.patch(&s.boss, order.id, edit.clone(), &Precondition::default()));
    assert!(matches!(by_admin, Err(OrderError::Access(AccessError::Forbidden))), "{by_admin:?}");
    s.status(&s.boss, order.id, OrderStatus::Confirmed).unwrap();
    let late = run(s.service.patch(&s.ann, order.id, edit, &Precondition::default()));
    assert!(matches!(late, Err(OrderError::NotPending(OrderStatus::Confirmed))), "{late:?}");
}

#[test]
fn put_replaces_the_lines_at_current_prices_while_pending() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let cake = s.product("Cake", 500);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    s.fakes.catalog.edit(cake, money(600), true);
    let replaced = run(s.service.replace(&s.ann, order.id, items(&[(cake, 2)]), &Precondition::at(1))).unwrap();
    assert_eq!((replaced.items.len(), replaced.total, replaced.version), (1, money(1_200), 2));
    let without_items = run(s.service.replace(&s.ann, order.id, OrderInput::default(), &Precondition::default()));
    assert!(matches!(&without_items, Err(OrderError::Invalid(e)) if e[0].field == "items"));
    s.status(&s.boss, order.id, OrderStatus::Confirmed).unwrap();
    let late = run(s.service.replace(&s.ann, order.id, items(&[(latte, 1)]), &Precondition::default()));
    assert!(matches!(late, Err(OrderError::NotPending(_))), "{late:?}");
}

#[test]
fn owners_delete_pending_orders_and_admins_any() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let a = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let b = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    run(s.service.delete(&s.ann, a.id, &Precondition::at(1))).unwrap();
    s.status(&s.boss, b.id, OrderStatus::Confirmed).unwrap();
    assert!(matches!(run(s.service.delete(&s.ann, b.id, &Precondition::default())), Err(OrderError::NotPending(_))));
    assert!(matches!(
        run(s.service.delete(&s.boss, b.id, &Precondition::at(1))),
        Err(OrderError::PreconditionFailed(Condition::IfMatch))
    ));
    run(s.service.delete(&s.boss, b.id, &Precondition::default())).unwrap();
    assert!(s.fakes.orders.all().is_empty());
}
