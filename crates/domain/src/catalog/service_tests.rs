#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::TimeDelta;
use uuid::Uuid;

use super::fakes::{InMemoryCatalog, InMemoryImages};
use super::{CatalogError, CatalogService, CategoryInput, CategoryPatch, ProductInput, ProductPatch};
use crate::access::{AccessError, Admin};
use crate::money::Money;
use crate::query::parse_list_query;
use crate::testing::{Fakes, run, verified_user};
use crate::user::Role;

struct Setup {
    fakes: Fakes,
    catalog: Arc<InMemoryCatalog>,
    images: Arc<InMemoryImages>,
    service: CatalogService,
    admin: Admin,
}

fn setup() -> Setup {
    let fakes = Fakes::new();
    let catalog = Arc::new(InMemoryCatalog::default());
    let images = Arc::new(InMemoryImages::default());
    let service = CatalogService::new(catalog.clone(), images.clone(), fakes.clock.clone());
    let boss = verified_user("boss@example.com", Role::Admin, fakes.now());
    fakes.users.insert(boss.clone(), "x");
    let admin = fakes.caller(&boss).require_admin().unwrap();
    Setup { fakes, catalog, images, service, admin }
}

fn category(name: &str) -> CategoryInput {
    CategoryInput { name: name.to_owned(), description: None }
}

fn product(name: &str, price: i64, category_ids: Vec<Uuid>) -> ProductInput {
    ProductInput {
        name: name.to_owned(),
        description: Some("Espresso with steamed milk".to_owned()),
        price: Money::price("price", price).unwrap(),
        is_available: true,
        category_ids,
    }
}

fn not_found<T: std::fmt::Debug>(result: Result<T, CatalogError>) -> bool {
    matches!(result, Err(CatalogError::Access(AccessError::NotFound)))
}

#[test]
fn an_admin_creates_a_category_stamped_with_the_current_time() {
    let s = setup();
    let hot = run(s.service.create_category(s.admin, category("Hot drinks"))).unwrap();
    assert_eq!((hot.name.as_str(), hot.created_at, hot.updated_at), ("Hot drinks", s.fakes.now(), s.fakes.now()));
    assert_eq!(run(s.service.get_category(hot.id)).unwrap(), hot);
}

#[test]
fn category_names_are_unique_ignoring_case_on_create_and_rename() {
    let s = setup();
    run(s.service.create_category(s.admin, category("Hot drinks"))).unwrap();
    let cold = run(s.service.create_category(s.admin, category("Cold drinks"))).unwrap();
    assert!(matches!(run(s.service.create_category(s.admin, category("HOT DRINKS"))), Err(CatalogError::NameTaken)));
    let rename = CategoryPatch { name: Some("hot drinks".to_owned()), description: None };
    assert!(matches!(run(s.service.update_category(s.admin, cold.id, rename)), Err(CatalogError::NameTaken)));
    assert_eq!(run(s.service.get_category(cold.id)).unwrap().name, "Cold drinks");
}

#[test]
fn put_replaces_a_category_and_patch_changes_only_what_is_sent() {
    let s = setup();
    let input = CategoryInput { name: "Hot".to_owned(), description: Some("Warm".to_owned()) };
    let hot = run(s.service.create_category(s.admin, input)).unwrap();
    s.fakes.clock.advance(TimeDelta::minutes(1));
    let patched = run(s.service.update_category(
        s.admin,
        hot.id,
        CategoryPatch { name: Some("Hot drinks".to_owned()), description: None },
    ))
    .unwrap();
    assert_eq!((patched.name.as_str(), patched.description.as_deref()), ("Hot drinks", Some("Warm")));
    assert_eq!(patched.updated_at, s.fakes.now());
    let replaced = run(s.service.replace_category(s.admin, hot.id, category("Hot drinks"))).unwrap();
    assert_eq!(replaced.description, None, "PUT clears what it does not send");
}

#[test]
fn unknown_categories_and_products_are_not_found() {
    let s = setup();
    let id = Uuid::now_v7();
    assert!(not_found(run(s.service.get_category(id))));
    assert!(not_found(run(s.service.delete_category(s.admin, id))));
    assert!(not_found(run(s.service.update_category(s.admin, id, CategoryPatch::default()))));
    assert!(not_found(run(s.service.get_product(id))));
    assert!(not_found(run(s.service.delete_product(s.admin, id))));
    assert!(not_found(run(s.service.update_product(s.admin, id, ProductPatch::default()))));
}

#[test]
fn a_product_lists_its_categories_and_duplicate_ids_count_once() {
    let s = setup();
    let hot = run(s.service.create_category(s.admin, category("Hot drinks"))).unwrap();
    let milk = run(s.service.create_category(s.admin, category("Milk"))).unwrap();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![milk.id, hot.id, milk.id]))).unwrap();
    let names: Vec<&str> = latte.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Hot drinks", "Milk"]);
    assert_eq!(latte.price.minor(), 350);
    assert_eq!(run(s.service.get_product(latte.id)).unwrap(), latte);
}

#[test]
fn unknown_category_ids_are_named_and_nothing_is_written() {
    let s = setup();
    let ghost = Uuid::now_v7();
    let created = run(s.service.create_product(s.admin, product("Latte", 350, vec![ghost])));
    assert!(matches!(&created, Err(CatalogError::UnknownCategories(ids)) if ids == &vec![ghost]), "{created:?}");
    let query = parse_list_query::<super::ProductResource>(&[]).unwrap();
    assert_eq!(run(s.service.list_products(&query)).unwrap().total, 0);
}

#[test]
fn patching_a_product_changes_only_what_is_sent_and_put_resets_the_rest() {
    let s = setup();
    let hot = run(s.service.create_category(s.admin, category("Hot drinks"))).unwrap();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![hot.id]))).unwrap();
    let cheaper = ProductPatch { price: Some(Money::price("price", 300).unwrap()), ..ProductPatch::default() };
    let patched = run(s.service.update_product(s.admin, latte.id, cheaper)).unwrap();
    assert_eq!((patched.price.minor(), patched.name.as_str(), patched.categories.len()), (300, "Latte", 1));
    let replaced = run(s.service.replace_product(s.admin, latte.id, product("Flat white", 320, vec![]))).unwrap();
    assert_eq!((replaced.name.as_str(), replaced.categories.len()), ("Flat white", 0));
}

#[test]
fn deleting_a_category_detaches_its_products() {
    let s = setup();
    let hot = run(s.service.create_category(s.admin, category("Hot drinks"))).unwrap();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![hot.id]))).unwrap();
    run(s.service.delete_category(s.admin, hot.id)).unwrap();
    assert!(run(s.service.get_product(latte.id)).unwrap().categories.is_empty());
}

#[test]
fn a_new_image_replaces_the_old_file_and_deleting_the_product_removes_it() {
    let s = setup();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![]))).unwrap();
    let first = run(s.service.set_product_image(s.admin, latte.id, InMemoryImages::PNG.to_vec())).unwrap();
    let first_file = first.image.clone().unwrap();
    assert_eq!(s.images.files(), std::slice::from_ref(&first_file));
    assert!(s.service.image_file(&first_file).is_some());
    let second = run(s.service.set_product_image(s.admin, latte.id, InMemoryImages::PNG.to_vec())).unwrap();
    let second_file = second.image.unwrap();
    assert_ne!(second_file, first_file);
    assert_eq!(s.images.files(), std::slice::from_ref(&second_file), "the old file is gone");
    assert!(s.service.image_file(&first_file).is_none());
    run(s.service.delete_product(s.admin, latte.id)).unwrap();
    assert!(s.images.files().is_empty());
}

#[test]
fn an_upload_that_is_not_an_image_is_refused_and_stores_nothing() {
    let s = setup();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![]))).unwrap();
    let refused = run(s.service.set_product_image(s.admin, latte.id, b"GIF89a".to_vec()));
    assert!(matches!(refused, Err(CatalogError::UnsupportedImage)), "{refused:?}");
    assert!(s.images.files().is_empty());
    // Recognised, but the store cannot read it whole (to drop its metadata).
    let cut = run(s.service.set_product_image(s.admin, latte.id, InMemoryImages::PNG_CUT_SHORT.to_vec()));
    assert!(matches!(cut, Err(CatalogError::UnsupportedImage)), "{cut:?}");
    assert!(s.images.files().is_empty());
    assert_eq!(run(s.service.get_product(latte.id)).unwrap().image, None);
    let ghost = run(s.service.set_product_image(s.admin, Uuid::now_v7(), InMemoryImages::PNG.to_vec()));
    assert!(not_found(ghost));
    assert!(s.images.files().is_empty());
}

#[test]
fn an_image_for_a_product_deleted_meanwhile_leaves_no_orphan_file() {
    let s = setup();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![]))).unwrap();
    // Another admin deletes the product between the check and the update.
    s.catalog.vanish_before_next_image_update();
    let vanished = run(s.service.set_product_image(s.admin, latte.id, InMemoryImages::PNG.to_vec()));
    assert!(not_found(vanished));
    assert!(s.images.files().is_empty());
}

#[test]
fn an_image_whose_update_may_have_been_made_keeps_its_file() {
    let s = setup();
    let latte = run(s.service.create_product(s.admin, product("Latte", 350, vec![]))).unwrap();
    s.catalog.lose_commit_of_next_image_update();
    let lost = run(s.service.set_product_image(s.admin, latte.id, InMemoryImages::PNG.to_vec()));
    assert!(matches!(lost, Err(CatalogError::Unexpected(_))), "{lost:?}");
    // The update was made: the product's image is there to serve.
    let image = run(s.service.get_product(latte.id)).unwrap().image.expect("the image was recorded");
    assert_eq!(s.images.files(), [image]);
}
