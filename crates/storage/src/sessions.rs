//! The refresh-session repository.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::user::{NewSession, RotateOutcome, SessionRepository};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set, TransactionError, TransactionTrait};
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
            .map_err(|e| match e {
                TransactionError::Connection(e) | TransactionError::Transaction(e) => repo_err(e),
            })?;
        Ok(outcome)
    }

    async fn revoke_family_of(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        let family = Query::select()
            .column(sessions::Column::FamilyId)
            .from(sessions::Entity)
            .and_where(sessions::Column::Id.eq(id))
            .to_owned();
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::FamilyId.in_subquery(family))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::UserId.eq(user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }

    async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::FamilyId.eq(family_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(())
    }
}
