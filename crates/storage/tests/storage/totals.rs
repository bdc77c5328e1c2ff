//! Remembered menu totals and pages: a total counted once, and a page read
//! once, are reused while the products' version (`list_versions`) stays the
//! same, and every write to the rows a menu list reads or shows, through the
//! repository, a cascade or by hand, makes the next list read and count
//! again.

use coffee_domain::catalog::{CatalogRepository, CategoryChanges, ProductChanges};
use coffee_migrations::{Migrator, MigratorTrait};
use coffee_storage::{Pools, SeaCatalogRepository};
use coffee_testkit::Backend;
use sea_orm::{ConnectionTrait, Statement};

use crate::catalog::{create_category, create_product, product, product_query};
use crate::support::{Env, backends, down_to_before, run, t0};

/// The `total` of `GET /products` with `pairs`, asked twice: counted (or
/// remembered) the first time, remembered the second; both must agree.
async fn total(repo: &SeaCatalogRepository, pairs: &[(&str, &str)]) -> u64 {
    let query = product_query(pairs);
    let first = repo.list_products(&query).await.unwrap();
    let again = repo.list_products(&query).await.unwrap();
    assert_eq!(first.total, again.total, "{pairs:?}: asked twice");
    first.total
}

async fn products_version(env: &Env) -> i64 {
    let sql = "SELECT version FROM list_versions WHERE name = 'products'";
    let row = env.db.query_one_raw(Statement::from_string(env.db.get_database_backend(), sql)).await.unwrap();
    row.unwrap().try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn a_menu_total_is_counted_again_after_every_write_to_what_it_counts() {
    for env in backends().await {
        // One set of pools, so one process's remembered totals, as in the server.
        let pools = Pools::from(env.db.clone());
        let repo = SeaCatalogRepository::new(pools.clone());
        let tea = create_category(&repo, "Tea", t0()).await;
        let hot = create_category(&repo, "Hot drinks", t0()).await;
        let chai = create_product(&repo, product("Masala chai", 400, t0()), &[&tea]).await;
        let espresso = create_product(&repo, product("Espresso", 250, t0()), &[]).await;
        let either = format!("{},{}", tea.id, hot.id);
        let lists: [&[(&str, &str)]; 4] =
            [&[], &[("search", "chai")], &[("category_id__in", &either)], &[("is_available", "true")]];
        let totals = || async {
            let mut totals = Vec::new();
            for pairs in lists {
                totals.push(total(&repo, pairs).await);
            }
            totals
        };
        assert_eq!(totals().await, [2, 1, 1, 2], "all, `chai`, in Tea or Hot drinks, available");
        // Each list asked twice: read and counted, then remembered.
        let stats = coffee_storage::totals_stats(&pools);
        assert_eq!((stats.counted, stats.remembered), (4, 4));
        assert_eq!((stats.pages_read, stats.pages_remembered), (4, 4));

        create_product(&repo, product("Chai latte", 450, t0()), &[&tea, &hot]).await;
        assert_eq!(totals().await, [3, 2, 2, 3], "a product created");

        let into_hot = ProductChanges { category_ids: Some(vec![hot.id]), ..ProductChanges::default() };
        repo.update_product(espresso.id, &into_hot, t0()).await.unwrap();
        assert_eq!(totals().await, [3, 2, 3, 3], "a product put in a category");

        let unavailable = ProductChanges { is_available: Some(false), ..ProductChanges::default() };
        repo.update_product(chai.id, &unavailable, t0()).await.unwrap();
        assert_eq!(totals().await, [3, 2, 3, 2], "a product made unavailable");

        // Only the link table changes; every product row stays as it was.
        run(
            &env,
            "DELETE FROM product_categories WHERE product_id IN (SELECT id FROM products WHERE name = 'Espresso')",
        )
        .await;
        assert_eq!(totals().await, [3, 2, 2, 2], "a link deleted by hand");

        repo.delete_category(tea.id).await.unwrap();
        assert_eq!(totals().await, [3, 2, 1, 2], "a category deleted: its links go by cascade");

        run(&env, "DELETE FROM products WHERE name = 'Chai latte'").await;
        assert_eq!(totals().await, [2, 1, 0, 1], "a product deleted by hand");

        // White-box: the version, not a count or a read, is what answers a
        // list whose page or total is remembered. A product created, then the
        // version set back by hand to the one they were remembered at: the
        // page read before answers whole (no statement read the new
        // product), and a page of another size, not read before, answers the
        // remembered total (no count ran) beside its own rows.
        let before = products_version(&env).await;
        create_product(&repo, product("Mocha", 500, t0()), &[]).await;
        assert_ne!(products_version(&env).await, before, "a write changes the version");
        run(&env, &format!("UPDATE list_versions SET version = {before} WHERE name = 'products'")).await;
        let page = repo.list_products(&product_query(&[])).await.unwrap();
        assert_eq!((page.total, page.items.len()), (2, 2), "the remembered page answered");
        let page = repo.list_products(&product_query(&[("page_size", "10")])).await.unwrap();
        assert_eq!((page.total, page.items.len()), (2, 3), "the remembered total answered");
        run(&env, &format!("UPDATE list_versions SET version = {} WHERE name = 'products'", before ^ 1)).await;
        assert_eq!(totals().await, [3, 1, 0, 2], "another version: counted again");

        if env.backend == Backend::Postgres {
            run(&env, "TRUNCATE products CASCADE").await;
            assert_eq!(totals().await, [0, 0, 0, 0], "TRUNCATE, which fires no row trigger");
        }
    }
}

/// A remembered page found out of date is read again without its count
/// when another page of the same filter counted the total at the new
/// version since; past the last page, the total is asked for alone.
#[tokio::test]
async fn a_page_read_again_takes_the_total_another_page_counted_since() {
    for env in backends().await {
        let pools = Pools::from(env.db.clone());
        let repo = SeaCatalogRepository::new(pools.clone());
        create_product(&repo, product("Espresso", 250, t0()), &[]).await;
        create_product(&repo, product("Latte", 350, t0()), &[]).await;
        let one = product_query(&[("page_size", "1")]);
        assert_eq!(repo.list_products(&one).await.unwrap().total, 2, "read and counted");
        create_product(&repo, product("Mocha", 500, t0()), &[]).await;
        let two = repo.list_products(&product_query(&[("page_size", "2")])).await.unwrap();
        assert_eq!((two.total, two.items.len()), (3, 2), "another page: counted at the new version");

        let before = coffee_storage::totals_stats(&pools);
        let page = repo.list_products(&one).await.unwrap();
        assert_eq!((page.total, page.items.len()), (3, 1));
        let after = coffee_storage::totals_stats(&pools);
        assert_eq!(
            (after.counted - before.counted, after.remembered - before.remembered),
            (0, 1),
            "the page read without its count, beside the total counted since"
        );
        assert_eq!((after.pages_read - before.pages_read, after.pages_remembered), (1, 0));

        let past = repo.list_products(&product_query(&[("page_size", "2"), ("page", "5")])).await.unwrap();
        assert_eq!((past.total, past.items.len()), (3, 0), "past the last page");
    }
}

/// A remembered page shows what the database holds: every change to what a
/// menu page shows (a product's fields, its categories' names), through the
/// repository or by hand, is on the next page read.
#[tokio::test]
async fn a_remembered_menu_page_shows_every_change_to_what_it_shows() {
    for env in backends().await {
        let repo = SeaCatalogRepository::new(Pools::from(env.db.clone()));
        let tea = create_category(&repo, "Tea", t0()).await;
        let chai = create_product(&repo, product("Masala chai", 400, t0()), &[&tea]).await;
        // Each shape asked twice, so the second answer is the remembered one.
        let shown = || async {
            let mut shown = Vec::new();
            for pairs in [&[][..], &[("search", "chai")], &[("category_id", &*tea.id.to_string())]] {
                let query = product_query(pairs);
                let first = repo.list_products(&query).await.unwrap();
                let again = repo.list_products(&query).await.unwrap();
                assert_eq!(first.items, again.items, "{pairs:?}: asked twice");
                let item = &again.items[0];
                shown.push((item.name.clone(), item.price.minor(), item.categories[0].name.clone()));
            }
            assert!(shown.windows(2).all(|w| w[0] == w[1]), "every list shows the product alike: {shown:?}");
            shown.swap_remove(0)
        };
        assert_eq!(shown().await, ("Masala chai".to_owned(), 400, "Tea".to_owned()));

        let renamed = ProductChanges { name: Some("Masala chai latte".to_owned()), ..ProductChanges::default() };
        repo.update_product(chai.id, &renamed, t0()).await.unwrap();
        assert_eq!(shown().await, ("Masala chai latte".to_owned(), 400, "Tea".to_owned()), "a product renamed");

        run(&env, "UPDATE products SET price = 420").await;
        assert_eq!(shown().await, ("Masala chai latte".to_owned(), 420, "Tea".to_owned()), "a price set by hand");

        let category = CategoryChanges { name: Some("Teas".to_owned()), ..CategoryChanges::default() };
        repo.update_category(tea.id, &category, t0()).await.unwrap();
        assert_eq!(shown().await, ("Masala chai latte".to_owned(), 420, "Teas".to_owned()), "a category renamed");

        run(&env, "UPDATE categories SET name = 'Chai'").await;
        assert_eq!(shown().await, ("Masala chai latte".to_owned(), 420, "Chai".to_owned()), "renamed by hand");
    }
}

/// Requests that want a remembered page's version at once (sharing its
/// lookups, `versions.rs`) are all answered from memory, and none takes a
/// version read before it arrived: after a write the next twenty-four all
/// show it. How many lookups they share is not asserted here: a real
/// database often answers a lookup before sqlx first tries to read the
/// answer, so that request's future finishes in its first poll, before the
/// next request has arrived, and there was no one to share with. How many
/// do so varies from run to run (a CI run saw 32 lookups for 32 requests,
/// local ones 5 to 7 for 24), so the unit tests in `versions.rs` count the
/// lookups, on a database that answers only when told.
#[tokio::test]
async fn requests_at_once_are_answered_from_memory_and_see_every_write() {
    for env in backends().await {
        let pools = env.pools.clone();
        let repo = SeaCatalogRepository::new(pools.clone());
        create_product(&repo, product("Espresso", 250, t0()), &[]).await;
        let query = product_query(&[]);
        let at_once = || async {
            let pages = futures_util::future::join_all((0..24).map(|_| repo.list_products(&query))).await;
            pages.into_iter().map(|page| page.unwrap().items[0].price.minor()).collect::<Vec<_>>()
        };
        repo.list_products(&query).await.unwrap();

        let before = coffee_storage::totals_stats(&pools);
        assert_eq!(at_once().await, [250; 24]);
        let after = coffee_storage::totals_stats(&pools);
        assert_eq!(after.pages_remembered - before.pages_remembered, 24, "answered from memory");

        run(&env, "UPDATE products SET price = 260").await;
        assert_eq!(at_once().await, [260; 24], "a write committed before they arrived");
        let one = repo.list_products(&query).await.unwrap();
        assert_eq!(one.items[0].price.minor(), 260);
    }
}

/// A menu page carries the version of the rows it was read at, read afresh
/// or remembered, so that what the API made of it is reused only while that
/// version stays; after a write the next page carries the new one. A page
/// with no rows carries none (no row brings it).
#[tokio::test]
async fn a_menu_page_carries_the_version_it_was_read_at() {
    for env in backends().await {
        let repo = SeaCatalogRepository::new(Pools::from(env.db.clone()));
        create_product(&repo, product("Espresso", 250, t0()), &[]).await;
        let query = product_query(&[]);
        let read = repo.list_products(&query).await.unwrap();
        let remembered = repo.list_products(&query).await.unwrap();
        let before = products_version(&env).await;
        assert_eq!((read.version, remembered.version), (Some(before), Some(before)), "read, then remembered");

        run(&env, "UPDATE products SET price = 260").await;
        let after = products_version(&env).await;
        assert_ne!(after, before, "a write moves the version");
        let moved = repo.list_products(&query).await.unwrap();
        assert_eq!((moved.version, moved.items[0].price.minor()), (Some(after), 260));

        let empty = repo.list_products(&product_query(&[("search", "matcha")])).await.unwrap();
        assert_eq!((empty.total, empty.version), (0, None), "no rows, no version");
    }
}

/// Down, the versions go with their triggers, so the menu can still be
/// written; up again, a version is back and lists count and remember.
#[tokio::test]
async fn the_versions_migration_goes_down_and_up_again() {
    for env in backends().await {
        let repo = SeaCatalogRepository::new(env.pools.clone());
        down_to_before(&env, "m20261216_000019_list_versions").await;
        let sql = "SELECT version FROM list_versions";
        assert!(env.db.execute_raw(Statement::from_string(env.db.get_database_backend(), sql)).await.is_err());
        let tea = create_category(&repo, "Tea", t0()).await;
        create_product(&repo, product("Masala chai", 400, t0()), &[&tea]).await;

        Migrator::up(&env.db, None).await.unwrap();
        let first = products_version(&env).await;
        assert_eq!(total(&repo, &[]).await, 1);
        create_product(&repo, product("Chai latte", 450, t0()), &[&tea]).await;
        assert_ne!(products_version(&env).await, first);
        assert_eq!(total(&repo, &[]).await, 2);
    }
}
