#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use uuid::Uuid;

use super::fakes::InMemoryCarts;
use super::{CartError, CartService, Quantity};
use crate::access::{AccessError, Caller};
use crate::catalog::Product;
use crate::catalog::fakes::InMemoryCatalog;
use crate::money::Money;
use crate::testing::{Fakes, run, verified_user};
use crate::user::Role;

struct Setup {
    fakes: Fakes,
    catalog: Arc<InMemoryCatalog>,
    service: CartService,
    ann: Caller,
}

fn setup() -> Setup {
    let fakes = Fakes::new();
    let catalog = Arc::new(InMemoryCatalog::default());
    let carts = Arc::new(InMemoryCarts::new(catalog.clone()));
    let service = CartService::new(carts, catalog.clone(), fakes.clock.clone());
    let ann = verified_user("ann@example.com", Role::User, fakes.now());
    fakes.users.insert(ann.clone(), "x");
    let ann = fakes.caller(&ann);
    Setup { fakes, catalog, service, ann }
}

fn q(n: i64) -> Quantity {
    Quantity::parse("quantity", n).unwrap()
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

/// Puts a product on the menu.
fn product(s: &Setup, name: &str, price: i64, is_available: bool) -> Uuid {
    let now = s.fakes.now();
    let p = Product {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        description: None,
        price: money(price),
        is_available,
        image: None,
        categories: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    s.catalog.insert(p.clone());
    p.id
}

#[test]
fn quantities_are_whole_numbers_from_1_to_99() {
    for ok in [1, 42, 99] {
        assert_eq!(q(ok).get(), u32::try_from(ok).unwrap());
    }
    for bad in [0, 100, -1, 1_000_000_000_000, i64::MIN] {
        assert_eq!(Quantity::parse("items[0].quantity", bad).unwrap_err().field, "items[0].quantity", "{bad}");
    }
}

#[test]
fn an_empty_cart_has_zero_totals() {
    let s = setup();
    let cart = run(s.service.get(&s.ann)).unwrap();
    assert_eq!((cart.items.len(), cart.total_quantity, cart.total), (0, 0, Money::ZERO));
}

#[test]
fn adding_a_product_twice_merges_into_one_line_with_current_totals() {
    let s = setup();
    let latte = product(&s, "Latte", 350, true);
    let cake = product(&s, "Cake", 1_299, true);
    let first = run(s.service.add(&s.ann, latte, q(2))).unwrap();
    assert!(!first.merged, "a new line");
    run(s.service.add(&s.ann, cake, q(1))).unwrap();
    let again = run(s.service.add(&s.ann, latte, q(3))).unwrap();
    assert_eq!((again.line, again.merged), (first.line, true), "merged into the same line");
    let cart = again.cart;
    assert_eq!(cart.items.len(), 2);
    assert_eq!((cart.items[0].quantity.get(), cart.items[0].line_total), (5, money(1_750)));
    assert_eq!((cart.total_quantity, cart.total), (6, money(3_049)));
}

#[test]
fn the_cart_shows_current_prices_and_availability() {
    let s = setup();
    let latte = product(&s, "Latte", 350, true);
    run(s.service.add(&s.ann, latte, q(2))).unwrap();
    s.catalog.edit(latte, money(400), false);
    let cart = run(s.service.get(&s.ann)).unwrap();
    assert_eq!((cart.items[0].unit_price, cart.items[0].is_available, cart.total), (money(400), false, money(800)));
}

#[test]
fn unknown_and_unavailable_products_cannot_be_added() {
    let s = setup();
    let sold_out = product(&s, "Pumpkin latte", 450, false);
    let ghost = run(s.service.add(&s.ann, Uuid::now_v7(), q(1)));
    assert!(matches!(ghost, Err(CartError::Access(AccessError::NotFound))), "{ghost:?}");
    let refused = run(s.service.add(&s.ann, sold_out, q(1)));
    assert!(matches!(refused, Err(CartError::ProductUnavailable(id)) if id == sold_out), "{refused:?}");
    assert!(run(s.service.get(&s.ann)).unwrap().items.is_empty());
}

#[test]
fn a_line_never_holds_more_than_99() {
    let s = setup();
    let latte = product(&s, "Latte", 350, true);
    run(s.service.add(&s.ann, latte, q(96))).unwrap();
    let refused = run(s.service.add(&s.ann, latte, q(4)));
    assert!(matches!(&refused, Err(CartError::Invalid(e)) if e.field == "quantity"), "{refused:?}");
    assert_eq!(run(s.service.get(&s.ann)).unwrap().total_quantity, 96, "nothing changed");
    run(s.service.add(&s.ann, latte, q(3))).unwrap();
    assert_eq!(run(s.service.get(&s.ann)).unwrap().total_quantity, 99);
}

#[test]
fn lines_can_be_changed_and_removed_only_by_their_owner() {
    let s = setup();
    let latte = product(&s, "Latte", 350, true);
    let line = run(s.service.add(&s.ann, latte, q(2))).unwrap().line;
    let bob = verified_user("bob@example.com", Role::User, s.fakes.now());
    s.fakes.users.insert(bob.clone(), "x");
    let bob = s.fakes.caller(&bob);
    assert!(matches!(run(s.service.set_quantity(&bob, line, q(9))), Err(CartError::Access(AccessError::NotFound))));
    assert!(matches!(run(s.service.remove(&bob, line)), Err(CartError::Access(AccessError::NotFound))));
    let cart = run(s.service.set_quantity(&s.ann, line, q(7))).unwrap();
    assert_eq!(cart.total_quantity, 7);
    run(s.service.remove(&s.ann, line)).unwrap();
    assert!(matches!(run(s.service.remove(&s.ann, line)), Err(CartError::Access(AccessError::NotFound))));
}

#[test]
fn a_product_deleted_from_the_menu_disappears_from_the_cart() {
    let s = setup();
    let latte = product(&s, "Latte", 350, true);
    let cake = product(&s, "Cake", 500, true);
    run(s.service.add(&s.ann, latte, q(1))).unwrap();
    run(s.service.add(&s.ann, cake, q(1))).unwrap();
    s.catalog.remove(latte);
    let cart = run(s.service.get(&s.ann)).unwrap();
    assert_eq!(cart.items.iter().map(|l| l.product_id).collect::<Vec<_>>(), [cake]);
    run(s.service.clear(&s.ann)).unwrap();
    assert!(run(s.service.get(&s.ann)).unwrap().items.is_empty());
}

#[test]
fn a_cart_holds_at_most_as_many_lines_as_one_order() {
    let s = setup();
    let products: Vec<Uuid> =
        (0..=crate::order::MAX_LINES).map(|i| product(&s, &format!("Drink {i}"), 100, true)).collect();
    let (last, first) = products.split_last().unwrap();
    for &p in first {
        run(s.service.add(&s.ann, p, q(1))).unwrap();
    }
    let refused = run(s.service.add(&s.ann, *last, q(1)));
    assert!(matches!(&refused, Err(CartError::Invalid(e)) if e.field == "product_id"), "{refused:?}");
    let cart = run(s.service.add(&s.ann, first[0], q(1))).unwrap().cart;
    assert_eq!(cart.items.len(), crate::order::MAX_LINES, "a product already there still merges");
    assert_eq!(cart.items[0].quantity.get(), 2);
}
