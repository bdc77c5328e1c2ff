#![allow(clippy::unwrap_used)]
//! Placing orders: from the cart or explicit items, snapshots, mails, pickup times.

use super::*;

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
fn every_verified_admin_gets_their_own_mail_so_one_refused_address_holds_up_no_other() {
    let s = setup();
    let mut chef: User = verified_user("chef@example.com", Role::Admin, s.fakes.now());
    s.fakes.users.insert(chef.clone(), "x");
    chef.id = Uuid::now_v7();
    chef.email = Email::parse("e", "unproven@example.com").unwrap();
    chef.is_verified = false;
    s.fakes.users.insert(chef, "x");
    let latte = s.product("Latte", 350);
    let order = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let to: Vec<Vec<String>> = s
        .mails()
        .into_iter()
        .map(|mail| match mail {
            Mail::NewOrder { to, order: summary } if summary.number == order.number => to,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(to, [vec!["boss@example.com".to_owned()], vec!["chef@example.com".to_owned()]]);
}

#[test]
fn admin_notify_emails_replace_the_admins_as_recipients() {
    let listed =
        vec![Email::parse("e", "kitchen@coffee.example").unwrap(), Email::parse("e", "bar@coffee.example").unwrap()];
    let s = setup_with(Recipients::Listed(listed));
    let latte = s.product("Latte", 350);
    s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let to: Vec<Vec<String>> =
        s.mails().into_iter().map(|m| m.recipients().iter().map(|r| (*r).to_owned()).collect()).collect();
    assert_eq!(to, [vec!["kitchen@coffee.example".to_owned()], vec!["bar@coffee.example".to_owned()]]);
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
