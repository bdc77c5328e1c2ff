//! The catalog repository: categories, products, their many-to-many link,
//! images, and the list query language on both.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use coffee_domain::catalog::{
    CatalogRepository, CatalogWriteError, Category, CategoryChanges, CategoryField, CategoryRef, CategoryResource,
    NewProduct, Product, ProductChanges, ProductField, ProductResource,
};
use coffee_domain::money::Money;
use coffee_domain::query::{ListQuery, Page, parse_list_query};
use coffee_storage::SeaCatalogRepository;
use uuid::Uuid;

use crate::support::{Env, backends, count_rows, hours, secs, t0};

fn repo(env: &Env) -> SeaCatalogRepository {
    SeaCatalogRepository::new(env.pools.clone())
}

pub(crate) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

pub(crate) fn product_query(pairs: &[(&str, &str)]) -> ListQuery<ProductField> {
    parse_list_query::<ProductResource>(&owned(pairs)).unwrap()
}

fn category_query(pairs: &[(&str, &str)]) -> ListQuery<CategoryField> {
    parse_list_query::<CategoryResource>(&owned(pairs)).unwrap()
}

/// A category named `name`, created at `at`.
fn category(name: &str, at: DateTime<Utc>) -> Category {
    Category { id: Uuid::now_v7(), name: name.to_owned(), description: None, created_at: at, updated_at: at }
}

pub(crate) async fn create_category(repo: &SeaCatalogRepository, name: &str, at: DateTime<Utc>) -> Category {
    let c = category(name, at);
    repo.create_category(&c).await.unwrap_or_else(|e| panic!("creating category {name} failed: {e:?}"));
    c
}

/// An available product without description, created at `at`.
pub(crate) fn product(name: &str, price: i64, at: DateTime<Utc>) -> Product {
    Product {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        description: None,
        price: Money::price("price", price).unwrap(),
        is_available: true,
        image: None,
        categories: Vec::new(),
        created_at: at,
        updated_at: at,
    }
}

pub(crate) async fn create_product(repo: &SeaCatalogRepository, product: Product, categories: &[&Category]) -> Product {
    let new = NewProduct { product, category_ids: categories.iter().map(|c| c.id).collect() };
    repo.create_product(&new).await.unwrap_or_else(|e| panic!("creating {} failed: {e:?}", new.product.name))
}

fn refs(categories: &[&Category]) -> Vec<CategoryRef> {
    let mut refs: Vec<CategoryRef> =
        categories.iter().map(|c| CategoryRef { id: c.id, name: c.name.clone() }).collect();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    refs
}

fn names<T>(page: &Page<T>, name: impl Fn(&T) -> &str) -> Vec<String> {
    page.items.iter().map(|i| name(i).to_owned()).collect()
}

fn product_names(page: &Page<Product>) -> Vec<String> {
    names(page, |p| &p.name)
}

fn category_names(p: &Product) -> Vec<&str> {
    p.categories.iter().map(|c| c.name.as_str()).collect()
}

// ---------------------------------------------------------------- categories

#[tokio::test]
async fn categories_can_be_created_read_updated_and_deleted() {
    for env in backends().await {
        let repo = repo(&env);
        let mut tea = category("Tea", t0());
        tea.description = Some("Leaves & water".to_owned());
        repo.create_category(&tea).await.unwrap();

        assert_eq!(repo.find_category(tea.id).await.unwrap(), Some(tea.clone()));
        assert_eq!(repo.find_category(Uuid::now_v7()).await.unwrap(), None);

        // A rename keeps the description.
        let later = t0() + hours(1);
        let renamed = repo
            .update_category(tea.id, &CategoryChanges { name: Some("Teas".to_owned()), description: None }, later)
            .await
            .unwrap();
        assert_eq!(renamed.name, "Teas");
        assert_eq!(renamed.description.as_deref(), Some("Leaves & water"));
        assert_eq!((renamed.created_at, renamed.updated_at), (tea.created_at, later));
        assert_eq!(repo.find_category(tea.id).await.unwrap(), Some(renamed.clone()));

        // `Some(None)` clears the description; the name stays.
        let cleared = repo
            .update_category(tea.id, &CategoryChanges { name: None, description: Some(None) }, later + secs(1))
            .await
            .unwrap();
        assert_eq!((cleared.name.as_str(), cleared.description.as_deref()), ("Teas", None));
        assert_eq!(repo.find_category(tea.id).await.unwrap(), Some(cleared));

        let unknown = repo.update_category(Uuid::now_v7(), &CategoryChanges::default(), later).await;
        assert!(matches!(unknown, Err(CatalogWriteError::NotFound)), "got {unknown:?}");

        repo.delete_category(tea.id).await.unwrap();
        assert_eq!(repo.find_category(tea.id).await.unwrap(), None);
        let again = repo.delete_category(tea.id).await;
        assert!(matches!(again, Err(CatalogWriteError::NotFound)), "got {again:?}");
        assert_eq!(count_rows(&env.db, "categories").await, 0);
    }
}

#[tokio::test]
async fn category_names_are_unique_ignoring_case() {
    for env in backends().await {
        let repo = repo(&env);
        let tea = create_category(&repo, "Tea", t0()).await;
        let coffee = create_category(&repo, "Coffee", t0() + secs(1)).await;

        for name in ["Tea", "TEA", "tea"] {
            let result = repo.create_category(&category(name, t0() + secs(2))).await;
            assert!(matches!(result, Err(CatalogWriteError::NameTaken)), "{name}: got {result:?}");
        }
        let rename = CategoryChanges { name: Some("tEA".to_owned()), description: Some(Some("x".to_owned())) };
        let result = repo.update_category(coffee.id, &rename, t0() + hours(1)).await;
        assert!(matches!(result, Err(CatalogWriteError::NameTaken)), "got {result:?}");
        // Nothing of the refused change was applied.
        assert_eq!(repo.find_category(coffee.id).await.unwrap(), Some(coffee));

        // A category may change the case of its own name.
        let own = CategoryChanges { name: Some("TEA".to_owned()), description: None };
        assert_eq!(repo.update_category(tea.id, &own, t0() + hours(1)).await.unwrap().name, "TEA");
        assert_eq!(count_rows(&env.db, "categories").await, 2);
    }
}

#[tokio::test]
async fn categories_can_be_listed_filtered_searched_and_sorted() {
    for env in backends().await {
        let repo = repo(&env);
        for (i, name) in ["Tea", "Coffee", "Pastry", "Cold drinks"].into_iter().enumerate() {
            let mut c = category(name, t0() + hours(i64::try_from(i).unwrap()));
            if name == "Pastry" {
                c.description = Some("Baked with coffee butter".to_owned());
            }
            repo.create_category(&c).await.unwrap();
        }
        let list = |pairs: &'static [(&'static str, &'static str)]| {
            let repo = repo.clone();
            async move { repo.list_categories(&category_query(pairs)).await.unwrap() }
        };
        let cat_names = |p: &Page<Category>| names(p, |c| &c.name);

        let newest = list(&[]).await;
        assert_eq!(cat_names(&newest), ["Cold drinks", "Pastry", "Coffee", "Tea"]);
        assert_eq!((newest.total, newest.page, newest.page_size), (4, 1, 20));
        assert_eq!(cat_names(&list(&[("sort", "name")]).await), ["Coffee", "Cold drinks", "Pastry", "Tea"]);
        assert_eq!(cat_names(&list(&[("sort", "-name")]).await), ["Tea", "Pastry", "Cold drinks", "Coffee"]);
        assert_eq!(cat_names(&list(&[("name", "Tea")]).await), ["Tea"]);
        assert_eq!(cat_names(&list(&[("name__contains", "CO"), ("sort", "name")]).await), ["Coffee", "Cold drinks"]);
        // Search covers the description too.
        assert_eq!(cat_names(&list(&[("search", "coffee"), ("sort", "name")]).await), ["Coffee", "Pastry"]);
        let page = list(&[("sort", "name"), ("page_size", "3"), ("page", "2")]).await;
        assert_eq!((cat_names(&page), page.total, page.pages()), (vec!["Tea".to_owned()], 4, 2));
        assert_eq!(list(&[("search", "' OR 1=1 --")]).await.total, 0);
        assert_eq!(list(&[("name__contains", "%")]).await.total, 0);
    }
}

// ------------------------------------------------------------------ products

#[tokio::test]
async fn a_product_is_created_with_its_categories_sorted_by_name() {
    for env in backends().await {
        let repo = repo(&env);
        let tea = create_category(&repo, "Tea", t0()).await;
        let hot = create_category(&repo, "Hot drinks", t0()).await;
        let milk = create_category(&repo, "Milk", t0()).await;
        let mut chai = product("Chai latte", 420, t0() + hours(1));
        chai.description = Some("Spiced\nwith milk".to_owned());

        let created = create_product(&repo, chai.clone(), &[&tea, &milk, &hot]).await;

        assert_eq!(category_names(&created), ["Hot drinks", "Milk", "Tea"]);
        assert_eq!(created.categories, refs(&[&tea, &hot, &milk]));
        assert_eq!(Product { categories: Vec::new(), ..created.clone() }, chai);
        assert_eq!(repo.find_product(chai.id).await.unwrap(), Some(created));
        assert_eq!(repo.find_product(Uuid::now_v7()).await.unwrap(), None);
        assert_eq!(count_rows(&env.db, "product_categories").await, 3);

        // Without categories.
        let plain = create_product(&repo, product("Water", 0, t0()), &[]).await;
        assert!(plain.categories.is_empty());
        assert_eq!(repo.find_product(plain.id).await.unwrap(), Some(plain));
    }
}

#[tokio::test]
async fn unknown_category_ids_are_all_named_and_nothing_is_written() {
    for env in backends().await {
        let repo = repo(&env);
        let tea = create_category(&repo, "Tea", t0()).await;
        let (ghost_a, ghost_b) = (Uuid::now_v7(), Uuid::now_v7());

        let new = NewProduct { product: product("Chai", 400, t0()), category_ids: vec![ghost_a, tea.id, ghost_b] };
        let result = repo.create_product(&new).await;

        match result {
            Err(CatalogWriteError::UnknownCategories(ids)) => {
                assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), BTreeSet::from([ghost_a, ghost_b]));
            }
            other => panic!("expected UnknownCategories, got {other:?}"),
        }
        assert_eq!(count_rows(&env.db, "products").await, 0);
        assert_eq!(count_rows(&env.db, "product_categories").await, 0);

        // The same on update: neither the fields nor the links change.
        let chai = create_product(&repo, product("Chai", 400, t0()), &[&tea]).await;
        let changes = ProductChanges {
            name: Some("Masala chai".to_owned()),
            price: Some(Money::price("price", 450).unwrap()),
            category_ids: Some(vec![tea.id, ghost_b]),
            ..ProductChanges::default()
        };
        let result = repo.update_product(chai.id, &changes, t0() + hours(1)).await;
        match result {
            Err(CatalogWriteError::UnknownCategories(ids)) => assert_eq!(ids, [ghost_b]),
            other => panic!("expected UnknownCategories, got {other:?}"),
        }
        assert_eq!(repo.find_product(chai.id).await.unwrap(), Some(chai));
        assert_eq!(count_rows(&env.db, "product_categories").await, 1);
    }
}

/// A category deleted while a product is being created in it: the product
/// is created first (and then detached) or refused as naming an unknown
/// category, never a foreign-key failure. Racing, so a regression shows up
/// as a failure in some runs, not necessarily every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_deleted_during_a_product_creation_never_fails_its_foreign_key() {
    for env in backends().await {
        crate::support::warm_pool(&env).await;
        let repo = std::sync::Arc::new(repo(&env));
        for round in 0..40 {
            let cat = create_category(&repo, &format!("Seasonal {round}"), t0()).await;
            let new = NewProduct { product: product(&format!("Drink {round}"), 400, t0()), category_ids: vec![cat.id] };
            let (creator, deleter) = (repo.clone(), repo.clone());
            let create = tokio::spawn(async move { creator.create_product(&new).await });
            let delete = tokio::spawn(async move { deleter.delete_category(cat.id).await });
            match create.await.unwrap() {
                Ok(_) | Err(CatalogWriteError::UnknownCategories(_)) => {}
                Err(e) => panic!("{:?}, round {round}: {e:?}", env.backend),
            }
            delete.await.unwrap().unwrap();
        }
        assert_eq!(count_rows(&env.db, "product_categories").await, 0, "{:?}: the links went", env.backend);
    }
}

/// A product read while it is edited is read whole, alone and in a list:
/// its name and its categories are those of one version (the writer always
/// changes both).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_is_read_whole_while_its_name_and_categories_change() {
    for env in backends().await {
        crate::support::warm_pool(&env).await;
        let repo = std::sync::Arc::new(repo(&env));
        let tea = create_category(&repo, "Tea", t0()).await;
        let milk = create_category(&repo, "Milk", t0()).await;
        let chai = create_product(&repo, product("Tea drink", 400, t0()), &[&tea]).await;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The writer goes on until the reader has read 40 times alongside
        // it (60 rounds at least), however fast either runs.
        let read_count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer = {
            let (repo, done, tea, milk) = (repo.clone(), done.clone(), tea.id, milk.id);
            let read_count = read_count.clone();
            tokio::spawn(async move {
                let enough = || read_count.load(std::sync::atomic::Ordering::Acquire) >= 40;
                for round in (1..=10_000).take_while(|round| *round <= 60 || !enough()) {
                    let (name, category) = if round % 2 == 0 { ("Tea drink", tea) } else { ("Milk drink", milk) };
                    let changes = ProductChanges {
                        name: Some(name.to_owned()),
                        category_ids: Some(vec![category]),
                        ..ProductChanges::default()
                    };
                    repo.update_product(chai.id, &changes, t0() + secs(round)).await.unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::Release);
            })
        };
        let (mut reads, mut torn) = (0, Vec::new());
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            let alone = repo.find_product(chai.id).await.unwrap().unwrap();
            let listed = repo.list_products(&product_query(&[])).await.unwrap();
            assert_eq!((listed.total, listed.items.len()), (1, 1), "{:?}", env.backend);
            for (how, read) in [("alone", &alone), ("listed", &listed.items[0])] {
                let categories: Vec<&str> = read.categories.iter().map(|c| c.name.as_str()).collect();
                reads += 1;
                read_count.store(reads, std::sync::atomic::Ordering::Release);
                let name = read.name.as_str();
                if !matches!((name, categories.as_slice()), ("Tea drink", ["Tea"]) | ("Milk drink", ["Milk"])) {
                    torn.push((how, read.name.clone(), categories.join(",")));
                }
            }
        }
        writer.await.unwrap();
        assert!(reads > 20, "{:?}: the reads ran alongside the writes ({reads})", env.backend);
        assert!(torn.is_empty(), "{:?}: {} of {reads} reads were torn: {torn:?}", env.backend, torn.len());
    }
}

#[tokio::test]
async fn a_category_update_racing_a_rename_answers_what_is_stored() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    for env in backends().await {
        if env.backend != coffee_testkit::Backend::Postgres {
            continue;
        }
        let repo = repo(&env);
        let coffee = create_category(&repo, "Coffee", t0()).await;
        crate::support::warm_pool(&env).await;
        // Another admin's rename, not yet committed.
        let rename = env.db.begin().await.unwrap();
        let sql = format!("UPDATE categories SET name = 'Espresso', name_key = 'espresso' WHERE id = '{}'", coffee.id);
        rename.execute_unprepared(&sql).await.unwrap();
        // This admin saw "Coffee" and sends it back: a change, once the
        // rename is in.
        let patch = CategoryChanges { name: Some("Coffee".to_owned()), description: None };
        let (racing, id) = (repo.clone(), coffee.id);
        let update = tokio::spawn(async move { racing.update_category(id, &patch, t0() + secs(1)).await });
        crate::support::wait_for_lock_waiters(&env, 1).await;
        rename.commit().await.unwrap();
        let answered = update.await.unwrap().unwrap();
        let stored = repo.find_category(coffee.id).await.unwrap().unwrap();
        assert_eq!((answered.name.as_str(), stored.name.as_str()), ("Coffee", "Coffee"));
    }
}

#[tokio::test]
async fn an_update_changes_fields_and_replaces_the_category_set() {
    for env in backends().await {
        let repo = repo(&env);
        let tea = create_category(&repo, "Tea", t0()).await;
        let milk = create_category(&repo, "Milk", t0()).await;
        let hot = create_category(&repo, "Hot drinks", t0()).await;
        let mut chai = product("Chai", 400, t0());
        chai.description = Some("Spiced".to_owned());
        let chai = create_product(&repo, chai, &[&tea, &milk]).await;

        // Fields only: the categories stay.
        let later = t0() + hours(1);
        let price = Money::price("price", 450).unwrap();
        let changes = ProductChanges { price: Some(price), is_available: Some(false), ..ProductChanges::default() };
        let after = repo.update_product(chai.id, &changes, later).await.unwrap();
        assert_eq!((after.price, after.is_available, after.updated_at), (price, false, later));
        assert_eq!((after.name.as_str(), after.description.as_deref()), ("Chai", Some("Spiced")));
        assert_eq!(after.created_at, chai.created_at);
        assert_eq!(after.categories, refs(&[&tea, &milk]));

        // A new set replaces the old one; `Some(None)` clears the description.
        let changes = ProductChanges {
            description: Some(None),
            category_ids: Some(vec![hot.id, tea.id]),
            ..ProductChanges::default()
        };
        let after = repo.update_product(chai.id, &changes, later + secs(1)).await.unwrap();
        assert_eq!(after.categories, refs(&[&hot, &tea]));
        assert_eq!(after.description, None);
        assert_eq!(repo.find_product(chai.id).await.unwrap(), Some(after));

        // An empty set removes every category.
        let changes = ProductChanges { category_ids: Some(Vec::new()), ..ProductChanges::default() };
        let after = repo.update_product(chai.id, &changes, later + secs(2)).await.unwrap();
        assert!(after.categories.is_empty());
        assert_eq!(count_rows(&env.db, "product_categories").await, 0);
        assert_eq!(count_rows(&env.db, "categories").await, 3);

        let unknown = repo.update_product(Uuid::now_v7(), &ProductChanges::default(), later).await;
        assert!(matches!(unknown, Err(CatalogWriteError::NotFound)), "got {unknown:?}");
    }
}

#[tokio::test]
async fn deleting_a_category_detaches_its_products() {
    for env in backends().await {
        let repo = repo(&env);
        let tea = create_category(&repo, "Tea", t0()).await;
        let milk = create_category(&repo, "Milk", t0()).await;
        let chai = create_product(&repo, product("Chai", 400, t0()), &[&tea, &milk]).await;
        let green = create_product(&repo, product("Green tea", 300, t0()), &[&tea]).await;

        repo.delete_category(tea.id).await.unwrap();

        let chai = repo.find_product(chai.id).await.unwrap().unwrap();
        assert_eq!(chai.categories, refs(&[&milk]));
        let green = repo.find_product(green.id).await.unwrap().unwrap();
        assert!(green.categories.is_empty());
        assert_eq!(count_rows(&env.db, "products").await, 2);
        assert_eq!(count_rows(&env.db, "product_categories").await, 1);
        let listed = repo.list_products(&product_query(&[("category_id", &tea.id.to_string())])).await.unwrap();
        assert_eq!(listed.total, 0);
    }
}

#[tokio::test]
async fn images_are_set_and_replaced_and_returned_on_delete() {
    for env in backends().await {
        let repo = repo(&env);
        let tea = create_category(&repo, "Tea", t0()).await;
        let chai = create_product(&repo, product("Chai", 400, t0()), &[&tea]).await;
        let first = "0123456789abcdef0123456789abcdef.png";
        let second = "fedcba9876543210fedcba9876543210.webp";

        let later = t0() + hours(1);
        assert_eq!(repo.set_product_image(chai.id, first, later).await.unwrap(), None);
        let stored = repo.find_product(chai.id).await.unwrap().unwrap();
        assert_eq!((stored.image.as_deref(), stored.updated_at), (Some(first), later));
        assert_eq!(stored.categories, chai.categories);

        assert_eq!(repo.set_product_image(chai.id, second, later + secs(1)).await.unwrap().as_deref(), Some(first));
        assert_eq!(repo.find_product(chai.id).await.unwrap().unwrap().image.as_deref(), Some(second));

        let unknown = repo.set_product_image(Uuid::now_v7(), first, later).await;
        assert!(matches!(unknown, Err(CatalogWriteError::NotFound)), "got {unknown:?}");

        // Deleting hands back the file to remove; the links go with the product.
        assert_eq!(repo.delete_product(chai.id).await.unwrap().as_deref(), Some(second));
        assert_eq!(repo.find_product(chai.id).await.unwrap(), None);
        assert_eq!(count_rows(&env.db, "product_categories").await, 0);
        assert_eq!(repo.find_category(tea.id).await.unwrap().map(|c| c.name), Some("Tea".to_owned()));
        let again = repo.delete_product(chai.id).await;
        assert!(matches!(again, Err(CatalogWriteError::NotFound)), "got {again:?}");

        // Without an image there is nothing to remove.
        let water = create_product(&repo, product("Water", 0, t0()), &[]).await;
        assert_eq!(repo.delete_product(water.id).await.unwrap(), None);
    }
}

// ------------------------------------------------------------------- listing

/// The menu of the listing tests, one product an hour (Espresso first).
struct Menu {
    coffee: Category,
    tea: Category,
    milk: Category,
}

async fn seed_menu(repo: &SeaCatalogRepository) -> Menu {
    let coffee = create_category(repo, "Coffee", t0()).await;
    let tea = create_category(repo, "Tea", t0()).await;
    let milk = create_category(repo, "Milk", t0()).await;
    let items = [
        ("Espresso", Some("Strong and short"), 250, true, vec![&coffee]),
        ("Latte", Some("Milk coffee"), 350, true, vec![&coffee, &milk]),
        ("Green tea", None, 300, true, vec![&tea]),
        ("Chai latte", Some("Spiced tea with milk"), 400, true, vec![&tea, &milk]),
        ("Croissant", Some("100% butter"), 300, false, Vec::<&Category>::new()),
        ("Cold brew", Some("Slow_steeped"), 450, false, vec![&coffee]),
    ];
    for (i, (name, description, price, available, cats)) in items.into_iter().enumerate() {
        let mut p = product(name, price, t0() + hours(i64::try_from(i).unwrap()));
        p.description = description.map(str::to_owned);
        p.is_available = available;
        create_product(repo, p, &cats).await;
    }
    Menu { coffee, tea, milk }
}

async fn list(repo: &SeaCatalogRepository, pairs: &[(&str, &str)]) -> Page<Product> {
    repo.list_products(&product_query(pairs)).await.unwrap()
}

#[tokio::test]
async fn products_are_listed_newest_first_with_their_categories() {
    for env in backends().await {
        let repo = repo(&env);
        seed_menu(&repo).await;

        let page = list(&repo, &[]).await;

        assert_eq!(product_names(&page), ["Cold brew", "Croissant", "Chai latte", "Green tea", "Latte", "Espresso"]);
        assert_eq!((page.total, page.page, page.page_size, page.pages()), (6, 1, 20, 1));
        let cats: Vec<Vec<&str>> = page.items.iter().map(category_names).collect();
        assert_eq!(
            cats,
            [vec!["Coffee"], vec![], vec!["Milk", "Tea"], vec!["Tea"], vec!["Coffee", "Milk"], vec!["Coffee"]]
        );
        for item in &page.items {
            assert_eq!(repo.find_product(item.id).await.unwrap().as_ref(), Some(item));
        }
    }
}

#[tokio::test]
async fn products_can_be_filtered_by_price_availability_name_and_creation_time() {
    for env in backends().await {
        let repo = repo(&env);
        seed_menu(&repo).await;
        let by_price = |mut pairs: Vec<(&'static str, &'static str)>| {
            pairs.push(("sort", "price,name"));
            pairs
        };

        let mid = list(&repo, &by_price(vec![("price__gte", "300"), ("price__lt", "400")])).await;
        assert_eq!(product_names(&mid), ["Croissant", "Green tea", "Latte"]);
        assert_eq!(mid.total, 3);
        assert_eq!(
            product_names(&list(&repo, &by_price(vec![("price__gt", "350"), ("price__lte", "400")])).await),
            ["Chai latte"]
        );
        assert_eq!(product_names(&list(&repo, &by_price(vec![("price", "300")])).await), ["Croissant", "Green tea"]);
        assert_eq!(
            product_names(&list(&repo, &by_price(vec![("price__in", "250,450,999")])).await),
            ["Espresso", "Cold brew"]
        );

        let unavailable = list(&repo, &by_price(vec![("is_available", "false")])).await;
        assert_eq!(
            (product_names(&unavailable), unavailable.total),
            (vec!["Croissant".to_owned(), "Cold brew".to_owned()], 2)
        );
        assert_eq!(list(&repo, &[("is_available", "true")]).await.total, 4);

        assert_eq!(
            product_names(&list(&repo, &by_price(vec![("name__contains", "LATTE")])).await),
            ["Latte", "Chai latte"]
        );
        assert_eq!(product_names(&list(&repo, &[("name", "Latte")]).await), ["Latte"]);
        assert_eq!(list(&repo, &[("name", "latte")]).await.total, 0);
        assert_eq!(
            product_names(&list(&repo, &by_price(vec![("name__in", "Latte,Espresso,Nope")])).await),
            ["Espresso", "Latte"]
        );

        let since = (t0() + hours(4)).to_rfc3339();
        let newer = list(&repo, &[("created_at__gte", &since), ("sort", "created_at")]).await;
        assert_eq!(product_names(&newer), ["Croissant", "Cold brew"]);
        let older = list(&repo, &[("created_at__lt", &since), ("sort", "created_at")]).await;
        assert_eq!(older.total, 4);

        // Filters combine with AND.
        let combined = list(&repo, &by_price(vec![("is_available", "true"), ("price__gte", "300")])).await;
        assert_eq!(product_names(&combined), ["Green tea", "Latte", "Chai latte"]);
    }
}

#[tokio::test]
async fn products_can_be_filtered_by_category() {
    for env in backends().await {
        let repo = repo(&env);
        let menu = seed_menu(&repo).await;
        let (coffee, tea, milk) = (menu.coffee.id.to_string(), menu.tea.id.to_string(), menu.milk.id.to_string());

        let teas = list(&repo, &[("category_id", &tea), ("sort", "name")]).await;
        assert_eq!((product_names(&teas), teas.total), (vec!["Chai latte".to_owned(), "Green tea".to_owned()], 2));
        // The listed product keeps all its categories, not only the matching one.
        assert_eq!(category_names(&teas.items[0]), ["Milk", "Tea"]);

        // A product in several of the listed categories appears once.
        let tea_or_milk = format!("{tea},{milk}");
        let either = list(&repo, &[("category_id__in", &tea_or_milk), ("sort", "name")]).await;
        assert_eq!(product_names(&either), ["Chai latte", "Green tea", "Latte"]);
        assert_eq!(either.total, 3);

        let available_coffee =
            list(&repo, &[("category_id", &coffee), ("is_available", "true"), ("sort", "-price")]).await;
        assert_eq!(product_names(&available_coffee), ["Latte", "Espresso"]);

        let nobody = Uuid::now_v7().to_string();
        assert_eq!(list(&repo, &[("category_id", &nobody)]).await.total, 0);
        let ghost_or_coffee = format!("{nobody},{coffee}");
        assert_eq!(list(&repo, &[("category_id__in", &ghost_or_coffee)]).await.total, 3);
    }
}

#[tokio::test]
async fn search_matches_name_and_description_literally() {
    for env in backends().await {
        let repo = repo(&env);
        seed_menu(&repo).await;
        let search = |term: &'static str| {
            let repo = repo.clone();
            async move { product_names(&list(&repo, &[("search", term), ("sort", "name")]).await) }
        };

        // "tea" is in Green tea's name and in Chai latte's description.
        assert_eq!(search("TEA").await, ["Chai latte", "Green tea"]);
        assert_eq!(search("milk").await, ["Chai latte", "Latte"]);
        assert_eq!(search("short").await, ["Espresso"]);
        // LIKE metacharacters match only themselves.
        assert_eq!(search("%").await, ["Croissant"]);
        assert_eq!(search("_").await, ["Cold brew"]);
        assert_eq!(search("Slow_").await, ["Cold brew"]);
        assert!(search("L_tte").await.is_empty());
        for term in ["' OR 1=1 --", "\" OR \"\"=\"", "'; DROP TABLE products; --", "\\"] {
            assert!(search(term).await.is_empty(), "{term}");
        }
        assert_eq!(list(&repo, &[("name__contains", "%")]).await.total, 0);
        assert_eq!(list(&repo, &[("name", "' OR '1'='1")]).await.total, 0);
        // Search combines with filters.
        let cheap_milk = list(&repo, &[("search", "milk"), ("price__lt", "400")]).await;
        assert_eq!(product_names(&cheap_milk), ["Latte"]);
        assert_eq!(list(&repo, &[]).await.total, 6);
    }
}

#[tokio::test]
async fn products_sort_by_price_and_name_and_page_stably() {
    for env in backends().await {
        let repo = repo(&env);
        seed_menu(&repo).await;

        let ascending = product_names(&list(&repo, &[("sort", "price")]).await);
        assert_eq!(ascending[0], "Espresso");
        assert_eq!(ascending[3..], ["Latte", "Chai latte", "Cold brew"]);
        let mut ties = ascending[1..3].to_vec();
        ties.sort();
        assert_eq!(ties, ["Croissant", "Green tea"]);

        let descending = product_names(&list(&repo, &[("sort", "-price")]).await);
        assert_eq!(descending[..3], ["Cold brew", "Chai latte", "Latte"]);
        assert_eq!(descending[5], "Espresso");

        assert_eq!(
            product_names(&list(&repo, &[("sort", "-price,name")]).await),
            ["Cold brew", "Chai latte", "Latte", "Croissant", "Green tea", "Espresso"]
        );
        assert_eq!(
            product_names(&list(&repo, &[("sort", "name")]).await),
            ["Chai latte", "Cold brew", "Croissant", "Espresso", "Green tea", "Latte"]
        );
        assert_eq!(
            product_names(&list(&repo, &[("sort", "is_available,-price")]).await),
            ["Cold brew", "Croissant", "Chai latte", "Latte", "Green tea", "Espresso"]
        );

        // Pages of two over a sort with ties cover every product exactly once,
        // in the order of the unpaged list.
        for sort in ["price", "-price", "is_available", "name"] {
            let whole = product_names(&list(&repo, &[("sort", sort)]).await);
            let mut paged = Vec::new();
            for p in ["1", "2", "3"] {
                let page = list(&repo, &[("sort", sort), ("page_size", "2"), ("page", p)]).await;
                assert_eq!((page.total, page.pages(), page.items.len()), (6, 3, 2), "sort={sort} page={p}");
                paged.extend(product_names(&page));
            }
            assert_eq!(paged, whole, "sort={sort}");
        }
        let beyond = list(&repo, &[("page", "4"), ("page_size", "2")]).await;
        assert!(beyond.items.is_empty());
        assert_eq!(beyond.total, 6);
    }
}

#[tokio::test]
async fn a_page_of_products_carries_the_right_categories_of_each() {
    for env in backends().await {
        let repo = repo(&env);
        let cats = [
            create_category(&repo, "A", t0()).await,
            create_category(&repo, "B", t0()).await,
            create_category(&repo, "C", t0()).await,
        ];
        // Product i is in category i % 3, even ones also in the next category.
        let expected = |i: usize| -> Vec<&Category> {
            let mut v = vec![&cats[i % 3]];
            if i.is_multiple_of(2) {
                v.push(&cats[(i + 1) % 3]);
            }
            v
        };
        for i in 0..30 {
            let at = t0() + secs(i64::try_from(i).unwrap());
            create_product(&repo, product(&format!("P{i:02}"), 100 + i64::try_from(i).unwrap(), at), &expected(i))
                .await;
        }

        let mut seen = 0;
        for p in 1..=3u64 {
            let page = list(&repo, &[("sort", "name"), ("page_size", "10"), ("page", &p.to_string())]).await;
            assert_eq!((page.total, page.pages(), page.items.len()), (30, 3, 10));
            for item in &page.items {
                let i: usize = item.name[1..].parse().unwrap();
                assert_eq!(i, seen, "page {p} out of order");
                assert_eq!(item.categories, refs(&expected(i)), "categories of {}", item.name);
                seen += 1;
            }
        }
        assert_eq!(seen, 30);

        // Filtered by category B: the products of B, each with all its categories.
        let b = cats[1].id.to_string();
        let in_b = list(&repo, &[("category_id", &b), ("sort", "name"), ("page_size", "100")]).await;
        let want: Vec<usize> = (0..30).filter(|i| expected(*i).iter().any(|c| c.id == cats[1].id)).collect();
        assert_eq!(in_b.total, u64::try_from(want.len()).unwrap());
        for (item, i) in in_b.items.iter().zip(&want) {
            assert_eq!(item.name, format!("P{i:02}"));
            assert_eq!(item.categories, refs(&expected(*i)));
        }
    }
}
