//! Runs one job.

use std::sync::Arc;
use std::time::Duration;

use coffee_domain::clock::Clock;
use coffee_domain::error::{InfraError, error_chain};
use coffee_domain::jobs::Job;
use coffee_domain::mail::Mailer;
use coffee_domain::outbox::OutboxRepository;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Upper bound of one job run (an SMTP conversation that hangs must not
/// hold a worker slot forever; the mailer has its own, shorter timeout).
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A job as it travels through the Redis queue: the job and the outbox
/// entry it came from (absent in jobs queued before this field existed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// The outbox entry; the runner records it delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<Uuid>,
    /// The work.
    #[serde(flatten)]
    pub job: Job,
}

/// Executes jobs, one attempt per call. Retrying is the queue's business.
pub struct JobHandler {
    mailer: Arc<dyn Mailer>,
    /// Where queued jobs are recorded delivered (see [`JobHandler::run_queued`]).
    ledger: Option<(Arc<dyn OutboxRepository>, Arc<dyn Clock>)>,
}

impl std::fmt::Debug for JobHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandler").finish_non_exhaustive()
    }
}

impl JobHandler {
    /// A handler delivering mail through `mailer`.
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self { mailer, ledger: None }
    }

    /// The same, recording queued jobs delivered in `outbox`.
    pub fn with_ledger(mailer: Arc<dyn Mailer>, outbox: Arc<dyn OutboxRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { mailer, ledger: Some((outbox, clock)) }
    }

    /// Runs a job from the queue once per outbox entry: an entry already
    /// recorded delivered is skipped (the queue may hand a job out again when
    /// it lost the acknowledgement of a run, e.g. while Redis was away, or
    /// when the relay handed an entry over twice); after a successful run the
    /// entry is recorded delivered. When the record cannot be read the job
    /// runs (a mail twice beats a mail never).
    ///
    /// # Errors
    /// The job failed (or timed out); the caller decides whether to retry.
    pub async fn run_queued(&self, queued: &QueuedJob) -> Result<(), InfraError> {
        let (Some(id), Some((outbox, clock))) = (queued.outbox_id, &self.ledger) else {
            return self.run(&queued.job).await;
        };
        match outbox.is_delivered(id).await {
            Ok(true) => {
                tracing::info!(outbox_id = %id, "job already delivered; not running it again");
                return Ok(());
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(outbox_id = %id, error = %error_chain(&e), "delivery record unreadable; running the job")
            }
        }
        self.run(&queued.job).await?;
        if let Err(e) = outbox.mark_delivered(id, clock.now()).await {
            tracing::warn!(outbox_id = %id, error = %error_chain(&e), "job ran but could not be recorded delivered");
        }
        Ok(())
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
    use coffee_domain::mail::Mail;

    use super::*;

    fn mail() -> Job {
        Job::SendMail(Mail::Verification {
            to: "ann@example.com".to_owned(),
            code: "123456".to_owned(),
            link: "https://shop.example/auth/verify?token=t".to_owned(),
            valid_minutes: 60,
        })
    }

    #[test]
    fn a_queued_job_carries_its_outbox_entry_and_jobs_queued_before_still_decode() {
        let id = Uuid::now_v7();
        let queued = QueuedJob { outbox_id: Some(id), job: mail() };
        let text = serde_json::to_string(&queued).unwrap();
        assert!(text.contains(&id.to_string()), "{text}");
        assert_eq!(serde_json::from_str::<QueuedJob>(&text).unwrap(), queued);
        // What the queue held before the field existed: the bare job.
        let old = serde_json::to_string(&mail()).unwrap();
        assert_eq!(serde_json::from_str::<QueuedJob>(&old).unwrap(), QueuedJob { outbox_id: None, job: mail() });
    }
}
