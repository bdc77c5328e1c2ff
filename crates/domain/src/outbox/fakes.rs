//! Fakes of the job queue and the outbox.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DeliveryLease, OutboxEntry, OutboxRepository, Unreadable};
use crate::error::{InfraError, RepoError};
use crate::jobs::{HandOver, Job, JobQueue};
use crate::mail::Mail;
use crate::testing::lock;

// ---------------------------------------------------------------- jobs

/// A verification mail as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentVerification {
    pub(crate) to: String,
    pub(crate) code: String,
    pub(crate) link: String,
    /// The link's `token` parameter.
    pub(crate) token: String,
    pub(crate) valid_minutes: i64,
}

/// The verification mails among `jobs`, in order.
fn verification_mails(jobs: &[Job]) -> Vec<SentVerification> {
    jobs.iter()
        .filter_map(|job| match job {
            Job::SendMail(Mail::Verification { to, code, link, valid_minutes }) => Some(SentVerification {
                to: to.clone(),
                code: code.clone(),
                link: link.clone(),
                token: link.rsplit_once("token=").map(|(_, t)| t.to_owned()).unwrap_or_default(),
                valid_minutes: *valid_minutes,
            }),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .collect()
}

/// A [`JobQueue`] that keeps every job it accepts.
#[derive(Debug, Default)]
pub(crate) struct RecordingJobs(Mutex<Vec<(HandOver, Job)>>);

impl RecordingJobs {
    pub(crate) fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Every job accepted so far, in the order it was enqueued.
    pub(crate) fn jobs(&self) -> Vec<Job> {
        lock(&self.0).iter().map(|(_, job)| job.clone()).collect()
    }

    /// Which hand-over each of them was.
    pub(crate) fn hand_overs(&self) -> Vec<HandOver> {
        lock(&self.0).iter().map(|(hand_over, _)| *hand_over).collect()
    }
}

#[async_trait]
impl JobQueue for RecordingJobs {
    async fn enqueue(&self, hand_over: HandOver, job: Job) -> Result<(), InfraError> {
        lock(&self.0).push((hand_over, job));
        Ok(())
    }
}

/// A [`JobQueue`] that is down (`runs_jobs`: or that runs every job, and every job fails).
#[derive(Debug, Default)]
pub(crate) struct FailingJobs {
    pub(crate) runs_jobs: bool,
    /// Every failure is permanent (a mail the server refuses for good).
    pub(crate) permanent: bool,
    /// Hand-overs tried.
    pub(crate) tried: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl JobQueue for FailingJobs {
    async fn enqueue(&self, _hand_over: HandOver, _job: Job) -> Result<(), InfraError> {
        self.tried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.permanent {
            return Err(InfraError::permanent("mail refused", "550 5.1.1 no such mailbox"));
        }
        Err(InfraError::new("queue unavailable"))
    }

    fn runs_jobs(&self) -> bool {
        self.runs_jobs
    }
}

// ---------------------------------------------------------------- outbox

/// One outbox row as the fake stores it (the columns of the real table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxRow {
    pub(crate) id: Uuid,
    /// What the real table's `job` column decodes to.
    pub(crate) job: Result<Job, Unreadable>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) available_at: DateTime<Utc>,
    pub(crate) claimed_until: Option<DateTime<Utc>>,
    pub(crate) attempts: i32,
    pub(crate) last_error: Option<String>,
    pub(crate) relayed_at: Option<DateTime<Utc>>,
    pub(crate) parked_at: Option<DateTime<Utc>>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
    pub(crate) delivery_lease: Option<(Uuid, DateTime<Utc>)>,
}

impl OutboxRow {
    /// Not relayed, not parked, available at `now`, not claimed by a live lease.
    fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.relayed_at.is_none()
            && self.parked_at.is_none()
            && self.available_at <= now
            && self.claimed_until.is_none_or(|until| until <= now)
    }
}

/// An [`OutboxRepository`] in a list (insertion order breaks ties between
/// entries available at the same instant), honouring the port's semantics.
/// Updates of unknown ids do nothing, like an `UPDATE` that matches no row.
#[derive(Debug, Default)]
pub(crate) struct InMemoryOutbox(Mutex<Vec<OutboxRow>>);

impl InMemoryOutbox {
    /// Every job recorded so far, in order.
    pub(crate) fn jobs(&self) -> Vec<Job> {
        lock(&self.0).iter().filter_map(|r| r.job.clone().ok()).collect()
    }

    /// Jobs recorded so far.
    pub(crate) fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// The verification mails recorded so far, in order.
    pub(crate) fn verification_mails(&self) -> Vec<SentVerification> {
        verification_mails(&self.jobs())
    }

    /// The most recent verification mail.
    pub(crate) fn last_verification(&self) -> SentVerification {
        self.verification_mails().pop().expect("a verification mail was recorded")
    }

    /// A copy of the rows, for a unit of work to roll back to.
    pub(crate) fn snapshot(&self) -> Vec<OutboxRow> {
        lock(&self.0).clone()
    }

    /// Puts back a [`Self::snapshot`].
    pub(crate) fn restore(&self, rows: Vec<OutboxRow>) {
        *lock(&self.0) = rows;
    }

    /// Records `job`, available from `available_at` (test set-up).
    pub(crate) fn push(&self, job: Job, available_at: DateTime<Utc>) -> Uuid {
        self.insert(Ok(job), available_at, available_at)
    }

    /// Records a job this version cannot read, available from `available_at`
    /// (test set-up).
    pub(crate) fn push_unreadable(&self, job: Unreadable, available_at: DateTime<Utc>) -> Uuid {
        let created_at = job.recorded_at;
        self.insert(Err(job), created_at, available_at)
    }

    fn insert(&self, job: Result<Job, Unreadable>, created_at: DateTime<Utc>, available_at: DateTime<Utc>) -> Uuid {
        let id = Uuid::now_v7();
        lock(&self.0).push(OutboxRow {
            id,
            job,
            created_at,
            available_at,
            claimed_until: None,
            attempts: 0,
            last_error: None,
            relayed_at: None,
            parked_at: None,
            delivered_at: None,
            delivery_lease: None,
        });
        id
    }

    /// A snapshot of the row `id`.
    pub(crate) fn row(&self, id: Uuid) -> OutboxRow {
        lock(&self.0).iter().find(|r| r.id == id).cloned().expect("the outbox row exists")
    }

    fn update(&self, id: Uuid, change: impl FnOnce(&mut OutboxRow)) {
        if let Some(row) = lock(&self.0).iter_mut().find(|r| r.id == id) {
            change(row);
        }
    }
}

#[async_trait]
impl OutboxRepository for InMemoryOutbox {
    async fn record(&self, job: &Job, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.push(job.clone(), now);
        Ok(())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxEntry>, RepoError> {
        let mut rows = lock(&self.0);
        let mut due: Vec<&mut OutboxRow> = rows.iter_mut().filter(|r| r.is_due(now)).collect();
        // Stable: entries available at the same instant keep insertion order.
        due.sort_by_key(|r| r.available_at);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(due
            .into_iter()
            .take(take)
            .map(|row| {
                row.claimed_until = Some(lease_until);
                OutboxEntry { id: row.id, job: row.job.clone(), attempts: row.attempts }
            })
            .collect())
    }

    async fn mark_relayed(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.update(id, |row| {
            row.relayed_at = Some(now);
            row.claimed_until = None;
        });
        Ok(())
    }

    async fn reschedule(&self, id: Uuid, retry_at: DateTime<Utc>, error: &str) -> Result<(), RepoError> {
        self.update(id, |row| {
            row.attempts += 1;
            row.available_at = retry_at;
            row.claimed_until = None;
            row.last_error = Some(error.to_owned());
        });
        Ok(())
    }

    async fn park(&self, id: Uuid, now: DateTime<Utc>, error: &str) -> Result<(), RepoError> {
        // Like the SQL adapter, the failed hand-over that parks an entry counts.
        self.update(id, |row| {
            row.attempts += 1;
            row.parked_at = Some(now);
            row.claimed_until = None;
            row.last_error = Some(error.to_owned());
        });
        Ok(())
    }

    async fn defer(
        &self,
        id: Uuid,
        until: DateTime<Utc>,
        recorded_after: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, RepoError> {
        let mut rows = lock(&self.0);
        let Some(row) = rows.iter_mut().find(|r| r.id == id) else { return Ok(false) };
        if row.created_at < recorded_after || row.delivered_at.is_some() || row.parked_at.is_some() {
            return Ok(false);
        }
        row.attempts += 1;
        row.relayed_at = None;
        row.claimed_until = None;
        row.available_at = until;
        row.last_error = Some(error.to_owned());
        Ok(true)
    }

    async fn lease_delivery(
        &self,
        id: Uuid,
        lease: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<DeliveryLease, RepoError> {
        let mut rows = lock(&self.0);
        let Some(row) = rows.iter_mut().find(|r| r.id == id) else { return Ok(DeliveryLease::Granted) };
        if row.delivered_at.is_some() {
            return Ok(DeliveryLease::Delivered);
        }
        if row.delivery_lease.is_some_and(|(_, held_until)| held_until > now) {
            return Ok(DeliveryLease::Held);
        }
        row.delivery_lease = Some((lease, until));
        Ok(DeliveryLease::Granted)
    }

    async fn renew_delivery(&self, id: Uuid, lease: Uuid, until: DateTime<Utc>) -> Result<bool, RepoError> {
        let mut rows = lock(&self.0);
        let held =
            rows.iter_mut().find(|r| r.id == id).and_then(|r| r.delivery_lease.as_mut()).filter(|l| l.0 == lease);
        Ok(held.map(|l| l.1 = until).is_some())
    }

    async fn release_delivery(&self, id: Uuid, lease: Uuid) -> Result<(), RepoError> {
        self.update(id, |row| {
            if row.delivery_lease.is_some_and(|(held, _)| held == lease) {
                row.delivery_lease = None;
            }
        });
        Ok(())
    }

    async fn mark_delivered(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.update(id, |row| {
            row.delivered_at.get_or_insert(now);
        });
        Ok(())
    }

    async fn rearm_undelivered(&self, relayed_before: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, RepoError> {
        let mut rearmed = 0;
        for row in lock(&self.0).iter_mut() {
            let lost = row.relayed_at.is_some_and(|at| at < relayed_before)
                && row.delivered_at.is_none()
                && row.parked_at.is_none();
            if lost {
                row.relayed_at = None;
                row.available_at = now;
                rearmed += 1;
            }
        }
        Ok(rearmed)
    }
}
