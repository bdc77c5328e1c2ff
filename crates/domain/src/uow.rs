//! The unit of work: several repository writes, and the jobs they cause,
//! in one transaction.
//!
//! A use case that changes more than one aggregate, or records a job with
//! its change (a signup and its verification mail, an order and the admins'
//! mail), begins a [`Transaction`], works through the repositories it
//! exposes and commits. Dropping a transaction without committing rolls
//! everything back, so an early `?` return leaves nothing half-written.
//! Repositories never open a transaction to write the outbox themselves.

use async_trait::async_trait;

use crate::cart::CartRepository;
use crate::catalog::CatalogRepository;
use crate::error::RepoError;
use crate::order::{IdempotencyStore, OrderRepository};
use crate::outbox::OutboxRepository;
use crate::user::UserRepository;

/// Starts transactions.
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Begins a transaction.
    ///
    /// # Errors
    /// The store is unreachable.
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError>;
}

/// The repositories of one open transaction. Every read and write through
/// them sees the transaction's own changes; none is visible to others until
/// [`Transaction::commit`]. Dropping it uncommitted rolls back.
#[async_trait]
pub trait Transaction: Send + Sync {
    /// Users and their verifications.
    fn users(&self) -> &dyn UserRepository;
    /// The outbox: jobs recorded here run exactly when the transaction commits.
    fn outbox(&self) -> &dyn OutboxRepository;
    /// The menu (checkout reads current prices through it).
    fn catalog(&self) -> &dyn CatalogRepository;
    /// Carts.
    fn carts(&self) -> &dyn CartRepository;
    /// Orders.
    fn orders(&self) -> &dyn OrderRepository;
    /// Idempotency keys.
    fn idempotency(&self) -> &dyn IdempotencyStore;

    /// Makes every change of the transaction durable and visible at once.
    ///
    /// # Errors
    /// The store failed; nothing of the transaction was kept.
    async fn commit(self: Box<Self>) -> Result<(), RepoError>;
}
