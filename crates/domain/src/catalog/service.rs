//! The menu use cases: public reads, admin writes.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{
    Category, CategoryChanges, CategoryField, ImageKind, NewProduct, Product, ProductChanges, ProductField,
};
use super::ports::{CatalogRepository, CatalogWriteError, ImageStore};
use crate::clock::Clock;
use crate::error::{InfraError, RepoError};
use crate::query::{ListQuery, Page};
use crate::user::{AccessDenied, Actor, UserRepository, require_admin};

/// Why a menu use case failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The caller's account no longer exists.
    #[error("the authenticated user no longer exists")]
    Unauthenticated,
    /// Admins only.
    #[error("admins only")]
    Forbidden,
    /// No such category or product.
    #[error("not found")]
    NotFound,
    /// Another category has this name.
    #[error("category name taken")]
    NameTaken,
    /// Some category ids do not exist.
    #[error("unknown categories")]
    UnknownCategories(Vec<Uuid>),
    /// Something failed that the client cannot fix.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl From<RepoError> for CatalogError {
    fn from(e: RepoError) -> Self {
        CatalogError::Unexpected(e.to_string())
    }
}

impl From<InfraError> for CatalogError {
    fn from(e: InfraError) -> Self {
        CatalogError::Unexpected(e.0)
    }
}

impl From<AccessDenied> for CatalogError {
    fn from(e: AccessDenied) -> Self {
        match e {
            AccessDenied::Unauthenticated => CatalogError::Unauthenticated,
            AccessDenied::Forbidden => CatalogError::Forbidden,
            AccessDenied::Repo(e) => e.into(),
        }
    }
}

impl From<CatalogWriteError> for CatalogError {
    fn from(e: CatalogWriteError) -> Self {
        match e {
            CatalogWriteError::NotFound => CatalogError::NotFound,
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
    /// Price in minor units.
    pub price: i64,
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
    pub price: Option<i64>,
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

/// The menu use cases.
pub struct CatalogService {
    catalog: Arc<dyn CatalogRepository>,
    images: Arc<dyn ImageStore>,
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl CatalogService {
    /// Wires the service.
    pub fn new(
        catalog: Arc<dyn CatalogRepository>,
        images: Arc<dyn ImageStore>,
        users: Arc<dyn UserRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { catalog, images, users, clock }
    }

    /// Refuses non-admins early, e.g. before an upload is read.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`.
    pub async fn require_admin(&self, actor: Actor) -> Result<(), CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
        Ok(())
    }

    /// One page of categories (public).
    ///
    /// # Errors
    /// The store failed.
    pub async fn list_categories(&self, query: &ListQuery<CategoryField>) -> Result<Page<Category>, CatalogError> {
        Ok(self.catalog.list_categories(query).await?)
    }

    /// One category (public).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get_category(&self, id: Uuid) -> Result<Category, CatalogError> {
        self.catalog.find_category(id).await?.ok_or(CatalogError::NotFound)
    }

    /// Creates a category (admin).
    ///
    /// # Errors
    /// `Forbidden`, `NameTaken`.
    pub async fn create_category(&self, actor: Actor, input: CategoryInput) -> Result<Category, CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
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

    /// Replaces a category's editable fields (admin, PUT).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `NameTaken`.
    pub async fn replace_category(
        &self,
        actor: Actor,
        id: Uuid,
        input: CategoryInput,
    ) -> Result<Category, CatalogError> {
        let patch = CategoryPatch { name: Some(input.name), description: Some(input.description) };
        self.update_category(actor, id, patch).await
    }

    /// Changes some of a category's fields (admin, PATCH).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `NameTaken`.
    pub async fn update_category(
        &self,
        actor: Actor,
        id: Uuid,
        patch: CategoryPatch,
    ) -> Result<Category, CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
        let changes = CategoryChanges { name: patch.name, description: patch.description };
        Ok(self.catalog.update_category(id, &changes, self.clock.now()).await?)
    }

    /// Deletes a category; its products are detached from it (admin).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn delete_category(&self, actor: Actor, id: Uuid) -> Result<(), CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
        Ok(self.catalog.delete_category(id).await?)
    }

    /// One page of products with their categories (public).
    ///
    /// # Errors
    /// The store failed.
    pub async fn list_products(&self, query: &ListQuery<ProductField>) -> Result<Page<Product>, CatalogError> {
        Ok(self.catalog.list_products(query).await?)
    }

    /// One product (public).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get_product(&self, id: Uuid) -> Result<Product, CatalogError> {
        self.catalog.find_product(id).await?.ok_or(CatalogError::NotFound)
    }

    /// Creates a product in the given categories (admin).
    ///
    /// # Errors
    /// `Forbidden`, `UnknownCategories`.
    pub async fn create_product(&self, actor: Actor, input: ProductInput) -> Result<Product, CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
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

    /// Replaces a product's editable fields (admin, PUT).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `UnknownCategories`.
    pub async fn replace_product(&self, actor: Actor, id: Uuid, input: ProductInput) -> Result<Product, CatalogError> {
        let patch = ProductPatch {
            name: Some(input.name),
            description: Some(input.description),
            price: Some(input.price),
            is_available: Some(input.is_available),
            category_ids: Some(input.category_ids),
        };
        self.update_product(actor, id, patch).await
    }

    /// Changes some of a product's fields (admin, PATCH).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `UnknownCategories`.
    pub async fn update_product(&self, actor: Actor, id: Uuid, patch: ProductPatch) -> Result<Product, CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
        let changes = ProductChanges {
            name: patch.name,
            description: patch.description,
            price: patch.price,
            is_available: patch.is_available,
            category_ids: patch.category_ids.map(dedup),
        };
        Ok(self.catalog.update_product(id, &changes, self.clock.now()).await?)
    }

    /// Deletes a product and its image file (admin).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn delete_product(&self, actor: Actor, id: Uuid) -> Result<(), CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
        if let Some(image) = self.catalog.delete_product(id).await? {
            self.remove_file(&image).await;
        }
        Ok(())
    }

    /// Stores a new image for a product and removes the old file (admin).
    /// The caller has recognised `kind` from the bytes themselves.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn set_product_image(
        &self,
        actor: Actor,
        id: Uuid,
        kind: ImageKind,
        bytes: Vec<u8>,
    ) -> Result<Product, CatalogError> {
        require_admin(self.users.as_ref(), actor).await?;
        if self.catalog.find_product(id).await?.is_none() {
            return Err(CatalogError::NotFound);
        }
        let file = self.images.save(bytes, kind).await?;
        match self.catalog.set_product_image(id, &file, self.clock.now()).await {
            Ok(old) => {
                if let Some(old) = old {
                    self.remove_file(&old).await;
                }
            }
            Err(e) => {
                // The product vanished meanwhile (or the store failed): keep no orphan file.
                self.remove_file(&file).await;
                return Err(e.into());
            }
        }
        self.get_product(id).await
    }

    async fn remove_file(&self, name: &str) {
        if let Err(e) = self.images.delete(name).await {
            tracing::warn!(file = name, error = %e, "could not remove an image file");
        }
    }
}
