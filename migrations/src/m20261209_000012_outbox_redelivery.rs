//! The relay now hands an outbox entry over again when its job has not run an
//! hour after the hand-over (the queue lost it: Redis flushed, restarted
//! without persistence, failed over). It looks for such entries every minute,
//! on every replica, so they get a partial index of their own: the entries
//! handed over and neither delivered nor parked, a handful at any time, where
//! `ix_outbox_relayed_at` holds a week of them.
//!
//! It knows a job ran by `delivered_at`, which until now only the Redis runner
//! wrote: the embedded profile's inline queue sent its mails without
//! recording them. So the entries already handed over are recorded delivered
//! here, lest they be sent again:
//!
//! * on SQLite, every one (the embedded profile sends a mail before the
//!   entry counts as handed over);
//! * on PostgreSQL, those handed over more than an hour ago. Younger ones may
//!   still be waiting in Redis, and a worker skips an entry recorded
//!   delivered, so they are left for the worker to record, or, if Redis did
//!   lose them, for the relay to hand over again.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let older = match manager.get_database_backend() {
            DatabaseBackend::Postgres => " AND relayed_at < now() - interval '1 hour'",
            _ => "",
        };
        db.execute_unprepared(&format!(
            "UPDATE outbox SET delivered_at = relayed_at \
             WHERE delivered_at IS NULL AND parked_at IS NULL AND relayed_at IS NOT NULL{older}"
        ))
        .await?;
        // Both engines support partial indexes (as `ix_outbox_pending`).
        db.execute_unprepared(
            "CREATE INDEX ix_outbox_undelivered ON outbox (relayed_at) \
             WHERE delivered_at IS NULL AND parked_at IS NULL AND relayed_at IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_outbox_undelivered").await?;
        // Which rows `up` recorded delivered is not kept; recorded, they are simply not sent again.
        Ok(())
    }
}
