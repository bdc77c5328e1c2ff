//! The cart use cases. Every one takes the [`Caller`]: a cart is always the
//! caller's own.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{Added, Cart, CartLine, MAX_LINE_QUANTITY, Quantity};
use super::ports::{CartEntry, CartRepository, CartWriteError};
use crate::access::{AccessError, Caller};
use crate::catalog::CatalogRepository;
use crate::clock::Clock;
use crate::error::{FieldError, Unexpected};
use crate::money::MoneyOverflow;
use crate::order::MAX_LINES;

/// Why a cart use case failed.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// Unknown product or cart line (for this caller).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The product cannot be ordered now.
    #[error("product unavailable")]
    ProductUnavailable(Uuid),
    /// The line would hold more than 99 pieces, or the cart more lines than an order.
    #[error("too many pieces on one line, or lines in the cart")]
    Invalid(FieldError),
    /// Something failed that the client cannot fix.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(CartError);

impl From<CartWriteError> for CartError {
    fn from(e: CartWriteError) -> Self {
        match e {
            CartWriteError::NotFound | CartWriteError::UnknownProduct => AccessError::NotFound.into(),
            CartWriteError::TooMany { current } => CartError::Invalid(FieldError::new(
                "quantity",
                format!(
                    "the line holds {current} already; a line holds at most {MAX_LINE_QUANTITY} (set the quantity \
                     with PATCH /cart/{{item_id}})"
                ),
            )),
            CartWriteError::Repo(e) => e.into(),
        }
    }
}

impl From<MoneyOverflow> for CartError {
    fn from(e: MoneyOverflow) -> Self {
        Unexpected::Failed(Box::new(e)).into()
    }
}

/// The cart use cases.
pub struct CartService {
    carts: Arc<dyn CartRepository>,
    catalog: Arc<dyn CatalogRepository>,
    clock: Arc<dyn Clock>,
}

impl CartService {
    /// Wires the service.
    pub fn new(carts: Arc<dyn CartRepository>, catalog: Arc<dyn CatalogRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { carts, catalog, clock }
    }

    /// The caller's cart with current prices.
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn get(&self, caller: &Caller) -> Result<Cart, CartError> {
        let entries = self.carts.entries(caller.id()).await?;
        Ok(Cart::of(entries.into_iter().map(line).collect::<Result<_, _>>()?)?)
    }

    /// One line of the caller's cart with its current price.
    ///
    /// # Errors
    /// `NotFound` for a line that is not in the caller's cart.
    pub async fn line(&self, caller: &Caller, item_id: Uuid) -> Result<CartLine, CartError> {
        let entries = self.carts.entries(caller.id()).await?;
        let entry = entries.into_iter().find(|e| e.id == item_id).ok_or(AccessError::NotFound)?;
        Ok(line(entry)?)
    }

    /// Adds `quantity` of a product, merging with its line if it has one.
    /// Returns the line, whether it was merged, and the cart.
    ///
    /// # Errors
    /// `NotFound` for an unknown product, `ProductUnavailable`, `Invalid`
    /// when the line would pass 99 or the cart already holds 50 other lines.
    pub async fn add(&self, caller: &Caller, product_id: Uuid, quantity: Quantity) -> Result<Added, CartError> {
        let product = self.catalog.priced(&[product_id]).await?.pop().ok_or(AccessError::NotFound)?;
        if !product.is_available {
            return Err(CartError::ProductUnavailable(product_id));
        }
        // A cart is checked out as one order, so it holds no more lines than one.
        // SIMPLIFICATION: checked before the insert, not in the same statement, so
        // concurrent adds of new products can pass it together; checkout refuses
        // a cart over the limit whatever got it there (422, the cart kept).
        let entries = self.carts.entries(caller.id()).await?;
        if entries.len() >= MAX_LINES && !entries.iter().any(|e| e.product_id == product_id) {
            return Err(CartError::Invalid(FieldError::new(
                "product_id",
                format!("the cart holds {} lines, the most one order can take", entries.len()),
            )));
        }
        let new_line = Uuid::now_v7();
        let line = self.carts.add(caller.id(), new_line, product_id, quantity, self.clock.now()).await?;
        Ok(Added { line, merged: line != new_line, cart: self.get(caller).await? })
    }

    /// Sets the quantity of one line.
    ///
    /// # Errors
    /// `NotFound` for a line that is not in the caller's cart.
    pub async fn set_quantity(&self, caller: &Caller, item_id: Uuid, quantity: Quantity) -> Result<Cart, CartError> {
        self.carts.set_quantity(caller.id(), item_id, quantity, self.clock.now()).await?;
        self.get(caller).await
    }

    /// Removes one line.
    ///
    /// # Errors
    /// `NotFound` for a line that is not in the caller's cart.
    pub async fn remove(&self, caller: &Caller, item_id: Uuid) -> Result<(), CartError> {
        Ok(self.carts.remove(caller.id(), item_id).await?)
    }

    /// Empties the cart.
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn clear(&self, caller: &Caller) -> Result<(), CartError> {
        Ok(self.carts.clear(caller.id()).await?)
    }
}

fn line(e: CartEntry) -> Result<CartLine, MoneyOverflow> {
    Ok(CartLine {
        id: e.id,
        product_id: e.product_id,
        line_total: e.unit_price.times(e.quantity.get())?,
        name: e.name,
        unit_price: e.unit_price,
        quantity: e.quantity,
        is_available: e.is_available,
    })
}
