//! Quantities and the cart as shown to its owner.

use uuid::Uuid;

use crate::error::FieldError;
use crate::money::{Money, MoneyOverflow};

/// Most pieces one cart or order line may hold.
pub const MAX_LINE_QUANTITY: u32 = 99;

/// How many pieces of a product a line holds: 1 to [`MAX_LINE_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u32);

impl Quantity {
    /// Parses a client-supplied quantity.
    ///
    /// # Errors
    /// Below 1 or above 99, named after `field`.
    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        match u32::try_from(raw) {
            Ok(n) if (1..=MAX_LINE_QUANTITY).contains(&n) => Ok(Self(n)),
            _ => Err(FieldError::new(field, format!("must be an integer from 1 to {MAX_LINE_QUANTITY}"))),
        }
    }

    /// A quantity read back from storage, which only ever holds valid ones.
    pub fn from_stored(n: i32) -> Option<Self> {
        u32::try_from(n).ok().filter(|n| (1..=MAX_LINE_QUANTITY).contains(n)).map(Self)
    }

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One line of a cart, priced with the menu's current price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    /// The line's id (`/cart/{id}`).
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// The product's current name.
    pub name: String,
    /// The product's current price.
    pub unit_price: Money,
    /// How many.
    pub quantity: Quantity,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// Whether the product can be ordered now.
    pub is_available: bool,
}

/// A user's cart with its totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cart {
    /// The lines, oldest first.
    pub items: Vec<CartLine>,
    /// Pieces over all lines.
    pub total_quantity: u32,
    /// Sum of the line totals.
    pub total: Money,
}

/// What [`crate::cart::CartService::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The line that holds the product.
    pub line: Uuid,
    /// Whether the product joined a line it already had (no new line).
    pub merged: bool,
    /// The cart afterwards.
    pub cart: Cart,
}

impl Cart {
    /// The cart made of `lines`, with its totals.
    ///
    /// # Errors
    /// A total that does not fit [`Money`] (not reachable with the menu's
    /// price cap and 99 per line, but never wrapped).
    pub fn of(items: Vec<CartLine>) -> Result<Self, MoneyOverflow> {
        let total = Money::sum(items.iter().map(|l| l.line_total))?;
        let total_quantity = items.iter().map(|l| l.quantity.get()).sum();
        Ok(Self { items, total_quantity, total })
    }
}
