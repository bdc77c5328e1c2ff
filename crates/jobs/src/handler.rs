//! Runs one job; mail delivery is retried with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use coffee_domain::error::InfraError;
use coffee_domain::jobs::Job;
use coffee_domain::mail::{Mail, Mailer};

/// How often and how patiently a failing mail is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1 is made).
    pub attempts: u32,
    /// Pause after the first failure; doubled after each further failure.
    pub first_delay: Duration,
    /// Upper bound of any single pause.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts with pauses of 1 s, 2 s, 4 s and 8 s.
    fn default() -> Self {
        Self { attempts: 5, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based):
    /// `first_delay * 2^(attempt-1)`, capped at `max_delay`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Executes jobs. Shared by every queue adapter (in-process now, Redis later).
pub struct JobHandler {
    mailer: Arc<dyn Mailer>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for JobHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandler").field("retry", &self.retry).finish_non_exhaustive()
    }
}

impl JobHandler {
    /// A handler delivering mail through `mailer` with the default [`RetryPolicy`].
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self { mailer, retry: RetryPolicy::default() }
    }

    /// Replaces the retry policy (tests use millisecond pauses).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Runs `job` to completion, retrying transient failures.
    ///
    /// # Errors
    /// The job still failed after the last attempt. The failure has already
    /// been logged at ERROR; callers only decide whether to record it.
    pub async fn run(&self, job: Job) -> Result<(), InfraError> {
        match job {
            Job::SendMail(mail) => self.send_mail(&mail).await,
        }
    }

    async fn send_mail(&self, mail: &Mail) -> Result<(), InfraError> {
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            let error = match self.mailer.send(mail).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if attempt >= attempts {
                // SIMPLIFICATION: the mail is dropped here. A durable queue (or an
                // outbox table) that keeps failed mail for a later retry or for an
                // operator comes with the worker issue.
                tracing::error!(to = %mail.recipient(), attempts, error = %error, "giving up on a mail");
                return Err(error);
            }
            let delay = self.retry.delay_after(attempt);
            tracing::warn!(to = %mail.recipient(), attempt, error = %error, retry_in = ?delay, "mail delivery failed");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}
