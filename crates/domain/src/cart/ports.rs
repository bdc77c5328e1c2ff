//! The cart store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::Quantity;
use crate::error::RepoError;
use crate::money::Money;

/// A stored cart line with its product's current name, price and availability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartEntry {
    /// The line's id.
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// The product's current name.
    pub name: String,
    /// The product's current price.
    pub unit_price: Money,
    /// Whether the product can be ordered now.
    pub is_available: bool,
    /// How many.
    pub quantity: Quantity,
}

/// Why a cart write was refused.
#[derive(Debug, thiserror::Error)]
pub enum CartWriteError {
    /// No such line in this user's cart.
    #[error("cart line not found")]
    NotFound,
    /// The product does not exist (any more).
    #[error("product not found")]
    UnknownProduct,
    /// Merging would put more than 99 pieces on the line; `current` are there already.
    #[error("line would exceed the maximum quantity")]
    TooMany {
        /// Pieces on the line before the add.
        current: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Stores carts: one per user, one line per product.
#[async_trait]
pub trait CartRepository: Send + Sync {
    /// The user's lines with their products' current data, oldest first.
    ///
    /// # Errors
    /// The store failed.
    async fn entries(&self, user_id: Uuid) -> Result<Vec<CartEntry>, RepoError>;

    /// Adds `quantity` of `product_id`: a new line with id `new_id`, or merged
    /// into the existing line of that product (atomically). Returns the id of
    /// the line.
    ///
    /// # Errors
    /// `UnknownProduct`, `TooMany` (nothing changes then).
    async fn add(
        &self,
        user_id: Uuid,
        new_id: Uuid,
        product_id: Uuid,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> Result<Uuid, CartWriteError>;

    /// Sets the quantity of one of the user's lines.
    ///
    /// # Errors
    /// `NotFound` (also for another user's line).
    async fn set_quantity(
        &self,
        user_id: Uuid,
        item_id: Uuid,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> Result<(), CartWriteError>;

    /// Removes one of the user's lines.
    ///
    /// # Errors
    /// `NotFound` (also for another user's line).
    async fn remove(&self, user_id: Uuid, item_id: Uuid) -> Result<(), CartWriteError>;

    /// Empties the user's cart.
    ///
    /// # Errors
    /// The store failed.
    async fn clear(&self, user_id: Uuid) -> Result<(), RepoError>;

    /// Removes every line of the user's cart and returns them (product,
    /// quantity), oldest first — the checkout's claim on the cart: of two
    /// concurrent takes in different transactions, one gets the lines and
    /// the other none.
    ///
    /// # Errors
    /// The store failed.
    async fn take(&self, user_id: Uuid) -> Result<Vec<(Uuid, Quantity)>, RepoError>;
}
