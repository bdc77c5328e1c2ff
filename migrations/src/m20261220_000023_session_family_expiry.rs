//! `sessions (family_id, expires_at)` in place of `(family_id)`.
//!
//! The cleanup keeps a login's first session while any later session of the
//! same login has not expired, and asks so of every expired first session
//! it walks (`coffee-storage`, `maintenance.rs`): with this index that
//! question is answered from the index alone. Revoking a family by its id
//! uses it as it used the old one.

use sea_orm_migration::prelude::*;

use crate::index;

const OLD: &str = "ix_sessions_family_id";
const NEW: &str = "ix_sessions_family_id_expires_at";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(index(NEW, Alias::new("sessions"), &["family_id", "expires_at"])).await?;
        manager.drop_index(Index::drop().name(OLD).table(Alias::new("sessions")).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(index(OLD, Alias::new("sessions"), &["family_id"])).await?;
        manager.drop_index(Index::drop().name(NEW).table(Alias::new("sessions")).to_owned()).await
    }
}
