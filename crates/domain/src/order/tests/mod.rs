#![allow(clippy::unwrap_used)]
//! The order use cases against the domain's fakes: the shared set-up here,
//! the cases by what they exercise in the modules below.

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

mod changes;
mod idempotency;
mod placing;
