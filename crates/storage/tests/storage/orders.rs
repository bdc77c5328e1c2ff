//! Carts, orders and idempotency keys on both backends: merging, the
//! checkout's claim on a cart, numbering, conditional updates, snapshots,
//! and the races that matter.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use coffee_domain::cart::{CartRepository, CartWriteError, Quantity};
use coffee_domain::catalog::{CatalogRepository, NewProduct, Product, ProductChanges};
use coffee_domain::maintenance::MaintenanceRepository;
use coffee_domain::money::Money;
use coffee_domain::order::OrderField;
use coffee_domain::order::{
    IdempotencyClaim, IdempotencyKey, IdempotencyStore, KeyLease, NewOrder, OrderChange, OrderLine, OrderRepository,
    OrderResource, OrderStatus, StoredResponse,
};
use coffee_domain::query::{ListQuery, parse_list_query};
use coffee_domain::uow::UnitOfWork;
use coffee_domain::user::UserRepository;
use coffee_migrations::{Migrator, MigratorTrait};
use coffee_storage::{
    SeaCartRepository, SeaCatalogRepository, SeaIdempotencyStore, SeaMaintenanceRepository, SeaOrderRepository,
};
use coffee_testkit::Backend;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::support::{
    Env, backends, count_rows, down_to_before, hours, secs, t0, user, wait_for_lock_waiters, warm_pool,
};

fn q(n: i64) -> Quantity {
    Quantity::parse("quantity", n).unwrap()
}

fn money(n: i64) -> Money {
    Money::from_minor(n).unwrap()
}

async fn product(env: &Env, name: &str, price: i64) -> Uuid {
    let p = Product {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        description: None,
        price: money(price),
        is_available: true,
        image: None,
        categories: Vec::new(),
        created_at: t0(),
        updated_at: t0(),
    };
    SeaCatalogRepository::new(env.pools.clone())
        .create_product(&NewProduct { product: p.clone(), category_ids: vec![] })
        .await
        .unwrap();
    p.id
}

async fn customer(env: &Env, address: &str) -> Uuid {
    user(address).verified_at(t0()).create(&env.users).await.id
}

fn line(product: Uuid, name: &str, price: i64, n: i64) -> OrderLine {
    OrderLine {
        product_id: Some(product),
        name: name.to_owned(),
        unit_price: money(price),
        quantity: q(n),
        line_total: money(price * n),
    }
}

fn new_order(user_id: Uuid, lines: Vec<OrderLine>) -> NewOrder {
    let total = Money::sum(lines.iter().map(|l| l.line_total)).unwrap();
    NewOrder { id: Uuid::now_v7(), user_id, items: lines, total, comment: None, pickup_at: None, created_at: t0() }
}

// ---------------------------------------------------------------- carts

#[tokio::test]
async fn cart_lines_merge_up_to_99_and_read_back_with_current_prices() {
    for env in backends().await {
        let carts = SeaCartRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let first = carts.add(ann, Uuid::now_v7(), latte, q(60), t0()).await.unwrap();
        let merged = carts.add(ann, Uuid::now_v7(), latte, q(39), t0() + secs(1)).await.unwrap();
        assert_eq!(first, merged, "one line per product");
        let over = carts.add(ann, Uuid::now_v7(), latte, q(1), t0()).await;
        assert!(matches!(over, Err(CartWriteError::TooMany { current: 99 })), "{over:?}");
        let entries = carts.entries(ann).await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].quantity.get(), entries[0].unit_price, entries[0].name.as_str()),
            (99, money(350), "Latte")
        );
        let ghost = carts.add(ann, Uuid::now_v7(), Uuid::now_v7(), q(1), t0()).await;
        assert!(matches!(ghost, Err(CartWriteError::UnknownProduct)), "{ghost:?}");
    }
}

#[tokio::test]
async fn a_deleted_product_leaves_every_cart_and_orders_keep_their_snapshot() {
    for env in backends().await {
        let carts = SeaCartRepository::new(env.pools.clone());
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        carts.add(ann, Uuid::now_v7(), latte, q(2), t0()).await.unwrap();
        let order = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 2)])).await.unwrap();
        let before = orders.find(order.id).await.unwrap().unwrap();
        SeaCatalogRepository::new(env.pools.clone()).delete_product(latte).await.unwrap();
        assert!(carts.entries(ann).await.unwrap().is_empty());
        // The order is unchanged, the id of the product it names included (SPEC §6).
        let kept = orders.find(order.id).await.unwrap().unwrap();
        assert_eq!(kept, before, "{:?}", env.backend);
        assert_eq!(
            (kept.items[0].product_id, kept.items[0].name.as_str(), kept.items[0].unit_price, kept.total),
            (Some(latte), "Latte", money(350), money(700))
        );
    }
}

/// Migration 16 drops the lines' foreign key to products (whose `SET NULL`
/// changed placed orders): the lines already there are kept whole, SQLite's
/// rebuilt table included, and `down` brings the key back.
#[tokio::test]
async fn the_migration_that_keeps_product_ids_keeps_the_lines_already_there() {
    for env in backends().await {
        let orders = SeaOrderRepository::new(env.pools.clone());
        let catalog = SeaCatalogRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let (latte, mocha) = (product(&env, "Latte", 350).await, product(&env, "Mocha", 420).await);
        let order = orders
            .insert(&new_order(ann, vec![line(latte, "Latte", 350, 2), line(mocha, "Mocha", 420, 1)]))
            .await
            .unwrap();
        let before = orders.find(order.id).await.unwrap().unwrap();

        down_to_before(&env, "m20261213_000016_order_lines_keep_product").await;
        catalog.delete_product(latte).await.unwrap();
        // Read raw: today's repository reads columns later migrations add.
        let ids = line_products(&env, order.id).await;
        assert_eq!(ids, [None, Some(mocha)], "{:?}: the old key set the id to NULL", env.backend);

        Migrator::up(&env.db, None).await.unwrap();
        let after = orders.find(order.id).await.unwrap().unwrap();
        let mut under_the_old_key = before;
        under_the_old_key.items[0].product_id = None;
        assert_eq!(after, under_the_old_key, "{:?}: the lines survive the migration whole", env.backend);
        catalog.delete_product(mocha).await.unwrap();
        let ids: Vec<_> = orders.find(order.id).await.unwrap().unwrap().items.iter().map(|l| l.product_id).collect();
        assert_eq!(ids, [None, Some(mocha)], "{:?}: a deletion now leaves the id", env.backend);
        // Deleting the order still takes its lines (the key to orders is kept).
        let delete =
            Query::delete().from_table(Alias::new("orders")).and_where(Expr::col("id").eq(order.id)).to_owned();
        env.db.execute(&delete).await.unwrap();
        assert_eq!(count_rows(&env.db, "order_items").await, 0, "{:?}", env.backend);
    }
}

/// The `product_id` of each line of `order`, in order, read without the repository.
async fn line_products(env: &Env, order: Uuid) -> Vec<Option<Uuid>> {
    let lines = Query::select()
        .column(Alias::new("product_id"))
        .from(Alias::new("order_items"))
        .and_where(Expr::col("order_id").eq(order))
        .order_by(Alias::new("position"), sea_orm::Order::Asc)
        .to_owned();
    env.db.query_all(&lines).await.unwrap().iter().map(|row| row.try_get_by_index(0).unwrap()).collect()
}

// ---------------------------------------------------------------- checkout

#[tokio::test]
async fn a_checkout_that_fails_midway_leaves_cart_and_orders_untouched() {
    for env in backends().await {
        let carts = SeaCartRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        carts.add(ann, Uuid::now_v7(), latte, q(2), t0()).await.unwrap();
        {
            let tx = env.uow.begin().await.unwrap();
            let taken = tx.carts().take(ann).await.unwrap();
            assert_eq!(taken, [(latte, q(2))]);
            tx.orders().insert(&new_order(ann, vec![line(latte, "Latte", 350, 2)])).await.unwrap();
            // …and then something fails: the transaction is dropped uncommitted.
        }
        assert_eq!(carts.entries(ann).await.unwrap().len(), 1, "the cart is back");
        assert_eq!(count_rows(&env.db, "orders").await, 0);
        assert_eq!(count_rows(&env.db, "order_items").await, 0);
    }
}

#[tokio::test]
async fn of_two_concurrent_checkouts_of_one_cart_only_one_gets_the_lines() {
    for env in backends().await {
        let carts = SeaCartRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let cake = product(&env, "Cake", 500).await;
        warm_pool(&env).await;
        for round in 0..5 {
            carts.add(ann, Uuid::now_v7(), latte, q(1), t0()).await.unwrap();
            carts.add(ann, Uuid::now_v7(), cake, q(2), t0()).await.unwrap();
            let checkout = || async {
                let tx = env.uow.begin().await.unwrap();
                let taken = tx.carts().take(ann).await.unwrap();
                if taken.is_empty() {
                    return 0;
                }
                let lines = taken.iter().map(|(p, n)| line(*p, "x", 100, i64::from(n.get()))).collect();
                tx.orders().insert(&new_order(ann, lines)).await.unwrap();
                tx.commit().await.unwrap();
                1
            };
            let (a, b) = tokio::join!(checkout(), checkout());
            assert_eq!(a + b, 1, "round {round}: exactly one order");
        }
        assert_eq!(count_rows(&env.db, "orders").await, 5);
        assert!(carts.entries(ann).await.unwrap().is_empty());
    }
}

// ---------------------------------------------------------------- orders

#[tokio::test]
async fn order_numbers_are_unique_and_increasing_under_concurrent_inserts() {
    for env in backends().await {
        let orders = Arc::new(SeaOrderRepository::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        warm_pool(&env).await;
        let inserts = (0..20).map(|_| {
            let orders = orders.clone();
            async move { orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap() }
        });
        let placed = futures_util::future::join_all(inserts).await;
        let numbers: BTreeSet<i64> = placed.iter().map(|o| o.number).collect();
        assert_eq!(numbers.len(), 20, "unique");
        assert_eq!((numbers.first(), numbers.last()), (Some(&1), Some(&20)));
        // Numbers keep increasing after a deletion of the newest order.
        let newest = placed.iter().max_by_key(|o| o.number).unwrap();
        assert!(orders.delete(newest.id, 1).await.unwrap());
        let next = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
        assert_eq!(next.number, 21);
        let stored = orders.find(next.id).await.unwrap().unwrap();
        assert_eq!(stored, next, "the inserted order reads back identically");
    }
}

#[tokio::test]
async fn a_conditional_update_applies_only_to_the_status_and_version_it_was_judged_on() {
    for env in backends().await {
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let order = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
        let confirm = OrderChange { status: Some(OrderStatus::Confirmed), ..OrderChange::default() };
        let moved = orders.update(order.id, OrderStatus::Pending, 1, &confirm, t0() + secs(5)).await.unwrap().unwrap();
        assert_eq!((moved.status, moved.version, moved.updated_at), (OrderStatus::Confirmed, 2, t0() + secs(5)));
        assert_eq!(moved.items, order.items, "lines come back with the order");
        assert_eq!(
            orders.update(order.id, OrderStatus::Pending, 1, &confirm, t0()).await.unwrap(),
            None,
            "stale status"
        );
        let prepare = OrderChange { status: Some(OrderStatus::Preparing), ..OrderChange::default() };
        assert_eq!(
            orders.update(order.id, OrderStatus::Confirmed, 1, &prepare, t0()).await.unwrap(),
            None,
            "stale version"
        );
        let lines = vec![line(latte, "Latte", 350, 3)];
        let replace = OrderChange {
            items: Some((lines.clone(), money(1_050))),
            comment: Some(Some("3 please".to_owned())),
            ..OrderChange::default()
        };
        let replaced = orders.update(order.id, OrderStatus::Confirmed, 2, &replace, t0()).await.unwrap().unwrap();
        assert_eq!((replaced.items.clone(), replaced.total, replaced.version), (lines, money(1_050), 3));
        assert_eq!(orders.find(order.id).await.unwrap().unwrap(), replaced);
        assert!(!orders.delete(order.id, 2).await.unwrap(), "a stale delete does nothing");
        assert!(orders.delete(order.id, 3).await.unwrap());
        assert_eq!(count_rows(&env.db, "order_items").await, 0, "lines go with their order");
    }
}

#[tokio::test]
async fn racing_transitions_of_one_order_let_exactly_one_through() {
    for env in backends().await {
        let orders = Arc::new(SeaOrderRepository::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let order = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
        warm_pool(&env).await;
        let racers = [OrderStatus::Confirmed, OrderStatus::Cancelled, OrderStatus::Confirmed, OrderStatus::Cancelled]
            .map(|to| {
                let orders = orders.clone();
                async move {
                    let change = OrderChange { status: Some(to), ..OrderChange::default() };
                    orders.update(order.id, OrderStatus::Pending, 1, &change, t0()).await.unwrap()
                }
            });
        let results = futures_util::future::join_all(racers).await;
        let winners: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        let now = orders.find(order.id).await.unwrap().unwrap();
        assert_eq!((now.status, now.version), (winners[0].status, 2));
    }
}

#[tokio::test]
async fn a_page_of_orders_comes_with_its_lines_and_owners_see_their_own() {
    for env in backends().await {
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let bob = customer(&env, "bob@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        for (i, who) in [ann, bob, ann, ann].into_iter().enumerate() {
            let n = i64::try_from(i).unwrap() + 1;
            let mut o = new_order(who, vec![line(latte, "Latte", 350, n), line(latte, "Latte again", 350, 1)]);
            o.created_at = t0() + hours(n);
            orders.insert(&o).await.unwrap();
        }
        let query = |pairs: &[(&str, &str)]| {
            let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            parse_list_query::<OrderResource>(&owned).unwrap()
        };
        let all = orders.list(&query(&[("page_size", "2")]), None).await.unwrap();
        assert_eq!((all.total, all.items.len()), (4, 2));
        assert!(all.items.iter().all(|o| o.items.len() == 2), "every order of the page has its lines");
        assert_eq!(all.items[0].number, 4, "newest first");
        let anns = orders.list(&query(&[("sort", "number")]), Some(ann)).await.unwrap();
        assert_eq!(anns.items.iter().map(|o| o.number).collect::<Vec<_>>(), [1, 3, 4]);
        let by_status = orders.list(&query(&[("status", "pending"), ("total__gte", "1000")]), None).await.unwrap();
        assert_eq!(by_status.items.iter().map(|o| o.number).collect::<Vec<_>>(), [4, 3, 2]);
        let bobs_via_filter = orders.list(&query(&[("user_id", &bob.to_string())]), Some(ann)).await.unwrap();
        assert_eq!(bobs_via_filter.total, 0, "the owner restriction wins over any filter");
    }
}

/// Reads that run while orders are edited and deleted see each order whole:
/// its lines are those of the version (and total) it is read with, and a
/// deleted order is read before or not at all, never without its lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_is_read_whole_while_it_is_edited_or_deleted() {
    for env in backends().await {
        warm_pool(&env).await;
        let orders = Arc::new(SeaOrderRepository::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let edited = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (orders, done) = (orders.clone(), done.clone());
            tokio::spawn(async move {
                for version in 1..=60_i64 {
                    let n = 1 + version % 3;
                    let lines: Vec<OrderLine> = (0..n).map(|i| line(latte, &format!("Latte {i}"), 350, n)).collect();
                    let total = Money::sum(lines.iter().map(|l| l.line_total)).unwrap();
                    let change = OrderChange { items: Some((lines, total)), ..OrderChange::default() };
                    orders.update(edited.id, OrderStatus::Pending, version, &change, t0()).await.unwrap().unwrap();
                    let gone = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 2)])).await.unwrap();
                    assert!(orders.delete(gone.id, 1).await.unwrap());
                }
                done.store(true, std::sync::atomic::Ordering::Release);
            })
        };
        let whole = |o: &coffee_domain::order::Order| {
            !o.items.is_empty() && Money::sum(o.items.iter().map(|l| l.line_total)).ok() == Some(o.total)
        };
        let (mut reads, mut torn) = (0, Vec::new());
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            let one = orders.find(edited.id).await.unwrap().unwrap();
            let page = orders.list(&order_query(&[("page_size", "10")]), None).await.unwrap();
            for o in std::iter::once(&one).chain(&page.items) {
                reads += 1;
                if !whole(o) {
                    torn.push((o.number, o.version, o.total, o.items.len()));
                }
            }
        }
        writer.await.unwrap();
        assert!(reads > 20, "{:?}: the reads ran alongside the writes ({reads})", env.backend);
        assert!(torn.is_empty(), "{:?}: {} of {reads} reads were torn: {torn:?}", env.backend, torn.len());
    }
}

// ---------------------------------------------------------------- board totals

fn order_query(pairs: &[(&str, &str)]) -> ListQuery<OrderField> {
    let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    parse_list_query::<OrderResource>(&owned).unwrap()
}

/// `COUNT(*)` of the orders, of one status if given.
async fn count_orders(env: &Env, status: Option<OrderStatus>) -> u64 {
    let mut stmt = Query::select();
    stmt.expr(Expr::col(Asterisk).count()).from(Alias::new("orders"));
    if let Some(s) = status {
        stmt.and_where(Expr::col(Alias::new("status")).eq(s.as_str()));
    }
    let n: i64 = env.db.query_one(&stmt).await.unwrap().unwrap().try_get_by_index(0).unwrap();
    u64::try_from(n).unwrap()
}

/// For the list without a filter and for `status=X` of every status: the
/// total, the count of the rows, and the orders actually paged through agree.
async fn assert_board_totals(env: &Env, orders: &SeaOrderRepository) {
    let statuses = std::iter::once(None).chain(OrderStatus::ALL.into_iter().map(Some));
    for status in statuses {
        let mut pairs = vec![("page_size", "3")];
        if let Some(s) = status {
            pairs.push(("status", s.as_str()));
        }
        let first = orders.list(&order_query(&pairs), None).await.unwrap();
        let mut seen = BTreeSet::new();
        for page in 1.. {
            let page = page.to_string();
            let mut paged = pairs.clone();
            paged.push(("page", &page));
            let got = orders.list(&order_query(&paged), None).await.unwrap();
            if got.items.is_empty() {
                break;
            }
            assert!(status.is_none_or(|s| got.items.iter().all(|o| o.status == s)));
            seen.extend(got.items.iter().map(|o| o.id));
        }
        let counted = count_orders(env, status).await;
        assert_eq!((first.total, u64::try_from(seen.len()).unwrap()), (counted, counted), "status {status:?}");
    }
}

#[tokio::test]
async fn board_totals_stay_exact_through_checkouts_transitions_and_deletions() {
    for env in backends().await {
        let orders = Arc::new(SeaOrderRepository::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        let bob = customer(&env, "bob@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        assert_board_totals(&env, &orders).await;
        warm_pool(&env).await;
        let inserts = (0..16).map(|i| {
            let orders = orders.clone();
            let who = if i % 4 == 0 { bob } else { ann };
            async move { orders.insert(&new_order(who, vec![line(latte, "Latte", 350, 1)])).await.unwrap() }
        });
        let placed = futures_util::future::join_all(inserts).await;
        assert_board_totals(&env, &orders).await;
        // PostgreSQL spreads the increments over slots (all 16 in one of 8
        // has odds of 8⁻¹⁵); SQLite keeps one.
        let slots: i64 = env
            .db
            .query_one_raw(Statement::from_string(
                env.db.get_database_backend(),
                "SELECT COUNT(DISTINCT slot) FROM order_counts",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        assert_eq!(slots > 1, env.backend == Backend::Postgres, "{slots} slots on {:?}", env.backend);

        // Moves along the board, concurrently; a change of the comment alone
        // leaves the counts as they are.
        let to = |s| OrderChange { status: Some(s), ..OrderChange::default() };
        let moves = placed.iter().take(10).enumerate().map(|(i, o)| {
            let orders = orders.clone();
            let first = if i % 5 == 0 { OrderStatus::Cancelled } else { OrderStatus::Confirmed };
            async move { orders.update(o.id, OrderStatus::Pending, 1, &to(first), t0()).await.unwrap().unwrap() }
        });
        let moved = futures_util::future::join_all(moves).await;
        for o in moved.iter().filter(|o| o.status == OrderStatus::Confirmed).take(4) {
            let prepared = orders.update(o.id, o.status, o.version, &to(OrderStatus::Preparing), t0()).await.unwrap();
            let prepared = prepared.unwrap();
            let comment = OrderChange { comment: Some(Some("oat milk".to_owned())), ..OrderChange::default() };
            orders.update(o.id, prepared.status, prepared.version, &comment, t0()).await.unwrap().unwrap();
        }
        assert_board_totals(&env, &orders).await;

        // One order deleted, then a customer with all theirs (cascade).
        let last = placed.last().unwrap();
        assert!(orders.delete(last.id, last.version).await.unwrap());
        env.users.delete(bob).await.unwrap();
        assert_board_totals(&env, &orders).await;
        assert_eq!(count_orders(&env, None).await, 11, "16 placed, 1 deleted, bob's 4 gone with him");
    }
}

#[tokio::test]
async fn board_totals_come_from_the_counters_and_any_other_list_counts_rows() {
    for env in backends().await {
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        for _ in 0..3 {
            orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 2)])).await.unwrap();
        }
        // Skew the counters on purpose: only the lists they serve see it.
        // (Slot 99: one the triggers never use.)
        env.db
            .execute_unprepared("INSERT INTO order_counts (status, slot, n) VALUES ('pending', 99, 100)")
            .await
            .unwrap();
        let total = |pairs: &'static [(&'static str, &'static str)], owner: Option<Uuid>| {
            let orders = orders.clone();
            async move { orders.list(&order_query(pairs), owner).await.unwrap().total }
        };
        assert_eq!(total(&[], None).await, 103);
        assert_eq!(total(&[("status", "pending")], None).await, 103);
        assert_eq!(total(&[("status", "ready")], None).await, 0);
        assert_eq!(total(&[("page", "9")], None).await, 103, "past the last page the counters still answer");
        assert_eq!(total(&[("status", "pending"), ("page", "9")], None).await, 103);
        assert_eq!(total(&[("total__gte", "1"), ("page", "9")], None).await, 3, "past the last page rows are counted");
        assert_eq!(total(&[("status", "pending"), ("total__gte", "1")], None).await, 3);
        assert_eq!(total(&[("status__in", "pending")], None).await, 3);
        assert_eq!(total(&[("total__gte", "1")], None).await, 3);
        assert_eq!(total(&[], Some(ann)).await, 3, "an owner's list counts their rows");
        assert_eq!(total(&[("status", "pending")], Some(ann)).await, 3);
    }
}

#[tokio::test]
async fn orders_are_searched_by_comment_and_line_names_and_the_migrations_fold_what_is_there() {
    for env in backends().await {
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let with = |comment: Option<&str>, name: &str| NewOrder {
            comment: comment.map(str::to_owned),
            ..new_order(ann, vec![line(latte, "Latte", 350, 1), line(latte, name, 400, 1)])
        };
        let old = orders.insert(&with(Some("ÖLIG oat Milk"), "Café CRÈME")).await.unwrap();
        // Back to before the comment's folded copy, so before the lines' too.
        down_to_before(&env, "m20261212_000015_order_comment_search").await;
        Migrator::up(&env.db, None).await.unwrap();
        let new = orders.insert(&with(Some("OAT flat white"), "Flat White")).await.unwrap();
        let soy = orders.insert(&with(Some("soy"), "Cortado")).await.unwrap();
        let plain = orders.insert(&with(None, "Oat Mocha")).await.unwrap();
        let search = |term: &str| {
            let query = parse_list_query::<OrderResource>(&[
                ("search".to_owned(), term.to_owned()),
                ("sort".to_owned(), "number".to_owned()),
            ])
            .unwrap();
            let orders = &orders;
            async move {
                let page = orders.list(&query, None).await.unwrap();
                assert_eq!(page.total, page.items.len() as u64);
                page.items.into_iter().map(|o| o.id).collect::<Vec<_>>()
            }
        };
        // In the comments of two orders and a line of a third.
        assert_eq!(search("Oat").await, [old.id, new.id, plain.id], "{:?}", env.backend);
        assert_eq!(search("ölig").await, [old.id], "{:?}: folded beyond ASCII, by the migration too", env.backend);
        assert_eq!(search("crème").await, [old.id], "{:?}: a line's name, folded by the migration", env.backend);
        assert_eq!(search("mOCHA").await, [plain.id], "{:?}: an order without a comment", env.backend);
        // In an order's comment and in its line: listed once.
        assert_eq!(search("flat").await, [new.id], "{:?}", env.backend);
        assert_eq!(search("latte").await, [old.id, new.id, soy.id, plain.id], "{:?}", env.backend);
        assert!(search("tea").await.is_empty(), "{:?}", env.backend);
        // An owner's list searches the lines too.
        let query = parse_list_query::<OrderResource>(&[("search".to_owned(), "cort".to_owned())]).unwrap();
        let own = orders.list(&query, Some(ann)).await.unwrap();
        assert_eq!((own.total, own.items.iter().map(|o| o.id).collect::<Vec<_>>()), (1, vec![soy.id]));
    }
}

#[tokio::test]
async fn the_counters_migration_counts_the_orders_already_there() {
    for env in backends().await {
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        // Orders written by today's repository (which needs every migration),
        // then back to just before the counters: their table goes, the
        // orders stay.
        for i in 0..7 {
            let o = orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
            if i % 3 == 0 {
                let change = OrderChange { status: Some(OrderStatus::Confirmed), ..OrderChange::default() };
                orders.update(o.id, OrderStatus::Pending, 1, &change, t0()).await.unwrap().unwrap();
            }
        }
        down_to_before(&env, "m20261206_000009_order_counts").await;
        assert!(env.db.execute_unprepared("SELECT n FROM order_counts").await.is_err(), "dropped by down");
        Migrator::up(&env.db, None).await.unwrap();
        assert_board_totals(&env, &orders).await;
        assert_eq!(count_orders(&env, Some(OrderStatus::Confirmed)).await, 3);
        // And the triggers count from there on.
        orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
        assert_board_totals(&env, &orders).await;
    }
}

/// A checkout's products cannot be deleted under it: an admin's DELETE
/// waits for the checkout to commit, so no order is placed for a product
/// already gone; edits of the product do not wait. PostgreSQL only: SQLite runs one writer at a time, on one
/// connection.
#[tokio::test]
async fn a_product_priced_by_a_checkout_is_deleted_only_after_it_commits() {
    for env in backends().await {
        if env.backend != Backend::Postgres {
            continue;
        }
        let catalog = SeaCatalogRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        warm_pool(&env).await;
        let tx = env.uow.begin().await.unwrap();
        assert_eq!(tx.catalog().priced(&[latte]).await.unwrap().len(), 1);
        // Edits do not wait for it: an admin marks the latte sold out, or
        // gives it a picture, while checkouts that priced it run.
        let sold_out = ProductChanges { is_available: Some(false), ..ProductChanges::default() };
        let edit = catalog.update_product(latte, &sold_out, t0() + secs(1));
        let edited = tokio::time::timeout(Duration::from_secs(5), edit).await.expect("the edit does not wait");
        assert!(!edited.unwrap().is_available);
        let image = catalog.set_product_image(latte, "latte.png", t0() + secs(2));
        tokio::time::timeout(Duration::from_secs(5), image).await.expect("the new image does not wait").unwrap();
        let delete = tokio::spawn(async move { catalog.delete_product(latte).await });
        wait_for_lock_waiters(&env, 1).await;
        assert!(!delete.is_finished(), "the DELETE waits for the checkout");
        tx.orders().insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
        tx.commit().await.unwrap();
        delete.await.unwrap().unwrap();
        // The order keeps its snapshot; the product is gone.
        assert_eq!(count_rows(&env.db, "orders").await, 1);
        assert_eq!(count_rows(&env.db, "products").await, 0);
    }
}

/// An admin deleting a product in a checkout's cart, or the customer,
/// while the checkout runs: the deletion waits for the checkout, which
/// places its order, and neither fails. Both once took the checkout's locks
/// in the other order (the product or the user first, the cart's lines by
/// cascade), and PostgreSQL broke the deadlock by aborting one of them.
#[tokio::test]
async fn a_deletion_during_a_checkout_of_its_cart_waits_for_it() {
    for env in backends().await {
        if env.backend != Backend::Postgres {
            continue;
        }
        let carts = SeaCartRepository::new(env.pools.clone());
        let catalog = SeaCatalogRepository::new(env.pools.clone());
        for deleted in ["product", "customer"] {
            let ann = customer(&env, "ann@example.com").await;
            let latte = product(&env, "Latte", 350).await;
            carts.add(ann, Uuid::now_v7(), latte, q(2), t0()).await.unwrap();
            warm_pool(&env).await;
            let tx = env.uow.begin().await.unwrap();
            assert_eq!(tx.carts().take(ann).await.unwrap(), [(latte, q(2))], "{deleted}");
            let (catalog, users) = (catalog.clone(), env.users.clone());
            let deletion = tokio::spawn(async move {
                match deleted {
                    "product" => catalog.delete_product(latte).await.map(drop).map_err(|e| format!("{e:?}")),
                    _ => users.delete(ann).await.map(drop).map_err(|e| format!("{e:?}")),
                }
            });
            wait_for_lock_waiters(&env, 1).await;
            assert!(!deletion.is_finished(), "{deleted}: the deletion waits for the checkout");
            assert_eq!(tx.catalog().priced(&[latte]).await.unwrap().len(), 1, "{deleted}");
            tx.orders().insert(&new_order(ann, vec![line(latte, "Latte", 350, 2)])).await.unwrap();
            tx.commit().await.unwrap();
            deletion.await.unwrap().unwrap();
            let gone = if deleted == "product" { "products" } else { "users" };
            assert_eq!(count_rows(&env.db, gone).await, 0, "{deleted}");
            // Clean up for the next round.
            env.db.execute_unprepared("DELETE FROM users; DELETE FROM products").await.unwrap();
        }
    }
}

// ---------------------------------------------------------------- idempotency

fn key(k: &str, fingerprint: &str) -> IdempotencyKey {
    IdempotencyKey::parse(k, fingerprint.to_owned()).unwrap()
}

/// The lease of a claim that must have succeeded.
fn claimed(claim: IdempotencyClaim) -> KeyLease {
    match claim {
        IdempotencyClaim::Claimed(lease) => lease,
        other => panic!("expected a claim, got {other:?}"),
    }
}

fn placed(order_id: Uuid, body: &str) -> StoredResponse {
    StoredResponse { status: 201, order_id: Some(order_id), body: body.to_owned() }
}

#[tokio::test]
async fn an_idempotency_key_is_claimed_once_then_replays_or_refuses() {
    for env in backends().await {
        let keys = SeaIdempotencyStore::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let bob = customer(&env, "bob@example.com").await;
        let (now, lease, expires) = (t0(), t0() + secs(30), t0() + hours(24));
        let anns = claimed(keys.claim(ann, &key("k", "fp"), now, lease, expires).await.unwrap());
        assert_eq!(keys.claim(ann, &key("k", "fp"), now, lease, expires).await.unwrap(), IdempotencyClaim::InFlight);
        assert_eq!(keys.claim(ann, &key("k", "other"), now, lease, expires).await.unwrap(), IdempotencyClaim::Mismatch);
        let bobs = claimed(keys.claim(bob, &key("k", "fp"), now, lease, expires).await.unwrap());
        assert_ne!(anns, bobs, "per user, each claim its own lease");
        let stored = placed(Uuid::now_v7(), "{\"number\":1}");
        assert!(keys.complete(anns, &stored, now).await.unwrap());
        assert!(!keys.complete(anns, &placed(Uuid::now_v7(), "{}"), now).await.unwrap(), "an answer is stored once");
        let later = now + hours(1);
        assert_eq!(
            keys.claim(ann, &key("k", "fp"), later, later + secs(30), later + hours(24)).await.unwrap(),
            IdempotencyClaim::Completed(stored.clone())
        );
        keys.release(anns).await.unwrap();
        assert_eq!(
            keys.claim(ann, &key("k", "fp"), later, later + secs(30), later + hours(24)).await.unwrap(),
            IdempotencyClaim::Completed(stored),
            "a completed key is never released"
        );
        // Bob's request died: after its lease the key is free; after the retention, any key is.
        let after_lease = now + secs(31);
        claimed(keys.claim(bob, &key("k", "fp"), after_lease, after_lease + secs(30), expires).await.unwrap());
        let after_retention = now + hours(25);
        let renewed = keys
            .claim(ann, &key("k", "new"), after_retention, after_retention + secs(30), after_retention + hours(24))
            .await
            .unwrap();
        // A released in-flight key is free at once.
        keys.release(claimed(renewed)).await.unwrap();
        let again = keys
            .claim(ann, &key("k", "again"), after_retention, after_retention + secs(30), after_retention + hours(24))
            .await
            .unwrap();
        claimed(again);
    }
}

#[tokio::test]
async fn a_key_taken_over_after_its_lease_is_the_new_holders_alone() {
    for env in backends().await {
        let keys = SeaIdempotencyStore::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let expires = t0() + hours(24);
        let slow = claimed(keys.claim(ann, &key("k", "fp"), t0(), t0() + secs(30), expires).await.unwrap());
        let later = t0() + secs(31);
        let retry = claimed(keys.claim(ann, &key("k", "fp"), later, later + secs(30), expires).await.unwrap());
        assert_ne!(slow, retry);
        // The slow request can neither store its answer nor free the retry's key.
        assert!(!keys.complete(slow, &placed(Uuid::now_v7(), "slow"), later).await.unwrap());
        keys.release(slow).await.unwrap();
        assert_eq!(
            keys.claim(ann, &key("k", "fp"), later, later + secs(30), expires).await.unwrap(),
            IdempotencyClaim::InFlight,
            "still the retry's"
        );
        // A refusal is stored with its status, and replayed.
        let refusal = StoredResponse { status: 409, order_id: None, body: "{\"code\":\"cart_empty\"}".to_owned() };
        assert!(keys.complete(retry, &refusal, later).await.unwrap());
        assert_eq!(
            keys.claim(ann, &key("k", "fp"), later, later + secs(30), expires).await.unwrap(),
            IdempotencyClaim::Completed(refusal)
        );
    }
}

#[tokio::test]
async fn of_many_concurrent_claims_of_one_key_exactly_one_wins() {
    for env in backends().await {
        let keys = Arc::new(SeaIdempotencyStore::new(env.pools.clone()));
        let ann = customer(&env, "ann@example.com").await;
        warm_pool(&env).await;
        let claims = (0..12).map(|_| {
            let keys = keys.clone();
            async move { keys.claim(ann, &key("burst", "fp"), t0(), t0() + secs(30), t0() + hours(24)).await.unwrap() }
        });
        let results = futures_util::future::join_all(claims).await;
        assert_eq!(results.iter().filter(|c| matches!(c, IdempotencyClaim::Claimed(_))).count(), 1, "{results:?}");
        assert!(results.iter().all(|c| matches!(c, IdempotencyClaim::Claimed(_) | IdempotencyClaim::InFlight)));
    }
}

#[tokio::test]
async fn the_stored_answer_is_written_with_the_order_or_not_at_all() {
    for env in backends().await {
        let keys = SeaIdempotencyStore::new(env.pools.clone());
        let orders = SeaOrderRepository::new(env.pools.clone());
        let ann = customer(&env, "ann@example.com").await;
        let latte = product(&env, "Latte", 350).await;
        let lease = claimed(keys.claim(ann, &key("k", "fp"), t0(), t0() + secs(30), t0() + hours(24)).await.unwrap());
        {
            let tx = env.uow.begin().await.unwrap();
            let order = tx.orders().insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
            assert!(tx.idempotency().complete(lease, &placed(order.id, "{}"), t0()).await.unwrap());
        }
        assert_eq!(count_rows(&env.db, "orders").await, 0);
        let again = keys.claim(ann, &key("k", "fp"), t0() + secs(1), t0() + secs(31), t0() + hours(24)).await.unwrap();
        assert_eq!(again, IdempotencyClaim::InFlight, "the key is still only claimed");
        assert!(orders.list(&parse_list_query::<OrderResource>(&[]).unwrap(), None).await.unwrap().items.is_empty());
    }
}

/// A customer's deletion takes their orders with it (cascade) while staff
/// move other customers' orders along the board. Both lock `order_counts`
/// rows; a cascade taking them in heap order could deadlock with a status
/// change, and PostgreSQL would abort one of them (an error below). Odd
/// rounds delete through the stale-account purge instead (an account an
/// admin un-verified after it ordered).
#[tokio::test]
async fn deleting_a_customer_with_orders_never_deadlocks_with_status_changes() {
    for env in backends().await {
        let orders = Arc::new(SeaOrderRepository::new(env.pools.clone()));
        let maintenance = SeaMaintenanceRepository::new(env.pools.clone());
        let latte = product(&env, "Latte", 350).await;
        let bob = customer(&env, "bob@example.com").await;
        warm_pool(&env).await;
        for round in 0..16 {
            let purge = round % 2 == 1;
            let email = format!("ann{round}@example.com");
            let ann = if purge {
                user(&email).created_at(t0() - hours(72)).create(&env.users).await.id
            } else {
                customer(&env, &email).await
            };
            for _ in 0..48 {
                orders.insert(&new_order(ann, vec![line(latte, "Latte", 350, 1)])).await.unwrap();
            }
            // Ann's orders in every status, interleaved in heap order.
            let names = OrderStatus::NAMES.iter().enumerate().map(|(i, n)| format!("WHEN {i} THEN '{n}'"));
            let spread = Query::update()
                .table(Alias::new("orders"))
                .value(Alias::new("status"), Expr::cust(format!("CASE number % 6 {} END", names.collect::<String>())))
                .and_where(Expr::col(Alias::new("user_id")).eq(ann))
                .to_owned();
            env.db.execute(&spread).await.unwrap();
            let mut lanes = Vec::new();
            for _ in 0..3 {
                let mut lane = Vec::new();
                for _ in 0..8 {
                    lane.push(orders.insert(&new_order(bob, vec![line(latte, "Latte", 350, 1)])).await.unwrap());
                }
                lanes.push(lane);
            }
            let staff = lanes.into_iter().map(|lane| {
                let orders = orders.clone();
                async move {
                    for order in lane {
                        let (mut status, mut version) = (order.status, order.version);
                        for next in [OrderStatus::Confirmed, OrderStatus::Preparing, OrderStatus::Ready] {
                            let change = OrderChange { status: Some(next), ..OrderChange::default() };
                            let moved = orders.update(order.id, status, version, &change, t0()).await;
                            let moved = moved.expect("a status change is never aborted").expect("the order is there");
                            (status, version) = (moved.status, moved.version);
                        }
                    }
                }
            });
            let deletion = async {
                if purge {
                    let purged = maintenance.purge_unverified_users(t0() - hours(48), 100).await;
                    assert_eq!(purged.expect("a purge is never aborted"), 1, "ann's account, not bob's");
                } else {
                    env.users.delete(ann).await.expect("a customer's deletion is never aborted");
                }
            };
            tokio::join!(deletion, futures_util::future::join_all(staff));
            let left = orders.list(&order_query(&[]), Some(ann)).await.unwrap().total;
            assert_eq!(left, 0, "ann's orders went with her");
            assert_board_totals(&env, &orders).await;
        }
    }
}
