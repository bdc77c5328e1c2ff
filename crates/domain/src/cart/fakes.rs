//! An in-memory cart store over the in-memory catalog.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CartEntry, CartRepository, CartWriteError, MAX_LINE_QUANTITY, Quantity};
use crate::catalog::CatalogRepository;
use crate::catalog::fakes::InMemoryCatalog;
use crate::error::RepoError;
use crate::testing::lock;

#[derive(Debug, Clone)]
pub(crate) struct StoredLine {
    id: Uuid,
    user_id: Uuid,
    product_id: Uuid,
    quantity: Quantity,
}

/// A [`CartRepository`] in a list. Lines of products the catalog no longer
/// has are gone, like the store's cascading foreign key makes them.
#[derive(Debug)]
pub(crate) struct InMemoryCarts {
    lines: Mutex<Vec<StoredLine>>,
    catalog: Arc<InMemoryCatalog>,
}

impl InMemoryCarts {
    pub(crate) fn new(catalog: Arc<InMemoryCatalog>) -> Self {
        Self { lines: Mutex::default(), catalog }
    }

    /// A copy of the lines, for a unit of work to roll back to.
    pub(crate) fn snapshot(&self) -> Vec<StoredLine> {
        lock(&self.lines).clone()
    }

    /// Puts back a [`Self::snapshot`].
    pub(crate) fn restore(&self, lines: Vec<StoredLine>) {
        *lock(&self.lines) = lines;
    }

    async fn live_lines(&self, user_id: Uuid) -> Result<Vec<StoredLine>, RepoError> {
        let mine: Vec<StoredLine> = lock(&self.lines).iter().filter(|l| l.user_id == user_id).cloned().collect();
        let ids: Vec<Uuid> = mine.iter().map(|l| l.product_id).collect();
        let known: Vec<Uuid> = self.catalog.priced(&ids).await?.into_iter().map(|p| p.id).collect();
        Ok(mine.into_iter().filter(|l| known.contains(&l.product_id)).collect())
    }
}

#[async_trait]
impl CartRepository for InMemoryCarts {
    async fn entries(&self, user_id: Uuid) -> Result<Vec<CartEntry>, RepoError> {
        let lines = self.live_lines(user_id).await?;
        let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
        let products = self.catalog.priced(&ids).await?;
        Ok(lines
            .into_iter()
            .filter_map(|l| {
                let p = products.iter().find(|p| p.id == l.product_id)?;
                Some(CartEntry {
                    id: l.id,
                    product_id: p.id,
                    name: p.name.clone(),
                    unit_price: p.price,
                    is_available: p.is_available,
                    quantity: l.quantity,
                })
            })
            .collect())
    }

    async fn add(
        &self,
        user_id: Uuid,
        new_id: Uuid,
        product_id: Uuid,
        quantity: Quantity,
        _now: DateTime<Utc>,
    ) -> Result<Uuid, CartWriteError> {
        if self.catalog.priced(&[product_id]).await?.is_empty() {
            return Err(CartWriteError::UnknownProduct);
        }
        let mut lines = lock(&self.lines);
        if let Some(line) = lines.iter_mut().find(|l| l.user_id == user_id && l.product_id == product_id) {
            let sum = line.quantity.get() + quantity.get();
            if sum > MAX_LINE_QUANTITY {
                return Err(CartWriteError::TooMany { current: line.quantity.get() });
            }
            line.quantity = Quantity::parse("quantity", i64::from(sum)).map_err(|_| CartWriteError::NotFound)?;
            return Ok(line.id);
        }
        lines.push(StoredLine { id: new_id, user_id, product_id, quantity });
        Ok(new_id)
    }

    async fn set_quantity(
        &self,
        user_id: Uuid,
        item_id: Uuid,
        quantity: Quantity,
        _now: DateTime<Utc>,
    ) -> Result<(), CartWriteError> {
        let mut lines = lock(&self.lines);
        let line =
            lines.iter_mut().find(|l| l.id == item_id && l.user_id == user_id).ok_or(CartWriteError::NotFound)?;
        line.quantity = quantity;
        Ok(())
    }

    async fn remove(&self, user_id: Uuid, item_id: Uuid) -> Result<(), CartWriteError> {
        let mut lines = lock(&self.lines);
        let before = lines.len();
        lines.retain(|l| !(l.id == item_id && l.user_id == user_id));
        if lines.len() == before { Err(CartWriteError::NotFound) } else { Ok(()) }
    }

    async fn clear(&self, user_id: Uuid) -> Result<(), RepoError> {
        lock(&self.lines).retain(|l| l.user_id != user_id);
        Ok(())
    }

    async fn take(&self, user_id: Uuid) -> Result<Vec<(Uuid, Quantity)>, RepoError> {
        let live = self.live_lines(user_id).await?;
        self.clear(user_id).await?;
        Ok(live.into_iter().map(|l| (l.product_id, l.quantity)).collect())
    }
}
