//! The idempotency-key store: one row per (user, key), claimed with one
//! conditional upsert.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::order::{
    IdempotencyClaim, IdempotencyKey, IdempotencyStore, KeyLease, PLACED_STATUS, StoredResponse,
};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::idempotency_keys as ik;
use crate::{Conn, repo_err};

/// [`IdempotencyStore`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaIdempotencyStore {
    db: Conn,
}

impl SeaIdempotencyStore {
    /// A store on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

/// How often a claim that found the row released between its two
/// statements looks again.
const CLAIM_ATTEMPTS: usize = 3;

#[async_trait]
impl IdempotencyStore for SeaIdempotencyStore {
    async fn claim(
        &self,
        owner: Uuid,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, RepoError> {
        use ik::Column as C;
        let excluded = |c: C| Expr::col((Alias::new("excluded"), c));
        let current = |c: C| Expr::col((ik::Entity, c));
        // Insert, or take over a row whose retention ended or whose request
        // died (in flight past its lease) — one statement, so of concurrent
        // claims exactly one inserts or takes over, and only that one gets a
        // row back. A takeover gives the row a new id: the id is the lease,
        // so the request that held the key before can no longer settle it.
        let free =
            current(C::ExpiresAt).lte(now).or(current(C::Response).is_null().and(current(C::LockedUntil).lte(now)));
        let claim = Query::insert()
            .into_table(ik::Entity)
            .columns([C::Id, C::UserId, C::Key, C::Fingerprint, C::LockedUntil, C::ExpiresAt, C::CreatedAt])
            .values_panic([
                Uuid::now_v7().into(),
                owner.into(),
                key.key().into(),
                key.fingerprint().into(),
                lease_until.into(),
                expires_at.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns([C::UserId, C::Key])
                    .value(C::Id, excluded(C::Id))
                    .value(C::Fingerprint, excluded(C::Fingerprint))
                    .value(C::LockedUntil, excluded(C::LockedUntil))
                    .value(C::ExpiresAt, excluded(C::ExpiresAt))
                    .value(C::CreatedAt, excluded(C::CreatedAt))
                    .value(C::OrderId, Expr::value(Option::<Uuid>::None))
                    .value(C::Response, Expr::value(Option::<String>::None))
                    .value(C::Status, Expr::value(Option::<i16>::None))
                    .action_and_where(free)
                    .to_owned(),
            )
            .returning_col(C::Id)
            .to_owned();
        for _ in 0..CLAIM_ATTEMPTS {
            if let Some(row) = self.db.query_one(&claim).await.map_err(repo_err)? {
                let lease: Uuid = row.try_get("", "id").map_err(repo_err)?;
                return Ok(IdempotencyClaim::Claimed(KeyLease(lease)));
            }
            let existing = ik::Entity::find()
                .filter(C::UserId.eq(owner))
                .filter(C::Key.eq(key.key()))
                .one(&self.db)
                .await
                .map_err(repo_err)?;
            let Some(row) = existing else { continue };
            return Ok(if row.fingerprint != key.fingerprint() {
                IdempotencyClaim::Mismatch
            } else {
                match row.response {
                    Some(body) => IdempotencyClaim::Completed(StoredResponse {
                        status: row.status.and_then(|s| u16::try_from(s).ok()).unwrap_or(PLACED_STATUS),
                        order_id: row.order_id,
                        body,
                    }),
                    None => IdempotencyClaim::InFlight,
                }
            });
        }
        Ok(IdempotencyClaim::InFlight)
    }

    async fn complete(
        &self,
        lease: KeyLease,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let status = i16::try_from(response.status).map_err(|e| RepoError::Other(e.into()))?;
        let stored = ik::Entity::update_many()
            .col_expr(ik::Column::OrderId, Expr::value(response.order_id))
            .col_expr(ik::Column::Response, Expr::value(response.body.clone()))
            .col_expr(ik::Column::Status, Expr::value(status))
            .col_expr(ik::Column::LockedUntil, Expr::value(now))
            .filter(ik::Column::Id.eq(lease.0))
            .filter(ik::Column::Response.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(stored.rows_affected == 1)
    }

    async fn release(&self, lease: KeyLease) -> Result<(), RepoError> {
        ik::Entity::delete_many()
            .filter(ik::Column::Id.eq(lease.0))
            .filter(ik::Column::Response.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}
