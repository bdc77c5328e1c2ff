//! Product and category names sort by code point on PostgreSQL too, as on
//! SQLite (whose `BINARY` collation compares UTF-8 bytes, i.e. code points).
//! Before, `sort=name` and the order of a product's categories followed the
//! database's default collation: byte order on a `C`/`C.UTF-8` server, but
//! on one initialised with a linguistic locale (the official image's
//! `en_US.utf8`, as in Compose and CI) "éclair" came before "Filter" and
//! "Straße" before "STRASSE", unlike SQLite. `COLLATE "C"` on the columns
//! (not in each `ORDER BY`) keeps the name indexes serving those sorts.
//! Equality and uniqueness do not change: both collations are deterministic.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, column, type)` of the sortable name columns.
const NAMES: [(&str, &str, &str); 2] = [("products", "name", "varchar(100)"), ("categories", "name", "varchar(100)")];

async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for (table, column, ty) in NAMES {
        manager
            .get_connection()
            .execute_unprepared(&format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE {ty} COLLATE {collation}"))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "\"C\"").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "\"default\"").await
    }
}
