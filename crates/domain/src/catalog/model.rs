//! Categories, products and their value rules.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::FieldError;
use crate::money::Money;
use crate::query::{FieldKind, FieldSpec, Resource};
use crate::text::{Lines, plain_text};

/// A menu category; names are unique (case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Identifier (UUID v7).
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A category as listed on a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRef {
    /// Category id.
    pub id: Uuid,
    /// Category name.
    pub name: String,
}

/// A product on the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Identifier (UUID v7).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Price in the shop's currency.
    pub price: Money,
    /// Whether it can be ordered now.
    pub is_available: bool,
    /// File name of its image under `MEDIA_DIR`, if any.
    pub image: Option<String>,
    /// Its categories, by name ignoring case (then by code point).
    pub categories: Vec<CategoryRef>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What an order or a cart needs to know of a product: its current name,
/// price and availability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedProduct {
    /// Identifier.
    pub id: Uuid,
    /// Current name.
    pub name: String,
    /// Current price.
    pub price: Money,
    /// Whether it can be ordered now.
    pub is_available: bool,
}

/// A product to insert with the ids of its categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// The product (its `categories` are ignored; `category_ids` rules).
    pub product: Product,
    /// Categories to attach.
    pub category_ids: Vec<Uuid>,
}

/// Changes to a category; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// Changes to a product; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New price.
    pub price: Option<Money>,
    /// New availability.
    pub is_available: Option<bool>,
    /// New set of categories (replaces the old set).
    pub category_ids: Option<Vec<Uuid>>,
}

/// Image formats accepted for products, recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl ImageKind {
    /// Every accepted format.
    pub const ALL: [ImageKind; 3] = [ImageKind::Png, ImageKind::Jpeg, ImageKind::Webp];

    /// File extension used for stored files.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Webp => "webp",
        }
    }

    /// The kind of a stored file name with this extension.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.extension() == ext)
    }

    /// Media type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Webp => "image/webp",
        }
    }
}

/// Longest name of a category or product.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest description.
pub const DESCRIPTION_MAX_CHARS: usize = 2000;

/// A category or product name: 1–100 characters of plain text.
///
/// # Errors
/// See [`crate::text::plain_text`].
pub fn name(field: &str, raw: &str) -> Result<String, FieldError> {
    plain_text(field, raw, 1, NAME_MAX_CHARS, Lines::Single)
}

/// A description: up to 2000 characters of plain text, several lines allowed;
/// blank means none.
///
/// # Errors
/// See [`crate::text::plain_text`].
pub fn description(field: &str, raw: &str) -> Result<Option<String>, FieldError> {
    let text = plain_text(field, raw, 0, DESCRIPTION_MAX_CHARS, Lines::Multi)?;
    Ok(if text.is_empty() { None } else { Some(text) })
}

/// Fields of a category that the list query language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryField {
    /// `name`
    Name,
    /// `description`
    Description,
    /// `created_at`
    CreatedAt,
}

/// `GET /categories`.
#[derive(Debug)]
pub struct CategoryResource;

impl Resource for CategoryResource {
    type Field = CategoryField;
    const CREATED_AT: CategoryField = CategoryField::CreatedAt;
    const FIELDS: &'static [FieldSpec<CategoryField>] = &[
        FieldSpec {
            name: "name",
            field: CategoryField::Name,
            kind: FieldKind::Text,
            filterable: true,
            sortable: true,
            searchable: true,
        },
        FieldSpec {
            name: "description",
            field: CategoryField::Description,
            kind: FieldKind::Text,
            filterable: false,
            sortable: false,
            searchable: true,
        },
        FieldSpec {
            name: "created_at",
            field: CategoryField::CreatedAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
    ];
}

/// Fields of a product that the list query language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductField {
    /// `name`
    Name,
    /// `description`
    Description,
    /// `price`
    Price,
    /// `is_available`
    IsAvailable,
    /// `category_id`: the product belongs to this category.
    CategoryId,
    /// `created_at`
    CreatedAt,
}

/// `GET /products`.
#[derive(Debug)]
pub struct ProductResource;

impl Resource for ProductResource {
    type Field = ProductField;
    const CREATED_AT: ProductField = ProductField::CreatedAt;
    const FIELDS: &'static [FieldSpec<ProductField>] = &[
        FieldSpec {
            name: "name",
            field: ProductField::Name,
            kind: FieldKind::Text,
            filterable: true,
            sortable: true,
            searchable: true,
        },
        FieldSpec {
            name: "description",
            field: ProductField::Description,
            kind: FieldKind::Text,
            filterable: false,
            sortable: false,
            searchable: true,
        },
        FieldSpec {
            name: "price",
            field: ProductField::Price,
            kind: FieldKind::Integer,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "is_available",
            field: ProductField::IsAvailable,
            kind: FieldKind::Bool,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "category_id",
            field: ProductField::CategoryId,
            kind: FieldKind::Uuid,
            filterable: true,
            sortable: false,
            searchable: false,
        },
        FieldSpec {
            name: "created_at",
            field: ProductField::CreatedAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
    ];
}
