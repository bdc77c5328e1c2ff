//! Runs one job.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::TimeDelta;
use coffee_domain::clock::Clock;
use coffee_domain::error::{InfraError, RepoError, error_chain};
use coffee_domain::jobs::Job;
use coffee_domain::mail::Mailer;
use coffee_domain::outbox::{CLAIM_LEASE, DEFER_FOR, DeliveryLease, GIVE_UP_AFTER, OutboxRepository, give_up_after};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;

/// Upper bound of one job run (an SMTP conversation that hangs must not
/// hold a worker slot forever; the mailer has its own, shorter timeout).
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a run keeps trying to record its delivery while the database
/// is away: half the relay's claim lease ([`CLAIM_LEASE`], 60 s), so that an
/// outage shorter than this ends with the entry recorded before the relay,
/// which could not mark it handed over either, hands it out again.
const RECORD_FOR: Duration = Duration::from_secs(30);
const _: () = assert!(RECORD_FOR.as_secs().cast_signed() * 2 <= CLAIM_LEASE.num_seconds());

/// How long a run holds its outbox entry's delivery without renewing it
/// (it renews every third of it while the job runs): a run whose worker
/// died lets go within this, and a copy waiting for it runs the job then.
const DELIVERY_LEASE: Duration = Duration::from_secs(6);

/// A job as it travels through the Redis queue: the job and the outbox
/// entry it came from (absent in jobs queued before this field existed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// The outbox entry; the runner records it delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<Uuid>,
    /// The work.
    #[serde(flatten)]
    pub job: Work,
}

/// What a queued job asks for: a job this version knows, or one it cannot
/// read, kept as its JSON fields. During a rolling deploy a newer version
/// may queue a kind of job (a new kind of mail) an older worker does not
/// know; decoding it must not fail, or the queue's consumer would stop on
/// it over and over. An older worker fails its run instead, as a failure
/// that may pass: the job is retried, and a newer worker runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// A job this version runs.
    Known(Job),
    /// A job this version cannot read: its fields, written back unchanged,
    /// and why it could not be read.
    Unknown {
        /// The job's fields.
        fields: serde_json::Map<String, serde_json::Value>,
        /// The decoding error.
        error: String,
    },
}

impl Serialize for Work {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Work::Known(job) => job.serialize(serializer),
            Work::Unknown { fields, .. } => fields.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Work {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = serde_json::Map::deserialize(deserializer)?;
        Ok(match serde_json::from_value(serde_json::Value::Object(fields.clone())) {
            Ok(job) => Work::Known(job),
            Err(e) => Work::Unknown { fields, error: e.to_string() },
        })
    }
}

impl From<Job> for Work {
    fn from(job: Job) -> Self {
        Work::Known(job)
    }
}

impl Work {
    /// The job, or the error of a run of one this version cannot read.
    fn known(&self) -> Result<&Job, InfraError> {
        match self {
            Work::Known(job) => Ok(job),
            Work::Unknown { fields, error } => {
                let kind = fields.get("type").and_then(serde_json::Value::as_str).unwrap_or("?");
                Err(InfraError::new(format!(
                    "this version cannot run this job (type {kind:?}: {error}); a newer worker will, if it is a newer \
                     version's"
                )))
            }
        }
    }
}

/// Records entry `id` delivered, retrying with backoff for up to `within`
/// while the store fails (the job already ran: failing the run now would
/// only make the queue run it again). Past that the entry stays unrecorded
/// and may run a second time: at least once, never lost.
async fn record_delivered(outbox: &dyn OutboxRepository, clock: &dyn Clock, id: Uuid, within: Duration) {
    let give_up = Instant::now() + within;
    let mut pause = Duration::from_millis(250);
    loop {
        let Err(e) = outbox.mark_delivered(id, clock.now()).await else { return };
        if Instant::now() + pause > give_up {
            tracing::error!(outbox_id = %id, error = %error_chain(&e), "job ran but could not be recorded delivered; it may run again");
            return;
        }
        tracing::warn!(outbox_id = %id, error = %error_chain(&e), retry_in = ?pause, "job ran but is not recorded delivered yet");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(4));
    }
}

fn lease_delta(lease: Duration) -> TimeDelta {
    TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX)
}

/// Executes jobs, one attempt per call. Retrying is the queue's business.
pub struct JobHandler {
    mailer: Arc<dyn Mailer>,
    /// Where queued jobs are recorded delivered (see [`JobHandler::run_queued`]).
    ledger: Option<(Arc<dyn OutboxRepository>, Arc<dyn Clock>)>,
    /// The outbox entries whose job runs in this process now.
    running: Mutex<HashSet<Uuid>>,
    /// [`DELIVERY_LEASE`], shorter in tests.
    lease: Duration,
}

/// An outbox entry marked running in [`JobHandler::running`] until dropped
/// (when its run has ended and been recorded, or failed, or panicked).
struct Running<'a> {
    set: &'a Mutex<HashSet<Uuid>>,
    id: Uuid,
}

impl<'a> Running<'a> {
    /// `None` when entry `id` already runs here.
    fn start(set: &'a Mutex<HashSet<Uuid>>, id: Uuid) -> Option<Self> {
        let inserted = set.lock().unwrap_or_else(PoisonError::into_inner).insert(id);
        // Built only when inserted: a `Running` dropped unused would remove the other run's mark.
        inserted.then(|| Running { set, id })
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

impl std::fmt::Debug for JobHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandler").finish_non_exhaustive()
    }
}

impl JobHandler {
    /// A handler delivering mail through `mailer`.
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self { mailer, ledger: None, running: Mutex::default(), lease: DELIVERY_LEASE }
    }

    /// The same, recording queued jobs delivered in `outbox`.
    pub fn with_ledger(mailer: Arc<dyn Mailer>, outbox: Arc<dyn OutboxRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { mailer, ledger: Some((outbox, clock)), running: Mutex::default(), lease: DELIVERY_LEASE }
    }

    /// The same with another delivery lease than [`DELIVERY_LEASE`] (tests
    /// of a lease that lapses use a short one).
    #[must_use]
    pub fn with_delivery_lease(self, lease: Duration) -> Self {
        Self { lease, ..self }
    }

    /// Runs a job from the queue once per outbox entry: an entry already
    /// recorded delivered is skipped (the queue may hand a job out again when
    /// it lost the acknowledgement of a run, e.g. while Redis was away, or
    /// when the relay handed an entry over twice); after a successful run the
    /// entry is recorded delivered. When the record cannot be read the job
    /// runs (a mail twice beats a mail never).
    ///
    /// Copies that arrive together (a Redis that stalls executes the relay's
    /// timed-out pushes when it resumes) take turns: one run holds the
    /// entry's delivery lease, renewed while it runs, and a copy in another
    /// worker process waits for it: the entry is then delivered (the copy is
    /// skipped), or the run failed and let go, or its worker died and the
    /// lease lapsed (the copy runs the job). A copy still waiting after a
    /// lease and a half finds a live run renewing it, which retries by
    /// itself if it fails: the copy is skipped. A copy in this process is
    /// skipped at once.
    ///
    /// # Errors
    /// The job failed (or timed out); the caller decides whether to retry.
    pub async fn run_queued(&self, queued: &QueuedJob) -> Result<(), InfraError> {
        let job = queued.job.known()?;
        let (Some(id), Some((outbox, clock))) = (queued.outbox_id, &self.ledger) else {
            return self.run(job).await;
        };
        let Some(_running) = Running::start(&self.running, id) else {
            tracing::info!(outbox_id = %id, "job of this outbox entry is running already; not running it twice");
            return Ok(());
        };
        let lease = Uuid::now_v7();
        let held = match self.take_delivery(outbox.as_ref(), clock.as_ref(), id, lease).await {
            Ok(DeliveryLease::Granted) => true,
            Ok(DeliveryLease::Delivered) => {
                tracing::info!(outbox_id = %id, "job already delivered; not running it again");
                return Ok(());
            }
            Ok(DeliveryLease::Held) => {
                tracing::info!(outbox_id = %id, "job of this outbox entry runs in another worker; not running it twice");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(outbox_id = %id, error = %error_chain(&e), "delivery record unreadable; running the job");
                false
            }
        };
        let result = if held {
            tokio::select! {
                result = self.run(job) => result,
                never = self.keep_lease(outbox.as_ref(), clock.as_ref(), id, lease) => match never {},
            }
        } else {
            self.run(job).await
        };
        match result {
            Ok(()) => record_delivered(outbox.as_ref(), clock.as_ref(), id, RECORD_FOR).await,
            Err(e) => {
                if held && let Err(release) = outbox.release_delivery(id, lease).await {
                    // It lapses by itself within a lease.
                    tracing::warn!(outbox_id = %id, error = %error_chain(&release), "could not release the delivery lease");
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Takes entry `id`'s delivery as `lease`, waiting while another run
    /// holds it, for at most a lease and a half (see [`Self::run_queued`]).
    async fn take_delivery(
        &self,
        outbox: &dyn OutboxRepository,
        clock: &dyn Clock,
        id: Uuid,
        lease: Uuid,
    ) -> Result<DeliveryLease, RepoError> {
        let give_up = Instant::now() + self.lease + self.lease / 2;
        loop {
            let now = clock.now();
            let taken = outbox.lease_delivery(id, lease, now, now + lease_delta(self.lease)).await?;
            if taken != DeliveryLease::Held || Instant::now() >= give_up {
                return Ok(taken);
            }
            tokio::time::sleep(self.lease / 6).await;
        }
    }

    /// Renews `lease` on entry `id` every third of a lease, for as long as
    /// it is polled. A renewal that fails is logged: the run goes on, and
    /// a copy may run beside it once the lease lapses (at least once).
    async fn keep_lease(&self, outbox: &dyn OutboxRepository, clock: &dyn Clock, id: Uuid, lease: Uuid) -> Infallible {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            match outbox.renew_delivery(id, lease, clock.now() + lease_delta(self.lease)).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(outbox_id = %id, "delivery lease lost while the job runs"),
                Err(e) => {
                    tracing::warn!(outbox_id = %id, error = %error_chain(&e), "could not renew the delivery lease")
                }
            }
        }
    }

    /// Gives `queued`, whose every try failed for a reason that may pass,
    /// back to its outbox entry, which hands it over again in [`DEFER_FOR`]
    /// unless it was recorded longer ago than the job is worth delivering
    /// ([`give_up_after`]: [`GIVE_UP_AFTER`], a verification mail while its
    /// code is valid). `false` when it was not given back (no entry, too
    /// old, or the store failed): the caller gives up on it
    /// ([`Self::give_up`]).
    pub async fn defer(&self, queued: &QueuedJob, error: &str) -> bool {
        let (Some(id), Some((outbox, clock))) = (queued.outbox_id, &self.ledger) else { return false };
        let now = clock.now();
        let worth = match &queued.job {
            Work::Known(job) => give_up_after(job),
            Work::Unknown { .. } => GIVE_UP_AFTER,
        };
        match outbox.defer(id, now + DEFER_FOR, now - worth, error).await {
            Ok(deferred) => deferred,
            Err(e) => {
                tracing::warn!(outbox_id = %id, error = %error_chain(&e), "could not give a failing job back to the outbox");
                false
            }
        }
    }

    /// Records that the queue gave up on `queued` (it went to the dead set):
    /// its outbox entry is parked, so that the relay does not take it for
    /// lost and hand it over again ([`coffee_domain::outbox::REDELIVER_AFTER`]);
    /// `coffee-worker dead retry` is the way back. A failure is logged: the
    /// entry may then be handed over again in an hour, and fail again.
    pub async fn give_up(&self, queued: &QueuedJob, error: &str) {
        let (Some(id), Some((outbox, clock))) = (queued.outbox_id, &self.ledger) else { return };
        if let Err(e) = outbox.park(id, clock.now(), error).await {
            tracing::warn!(outbox_id = %id, error = %error_chain(&e), "could not park the outbox entry of a dead job");
        }
    }

    /// Runs `job` once.
    ///
    /// # Errors
    /// The job failed (or timed out); the caller decides whether to retry.
    pub async fn run(&self, job: &Job) -> Result<(), InfraError> {
        let work = async {
            match job {
                Job::SendMail(mail) => self.mailer.send(mail).await,
            }
        };
        tokio::time::timeout(JOB_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| Err(InfraError::new(format!("job timed out after {JOB_TIMEOUT:?}"))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use coffee_domain::error::RepoError;
    use coffee_domain::outbox::OutboxEntry;

    use super::*;

    /// An outbox whose `mark_delivered` fails while `failures_left` > 0.
    #[derive(Default)]
    struct FlakyOutbox {
        failures_left: Mutex<u32>,
        marked: Mutex<Vec<Uuid>>,
    }

    #[async_trait]
    impl OutboxRepository for FlakyOutbox {
        async fn record(&self, _: &Job, _: DateTime<Utc>) -> Result<(), RepoError> {
            unreachable!("not used by the handler")
        }
        async fn claim_due(&self, _: DateTime<Utc>, _: DateTime<Utc>, _: u64) -> Result<Vec<OutboxEntry>, RepoError> {
            unreachable!("not used by the handler")
        }
        async fn mark_relayed(&self, _: Uuid, _: DateTime<Utc>) -> Result<(), RepoError> {
            unreachable!("not used by the handler")
        }
        async fn reschedule(&self, _: Uuid, _: DateTime<Utc>, _: &str) -> Result<(), RepoError> {
            unreachable!("not used by the handler")
        }
        async fn park(&self, _: Uuid, _: DateTime<Utc>, _: &str) -> Result<(), RepoError> {
            unreachable!("not used by the handler")
        }
        async fn defer(&self, _: Uuid, _: DateTime<Utc>, _: DateTime<Utc>, _: &str) -> Result<bool, RepoError> {
            unreachable!("not used by these tests")
        }
        async fn rearm_undelivered(&self, _: DateTime<Utc>, _: DateTime<Utc>) -> Result<u64, RepoError> {
            unreachable!("not used by the handler")
        }
        async fn lease_delivery(
            &self,
            _: Uuid,
            _: Uuid,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<DeliveryLease, RepoError> {
            unreachable!("not used by these tests")
        }
        async fn renew_delivery(&self, _: Uuid, _: Uuid, _: DateTime<Utc>) -> Result<bool, RepoError> {
            unreachable!("not used by these tests")
        }
        async fn release_delivery(&self, _: Uuid, _: Uuid) -> Result<(), RepoError> {
            unreachable!("not used by these tests")
        }
        async fn mark_delivered(&self, id: Uuid, _: DateTime<Utc>) -> Result<(), RepoError> {
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(RepoError::Unavailable("the database went away".into()));
            }
            self.marked.lock().unwrap().push(id);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_delivery_the_database_cannot_record_at_once_is_recorded_when_it_returns() {
        let outbox = FlakyOutbox { failures_left: Mutex::new(3), ..FlakyOutbox::default() };
        let id = Uuid::now_v7();
        record_delivered(&outbox, &coffee_domain::clock::SystemClock, id, Duration::from_secs(10)).await;
        assert_eq!(*outbox.marked.lock().unwrap(), [id], "recorded on the fourth try");
    }

    #[tokio::test]
    async fn a_record_that_keeps_failing_is_given_up_within_its_bound() {
        let outbox = FlakyOutbox { failures_left: Mutex::new(u32::MAX), ..FlakyOutbox::default() };
        let record =
            record_delivered(&outbox, &coffee_domain::clock::SystemClock, Uuid::now_v7(), Duration::from_millis(600));
        // A record that never gave up would hang here: fail instead.
        tokio::time::timeout(Duration::from_secs(2), record).await.expect("gave up within 2 s");
        assert!(outbox.marked.lock().unwrap().is_empty());
        assert!(*outbox.failures_left.lock().unwrap() < u32::MAX, "it did try");
    }
}
