//! Menu products: `/products`.

use chrono::{DateTime, Utc};
use coffee_domain::FieldError;
use coffee_domain::catalog::{Product, ProductInput, ProductPatch, description, name};
use coffee_domain::error::Validator;
use coffee_domain::money::{Currency, Money};
use coffee_domain::query::Page;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{double_option, not_null, page_dto};
use crate::problem::ApiError;

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

/// What a product's JSON needs besides the product: the shop's currency
/// and the base of image URLs. Built once at start-up.
#[derive(Debug, Clone)]
pub struct ProductView {
    /// The shop's currency.
    pub currency: Currency,
    /// `PUBLIC_BASE_URL`, for image URLs.
    pub base_url: String,
}

impl ProductView {
    /// The JSON form of `p`.
    pub fn dto(&self, p: Product) -> ProductDto {
        ProductDto {
            id: p.id,
            name: p.name,
            description: p.description,
            price: p.price.minor(),
            currency: self.currency.to_string(),
            is_available: p.is_available,
            image_url: p.image.map(|f| format!("{}/media/{f}", self.base_url)),
            categories: p.categories.into_iter().map(|c| CategoryRefDto { id: c.id, name: c.name }).collect(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    /// The JSON form of a page of products.
    pub fn page(&self, p: Page<Product>) -> ProductPage {
        ProductPage::from_page(p, |item| self.dto(item))
    }
}

page_dto! {
    /// One page of products.
    ProductPage of ProductDto
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
    #[serde(default, deserialize_with = "not_null")]
    pub is_available: Option<bool>,
    /// Ids of its categories (default none).
    #[serde(default, deserialize_with = "not_null")]
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
        let price = v.check(Money::price("price", self.price));
        let category_ids = self.category_ids.unwrap_or_default();
        check_id_count(&mut v, &category_ids);
        let is_available = self.is_available.unwrap_or(true);
        let parsed =
            name.zip(price).map(|(name, price)| ProductInput { name, description, price, is_available, category_ids });
        v.finish_with(parsed).map_err(ApiError::validation)
    }
}

/// `PATCH /products/{id}`: absent fields stay, `null` clears the description;
/// `category_ids` replaces the whole set.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchRequest {
    /// New name.
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    /// New description, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    /// New price in minor units.
    #[serde(default, deserialize_with = "not_null")]
    pub price: Option<i64>,
    /// New availability.
    #[serde(default, deserialize_with = "not_null")]
    pub is_available: Option<bool>,
    /// New set of category ids.
    #[serde(default, deserialize_with = "not_null")]
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
            price: self.price.and_then(|p| v.check(Money::price("price", p))),
            is_available: self.is_available,
            category_ids: self.category_ids,
        };
        v.finish().map_err(ApiError::validation)?;
        Ok(patch)
    }
}

/// Most categories one product may be in.
pub const MAX_CATEGORIES: usize = 50;

fn check_id_count(v: &mut Validator, ids: &[Uuid]) {
    if ids.len() > MAX_CATEGORIES {
        v.push(FieldError::new("category_ids", format!("lists at most {MAX_CATEGORIES} categories")));
    }
}
