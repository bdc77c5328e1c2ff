//! `idempotency_keys.status`: the HTTP status of the answer a key stores.
//! A key now stores a final refusal of its first request (an empty cart, an
//! unavailable product, a closed shop, a broken rule) as well as a placed
//! order, and a repeat gets that answer again (SPEC §6). Rows stored before
//! this column are placed orders: `NULL` reads as 201.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::small_integer_null;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("idempotency_keys"))
                    .add_column(small_integer_null(Alias::new("status")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Refusals stored meanwhile would read as placed orders: drop them.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM idempotency_keys WHERE status IS NOT NULL AND status <> 201")
            .await?;
        manager
            .alter_table(
                Table::alter().table(Alias::new("idempotency_keys")).drop_column(Alias::new("status")).to_owned(),
            )
            .await
    }
}
