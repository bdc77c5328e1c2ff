//! Batched purges for the scheduled cleanup.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::maintenance::MaintenanceRepository;
use coffee_domain::user::Role;
use sea_orm::sea_query::{LockBehavior, LockType, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, Order, QueryFilter};

use crate::entity::{email_verifications as ev, outbox, sessions, users};
use crate::{in_batch, repo_err};

/// [`MaintenanceRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaMaintenanceRepository {
    db: DatabaseConnection,
}

impl SeaMaintenanceRepository {
    /// A repository on this pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// `SELECT id FROM <table> WHERE <cond> ORDER BY <order> LIMIT n FOR UPDATE SKIP LOCKED`:
/// one batch; rows another worker is deleting right now are skipped (PostgreSQL).
fn batch<E: EntityTrait, C: ColumnTrait>(id: C, cond: Condition, order: C, limit: u64) -> SelectStatement {
    Query::select()
        .column(id)
        .from(E::default())
        .cond_where(cond)
        .order_by(order, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned()
}

#[async_trait]
impl MaintenanceRepository for SeaMaintenanceRepository {
    async fn purge_unverified_users(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use users::Column as C;
        let stale = Condition::all()
            .add(C::IsVerified.eq(false))
            .add(C::Role.eq(Role::User.as_str()))
            .add(C::CreatedAt.lt(cutoff));
        // The condition is repeated on the DELETE itself: PostgreSQL re-checks
        // it against a row updated meanwhile, so a user who verifies while the
        // batch is chosen is not deleted.
        let ids = batch::<users::Entity, _>(C::Id, stale.clone(), C::CreatedAt, limit);
        let result = users::Entity::delete_many()
            .filter(stale)
            .filter(in_batch(&self.db, C::Id, ids))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(result.rows_affected)
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use sessions::Column as C;
        let expired = Condition::all().add(C::ExpiresAt.lt(now));
        let ids = batch::<sessions::Entity, _>(C::Id, expired.clone(), C::ExpiresAt, limit);
        let result = sessions::Entity::delete_many()
            .filter(expired)
            .filter(in_batch(&self.db, C::Id, ids))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(result.rows_affected)
    }

    async fn purge_expired_verifications(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use ev::Column as C;
        let expired = Condition::all().add(C::ExpiresAt.lt(now));
        let ids = batch::<ev::Entity, _>(C::UserId, expired.clone(), C::ExpiresAt, limit);
        let result = ev::Entity::delete_many()
            .filter(expired)
            .filter(in_batch(&self.db, C::UserId, ids))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(result.rows_affected)
    }

    async fn purge_relayed_outbox(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use outbox::Column as C;
        let old = Condition::all().add(C::RelayedAt.lt(cutoff)).add(C::ParkedAt.is_null());
        let ids = batch::<outbox::Entity, _>(C::Id, old.clone(), C::RelayedAt, limit);
        let result = outbox::Entity::delete_many()
            .filter(old)
            .filter(in_batch(&self.db, C::Id, ids))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(result.rows_affected)
    }
}
