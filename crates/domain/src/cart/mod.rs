//! The cart: one per user, one line per product, current prices.
//!
//! A line holds 1–99 of its product; adding a product already in the cart
//! merges into its line. Prices and availability are the menu's current
//! ones, read when the cart is shown. A product deleted from the menu
//! disappears from every cart (the store's foreign key cascades).

mod model;
mod ports;
mod service;

pub use model::{Added, Cart, CartLine, MAX_LINE_QUANTITY, Quantity};
pub use ports::{CartEntry, CartRepository, CartWriteError};
pub use service::{CartError, CartService};

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod tests;
