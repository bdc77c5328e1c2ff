//! The menu use cases: public reads, admin writes.

use std::path::PathBuf;
use std::sync::Arc;

use uuid::Uuid;

use super::model::{
    Category, CategoryChanges, CategoryField, ImageKind, NewProduct, Product, ProductChanges, ProductField,
};
use super::ports::{CatalogRepository, CatalogWriteError, ImageSaveError, ImageStore};
use crate::access::{AccessError, Admin};
use crate::clock::Clock;
use crate::error::Unexpected;
use crate::money::Money;
use crate::query::{ListQuery, Page};

/// Why a menu use case failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Refused, or no such category or product.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Another category has this name.
    #[error("category name taken")]
    NameTaken,
    /// Some category ids do not exist.
    #[error("unknown categories")]
    UnknownCategories(Vec<Uuid>),
    /// An upload that is not a whole PNG, JPEG or WebP image.
    #[error("not a PNG, JPEG or WebP image")]
    UnsupportedImage,
    /// Something failed that the client cannot fix.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(CatalogError);

impl From<ImageSaveError> for CatalogError {
    fn from(e: ImageSaveError) -> Self {
        match e {
            ImageSaveError::Unreadable => CatalogError::UnsupportedImage,
            ImageSaveError::Infra(e) => e.into(),
        }
    }
}

impl From<CatalogWriteError> for CatalogError {
    fn from(e: CatalogWriteError) -> Self {
        match e {
            CatalogWriteError::NotFound => AccessError::NotFound.into(),
            CatalogWriteError::NameTaken => CatalogError::NameTaken,
            CatalogWriteError::UnknownCategories(ids) => CatalogError::UnknownCategories(ids),
            CatalogWriteError::Repo(e) => e.into(),
        }
    }
}

/// A validated category (create, or full replacement with PUT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryInput {
    /// Name (see [`super::name`]).
    pub name: String,
    /// Description (see [`super::description`]).
    pub description: Option<String>,
}

/// A validated partial change of a category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryPatch {
    /// New name.
    pub name: Option<String>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
}

/// A validated product (create, or full replacement with PUT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInput {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Price.
    pub price: Money,
    /// Availability.
    pub is_available: bool,
    /// Categories (duplicates are ignored).
    pub category_ids: Vec<Uuid>,
}

/// A validated partial change of a product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description; `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// New price.
    pub price: Option<Money>,
    /// New availability.
    pub is_available: Option<bool>,
    /// New categories (replace the old set).
    pub category_ids: Option<Vec<Uuid>>,
}

fn dedup(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The menu use cases: reads are public, writes take the [`Admin`] capability.
pub struct CatalogService {
    catalog: Arc<dyn CatalogRepository>,
    images: Arc<dyn ImageStore>,
    clock: Arc<dyn Clock>,
}

impl CatalogService {
    /// Wires the service.
    pub fn new(catalog: Arc<dyn CatalogRepository>, images: Arc<dyn ImageStore>, clock: Arc<dyn Clock>) -> Self {
        Self { catalog, images, clock }
    }

    /// One page of categories.
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn list_categories(&self, query: &ListQuery<CategoryField>) -> Result<Page<Category>, CatalogError> {
        Ok(self.catalog.list_categories(query).await?)
    }

    /// One category.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get_category(&self, id: Uuid) -> Result<Category, CatalogError> {
        Ok(self.catalog.find_category(id).await?.ok_or(AccessError::NotFound)?)
    }

    /// Creates a category.
    ///
    /// # Errors
    /// `NameTaken`.
    pub async fn create_category(&self, _admin: Admin, input: CategoryInput) -> Result<Category, CatalogError> {
        let now = self.clock.now();
        let category = Category {
            id: Uuid::now_v7(),
            name: input.name,
            description: input.description,
            created_at: now,
            updated_at: now,
        };
        self.catalog.create_category(&category).await?;
        Ok(category)
    }

    /// Replaces a category's editable fields (PUT).
    ///
    /// # Errors
    /// `NotFound`, `NameTaken`.
    pub async fn replace_category(
        &self,
        admin: Admin,
        id: Uuid,
        input: CategoryInput,
    ) -> Result<Category, CatalogError> {
        let patch = CategoryPatch { name: Some(input.name), description: Some(input.description) };
        self.update_category(admin, id, patch).await
    }

    /// Changes some of a category's fields (PATCH).
    ///
    /// # Errors
    /// `NotFound`, `NameTaken`.
    pub async fn update_category(
        &self,
        _admin: Admin,
        id: Uuid,
        patch: CategoryPatch,
    ) -> Result<Category, CatalogError> {
        let changes = CategoryChanges { name: patch.name, description: patch.description };
        Ok(self.catalog.update_category(id, &changes, self.clock.now()).await?)
    }

    /// Deletes a category; its products are detached from it.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete_category(&self, _admin: Admin, id: Uuid) -> Result<(), CatalogError> {
        Ok(self.catalog.delete_category(id).await?)
    }

    /// One page of products with their categories.
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn list_products(&self, query: &ListQuery<ProductField>) -> Result<Page<Product>, CatalogError> {
        Ok(self.catalog.list_products(query).await?)
    }

    /// One product.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get_product(&self, id: Uuid) -> Result<Product, CatalogError> {
        Ok(self.catalog.find_product(id).await?.ok_or(AccessError::NotFound)?)
    }

    /// Creates a product in the given categories.
    ///
    /// # Errors
    /// `UnknownCategories`.
    pub async fn create_product(&self, _admin: Admin, input: ProductInput) -> Result<Product, CatalogError> {
        let now = self.clock.now();
        let product = Product {
            id: Uuid::now_v7(),
            name: input.name,
            description: input.description,
            price: input.price,
            is_available: input.is_available,
            image: None,
            categories: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let new = NewProduct { product, category_ids: dedup(input.category_ids) };
        Ok(self.catalog.create_product(&new).await?)
    }

    /// Replaces a product's editable fields (PUT).
    ///
    /// # Errors
    /// `NotFound`, `UnknownCategories`.
    pub async fn replace_product(&self, admin: Admin, id: Uuid, input: ProductInput) -> Result<Product, CatalogError> {
        let patch = ProductPatch {
            name: Some(input.name),
            description: Some(input.description),
            price: Some(input.price),
            is_available: Some(input.is_available),
            category_ids: Some(input.category_ids),
        };
        self.update_product(admin, id, patch).await
    }

    /// Changes some of a product's fields (PATCH).
    ///
    /// # Errors
    /// `NotFound`, `UnknownCategories`.
    pub async fn update_product(&self, _admin: Admin, id: Uuid, patch: ProductPatch) -> Result<Product, CatalogError> {
        let changes = ProductChanges {
            name: patch.name,
            description: patch.description,
            price: patch.price,
            is_available: patch.is_available,
            category_ids: patch.category_ids.map(dedup),
        };
        Ok(self.catalog.update_product(id, &changes, self.clock.now()).await?)
    }

    /// Deletes a product and its image file.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete_product(&self, _admin: Admin, id: Uuid) -> Result<(), CatalogError> {
        if let Some(image) = self.catalog.delete_product(id).await? {
            self.remove_file(&image).await;
        }
        Ok(())
    }

    /// Stores `bytes` as the product's new image, without their metadata
    /// ([`ImageStore::save`]), and removes the old file.
    ///
    /// # Errors
    /// `UnsupportedImage` unless the bytes are a whole PNG, JPEG or WebP image; `NotFound`.
    pub async fn set_product_image(&self, _admin: Admin, id: Uuid, bytes: Vec<u8>) -> Result<Product, CatalogError> {
        let kind = self.images.recognise(&bytes).ok_or(CatalogError::UnsupportedImage)?;
        if self.catalog.find_product(id).await?.is_none() {
            return Err(AccessError::NotFound.into());
        }
        let file = self.images.save(bytes, kind).await?;
        match self.catalog.set_product_image(id, &file, self.clock.now()).await {
            Ok(old) => {
                if let Some(old) = old {
                    self.remove_file(&old).await;
                }
            }
            // The store failed: the change may have been made all the same,
            // its answer lost (a connection dropped at COMMIT). Removing the
            // file could leave the product pointing at nothing for good; a
            // file nobody points at costs only disk.
            Err(CatalogWriteError::Repo(e)) => {
                tracing::warn!(file = %file, error = %crate::error::error_chain(&e),
                    "could not record a product's new image; its file is kept, as it may be in use");
                return Err(CatalogWriteError::Repo(e).into());
            }
            Err(e) => {
                // The product vanished meanwhile: keep no orphan file.
                self.remove_file(&file).await;
                return Err(e.into());
            }
        }
        self.get_product(id).await
    }

    /// A stored image, for serving: where it is and its format. `None` for
    /// any name the image store did not generate.
    pub fn image_file(&self, name: &str) -> Option<(PathBuf, ImageKind)> {
        self.images.locate(name)
    }

    async fn remove_file(&self, name: &str) {
        if let Err(e) = self.images.delete(name).await {
            tracing::warn!(file = name, error = %crate::error::error_chain(&e), "could not remove an image file");
        }
    }
}
