//! A scripted fake of the maintenance store.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MaintenanceRepository;
use crate::error::RepoError;
use crate::testing::lock;

/// What a [`MaintenanceRepository`] purges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PurgeKind {
    UnverifiedUsers,
    ExpiredSessions,
    ExpiredVerifications,
    RelayedOutbox,
    ExpiredIdempotencyKeys,
}

/// One call of a purge method: the cutoff (or `now`) and limit it got, and
/// how many rows it reported deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PurgeCall {
    pub(crate) kind: PurgeKind,
    pub(crate) cutoff: DateTime<Utc>,
    pub(crate) limit: u64,
    pub(crate) deleted: u64,
}

/// Calls after which the fake assumes the caller never stops.
const RUNAWAY_PURGE_CALLS: usize = 10_000;

#[derive(Debug, Default)]
struct MaintenanceScript {
    purgeable: BTreeMap<PurgeKind, u64>,
    failing: Option<PurgeKind>,
    calls: Vec<PurgeCall>,
}

/// A [`MaintenanceRepository`] that holds a count of purgeable rows per kind
/// (each call deletes at most `limit` of them) and records every call. It
/// can be told to fail one kind, and panics on a `limit` of 0 or on a
/// runaway loop rather than letting a test hang.
#[derive(Debug, Default)]
pub(crate) struct ScriptedMaintenance(Mutex<MaintenanceScript>);

impl ScriptedMaintenance {
    /// Makes `rows` more rows of `kind` purgeable.
    pub(crate) fn with(self, kind: PurgeKind, rows: u64) -> Self {
        *lock(&self.0).purgeable.entry(kind).or_default() += rows;
        self
    }

    /// Makes every purge of `kind` fail with [`RepoError::Unavailable`].
    pub(crate) fn failing(self, kind: PurgeKind) -> Self {
        lock(&self.0).failing = Some(kind);
        self
    }

    /// Every call so far, in order.
    pub(crate) fn calls(&self) -> Vec<PurgeCall> {
        lock(&self.0).calls.clone()
    }

    /// The calls of one kind, in order.
    pub(crate) fn calls_of(&self, kind: PurgeKind) -> Vec<PurgeCall> {
        self.calls().into_iter().filter(|c| c.kind == kind).collect()
    }

    /// Rows of `kind` still purgeable.
    pub(crate) fn remaining(&self, kind: PurgeKind) -> u64 {
        lock(&self.0).purgeable.get(&kind).copied().unwrap_or(0)
    }

    fn purge(&self, kind: PurgeKind, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        assert!(limit > 0, "{kind:?} purged with a limit of 0: a caller looping until a short batch never stops");
        let mut script = lock(&self.0);
        assert!(script.calls.len() < RUNAWAY_PURGE_CALLS, "{kind:?} purged {RUNAWAY_PURGE_CALLS} times: runaway loop");
        if script.failing == Some(kind) {
            return Err(RepoError::Unavailable(format!("{kind:?}: connection refused").into()));
        }
        let left = script.purgeable.entry(kind).or_default();
        let deleted = (*left).min(limit);
        *left -= deleted;
        script.calls.push(PurgeCall { kind, cutoff, limit, deleted });
        Ok(deleted)
    }
}

#[async_trait]
impl MaintenanceRepository for ScriptedMaintenance {
    async fn purge_unverified_users(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::UnverifiedUsers, cutoff, limit)
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::ExpiredSessions, now, limit)
    }

    async fn purge_expired_verifications(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::ExpiredVerifications, now, limit)
    }

    async fn purge_relayed_outbox(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::RelayedOutbox, cutoff, limit)
    }

    async fn purge_expired_idempotency_keys(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::ExpiredIdempotencyKeys, now, limit)
    }
}
