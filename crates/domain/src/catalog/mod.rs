//! The menu: categories and products (many-to-many), and product images.
//!
//! Deleting a category detaches its products. Deleting a product is a hard
//! delete: orders snapshot each line's name and price and keep the product's
//! id without a foreign key, so past orders stay exactly as placed when the
//! menu changes.

mod model;
mod ports;
mod service;

pub use model::{
    Category, CategoryChanges, CategoryField, CategoryRef, CategoryResource, DESCRIPTION_MAX_CHARS, ImageKind,
    NAME_MAX_CHARS, NewProduct, PricedProduct, Product, ProductChanges, ProductField, ProductResource, description,
    name,
};
pub use ports::{CatalogRepository, CatalogWriteError, ImageSaveError, ImageStore};
pub use service::{CatalogError, CatalogService, CategoryInput, CategoryPatch, ProductInput, ProductPatch};

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod service_tests;
