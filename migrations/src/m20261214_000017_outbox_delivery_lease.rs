//! A delivery lease on each outbox entry: the run of its job that holds it
//! (`delivery_lease`, until `delivering_until`, renewed while it runs). Two
//! copies of one job that reach two worker processes at once (a stalled
//! Redis running the relay's timed-out pushes when it resumes, an entry
//! handed over again) then send one mail: the second waits for the first
//! to deliver, or for its lease to lapse when its worker died.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{timestamp_with_time_zone_null, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    DeliveryLease,
    DeliveringUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Both columns or neither, on SQLite too.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(Table::alter().table(Outbox::Table).add_column(uuid_null(Outbox::DeliveryLease)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Outbox::Table)
                    .add_column(timestamp_with_time_zone_null(Outbox::DeliveringUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Outbox::DeliveringUntil, Outbox::DeliveryLease] {
            manager.alter_table(Table::alter().table(Outbox::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
