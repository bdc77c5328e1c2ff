//! The order store and the idempotency-key store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{NewOrder, Order, OrderChange, OrderField, OrderStatus};
use crate::error::{FieldError, RepoError};
use crate::query::{ListQuery, Page};

/// Stores orders with their lines.
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Inserts a `pending` order at version 1 with its lines, giving it the
    /// next order number (strictly increasing, unique across replicas), and
    /// returns it as stored.
    ///
    /// # Errors
    /// The store failed.
    async fn insert(&self, order: &NewOrder) -> Result<Order, RepoError>;

    /// One order with its lines.
    ///
    /// # Errors
    /// The store failed.
    async fn find(&self, id: Uuid) -> Result<Option<Order>, RepoError>;

    /// One page of orders with their lines, in a constant number of queries;
    /// only `owner`'s when given.
    ///
    /// # Errors
    /// The store failed.
    async fn list(&self, query: &ListQuery<OrderField>, owner: Option<Uuid>) -> Result<Page<Order>, RepoError>;

    /// Applies `change` and bumps the version — only if the order is still
    /// in `status` at `version` (one conditional `UPDATE`, so of two
    /// concurrent changes judged against the same state exactly one
    /// applies). Returns the changed order, or `None` when it had moved on
    /// (or is gone).
    ///
    /// # Errors
    /// The store failed.
    async fn update(
        &self,
        id: Uuid,
        status: OrderStatus,
        version: i64,
        change: &OrderChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, RepoError>;

    /// Deletes the order if it is still at `version`; returns whether it did.
    ///
    /// # Errors
    /// The store failed.
    async fn delete(&self, id: Uuid, version: i64) -> Result<bool, RepoError>;
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    key: String,
    fingerprint: String,
}

impl IdempotencyKey {
    /// Longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// A key of 1–255 printable ASCII characters, for a request whose body
    /// has this fingerprint.
    ///
    /// # Errors
    /// Empty, too long, or containing anything but printable ASCII, named
    /// after the `Idempotency-Key` header.
    pub fn parse(raw: &str, fingerprint: String) -> Result<Self, FieldError> {
        let printable = raw.bytes().all(|b| (0x20..0x7f).contains(&b));
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !printable {
            return Err(FieldError::new(
                "Idempotency-Key",
                format!("must be 1 to {} printable ASCII characters", Self::MAX_LEN),
            ));
        }
        Ok(Self { key: raw.to_owned(), fingerprint })
    }

    /// The key as sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fingerprint of the request body.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// The answer given to the first request of a key, replayed to repeats:
/// the order it created, or the rule it broke (SPEC §6: "the first
/// request's status and body are stored").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status it was answered with (201, or a 4xx rejection).
    pub status: u16,
    /// The order it created; `None` for a rejection.
    pub order_id: Option<Uuid>,
    /// The response body, exactly as sent.
    pub body: String,
}

/// One claim of a key: whoever holds it may complete or release the key,
/// and nobody else, so a request whose lease ran out (and whose key a retry
/// took over) can no longer store an answer or give the retry's key away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLease(pub Uuid);

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is this request's now, under this lease: go ahead.
    Claimed(KeyLease),
    /// A request with this key is still running.
    InFlight,
    /// A request with this key and body completed: replay its answer.
    Completed(StoredResponse),
    /// The key was used with a different body.
    Mismatch,
}

/// Stores idempotency keys, scoped to the user who sent them.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `owner` (atomically: of concurrent claims exactly one
    /// gets `Claimed`, with a lease of its own). A key whose retention ended
    /// (`expires_at` passed) or whose in-flight lease ran out (its request
    /// died, or is too slow) can be claimed again, under a new lease.
    ///
    /// # Errors
    /// The store failed.
    async fn claim(
        &self,
        owner: Uuid,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, RepoError>;

    /// Stores the answer of the key held under `lease` (call it in the
    /// transaction that creates the order, so the two exist together).
    /// `false` when the lease is no longer the key's (another request took
    /// the key over): nothing is stored, and the caller must not commit.
    ///
    /// # Errors
    /// The store failed.
    async fn complete(&self, lease: KeyLease, response: &StoredResponse, now: DateTime<Utc>)
    -> Result<bool, RepoError>;

    /// Gives the key held under `lease` up (its request failed for a reason
    /// a retry may not meet), so a retry may claim it. Nothing happens when
    /// the lease is no longer the key's.
    ///
    /// # Errors
    /// The store failed.
    async fn release(&self, lease: KeyLease) -> Result<(), RepoError>;
}
