//! The transactional outbox: jobs written with the change that causes them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, pk_uuid, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Job,
    CreatedAt,
    AvailableAt,
    ClaimedUntil,
    Attempts,
    LastError,
    RelayedAt,
    ParkedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(pk_uuid(Outbox::Id))
                    .col(text(Outbox::Job))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone(Outbox::AvailableAt))
                    .col(timestamp_with_time_zone_null(Outbox::ClaimedUntil))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(text_null(Outbox::LastError))
                    .col(timestamp_with_time_zone_null(Outbox::RelayedAt))
                    .col(timestamp_with_time_zone_null(Outbox::ParkedAt))
                    .to_owned(),
            )
            .await?;
        // The relay's scan touches pending rows only; both engines support partial indexes.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_outbox_pending ON outbox (available_at) WHERE relayed_at IS NULL AND parked_at IS NULL",
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_outbox_relayed_at").table(Outbox::Table).col(Outbox::RelayedAt).to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}
