//! The menu: categories and products (many-to-many), and product images.
//!
//! Deleting a category detaches its products. Deleting a product is a hard
//! delete: orders (a later feature) snapshot each item's name and price and
//! keep a nullable reference to the product (`ON DELETE SET NULL`), so past
//! orders stay intact when the menu changes.

mod model;
mod ports;
mod service;

pub use model::{
    Category, CategoryChanges, CategoryField, CategoryRef, CategoryResource, DESCRIPTION_MAX_CHARS, ImageKind,
    NAME_MAX_CHARS, NewProduct, PricedProduct, Product, ProductChanges, ProductField, ProductResource, description,
    name,
};
pub use ports::{CatalogRepository, CatalogWriteError, ImageStore};
pub use service::{CatalogError, CatalogService, CategoryInput, CategoryPatch, ProductInput, ProductPatch};

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod service_tests;
