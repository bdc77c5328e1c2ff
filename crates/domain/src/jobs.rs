//! Background jobs and the port that queues them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::InfraError;
use crate::mail::Mail;

/// Work that happens after the request that caused it has been answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    /// Deliver one e-mail.
    SendMail(Mail),
}

/// Hands jobs to whatever runs them (an in-process worker or a Redis queue).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Accepts `job` (outbox entry `id`) for execution; returns once it is
    /// safely queued. The same `id` may be handed over more than once; the
    /// runner does the job once (see `OutboxRepository::mark_delivered`).
    ///
    /// # Errors
    /// The queue is unreachable or refused the job.
    async fn enqueue(&self, id: uuid::Uuid, job: Job) -> Result<(), InfraError>;

    /// Whether [`Self::enqueue`] runs the job itself, so that a failure may be
    /// the job's own (a mail the server refuses) and the outbox relay gives
    /// up on it: at once when it is permanent, else after
    /// `MAX_RELAY_ATTEMPTS` (about three days). A queue that only stores jobs
    /// (Redis) fails only while it is unavailable; its entries are retried
    /// until it is back, however long that takes.
    fn runs_jobs(&self) -> bool {
        false
    }
}
