//! Batched purges for the scheduled cleanup.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::maintenance::MaintenanceRepository;
use coffee_domain::user::Role;
use sea_orm::sea_query::{Alias, Expr, LockBehavior, LockType, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait, ExprTrait, Order, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::{email_verifications as ev, idempotency_keys, orders, outbox, sessions, users};
use crate::orders::lock_counts_for_cascade;
use crate::{Conn, in_batch, is_postgres, repo_err};

/// [`MaintenanceRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaMaintenanceRepository {
    db: Conn,
}

impl SeaMaintenanceRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

/// Deletes one batch of at most `limit` rows of `E` matching `cond`, oldest
/// by `order` first: `DELETE … WHERE <cond> AND <id> IN (SELECT <id> … WHERE
/// <cond> ORDER BY <order> LIMIT n FOR UPDATE SKIP LOCKED)`. Rows another
/// worker is deleting right now are skipped (PostgreSQL), and the condition
/// is repeated on the `DELETE` itself, so PostgreSQL re-checks it against a
/// row changed meanwhile (a user who verifies while the batch is chosen is
/// not deleted).
async fn purge_batch<E: EntityTrait>(
    db: &Conn,
    id: E::Column,
    order: E::Column,
    cond: Condition,
    limit: u64,
) -> Result<u64, RepoError> {
    let ids = batch::<E>(id, order, cond.clone(), limit);
    let result = E::delete_many().filter(cond).filter(in_batch(db, id, ids)).exec(db).await.map_err(repo_err)?;
    Ok(result.rows_affected)
}

/// `SELECT <id> … WHERE <cond> ORDER BY <order> LIMIT n FOR UPDATE SKIP LOCKED`.
fn batch<E: EntityTrait>(id: E::Column, order: E::Column, cond: Condition, limit: u64) -> SelectStatement {
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
        // Unchanged since the cutoff too: an account an admin un-verified
        // (which changes it) gets the whole time to prove its address again.
        let stale = Condition::all()
            .add(C::IsVerified.eq(false))
            .add(C::Role.eq(Role::User.as_str()))
            .add(C::CreatedAt.lt(cutoff))
            .add(C::UpdatedAt.lt(cutoff));
        if !is_postgres(&self.db) {
            return purge_batch::<users::Entity>(&self.db, C::Id, C::CreatedAt, stale, limit).await;
        }
        // The batch's orders go with it (cascade), and an account an admin
        // un-verified after it ordered has some. Those accounts, found among
        // the batch (which this locks), get their orders and the order
        // counters locked first, as a single user's deletion does, so that
        // the cascade cannot deadlock with a status change; then the batch
        // is deleted as any other, in one statement. The batch's other users
        // stay locked, so none of them can place an order in between.
        let atomic = self.db.atomic().await.map_err(repo_err)?;
        let has_orders = Query::select()
            .expr(Expr::val(1))
            .from(orders::Entity)
            .and_where(Expr::col((orders::Entity, orders::Column::UserId)).equals((users::Entity, C::Id)))
            .to_owned();
        let batch_users = batch::<users::Entity>(C::Id, C::CreatedAt, stale.clone(), limit);
        let with_orders: Vec<Uuid> = users::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(in_batch(atomic.conn(), C::Id, batch_users))
            .filter(Expr::exists(has_orders))
            .into_tuple()
            .all(atomic.conn())
            .await
            .map_err(repo_err)?;
        lock_counts_for_cascade(atomic.conn(), &with_orders).await.map_err(repo_err)?;
        let deleted = purge_batch::<users::Entity>(atomic.conn(), C::Id, C::CreatedAt, stale, limit).await?;
        atomic.commit().await.map_err(repo_err)?;
        Ok(deleted)
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use sessions::Column as C;
        // A login's first session (its id is the family's) goes only with
        // the last of its rotations: rotations and revocations lock it to
        // order themselves (`sessions::lock_families`), and each rotation
        // has a later expiry than the first session has.
        let member = Alias::new("member");
        let live_member = Query::select()
            .expr(Expr::val(1))
            .from_as(sessions::Entity, member.clone())
            .and_where(Expr::col((member.clone(), C::FamilyId)).equals((sessions::Entity, C::FamilyId)))
            .and_where(Expr::col((member, C::ExpiresAt)).gte(now))
            .to_owned();
        let expired = Condition::all().add(C::ExpiresAt.lt(now)).add(
            Condition::any()
                .add(Expr::col((sessions::Entity, C::Id)).ne(Expr::col((sessions::Entity, C::FamilyId))))
                .add(Expr::exists(live_member).not()),
        );
        purge_batch::<sessions::Entity>(&self.db, C::Id, C::ExpiresAt, expired, limit).await
    }

    async fn purge_expired_verifications(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use ev::Column as C;
        // An unverified account keeps its row, expired or not: the row holds
        // the attempts made at all its codes (`account_attempts`), which a
        // resend must find, and goes with the account.
        let verified = Query::select()
            .column(users::Column::Id)
            .from(users::Entity)
            .and_where(users::Column::IsVerified.eq(true))
            .to_owned();
        let expired = Condition::all().add(C::ExpiresAt.lt(now)).add(C::UserId.in_subquery(verified));
        purge_batch::<ev::Entity>(&self.db, C::UserId, C::ExpiresAt, expired, limit).await
    }

    async fn purge_relayed_outbox(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use outbox::Column as C;
        // Parked rows stay for an operator even if a late relay marked them
        // relayed, until their job ran (an operator re-queued it).
        let old = Condition::all()
            .add(C::RelayedAt.lt(cutoff))
            .add(Condition::any().add(C::ParkedAt.is_null()).add(C::DeliveredAt.is_not_null()));
        purge_batch::<outbox::Entity>(&self.db, C::Id, C::RelayedAt, old, limit).await
    }

    async fn purge_expired_idempotency_keys(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        use idempotency_keys::Column as C;
        let expired = Condition::all().add(C::ExpiresAt.lt(now));
        purge_batch::<idempotency_keys::Entity>(&self.db, C::Id, C::ExpiresAt, expired, limit).await
    }
}
