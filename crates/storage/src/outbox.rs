//! The outbox repository and the helper that records jobs inside a transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::jobs::Job;
use coffee_domain::outbox::{DeliveryLease, OutboxEntry, OutboxRepository, REDELIVER_AFTER, Unreadable};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QuerySelect, Set, UpdateMany,
};
use uuid::Uuid;

use crate::entity::outbox;
use crate::{Conn, in_batch, repo_err};

/// [`OutboxRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaOutboxRepository {
    db: Conn,
}

impl SeaOutboxRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }

    /// Entries still to be handed over (neither relayed nor parked), for
    /// the metrics: one `COUNT` served by the partial index `ix_outbox_pending`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn backlog(&self) -> Result<u64, RepoError> {
        use outbox::Column as C;
        self.count(C::RelayedAt.is_null().and(C::ParkedAt.is_null())).await
    }

    /// Entries given up on and not delivered since (a parked job an
    /// operator re-queued and that ran is delivered), for the metrics: one
    /// `COUNT` served by the partial index `ix_outbox_parked`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn parked(&self) -> Result<u64, RepoError> {
        use outbox::Column as C;
        self.count(C::ParkedAt.is_not_null().and(C::DeliveredAt.is_null())).await
    }

    /// How many entries match `condition`.
    async fn count(&self, condition: sea_orm::sea_query::SimpleExpr) -> Result<u64, RepoError> {
        outbox::Entity::find().filter(condition).count(&self.db).await.map_err(repo_err)
    }
}

/// Error texts are stored for operators; keep them bounded.
fn bounded(error: &str) -> String {
    error.chars().take(1000).collect()
}

#[async_trait]
impl OutboxRepository for SeaOutboxRepository {
    async fn record(&self, job: &Job, now: DateTime<Utc>) -> Result<(), RepoError> {
        let payload = serde_json::to_string(job).map_err(|e| RepoError::Other(Box::new(e)))?;
        let row = outbox::ActiveModel {
            id: Set(Uuid::now_v7()),
            job: Set(payload),
            created_at: Set(now),
            available_at: Set(now),
            claimed_until: Set(None),
            attempts: Set(0),
            last_error: Set(None),
            relayed_at: Set(None),
            parked_at: Set(None),
            delivered_at: Set(None),
            delivery_lease: Set(None),
            delivering_until: Set(None),
        };
        outbox::Entity::insert(row).exec_without_returning(&self.db).await.map_err(repo_err)?;
        Ok(())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxEntry>, RepoError> {
        use outbox::Column as C;
        // One statement claims the rows: UPDATE … WHERE id IN (SELECT … FOR
        // UPDATE SKIP LOCKED) RETURNING, the batch evaluated once (see
        // `in_batch`). On PostgreSQL concurrent relays skip each other's rows;
        // SQLite has one writer (and no row locks to skip).
        let due = Query::select()
            .column(C::Id)
            .from(outbox::Entity)
            .and_where(Expr::col(C::RelayedAt).is_null())
            .and_where(Expr::col(C::ParkedAt).is_null())
            .and_where(Expr::col(C::AvailableAt).lte(now))
            .and_where(Expr::col(C::ClaimedUntil).is_null().or(Expr::col(C::ClaimedUntil).lte(now)))
            .order_by(C::AvailableAt, sea_orm::Order::Asc)
            .order_by(C::Id, sea_orm::Order::Asc)
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let claim = Query::update()
            .table(outbox::Entity)
            .value(C::ClaimedUntil, lease_until)
            .and_where(in_batch(&self.db, C::Id, due))
            .returning(Query::returning().columns([C::Id, C::Job, C::Attempts, C::AvailableAt, C::CreatedAt]))
            .to_owned();
        let rows = self.db.query_all(&claim).await.map_err(repo_err)?;
        // RETURNING yields rows in no particular order (SQLite: rowid order,
        // PostgreSQL: whatever the plan visits); restore the subquery's.
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let available_at: DateTime<Utc> = row.try_get("", "available_at").map_err(repo_err)?;
            let id: Uuid = row.try_get("", "id").map_err(repo_err)?;
            let payload: String = row.try_get("", "job").map_err(repo_err)?;
            let attempts: i32 = row.try_get("", "attempts").map_err(repo_err)?;
            let created_at: DateTime<Utc> = row.try_get("", "created_at").map_err(repo_err)?;
            claimed.push((available_at, id, payload, attempts, created_at));
        }
        claimed.sort_unstable_by_key(|&(available_at, id, ..)| (available_at, id));
        let entries = claimed
            .into_iter()
            .map(|(_, id, payload, attempts, created_at)| {
                let job = serde_json::from_str::<Job>(&payload).map_err(|e| Unreadable {
                    error: e.to_string(),
                    maybe_newer: serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&payload).is_ok(),
                    recorded_at: created_at,
                });
                OutboxEntry { id, job, attempts }
            })
            .collect();
        Ok(entries)
    }

    async fn mark_relayed(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        exec(&self.db, release(id).col_expr(outbox::Column::RelayedAt, Expr::value(now))).await
    }

    async fn reschedule(&self, id: Uuid, retry_at: DateTime<Utc>, error: &str) -> Result<(), RepoError> {
        exec(&self.db, failed(id, error).col_expr(outbox::Column::AvailableAt, Expr::value(retry_at))).await
    }

    async fn park(&self, id: Uuid, now: DateTime<Utc>, error: &str) -> Result<(), RepoError> {
        exec(&self.db, failed(id, error).col_expr(outbox::Column::ParkedAt, Expr::value(now))).await
    }

    async fn defer(
        &self,
        id: Uuid,
        until: DateTime<Utc>,
        recorded_after: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, RepoError> {
        use outbox::Column as C;
        let take_back = failed(id, error)
            .col_expr(C::RelayedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::AvailableAt, Expr::value(until))
            .filter(C::CreatedAt.gte(recorded_after))
            .filter(C::DeliveredAt.is_null())
            .filter(C::ParkedAt.is_null());
        Ok(take_back.exec(&self.db).await.map_err(repo_err)?.rows_affected == 1)
    }

    async fn lease_delivery(
        &self,
        id: Uuid,
        lease: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<DeliveryLease, RepoError> {
        use outbox::Column as C;
        // One conditional UPDATE takes it: two runs racing for one entry
        // cannot both match (PostgreSQL re-checks the condition on the row
        // the winner wrote; SQLite has one writer).
        let take = outbox::Entity::update_many()
            .col_expr(C::DeliveryLease, Expr::value(lease))
            .col_expr(C::DeliveringUntil, Expr::value(until))
            .filter(C::Id.eq(id))
            .filter(C::DeliveredAt.is_null())
            .filter(C::DeliveringUntil.is_null().or(C::DeliveringUntil.lte(now)));
        if take.exec(&self.db).await.map_err(repo_err)?.rows_affected == 1 {
            return Ok(DeliveryLease::Granted);
        }
        let row: Option<Option<DateTime<Utc>>> = outbox::Entity::find_by_id(id)
            .select_only()
            .column(C::DeliveredAt)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(match row {
            None => DeliveryLease::Granted,
            Some(Some(_)) => DeliveryLease::Delivered,
            Some(None) => DeliveryLease::Held,
        })
    }

    async fn renew_delivery(&self, id: Uuid, lease: Uuid, until: DateTime<Utc>) -> Result<bool, RepoError> {
        use outbox::Column as C;
        let renew = outbox::Entity::update_many()
            .col_expr(C::DeliveringUntil, Expr::value(until))
            .filter(C::Id.eq(id))
            .filter(C::DeliveryLease.eq(lease));
        Ok(renew.exec(&self.db).await.map_err(repo_err)?.rows_affected == 1)
    }

    async fn release_delivery(&self, id: Uuid, lease: Uuid) -> Result<(), RepoError> {
        use outbox::Column as C;
        let release = outbox::Entity::update_many()
            .col_expr(C::DeliveryLease, Expr::value(Option::<Uuid>::None))
            .col_expr(C::DeliveringUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::Id.eq(id))
            .filter(C::DeliveryLease.eq(lease));
        exec(&self.db, release).await
    }

    async fn mark_delivered(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        use outbox::Column as C;
        let update = outbox::Entity::update_many()
            .col_expr(C::DeliveredAt, Expr::value(now))
            .filter(C::Id.eq(id))
            .filter(C::DeliveredAt.is_null());
        exec(&self.db, update).await
    }

    async fn rearm_undelivered(&self, relayed_before: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, RepoError> {
        use outbox::Column as C;
        let rearm = outbox::Entity::update_many()
            .col_expr(C::RelayedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(C::AvailableAt, Expr::value(now))
            .col_expr(C::LastError, Expr::value(format!("not delivered within {REDELIVER_AFTER} of its hand-over")))
            .filter(C::RelayedAt.lt(relayed_before))
            .filter(C::DeliveredAt.is_null())
            .filter(C::ParkedAt.is_null());
        Ok(rearm.exec(&self.db).await.map_err(repo_err)?.rows_affected)
    }
}

/// An update of one entry that also ends its claim.
fn release(id: Uuid) -> UpdateMany<outbox::Entity> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(outbox::Column::Id.eq(id))
}

/// [`release`], recording one more failed hand-over and its error.
fn failed(id: Uuid, error: &str) -> UpdateMany<outbox::Entity> {
    release(id)
        .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
        .col_expr(outbox::Column::LastError, Expr::value(bounded(error)))
}

async fn exec(db: &Conn, update: UpdateMany<outbox::Entity>) -> Result<(), RepoError> {
    update.exec(db).await.map_err(repo_err)?;
    Ok(())
}
