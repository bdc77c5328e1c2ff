//! The refresh-session repository.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::user::{NewSession, RotateOutcome, SessionRepository};
use sea_orm::sea_query::{Expr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionError,
    TransactionTrait,
};
use uuid::Uuid;

use crate::entity::sessions;
use crate::{Conn, repo_err};

/// [`SessionRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaSessionRepository {
    db: Conn,
}

impl SeaSessionRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

fn model(s: &NewSession) -> sessions::ActiveModel {
    sessions::ActiveModel {
        id: Set(s.id),
        user_id: Set(s.user_id),
        family_id: Set(s.family_id),
        created_at: Set(s.created_at),
        expires_at: Set(s.expires_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
    }
}

/// Locks, until the transaction ends, the root session (the first of a
/// family, whose id the family carries) of every family with a session
/// that `selected` picks, in id order.
///
/// A rotation and each revocation take these locks first, so a revocation
/// waits for a rotation of the same family to commit and then sees the
/// successor it inserted. Without them a revocation (one `UPDATE`) that
/// started while a rotation held the rotated row would re-check only that
/// row once it could, and leave the successor, which its snapshot does not
/// hold, alive: a logout answered 204, or a family revoked for a replayed
/// token, whose concurrent refresh went on working. A root is deleted only
/// with its user, or by the cleanup once every session of its family has
/// expired (`maintenance::purge_expired_sessions`), when no rotation can
/// come. SQLite has one writer; there this is a plain read.
async fn lock_families(txn: &impl ConnectionTrait, selected: SimpleExpr) -> Result<(), DbErr> {
    let families =
        Query::select().column(sessions::Column::FamilyId).from(sessions::Entity).cond_where(selected).to_owned();
    sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::Id.in_subquery(families))
        .order_by_asc(sessions::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(txn)
        .await?;
    Ok(())
}

impl SeaSessionRepository {
    /// Sets `revoked_at` on every live session `selected` picks, their
    /// families locked first ([`lock_families`]).
    async fn revoke(&self, selected: SimpleExpr, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.db
            .transaction::<_, (), DbErr>(|txn| {
                Box::pin(async move {
                    lock_families(txn, selected.clone()).await?;
                    sessions::Entity::update_many()
                        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
                        .filter(selected)
                        .filter(sessions::Column::RevokedAt.is_null())
                        .exec(txn)
                        .await?;
                    Ok(())
                })
            })
            .await
            .map_err(transaction_err)
    }
}

fn transaction_err(e: TransactionError<DbErr>) -> RepoError {
    match e {
        TransactionError::Connection(e) | TransactionError::Transaction(e) => repo_err(e),
    }
}

#[async_trait]
impl SessionRepository for SeaSessionRepository {
    async fn create(&self, session: &NewSession) -> Result<(), RepoError> {
        sessions::Entity::insert(model(session)).exec_without_returning(&self.db).await.map_err(repo_err)?;
        Ok(())
    }

    async fn rotate(
        &self,
        old: Uuid,
        new_id: Uuid,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, RepoError> {
        let outcome = self
            .db
            .transaction::<_, RotateOutcome, DbErr>(|txn| {
                Box::pin(async move {
                    lock_families(txn, sessions::Column::Id.eq(old)).await?;
                    // The conditional update is the single-use gate: of two
                    // concurrent rotations of one token, exactly one matches.
                    let claimed = sessions::Entity::update_many()
                        .col_expr(sessions::Column::RotatedAt, Expr::value(now))
                        .filter(sessions::Column::Id.eq(old))
                        .filter(sessions::Column::RotatedAt.is_null())
                        .filter(sessions::Column::RevokedAt.is_null())
                        .filter(sessions::Column::ExpiresAt.gt(now))
                        .exec(txn)
                        .await?;
                    let Some(current) = sessions::Entity::find_by_id(old).one(txn).await? else {
                        return Ok(RotateOutcome::Invalid);
                    };
                    if claimed.rows_affected == 0 {
                        return Ok(if current.rotated_at.is_some() {
                            RotateOutcome::Reused { family_id: current.family_id }
                        } else {
                            RotateOutcome::Invalid
                        });
                    }
                    let next = NewSession {
                        id: new_id,
                        user_id: current.user_id,
                        family_id: current.family_id,
                        created_at: now,
                        expires_at,
                    };
                    sessions::Entity::insert(model(&next)).exec_without_returning(txn).await?;
                    Ok(RotateOutcome::Rotated)
                })
            })
            .await
            .map_err(transaction_err)?;
        Ok(outcome)
    }

    async fn revoke_family_of(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        let family = Query::select()
            .column(sessions::Column::FamilyId)
            .from(sessions::Entity)
            .and_where(sessions::Column::Id.eq(id))
            .to_owned();
        self.revoke(sessions::Column::FamilyId.in_subquery(family), now).await
    }

    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.revoke(sessions::Column::UserId.eq(user_id), now).await
    }

    async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.revoke(sessions::Column::FamilyId.eq(family_id), now).await
    }
}
