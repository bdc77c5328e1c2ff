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

/// Which hand-over of an outbox entry a job is: the entry, and how many
/// attempts of it failed so far (a refused hand-over, a job given back to
/// be tried later). The relay's re-hand of an entry whose job the queue may
/// have lost ([`crate::outbox::REDELIVER_AFTER`]) counts no failure, so it
/// is the same hand-over again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandOver {
    /// The outbox entry.
    pub entry: uuid::Uuid,
    /// Its failed attempts so far.
    pub attempts: i32,
}

impl HandOver {
    /// A key naming this hand-over: `<entry>.<attempts>`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.entry, self.attempts)
    }
}

/// Hands jobs to whatever runs them (an in-process worker or a Redis queue).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Accepts `job` for execution; returns once it is safely queued. One
    /// entry may be handed over more than once; the runner does the job
    /// once (see `OutboxRepository::mark_delivered`). A queue may keep one
    /// job per [`HandOver`]: a hand-over it still holds adds nothing.
    ///
    /// # Errors
    /// The queue is unreachable or refused the job.
    async fn enqueue(&self, hand_over: HandOver, job: Job) -> Result<(), InfraError>;

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
