//! In-memory fakes of the order store and the idempotency-key store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    IdempotencyClaim, IdempotencyKey, IdempotencyStore, KeyLease, NewOrder, Order, OrderChange, OrderField,
    OrderRepository, OrderStatus, StoredResponse,
};
use crate::error::RepoError;
use crate::query::{ListQuery, Page};
use crate::testing::lock;

#[derive(Debug, Clone, Default)]
pub(crate) struct OrderTables {
    orders: Vec<Order>,
    last_number: i64,
}

/// An [`OrderRepository`] in a list, honouring the conditional update.
#[derive(Debug, Default)]
pub(crate) struct InMemoryOrders(Mutex<OrderTables>);

impl InMemoryOrders {
    pub(crate) fn snapshot(&self) -> OrderTables {
        lock(&self.0).clone()
    }

    pub(crate) fn restore(&self, tables: OrderTables) {
        *lock(&self.0) = tables;
    }

    /// Every stored order, oldest first.
    pub(crate) fn all(&self) -> Vec<Order> {
        lock(&self.0).orders.clone()
    }
}

#[async_trait]
impl OrderRepository for InMemoryOrders {
    async fn insert(&self, new: &NewOrder) -> Result<Order, RepoError> {
        let mut t = lock(&self.0);
        t.last_number += 1;
        let order = Order {
            id: new.id,
            number: t.last_number,
            user_id: new.user_id,
            status: OrderStatus::Pending,
            items: new.items.clone(),
            total: new.total,
            comment: new.comment.clone(),
            pickup_at: new.pickup_at,
            created_at: new.created_at,
            updated_at: new.created_at,
            version: 1,
        };
        t.orders.push(order.clone());
        Ok(order)
    }

    async fn find(&self, id: Uuid) -> Result<Option<Order>, RepoError> {
        Ok(lock(&self.0).orders.iter().find(|o| o.id == id).cloned())
    }

    // SIMPLIFICATION: filters and sorts are the storage adapter's business
    // and are tested there; the fake keeps the owner rule and pages newest first.
    async fn list(&self, query: &ListQuery<OrderField>, owner: Option<Uuid>) -> Result<Page<Order>, RepoError> {
        let t = lock(&self.0);
        let mut mine: Vec<Order> = t.orders.iter().filter(|o| owner.is_none_or(|u| o.user_id == u)).cloned().collect();
        mine.reverse();
        let total = mine.len() as u64;
        let skip = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let take = usize::try_from(query.page_size).unwrap_or(usize::MAX);
        let items = mine.into_iter().skip(skip).take(take).collect();
        Ok(query.page_of(items, total))
    }

    async fn update(
        &self,
        id: Uuid,
        status: OrderStatus,
        version: i64,
        change: &OrderChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, RepoError> {
        let mut t = lock(&self.0);
        let Some(order) = t.orders.iter_mut().find(|o| o.id == id && o.status == status && o.version == version) else {
            return Ok(None);
        };
        if let Some(s) = change.status {
            order.status = s;
        }
        if let Some(c) = &change.comment {
            order.comment.clone_from(c);
        }
        if let Some(p) = change.pickup_at {
            order.pickup_at = p;
        }
        if let Some((items, total)) = &change.items {
            order.items.clone_from(items);
            order.total = *total;
        }
        order.version += 1;
        order.updated_at = now;
        Ok(Some(order.clone()))
    }

    async fn delete(&self, id: Uuid, version: i64) -> Result<bool, RepoError> {
        let mut t = lock(&self.0);
        let before = t.orders.len();
        t.orders.retain(|o| !(o.id == id && o.version == version));
        Ok(t.orders.len() < before)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct KeyRow {
    lease: KeyLease,
    fingerprint: String,
    response: Option<StoredResponse>,
    locked_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// An [`IdempotencyStore`] in a map. The flag makes the next `complete`
/// find its lease gone, as if a retry had taken the key over meanwhile.
#[derive(Debug, Default)]
pub(crate) struct InMemoryIdempotency(Mutex<HashMap<(Uuid, String), KeyRow>>, AtomicBool);

impl InMemoryIdempotency {
    pub(crate) fn snapshot(&self) -> HashMap<(Uuid, String), KeyRow> {
        lock(&self.0).clone()
    }

    pub(crate) fn restore(&self, rows: HashMap<(Uuid, String), KeyRow>) {
        *lock(&self.0) = rows;
    }

    /// Keys stored, finished or not.
    pub(crate) fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// The next `complete` answers that its lease is no longer the key's.
    pub(crate) fn lose_next_lease(&self) {
        self.1.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotency {
    async fn claim(
        &self,
        owner: Uuid,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, RepoError> {
        let mut rows = lock(&self.0);
        let id = (owner, key.key().to_owned());
        if let Some(row) = rows.get(&id) {
            let free = row.expires_at <= now || (row.response.is_none() && row.locked_until <= now);
            if !free {
                return Ok(if row.fingerprint != key.fingerprint() {
                    IdempotencyClaim::Mismatch
                } else {
                    match &row.response {
                        Some(r) => IdempotencyClaim::Completed(r.clone()),
                        None => IdempotencyClaim::InFlight,
                    }
                });
            }
        }
        let lease = KeyLease(Uuid::now_v7());
        let row = KeyRow {
            lease,
            fingerprint: key.fingerprint().to_owned(),
            response: None,
            locked_until: lease_until,
            expires_at,
        };
        rows.insert(id, row);
        Ok(IdempotencyClaim::Claimed(lease))
    }

    async fn complete(&self, lease: KeyLease, response: &StoredResponse, _: DateTime<Utc>) -> Result<bool, RepoError> {
        if self.1.swap(false, Ordering::SeqCst) {
            return Ok(false);
        }
        let mut rows = lock(&self.0);
        let held = rows.values_mut().find(|r| r.lease == lease && r.response.is_none());
        Ok(held.map(|row| row.response = Some(response.clone())).is_some())
    }

    async fn release(&self, lease: KeyLease) -> Result<(), RepoError> {
        lock(&self.0).retain(|_, r| r.lease != lease || r.response.is_some());
        Ok(())
    }
}
