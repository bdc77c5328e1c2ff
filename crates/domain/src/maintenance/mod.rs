//! Scheduled maintenance: deleting accounts that were never verified and
//! purging expired sessions, verification codes, relayed outbox entries and
//! expired idempotency keys.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::error::RepoError;

/// Batched deletes. Every method deletes at most `limit` rows per call and
/// returns how many it deleted, so callers loop until fewer come back; each
/// is idempotent and safe to run from several workers at once.
#[async_trait]
pub trait MaintenanceRepository: Send + Sync {
    /// Deletes unverified non-admin users created, and last changed,
    /// strictly before `cutoff`, with everything that belongs to them
    /// (foreign keys cascade). "Last changed" keeps an old account an admin
    /// un-verified for the whole time from then on.
    ///
    /// # Errors
    /// The store failed.
    async fn purge_unverified_users(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError>;

    /// Deletes sessions that expired before `now`, but a login's first
    /// session while a later one of the same login has not expired (the
    /// login's rotations and revocations lock it).
    ///
    /// # Errors
    /// The store failed.
    async fn purge_expired_sessions(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError>;

    /// Deletes verification codes of verified accounts that expired before
    /// `now`. An unverified account's row stays (it goes with the account):
    /// it counts the attempts at all the account's codes.
    ///
    /// # Errors
    /// The store failed.
    async fn purge_expired_verifications(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError>;

    /// Deletes outbox entries relayed before `cutoff` (parked ones are kept).
    ///
    /// # Errors
    /// The store failed.
    async fn purge_relayed_outbox(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError>;

    /// Deletes idempotency keys whose retention (`IDEMPOTENCY_KEY_TTL`) ended before `now`.
    ///
    /// # Errors
    /// The store failed.
    async fn purge_expired_idempotency_keys(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError>;
}

/// Rows removed by one cleanup run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Unverified users deleted.
    pub users: u64,
    /// Expired sessions deleted.
    pub sessions: u64,
    /// Expired verification codes deleted.
    pub verifications: u64,
    /// Relayed outbox entries deleted.
    pub outbox: u64,
    /// Expired idempotency keys deleted.
    pub idempotency_keys: u64,
}

/// Tunables of the cleanup.
#[derive(Debug, Clone, Copy)]
pub struct CleanupSettings {
    /// Unverified accounts older than this are deleted.
    pub unverified_user_ttl: TimeDelta,
    /// Relayed outbox entries older than this are deleted.
    pub outbox_retention: TimeDelta,
    /// Rows per delete statement.
    pub batch_size: u64,
}

/// The cleanup use case.
pub struct CleanupService {
    repo: Arc<dyn MaintenanceRepository>,
    clock: Arc<dyn Clock>,
    settings: CleanupSettings,
}

impl CleanupService {
    /// Wires the service.
    pub fn new(repo: Arc<dyn MaintenanceRepository>, clock: Arc<dyn Clock>, settings: CleanupSettings) -> Self {
        Self { repo, clock, settings }
    }

    /// Runs every purge to completion, batch by batch, and logs the counts.
    ///
    /// # Errors
    /// The store failed; rows deleted before the failure stay deleted.
    pub async fn run(&self) -> Result<CleanupReport, RepoError> {
        let now = self.clock.now();
        let limit = self.settings.batch_size.max(1);
        let cutoff = now - self.settings.unverified_user_ttl;
        let report = CleanupReport {
            users: drain(limit, |n| self.repo.purge_unverified_users(cutoff, n)).await?,
            sessions: drain(limit, |n| self.repo.purge_expired_sessions(now, n)).await?,
            verifications: drain(limit, |n| self.repo.purge_expired_verifications(now, n)).await?,
            outbox: drain(limit, |n| self.repo.purge_relayed_outbox(now - self.settings.outbox_retention, n)).await?,
            idempotency_keys: drain(limit, |n| self.repo.purge_expired_idempotency_keys(now, n)).await?,
        };
        tracing::info!(
            unverified_users = report.users,
            expired_sessions = report.sessions,
            expired_verifications = report.verifications,
            relayed_outbox = report.outbox,
            expired_idempotency_keys = report.idempotency_keys,
            "cleanup finished"
        );
        Ok(report)
    }
}

/// Calls `batch` until it deletes fewer than `limit` rows; returns the total.
async fn drain<F, Fut>(limit: u64, batch: F) -> Result<u64, RepoError>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, RepoError>>,
{
    let mut total = 0;
    loop {
        let deleted = batch(limit).await?;
        total += deleted;
        if deleted < limit {
            return Ok(total);
        }
    }
}

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod tests;
