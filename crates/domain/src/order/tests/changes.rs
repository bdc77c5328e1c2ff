#![allow(clippy::unwrap_used)]
//! Changing orders: the status machine, live updates, access, preconditions,
//! edits, replacement and deletion.

use super::*;

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
    let query = parse_list_query::<crate::order::OrderResource>(&[]).unwrap();
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
fn put_keeps_the_pickup_time_the_order_has_without_judging_it_again() {
    let s = setup();
    let latte = s.product("Latte", 350);
    let at = s.fakes.now() + TimeDelta::hours(1);
    let order = s.place(&s.ann, OrderInput { pickup_at: Some(at), ..items(&[(latte, 1)]) }).unwrap();
    // Five minutes before the pickup, inside the lead time: the items still change.
    s.fakes.clock.advance(TimeDelta::minutes(55));
    // The same instant, sent with more digits than are stored.
    let same = OrderInput { pickup_at: Some(at + TimeDelta::nanoseconds(300)), ..items(&[(latte, 2)]) };
    let replaced = run(s.service.replace(&s.ann, order.id, same, &Precondition::default())).unwrap();
    assert_eq!((replaced.pickup_at, replaced.items[0].quantity.get()), (Some(at), 2));
    // A new time is judged: it must be at least the lead time ahead.
    let moved = OrderInput { pickup_at: Some(at + TimeDelta::minutes(1)), ..items(&[(latte, 2)]) };
    let refused = run(s.service.replace(&s.ann, order.id, moved, &Precondition::default()));
    assert!(matches!(&refused, Err(OrderError::Invalid(e)) if e[0].field == "pickup_at"), "{refused:?}");
}

#[test]
fn a_change_to_as_soon_as_possible_needs_the_shop_open_but_keeping_it_does_not() {
    let s = setup();
    let latte = s.product("Latte", 350);
    // Open 08:00-20:00; it is 09:00.
    let asap = s.place(&s.ann, items(&[(latte, 1)])).unwrap();
    let at = s.fakes.now() + TimeDelta::hours(2);
    let scheduled = s.place(&s.ann, OrderInput { pickup_at: Some(at), ..items(&[(latte, 1)]) }).unwrap();
    s.fakes.clock.advance(TimeDelta::hours(12)); // 21:00: closed
    let now_asap = OrderPatch { pickup_at: Some(None), ..OrderPatch::default() };
    let patched = run(s.service.patch(&s.ann, scheduled.id, now_asap, &Precondition::default()));
    assert!(matches!(patched, Err(OrderError::ShopClosed)), "{patched:?}");
    let replaced = run(s.service.replace(&s.ann, scheduled.id, items(&[(latte, 2)]), &Precondition::default()));
    assert!(matches!(replaced, Err(OrderError::ShopClosed)), "{replaced:?}");
    // An order that was for as soon as possible already keeps it.
    let kept = run(s.service.replace(&s.ann, asap.id, items(&[(latte, 2)]), &Precondition::default())).unwrap();
    assert_eq!((kept.pickup_at, kept.items[0].quantity.get()), (None, 2));
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
