//! `outbox.delivered_at`: set by the worker once an entry's job has run.
//! A job that the queue hands out again (its first run could not be
//! acknowledged because Redis went away, or the relay handed it over twice)
//! finds it set and is not run a second time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("outbox"))
                    .add_column(timestamp_with_time_zone_null(Alias::new("delivered_at")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Alias::new("outbox")).drop_column(Alias::new("delivered_at")).to_owned())
            .await
    }
}
