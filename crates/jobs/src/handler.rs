//! Runs one job.

use std::sync::Arc;
use std::time::Duration;

use coffee_domain::error::InfraError;
use coffee_domain::jobs::Job;
use coffee_domain::mail::Mailer;

/// Upper bound of one job run (an SMTP conversation that hangs must not
/// hold a worker slot forever; the mailer has its own, shorter timeout).
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// Executes jobs, one attempt per call. Retrying is the queue's business.
pub struct JobHandler {
    mailer: Arc<dyn Mailer>,
}

impl std::fmt::Debug for JobHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandler").finish_non_exhaustive()
    }
}

impl JobHandler {
    /// A handler delivering mail through `mailer`.
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self { mailer }
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
