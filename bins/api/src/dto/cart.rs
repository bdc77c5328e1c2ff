//! The cart: `/cart`.

use coffee_domain::cart::{Cart, CartLine, Quantity};
use coffee_domain::money::Currency;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_null;
use crate::problem::ApiError;

/// One line of the cart, at the menu's current price.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CartLineDto {
    /// The line's id (`/cart/{item_id}`).
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// The product's current name.
    pub name: String,
    /// The product's current price, in minor units.
    pub unit_price: i64,
    /// How many (1–99).
    pub quantity: u32,
    /// `unit_price × quantity`.
    pub line_total: i64,
    /// Whether the product can be ordered now (a checkout with an unavailable line fails).
    pub is_available: bool,
}

/// The caller's cart.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CartDto {
    /// The lines, oldest first.
    pub items: Vec<CartLineDto>,
    /// Pieces over all lines.
    pub total_quantity: u32,
    /// Sum of the line totals, in minor units of `currency`.
    pub total: i64,
    /// ISO 4217 currency of the shop.
    pub currency: String,
}

impl CartDto {
    /// The JSON form of `cart`, in the shop's `currency`.
    pub fn new(cart: Cart, currency: Currency) -> Self {
        Self {
            items: cart.items.into_iter().map(CartLineDto::from).collect(),
            total_quantity: cart.total_quantity,
            total: cart.total.minor(),
            currency: currency.to_string(),
        }
    }
}

impl From<CartLine> for CartLineDto {
    fn from(l: CartLine) -> Self {
        Self {
            id: l.id,
            product_id: l.product_id,
            name: l.name,
            unit_price: l.unit_price.minor(),
            quantity: l.quantity.get(),
            line_total: l.line_total.minor(),
            is_available: l.is_available,
        }
    }
}

/// `POST /cart`: put a product in the cart (merged with its line if it has one).
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct AddToCartRequest {
    /// A product from `GET /products`.
    pub product_id: Uuid,
    /// How many to add (1–99; default 1); the line holds at most 99.
    #[openapi(example = "2")]
    #[serde(default, deserialize_with = "not_null")]
    pub quantity: Option<i64>,
}

impl AddToCartRequest {
    /// Validates the quantity.
    ///
    /// # Errors
    /// 422 naming `quantity`.
    pub fn quantity(&self) -> Result<Quantity, ApiError> {
        Quantity::parse("quantity", self.quantity.unwrap_or(1)).map_err(|e| ApiError::validation(vec![e]))
    }
}

/// `PATCH /cart/{item_id}`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantityRequest {
    /// The line's new quantity (1–99); remove a line with `DELETE /cart/{item_id}`.
    #[openapi(example = "3")]
    pub quantity: i64,
}

impl SetQuantityRequest {
    /// Validates the quantity.
    ///
    /// # Errors
    /// 422 naming `quantity`.
    pub fn quantity(&self) -> Result<Quantity, ApiError> {
        Quantity::parse("quantity", self.quantity).map_err(|e| ApiError::validation(vec![e]))
    }
}
