//! Wire formats of the menu.

use chrono::{DateTime, Utc};
use coffee_domain::FieldError;
use coffee_domain::catalog::{
    Category, CategoryInput, CategoryPatch, Product, ProductInput, ProductPatch, description, name, price,
};
use coffee_domain::error::Validator;
use coffee_domain::query::Page;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dto::double_option;
use crate::problem::ApiError;

/// A menu category.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CategoryDto {
    /// Identifier.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Category> for CategoryDto {
    fn from(c: Category) -> Self {
        Self { id: c.id, name: c.name, description: c.description, created_at: c.created_at, updated_at: c.updated_at }
    }
}

/// One page of categories.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CategoryPage {
    /// The categories of this page.
    pub items: Vec<CategoryDto>,
    /// Matching categories over all pages.
    pub total: u64,
    /// This page (1-based).
    pub page: u64,
    /// Page size.
    pub page_size: u64,
    /// Number of pages.
    pub pages: u64,
}

impl From<Page<Category>> for CategoryPage {
    fn from(p: Page<Category>) -> Self {
        let pages = p.pages();
        let p = p.map(CategoryDto::from);
        Self { items: p.items, total: p.total, page: p.page, page_size: p.page_size, pages }
    }
}

/// A category as listed on a product.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CategoryRefDto {
    /// Category id.
    pub id: Uuid,
    /// Category name.
    pub name: String,
}

/// A product on the menu.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct ProductDto {
    /// Identifier.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Price in minor units of `currency` (`350` = 3.50).
    pub price: i64,
    /// ISO 4217 currency of the shop.
    pub currency: String,
    /// Whether it can be ordered now.
    pub is_available: bool,
    /// URL of the product image, if any.
    pub image_url: Option<String>,
    /// Its categories.
    pub categories: Vec<CategoryRefDto>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What a product's JSON needs besides the product.
#[derive(Debug, Clone, Copy)]
pub struct ProductView<'a> {
    /// The shop's currency.
    pub currency: &'a str,
    /// `PUBLIC_BASE_URL`, for image URLs.
    pub base_url: &'a str,
}

impl ProductView<'_> {
    /// The JSON form of `p`.
    pub fn dto(self, p: Product) -> ProductDto {
        ProductDto {
            id: p.id,
            name: p.name,
            description: p.description,
            price: p.price,
            currency: self.currency.to_owned(),
            is_available: p.is_available,
            image_url: p.image.map(|f| format!("{}/media/{f}", self.base_url)),
            categories: p.categories.into_iter().map(|c| CategoryRefDto { id: c.id, name: c.name }).collect(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    /// The JSON form of a page of products.
    pub fn page(self, p: Page<Product>) -> ProductPage {
        let pages = p.pages();
        let p = p.map(|item| self.dto(item));
        ProductPage { items: p.items, total: p.total, page: p.page, page_size: p.page_size, pages }
    }
}

/// One page of products.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct ProductPage {
    /// The products of this page.
    pub items: Vec<ProductDto>,
    /// Matching products over all pages.
    pub total: u64,
    /// This page (1-based).
    pub page: u64,
    /// Page size.
    pub page_size: u64,
    /// Number of pages.
    pub pages: u64,
}

/// `POST /categories` and `PUT /categories/{id}`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// Unique name, 1–100 characters of plain text.
    #[openapi(example = "Hot drinks")]
    pub name: String,
    /// Up to 2000 characters of plain text.
    pub description: Option<String>,
}

impl CategoryRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<CategoryInput, ApiError> {
        let mut v = Validator::new();
        let name = v.check(name("name", &self.name));
        let description = self.description.and_then(|d| v.check(description("description", &d))).flatten();
        v.finish().map_err(ApiError::validation)?;
        let name = name.ok_or_else(|| ApiError::internal(&"validator accepted a missing name"))?;
        Ok(CategoryInput { name, description })
    }
}

/// `PATCH /categories/{id}`: absent fields stay, `null` clears the description.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatchRequest {
    /// New name.
    pub name: Option<String>,
    /// New description, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
}

impl CategoryPatchRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<CategoryPatch, ApiError> {
        let mut v = Validator::new();
        let patch = CategoryPatch {
            name: self.name.and_then(|n| v.check(name("name", &n))),
            description: self.description.map(|d| d.and_then(|d| v.check(description("description", &d)).flatten())),
        };
        v.finish().map_err(ApiError::validation)?;
        Ok(patch)
    }
}

/// `POST /products` and `PUT /products/{id}`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// 1–100 characters of plain text.
    #[openapi(example = "Cappuccino")]
    pub name: String,
    /// Up to 2000 characters of plain text.
    pub description: Option<String>,
    /// Price in minor units (`350` = 3.50), 0 to 100000000.
    #[openapi(example = "350")]
    pub price: i64,
    /// Whether it can be ordered (default `true`).
    pub is_available: Option<bool>,
    /// Ids of its categories (default none).
    pub category_ids: Option<Vec<Uuid>>,
}

impl ProductRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<ProductInput, ApiError> {
        let mut v = Validator::new();
        let name = v.check(name("name", &self.name));
        let description = self.description.and_then(|d| v.check(description("description", &d))).flatten();
        let price = v.check(price("price", self.price));
        let category_ids = self.category_ids.unwrap_or_default();
        check_id_count(&mut v, &category_ids);
        v.finish().map_err(ApiError::validation)?;
        match (name, price) {
            (Some(name), Some(price)) => Ok(ProductInput {
                name,
                description,
                price,
                is_available: self.is_available.unwrap_or(true),
                category_ids,
            }),
            _ => Err(ApiError::internal(&"validator accepted missing fields")),
        }
    }
}

/// `PATCH /products/{id}`: absent fields stay, `null` clears the description;
/// `category_ids` replaces the whole set.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchRequest {
    /// New name.
    pub name: Option<String>,
    /// New description, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    /// New price in minor units.
    pub price: Option<i64>,
    /// New availability.
    pub is_available: Option<bool>,
    /// New set of category ids.
    pub category_ids: Option<Vec<Uuid>>,
}

impl ProductPatchRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<ProductPatch, ApiError> {
        let mut v = Validator::new();
        if let Some(ids) = &self.category_ids {
            check_id_count(&mut v, ids);
        }
        let patch = ProductPatch {
            name: self.name.and_then(|n| v.check(name("name", &n))),
            description: self.description.map(|d| d.and_then(|d| v.check(description("description", &d)).flatten())),
            price: self.price.and_then(|p| v.check(price("price", p))),
            is_available: self.is_available,
            category_ids: self.category_ids,
        };
        v.finish().map_err(ApiError::validation)?;
        Ok(patch)
    }
}

/// Most categories one product may be in.
const MAX_CATEGORIES: usize = 50;

fn check_id_count(v: &mut Validator, ids: &[Uuid]) {
    if ids.len() > MAX_CATEGORIES {
        v.push(FieldError::new("category_ids", format!("lists at most {MAX_CATEGORIES} categories")));
    }
}
