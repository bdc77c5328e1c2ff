//! Ports of the menu.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{
    Category, CategoryChanges, CategoryField, ImageKind, NewProduct, PricedProduct, Product, ProductChanges,
    ProductField,
};
use crate::error::{InfraError, RepoError};
use crate::query::{ListQuery, Page};

/// Why a menu write was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogWriteError {
    /// No such category or product.
    #[error("not found")]
    NotFound,
    /// Another category has this name (case-insensitively).
    #[error("category name taken")]
    NameTaken,
    /// Some of the given category ids do not exist.
    #[error("unknown categories: {0:?}")]
    UnknownCategories(Vec<Uuid>),
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Stores categories and products.
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    /// Inserts a category.
    ///
    /// # Errors
    /// `NameTaken`.
    async fn create_category(&self, category: &Category) -> Result<(), CatalogWriteError>;
    /// One category.
    ///
    /// # Errors
    /// The store failed.
    async fn find_category(&self, id: Uuid) -> Result<Option<Category>, RepoError>;
    /// One page of categories.
    ///
    /// # Errors
    /// The store failed.
    async fn list_categories(&self, query: &ListQuery<CategoryField>) -> Result<Page<Category>, RepoError>;
    /// Applies `changes` at `now`.
    ///
    /// # Errors
    /// `NotFound`, `NameTaken`.
    async fn update_category(
        &self,
        id: Uuid,
        changes: &CategoryChanges,
        now: DateTime<Utc>,
    ) -> Result<Category, CatalogWriteError>;
    /// Deletes a category; its products stay, detached from it.
    ///
    /// # Errors
    /// `NotFound`.
    async fn delete_category(&self, id: Uuid) -> Result<(), CatalogWriteError>;

    /// Inserts a product with its categories, in one transaction.
    ///
    /// # Errors
    /// `UnknownCategories` naming every missing id; nothing is written then.
    async fn create_product(&self, product: &NewProduct) -> Result<Product, CatalogWriteError>;
    /// One product with its categories.
    ///
    /// # Errors
    /// The store failed.
    async fn find_product(&self, id: Uuid) -> Result<Option<Product>, RepoError>;
    /// Name, price and availability of each existing product among `ids`
    /// (unknown ids are left out), in one query. Inside a transaction the
    /// products found cannot be deleted until it ends, so an order placed
    /// from them never refers to a product deleted meanwhile.
    ///
    /// # Errors
    /// The store failed.
    async fn priced(&self, ids: &[Uuid]) -> Result<Vec<PricedProduct>, RepoError>;
    /// One page of products with their categories, in a constant number of
    /// queries (count, page, categories of the page).
    ///
    /// # Errors
    /// The store failed.
    async fn list_products(&self, query: &ListQuery<ProductField>) -> Result<Page<Product>, RepoError>;
    /// Applies `changes` at `now`, in one transaction.
    ///
    /// # Errors
    /// `NotFound`, `UnknownCategories`.
    async fn update_product(
        &self,
        id: Uuid,
        changes: &ProductChanges,
        now: DateTime<Utc>,
    ) -> Result<Product, CatalogWriteError>;
    /// Deletes a product; returns its image file name, if it had one.
    ///
    /// # Errors
    /// `NotFound`.
    async fn delete_product(&self, id: Uuid) -> Result<Option<String>, CatalogWriteError>;
    /// Sets the product's image file; returns the previous one, if any.
    ///
    /// # Errors
    /// `NotFound`.
    async fn set_product_image(
        &self,
        id: Uuid,
        image: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, CatalogWriteError>;
}

/// Why an image was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ImageSaveError {
    /// The bytes are not a whole image of the kind recognised (a file cut
    /// short, a damaged chunk), so it cannot be rewritten without its metadata.
    #[error("the image cannot be read whole")]
    Unreadable,
    /// The file could not be written.
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Stores image files (under `MEDIA_DIR`).
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// The format of `bytes`, recognised by content (never by name or
    /// declared type); `None` for anything but PNG, JPEG and WebP.
    fn recognise(&self, bytes: &[u8]) -> Option<ImageKind>;
    /// Where a stored file is, and its format; `None` for any name the store
    /// did not generate (so a client can never name another path).
    fn locate(&self, name: &str) -> Option<(std::path::PathBuf, ImageKind)>;
    /// Stores `bytes` without their metadata (where and when a photo was
    /// taken, the camera, comments, anything after the image), keeping what
    /// the picture looks like (colour profile, orientation), under a new
    /// unique name with `kind`'s extension, and returns the name. The file
    /// appears whole or not at all.
    ///
    /// # Errors
    /// `Unreadable` for bytes that are not a whole image of `kind`; `Infra`
    /// when the file could not be written.
    async fn save(&self, bytes: Vec<u8>, kind: ImageKind) -> Result<String, ImageSaveError>;
    /// Removes a stored file (missing files are fine).
    ///
    /// # Errors
    /// The file exists but could not be removed.
    async fn delete(&self, name: &str) -> Result<(), InfraError>;
}
