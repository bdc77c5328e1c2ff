//! The transactional outbox: jobs recorded in the database together with
//! the change that causes them, then relayed to the job queue.
//!
//! A signup writes the user, the verification code and the mail job in one
//! transaction, so the mail exists exactly when the user does — whether or
//! not the queue (Redis) is reachable at that moment. [`OutboxRelay`] then
//! hands due entries to the [`JobQueue`]; an entry whose hand-over fails is
//! retried with exponential backoff (at most 5 min apart), for as long as
//! the queue is unavailable; only an entry whose job itself keeps failing (a
//! queue that runs jobs, [`JobQueue::runs_jobs`]) is parked, at once when
//! the failure is permanent, else after [`MAX_RELAY_ATTEMPTS`] (about
//! [`GIVE_UP_AFTER`]). A queue that stores jobs gives a job whose tries all
//! failed for a passing reason back to the outbox
//! ([`OutboxRepository::defer`]), which hands it over again later, until
//! [`GIVE_UP_AFTER`].
//! Hand-over is at-least-once: a relay that dies between handing over and
//! marking an entry relayed hands it over again after the claim expires. The
//! queue gets the entry's id with the job, and the runner records the entry
//! delivered after the job ran and skips entries already delivered, so a
//! repeated hand-over, or a run whose acknowledgement the queue lost, does
//! not send a mail twice; copies that arrive at once, in one worker process
//! or in several, take turns through the entry's delivery lease
//! ([`OutboxRepository::lease_delivery`]). (Only a crash between the SMTP
//! server's answer and that record can still repeat one.)

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{RepoError, error_chain};
use crate::jobs::{HandOver, Job, JobQueue};

/// How long a job may keep failing for a reason that may pass (an SMTP
/// server down, or refusing for now with a 4xx answer) before its entry is
/// parked for an operator: mail servers themselves keep trying for days
/// (RFC 5321 §4.5.4.1 suggests 4–5).
pub const GIVE_UP_AFTER: TimeDelta = TimeDelta::days(3);

/// How long `job` is worth delivering: [`GIVE_UP_AFTER`], but a verification
/// mail only while its code is valid (after that it carries a code nobody
/// can use; the account's owner asks for a new one).
pub fn give_up_after(job: &Job) -> TimeDelta {
    match job {
        Job::SendMail(crate::mail::Mail::Verification { valid_minutes, .. }) => {
            TimeDelta::minutes(*valid_minutes).min(GIVE_UP_AFTER)
        }
        Job::SendMail(_) => GIVE_UP_AFTER,
    }
}

/// Failed runs before the entry of a queue that runs jobs itself is parked
/// for an operator: with [`relay_backoff`] (511 s for the first nine, then
/// 5 min apart), [`GIVE_UP_AFTER`]; fewer for a job worth less long
/// ([`relay_attempts`]).
pub const MAX_RELAY_ATTEMPTS: i32 = 872;

/// Failed runs of `job` before its entry is parked by a relay whose queue
/// runs jobs: as many as [`relay_backoff`] fits into [`give_up_after`].
pub fn relay_attempts(job: &Job) -> i32 {
    let seconds = give_up_after(job).num_seconds();
    let attempts = if seconds < 511 { 9 } else { 10 + (seconds - 511) / 300 };
    i32::try_from(attempts).unwrap_or(MAX_RELAY_ATTEMPTS).min(MAX_RELAY_ATTEMPTS)
}

/// How long after a queue's last try of a job (`JOB_MAX_ATTEMPTS`, about
/// 5 min of them) failed for a passing reason its entry is handed over
/// again ([`OutboxRepository::defer`]).
pub const DEFER_FOR: TimeDelta = TimeDelta::minutes(15);

/// One job waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Entry id.
    pub id: Uuid,
    /// The job, or why this version cannot read it.
    pub job: Result<Job, Unreadable>,
    /// Failed hand-overs so far.
    pub attempts: i32,
}

/// An outbox entry this version cannot decode. The relay decides what
/// becomes of it ([`OutboxRelay::relay_due`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Why it could not be decoded.
    pub error: String,
    /// It is a JSON object: perhaps a job of a kind a newer version added,
    /// recorded during a rolling deploy, which a newer relay reads.
    pub maybe_newer: bool,
    /// When the entry was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Stores outbox entries. Claims are leases: an entry claimed by a relay
/// that then dies becomes due again when the lease ends.
#[async_trait]
pub trait OutboxRepository: Send + Sync {
    /// Records `job`, due at once. Call it on the repository of the
    /// [`crate::uow::Transaction`] that makes the change causing the job, so
    /// the job exists exactly when the change does.
    ///
    /// # Errors
    /// The store failed.
    async fn record(&self, job: &Job, now: DateTime<Utc>) -> Result<(), RepoError>;

    /// Claims up to `limit` due entries (not relayed, not parked, available,
    /// not claimed by a live lease) until `lease_until`, oldest first.
    /// Concurrent relays never claim the same entry. An entry whose job
    /// cannot be decoded is claimed too, as [`Unreadable`].
    ///
    /// # Errors
    /// The store failed.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxEntry>, RepoError>;

    /// Marks an entry handed over.
    ///
    /// # Errors
    /// The store failed.
    async fn mark_relayed(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError>;

    /// Records a failed hand-over and makes the entry due again at `retry_at`.
    ///
    /// # Errors
    /// The store failed.
    async fn reschedule(&self, id: Uuid, retry_at: DateTime<Utc>, error: &str) -> Result<(), RepoError>;

    /// Gives up on an entry: it stays in the table, parked, for an operator.
    ///
    /// # Errors
    /// The store failed.
    async fn park(&self, id: Uuid, now: DateTime<Utc>, error: &str) -> Result<(), RepoError>;

    /// Takes back a handed-over entry whose job failed every try the queue
    /// gave it, for a reason that may pass: it becomes due again at `until`
    /// (and counts the failure, with `error`), unless it was recorded before
    /// `recorded_after`, has run, or is parked. `false` when it was not
    /// taken back: the caller gives up on it.
    ///
    /// # Errors
    /// The store failed.
    async fn defer(
        &self,
        id: Uuid,
        until: DateTime<Utc>,
        recorded_after: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, RepoError>;

    /// Takes the delivery of entry `id` for one run of its job, as `lease`,
    /// until `until`: unless its job has run ([`Self::mark_delivered`]), or
    /// another run's lease has not lapsed at `now`. An entry purged or never
    /// recorded is granted: there is nothing to hold, and the job runs.
    ///
    /// # Errors
    /// The store failed.
    async fn lease_delivery(
        &self,
        id: Uuid,
        lease: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<DeliveryLease, RepoError>;

    /// Extends `lease` on entry `id` to `until`; `false` when it is no longer
    /// held (it lapsed and another run took the entry).
    ///
    /// # Errors
    /// The store failed.
    async fn renew_delivery(&self, id: Uuid, lease: Uuid, until: DateTime<Utc>) -> Result<bool, RepoError>;

    /// Ends `lease` on entry `id` without a delivery (the run failed), so
    /// that a retry may take the entry at once. A lease no longer held is
    /// left alone.
    ///
    /// # Errors
    /// The store failed.
    async fn release_delivery(&self, id: Uuid, lease: Uuid) -> Result<(), RepoError>;

    /// Records that the job of entry `id` ran, so that the queue handing it
    /// out again (a run whose acknowledgement was lost, a repeated hand-over)
    /// does not run it twice. The first mark wins.
    ///
    /// # Errors
    /// The store failed.
    async fn mark_delivered(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError>;

    /// Makes due again, at `now`, every entry handed over before
    /// `relayed_before` whose job has not run (not delivered, not parked):
    /// the queue lost it. Returns how many.
    ///
    /// # Errors
    /// The store failed.
    async fn rearm_undelivered(&self, relayed_before: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, RepoError>;
}

/// What [`OutboxRepository::lease_delivery`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryLease {
    /// The run holds the delivery: it runs the job.
    Granted,
    /// The job has run.
    Delivered,
    /// Another run holds it (in this process or another one).
    Held,
}

/// What one relay pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Entries handed to the queue.
    pub relayed: usize,
    /// Entries whose hand-over failed and that will be retried.
    pub rescheduled: usize,
    /// Entries given up on.
    pub parked: usize,
}

/// Moves due outbox entries to the job queue.
pub struct OutboxRelay {
    outbox: Arc<dyn OutboxRepository>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
}

/// How long a handed-over entry may wait for its job to run before the relay
/// takes the queue to have lost it (Redis flushed, restarted without
/// persistence, failed over) and hands it over again. Far beyond a job's
/// own retries (`JOB_MAX_ATTEMPTS` ≤ 25, the n-th after n s, each run at
/// most 60 s): a job still queued then runs once anyway, since the runner
/// skips an entry already delivered. A job the worker gave up on is parked,
/// not handed over again: it waits in the dead set for an operator.
pub const REDELIVER_AFTER: TimeDelta = TimeDelta::hours(1);

/// How long a claimed entry is reserved for the relay that claimed it.
pub const CLAIM_LEASE: TimeDelta = TimeDelta::seconds(60);

/// Pause after `attempts` failed hand-overs before the next one: 1 s after
/// the first failure, doubling, at most 5 min.
pub fn relay_backoff(attempts: i32) -> TimeDelta {
    let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    TimeDelta::seconds(2_i64.pow(exp).min(300))
}

impl OutboxRelay {
    /// Wires the relay.
    pub fn new(outbox: Arc<dyn OutboxRepository>, queue: Arc<dyn JobQueue>, clock: Arc<dyn Clock>) -> Self {
        Self { outbox, queue, clock }
    }

    /// Relays up to `limit` due entries, one after the other. A queue that
    /// only stores jobs (Redis) and refuses one is taken to be down: the
    /// pass reschedules the rest without trying them, rather than waiting
    /// out the same failure (up to its timeout) entry by entry. An entry
    /// this version cannot read is never handed over: see
    /// [`Self::set_aside`].
    ///
    /// # Errors
    /// The outbox could not be read or updated (a failing queue is not an
    /// error: the entry is rescheduled).
    pub async fn relay_due(&self, limit: u64) -> Result<RelayReport, RepoError> {
        let now = self.clock.now();
        let entries = self.outbox.claim_due(now, now + CLAIM_LEASE, limit).await?;
        let mut report = RelayReport::default();
        let mut entries = entries.into_iter();
        while let Some(entry) = entries.next() {
            let job = match entry.job {
                Ok(job) => job,
                Err(unreadable) => {
                    self.set_aside(entry.id, entry.attempts, &unreadable, &mut report).await?;
                    continue;
                }
            };
            let allowed = relay_attempts(&job);
            match self.queue.enqueue(HandOver { entry: entry.id, attempts: entry.attempts }, job).await {
                Ok(()) => {
                    self.outbox.mark_relayed(entry.id, self.clock.now()).await?;
                    report.relayed += 1;
                }
                Err(e) if self.queue.runs_jobs() && (e.is_permanent() || entry.attempts + 1 >= allowed) => {
                    let error = error_chain(&e);
                    tracing::error!(outbox_id = %entry.id, %error, "giving up on an outbox entry; parked");
                    self.outbox.park(entry.id, self.clock.now(), &error).await?;
                    report.parked += 1;
                }
                Err(e) => {
                    let retry_at = self.clock.now() + relay_backoff(entry.attempts);
                    let error = error_chain(&e);
                    tracing::warn!(outbox_id = %entry.id, %error, %retry_at, "job queue refused an outbox entry");
                    self.outbox.reschedule(entry.id, retry_at, &error).await?;
                    report.rescheduled += 1;
                    if !self.queue.runs_jobs() {
                        let error = format!("not handed over: the queue refused an earlier entry ({error})");
                        for rest in entries.by_ref() {
                            // One it cannot read was never to be handed over.
                            if let Err(unreadable) = &rest.job {
                                self.set_aside(rest.id, rest.attempts, unreadable, &mut report).await?;
                                continue;
                            }
                            let retry_at = self.clock.now() + relay_backoff(rest.attempts);
                            self.outbox.reschedule(rest.id, retry_at, &error).await?;
                            report.rescheduled += 1;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// An entry this version cannot read. A JSON object may be a job of a
    /// kind a newer version added (a rolling deploy): it is left for a relay
    /// that reads it, with the usual backoff, until it is older than
    /// [`GIVE_UP_AFTER`]. Anything else, or older, is parked for an operator.
    async fn set_aside(
        &self,
        id: Uuid,
        attempts: i32,
        unreadable: &Unreadable,
        report: &mut RelayReport,
    ) -> Result<(), RepoError> {
        let now = self.clock.now();
        let error = &unreadable.error;
        if unreadable.maybe_newer && unreadable.recorded_at >= now - GIVE_UP_AFTER {
            let retry_at = now + relay_backoff(attempts);
            tracing::warn!(outbox_id = %id, %error, %retry_at,
                "outbox entry this version cannot read (a newer version's?); left for later");
            let error = format!("undecodable job (a newer version's?): {error}");
            self.outbox.reschedule(id, retry_at, &error).await?;
            report.rescheduled += 1;
        } else {
            tracing::error!(outbox_id = %id, %error, "outbox entry cannot be decoded; parked");
            self.outbox.park(id, now, &format!("undecodable job: {error}")).await?;
            report.parked += 1;
        }
        Ok(())
    }

    /// Hands over again what the queue lost ([`REDELIVER_AFTER`]): the entries
    /// become due and the next [`Self::relay_due`] takes them. Returns how many.
    ///
    /// # Errors
    /// The outbox could not be updated.
    pub async fn rearm_lost(&self) -> Result<u64, RepoError> {
        let now = self.clock.now();
        let rearmed = self.outbox.rearm_undelivered(now - REDELIVER_AFTER, now).await?;
        if rearmed > 0 {
            tracing::warn!(
                rearmed,
                "handed-over outbox entries not delivered within {REDELIVER_AFTER}; handing them over again"
            );
        }
        Ok(rearmed)
    }
}

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod tests;
