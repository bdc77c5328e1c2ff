//! `ix_outbox_parked`: the outbox entries given up on and not delivered since
//! (an operator may re-queue one from the dead set). The metrics count them
//! at every scrape (`coffee_outbox_parked`); they are a handful at any time,
//! where the table holds a week of mail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Both engines support partial indexes (as `ix_outbox_pending`).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL AND delivered_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_outbox_parked").await?;
        Ok(())
    }
}
