//! User e-mails and names sort by code point on PostgreSQL too, as on
//! SQLite, like product and category names since
//! `m20261205_000008_binary_name_order`. With the server's default collation
//! `GET /users?sort=email` (or `first_name`, `last_name`) followed the
//! locale: under the official image's `en_US.utf8` punctuation is ignored at
//! first, so "a.b@…" sorted after "ab@…" and "Émile" before "Zoe", unlike
//! SQLite. `COLLATE "C"` on the columns keeps their indexes serving those
//! sorts; equality and uniqueness do not change (both are deterministic).
//!
//! The stored e-mail is lower-cased by the application (Unicode rules); the
//! column's check `email = lower(email)` then compares under `"C"`, whose
//! `lower` folds ASCII only — every stored address still passes it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(column, type)` of the sortable text columns of `users`.
const COLUMNS: [(&str, &str); 3] = [("email", "varchar(254)"), ("first_name", "varchar"), ("last_name", "varchar")];

async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let changes: Vec<String> =
        COLUMNS.iter().map(|(column, ty)| format!("ALTER COLUMN {column} TYPE {ty} COLLATE {collation}")).collect();
    // One statement: the table and its indexes are rewritten once.
    manager.get_connection().execute_unprepared(&format!("ALTER TABLE users {}", changes.join(", "))).await?;
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
