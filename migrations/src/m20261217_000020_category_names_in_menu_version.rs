//! `categories` joins the tables whose writes change the menu's version
//! (`list_versions` row `products`, migration `m20261216_000019`).
//!
//! A menu page shows each product's categories by name, and each replica
//! now remembers whole menu pages against that version (`coffee-storage`,
//! `totals.rs`), not only their totals: renaming a category must change the
//! version, or a remembered page would show the old name. Creating or
//! deleting one changes it too (a deletion also removes its links, which
//! did already); either is rare, and costs each replica one more read of
//! each page it remembers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::m20261216_000019_list_versions::{bump_triggers, drop_bump_triggers};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// A transaction on SQLite too: all the triggers or none.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        for stmt in bump_triggers("categories", "products", postgres) {
            manager.get_connection().execute_unprepared(&stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        for stmt in drop_bump_triggers("categories", postgres) {
            manager.get_connection().execute_unprepared(&stmt).await?;
        }
        Ok(())
    }
}
