//! Adapters of the domain's `JobQueue` port.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::jobs::{HandOver, Job, JobQueue};

use crate::handler::{JobHandler, QueuedJob};

/// The default Redis queue name (`JOBS_QUEUE`), set explicitly on producer
/// and consumer: apalis would otherwise derive it from the Rust type path,
/// which a refactoring could change under running workers.
pub const JOB_QUEUE: &str = "coffee:jobs";

/// Deliveries of one job in one round (apalis-redis waits `attempt` seconds
/// between tries): the default of `JOB_MAX_ATTEMPTS`. Then a failure that may
/// pass gives the job back to the outbox for another round
/// (`coffee_domain::outbox::DEFER_FOR` later), and a permanent one parks it
/// in the queue's dead set. apalis-redis itself parks a job after
/// 25 attempts whatever this says, so this is its most: the tries span
/// about 5 minutes (1 + 2 + … + 24 s), which an SMTP server restarting
/// rides out (10, the earlier default, spanned 45 s).
pub const MAX_DELIVERY_ATTEMPTS: usize = 25;

/// How long a push may take before the relay treats Redis as down.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The apalis configuration shared by producer and consumer: explicit queue
/// name, a 1 s heartbeat so idle workers pick jobs up promptly, and a job
/// of a worker that missed 5 heartbeats (killed) is handed to another.
///
/// `persist_results` must stay on: in apalis-redis 1.0 it is what makes the
/// worker acknowledge a finished job (remove it from its in-flight set) and
/// schedule a failed one for retry. Off, a failed job is never retried and
/// every job a worker ever ran is run again when that worker stops.
pub fn redis_config(queue: &str) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(queue)
        .heartbeat_interval(Duration::from_secs(1))
        .missed_heartbeats(5)
        .persist_results(true)
}

/// Pushes jobs to Redis for `coffee-worker`.
#[derive(Clone)]
pub struct RedisQueue {
    storage: RedisStorage<QueuedJob, ConnectionManager>,
    conn: ConnectionManager,
    queue: String,
}

/// How many jobs wait in the queue, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Jobs waiting for a worker: the active list and the scheduled set
    /// (apalis-redis parks every push there until a worker promotes it,
    /// and retries wait there for their turn).
    pub queued: u64,
    /// Jobs the worker gave up on (the dead set; see [`crate::DeadJobs`]).
    pub dead: u64,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue").field("queue", &self.queue).finish()
    }
}

impl RedisQueue {
    /// The queue named `queue` on the Redis at `url`. Connects lazily: the
    /// process starts while Redis is down, and pushes fail (and are retried
    /// by the outbox) until it is back.
    ///
    /// # Errors
    /// The URL is malformed.
    pub fn new(url: &str, queue: &str) -> Result<Self, InfraError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let conn = redis::Client::open(url)
            .and_then(|c| c.get_connection_manager_lazy(config))
            .map_err(|e| InfraError::caused_by("REDIS_URL", e))?;
        Ok(Self {
            storage: RedisStorage::new(conn.clone()).with_config(redis_config(queue)),
            conn,
            queue: queue.to_owned(),
        })
    }

    /// The queue's depth: `LLEN` of the active list, `ZCARD` of the
    /// scheduled set and `SCARD` of the dead set, in one round trip.
    ///
    /// # Errors
    /// Redis fails or does not answer within the push timeout.
    pub async fn depth(&self) -> Result<QueueDepth, InfraError> {
        let config = redis_config(&self.queue);
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.llen(config.active_jobs_list()).zcard(config.scheduled_jobs_set()).scard(config.dead_jobs_set());
        match tokio::time::timeout(PUSH_TIMEOUT, pipe.query_async::<(u64, u64, u64)>(&mut conn)).await {
            Ok(Ok((active, scheduled, dead))) => Ok(QueueDepth { queued: active + scheduled, dead }),
            Ok(Err(e)) => Err(InfraError::caused_by("reading the queue depth", e)),
            Err(_) => Err(InfraError::new(format!("reading the queue depth timed out after {PUSH_TIMEOUT:?}"))),
        }
    }

    /// `PING` over the queue's own connection (readiness): one round trip,
    /// never a new connection per probe, bounded by the push timeout. Sent
    /// once more when it finds the connection dropped: the manager notices
    /// a dead connection only when a command fails on it, and the first
    /// probe after Redis was away would fail although Redis is back.
    ///
    /// # Errors
    /// Redis fails or does not answer in time.
    pub async fn ping(&self) -> Result<(), InfraError> {
        let mut conn = self.conn.clone();
        let ping = async {
            match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Err(e) if e.is_connection_dropped() => redis::cmd("PING").query_async::<String>(&mut conn).await,
                first => first,
            }
        };
        match tokio::time::timeout(PUSH_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(InfraError::caused_by("redis PING failed", e)),
            Err(_) => Err(InfraError::new(format!("redis PING timed out after {PUSH_TIMEOUT:?}"))),
        }
    }

    /// The underlying apalis storage, for the consumer.
    pub fn storage(&self) -> RedisStorage<QueuedJob, ConnectionManager> {
        self.storage.clone()
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    /// Queues `job` with the hand-over's key (`<entry>.<attempts>`) as its
    /// task id. apalis-redis stores a task only if its id is new (`HSETNX`
    /// on the data hash, in its push script), so the relay's hourly re-hand
    /// of an entry not yet delivered ([`coffee_domain::outbox::REDELIVER_AFTER`])
    /// queues nothing while the queue still holds its job (waiting, running,
    /// waiting for a retry, or finished and not yet vacuumed): a queue no
    /// worker reads no longer grows by a copy an hour. What the queue lost
    /// (flushed, restarted without persistence) is queued anew, and so is
    /// an entry whose job was given back to be tried later (a new attempt).
    async fn enqueue(&self, hand_over: HandOver, job: Job) -> Result<(), InfraError> {
        let mut storage = self.storage.clone();
        let queued = QueuedJob { outbox_id: Some(hand_over.entry), job: job.into() };
        let task = TaskBuilder::new(queued).task_id(TaskId::from_string(hand_over.key())).build();
        match tokio::time::timeout(PUSH_TIMEOUT, storage.push_task(task)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(InfraError::caused_by("redis push failed", e)),
            Err(_) => Err(InfraError::new(format!("redis push timed out after {PUSH_TIMEOUT:?}"))),
        }
    }
}

/// Runs each job on the spot (embedded profile). A failure is returned to
/// the outbox relay, which retries the job later with backoff.
// SIMPLIFICATION: the relay runs inline jobs one after the other, so one slow
// SMTP conversation delays the mails behind it (by at most the mailer's
// timeout). The embedded profile serves one developer; a fuller version
// would run a bounded number of jobs concurrently.
#[derive(Debug, Clone)]
pub struct InlineQueue {
    handler: Arc<JobHandler>,
}

impl InlineQueue {
    /// A queue that runs jobs with `handler`.
    pub fn new(handler: Arc<JobHandler>) -> Self {
        Self { handler }
    }
}

#[async_trait]
impl JobQueue for InlineQueue {
    async fn enqueue(&self, hand_over: HandOver, job: Job) -> Result<(), InfraError> {
        // Recorded delivered like a queued job, so the relay never takes it for lost.
        self.handler.run_queued(&QueuedJob { outbox_id: Some(hand_over.entry), job: job.into() }).await
    }

    fn runs_jobs(&self) -> bool {
        true
    }
}
