//! Menu categories: `/categories`.

use chrono::{DateTime, Utc};
use coffee_domain::catalog::{Category, CategoryInput, CategoryPatch, description, name};
use coffee_domain::error::Validator;
use coffee_domain::query::Page;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{double_option, not_null, page_dto};
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

page_dto! {
    /// One page of categories.
    CategoryPage of CategoryDto
}

impl From<Page<Category>> for CategoryPage {
    fn from(p: Page<Category>) -> Self {
        Self::from_page(p, CategoryDto::from)
    }
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
        let parsed = name.map(|name| CategoryInput { name, description });
        v.finish_with(parsed).map_err(ApiError::validation)
    }
}

/// `PATCH /categories/{id}`: absent fields stay, `null` clears the description.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatchRequest {
    /// New name.
    #[serde(default, deserialize_with = "not_null")]
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
