//! The long-running loops of the two processes.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::{
    AbortError, Attempt, BackendExt, BoxDynError, Data, Monitor, ParallelizeExt, WorkerBuilder, WorkerBuilderExt,
};
use apalis_cron::{CronScheduler, Tick};
use apalis_redis::{ConnectionManager, RedisStorage};
use coffee_domain::error::{InfraError, error_chain};
use coffee_domain::maintenance::CleanupService;
use coffee_domain::outbox::{DEFER_FOR, OutboxRelay};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::handler::{JobHandler, QueuedJob};
use crate::vacuum::{vacuum_finished, vacuum_workers};

/// Entries one relay pass claims.
const RELAY_BATCH: u64 = 50;
/// How often the relay looks for entries the queue lost.
const REARM_EVERY: Duration = Duration::from_secs(60);
/// Longest pause after repeated failures of a loop's dependency.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Sleeps `d` unless shutdown is requested first; returns whether to go on.
async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

/// Relays due outbox entries to the job queue every `interval` (at once
/// again while full batches keep coming) until `shutdown`. A failing
/// database is logged and retried with backoff; the loop never gives up.
/// At start and every [`REARM_EVERY`] it also hands over again what the
/// queue lost ([`OutboxRelay::rearm_lost`]).
pub async fn run_relay(relay: Arc<OutboxRelay>, interval: Duration, shutdown: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    let mut rearm_at = Instant::now();
    while !shutdown.is_cancelled() {
        if Instant::now() >= rearm_at {
            rearm_at = Instant::now() + REARM_EVERY;
            if let Err(e) = relay.rearm_lost().await {
                tracing::warn!(error = %error_chain(&e), retry_in = ?REARM_EVERY, "could not look for lost outbox entries");
            }
        }
        let wait = match relay.relay_due(RELAY_BATCH).await {
            Ok(report) => {
                backoff = Duration::from_secs(1);
                let handled = report.relayed + report.rescheduled + report.parked;
                if handled > 0 {
                    tracing::debug!(?report, "outbox relayed");
                }
                if handled as u64 == RELAY_BATCH { Duration::ZERO } else { interval }
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), retry_in = ?backoff, "outbox relay cannot reach the database");
                let wait = backoff;
                backoff = next_backoff(backoff);
                wait
            }
        };
        if !pause(wait, &shutdown).await {
            break;
        }
    }
    tracing::debug!("outbox relay stopped");
}

/// A validated `CLEANUP_SCHEDULE` (cron with a seconds field).
#[derive(Debug, Clone)]
pub struct CleanupSchedule(cron::Schedule);

impl CleanupSchedule {
    /// Parses a 6- or 7-field cron expression, e.g. `0 0 * * * *` (hourly).
    ///
    /// # Errors
    /// The expression is not valid cron with seconds, or names no time that
    /// comes (`0 0 0 31 2 *`, the 31st of February): the cleanup would never run.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let schedule = cron::Schedule::from_str(expr)
            .map_err(|e| format!("{e} (expected cron with seconds, e.g. \"0 0 * * * *\")"))?;
        if schedule.upcoming(chrono::Utc).next().is_none() {
            return Err("names no time that will come: the cleanup would never run".to_owned());
        }
        Ok(Self(schedule))
    }
}

/// Finished jobs are kept in Redis this long (for inspection), then vacuumed.
const FINISHED_JOB_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone)]
struct CleanupJob {
    cleanup: Arc<CleanupService>,
    /// The Redis job queue, whose finished jobs the cleanup also removes.
    queue: Option<RedisStorage<QueuedJob, ConnectionManager>>,
    /// A run still in progress makes the next tick skip instead of overlap.
    running: Arc<Mutex<()>>,
}

async fn cleanup_tick(tick: Tick, job: Data<CleanupJob>) -> Result<(), BoxDynError> {
    let Ok(_guard) = job.running.try_lock() else {
        tracing::info!("cleanup still running from the previous tick; skipping this one");
        return Ok(());
    };
    tracing::debug!(tick = tick.get_timestamp(), "cleanup tick");
    if let Err(e) = job.cleanup.run().await {
        // The next tick tries again; nothing is lost by waiting.
        tracing::error!(error = %error_chain(&e), "cleanup failed");
    }
    if let Some(mut queue) = job.queue.clone() {
        // Only jobs finished a week ago; parked ones and those waiting for a retry are kept.
        let config = queue.get_config().clone();
        match vacuum_finished(queue.get_connection(), &config, FINISHED_JOB_RETENTION).await {
            Ok(n) => tracing::info!(finished_jobs = n, "job queue vacuumed"),
            Err(e) => tracing::warn!(error = %error_chain(&e), "could not vacuum the job queue"),
        }
        match vacuum_workers(queue.get_connection(), &config).await {
            Ok(n) => tracing::info!(stale_workers = n, "job queue's stopped workers forgotten"),
            Err(e) => tracing::warn!(error = %error_chain(&e), "could not forget the job queue's stopped workers"),
        }
    }
    Ok(())
}

/// Runs the cleanup on `schedule` (apalis-cron) until `shutdown`, and
/// vacuums finished jobs from the Redis `queue` when there is one. Every
/// process that runs it has its own timer; the cleanup is idempotent and
/// safe to run concurrently, so replicas need no coordination.
pub async fn run_cleanup_schedule(
    schedule: CleanupSchedule,
    cleanup: Arc<CleanupService>,
    queue: Option<RedisStorage<QueuedJob, ConnectionManager>>,
    shutdown: CancellationToken,
) {
    let job = CleanupJob { cleanup, queue, running: Arc::new(Mutex::new(())) };
    let name = format!("cleanup-{}", uuid::Uuid::now_v7());
    let signal = async move {
        shutdown.cancelled().await;
        Ok(())
    };
    let result = Monitor::new()
        .register(move |_| {
            WorkerBuilder::new(name.clone())
                .backend(CronScheduler::new(schedule.0.clone()))
                .data(job.clone())
                .build(cleanup_tick)
        })
        .shutdown_timeout(Duration::from_secs(30))
        .run_with_signal(signal)
        .await;
    if let Err(e) = result {
        tracing::error!(error = %error_chain(&e), "cleanup schedule stopped");
    }
}

/// Deliveries of one job before it is parked (`JOB_MAX_ATTEMPTS`).
#[derive(Debug, Clone, Copy)]
struct MaxAttempts(usize);

/// Runs one job. A failure is retried by the queue, `max` times in all;
/// then, or at once for a permanent one (a mail the SMTP server refuses for
/// good), the job is parked in the queue's dead set
/// (`<JOBS_QUEUE>:dead`), where `coffee-worker dead` lists and re-queues it
/// (see [`crate::DeadJobs`]). A job whose tries all failed for a passing
/// reason (an SMTP server down for longer than their few minutes) is given
/// back to its outbox entry instead, which hands it over again later, for
/// up to [`coffee_domain::outbox::GIVE_UP_AFTER`].
async fn deliver(
    job: QueuedJob,
    attempt: Attempt,
    handler: Data<Arc<JobHandler>>,
    max: Data<MaxAttempts>,
) -> Result<(), BoxDynError> {
    let MaxAttempts(limit) = *max;
    let Err(failure) = handler.run_queued(&job).await else { return Ok(()) };
    // The whole chain (e.g. the SMTP server's reply), in the log and in what
    // the queue keeps as the job's last error (`coffee-worker dead list`);
    // the job itself is not logged: a verification mail carries its code.
    let (permanent, e) = (failure.is_permanent(), InfraError::new(error_chain(&failure)));
    if !permanent && attempt.current() < limit {
        tracing::warn!(attempt = attempt.current(), outbox_id = ?job.outbox_id, error = %e,
            "job failed; it will be retried");
        return Err(e.into());
    }
    if !permanent && handler.defer(&job, &e.to_string()).await {
        tracing::warn!(attempt = attempt.current(), outbox_id = ?job.outbox_id, error = %e,
            "a job failed every try; its outbox entry hands it over again in {DEFER_FOR}");
        return Ok(());
    }
    tracing::error!(attempt = attempt.current(), outbox_id = ?job.outbox_id, error = %e, permanent,
        "giving up on a job; parked in the dead set (coffee-worker dead list)");
    handler.give_up(&job, &e.to_string()).await;
    Err(AbortError::new(e).into())
}

/// Consumes the Redis job queue until `shutdown`, running up to
/// `concurrency` jobs at once, `max_attempts` deliveries a round (see
/// [`deliver`]). On shutdown it stops fetching and lets jobs
/// in flight finish (up to 30 s). When Redis goes away the consumer stops;
/// it is restarted with backoff, so a Redis outage never ends the process.
/// A job whose worker was killed is handed to another after 5 missed
/// heartbeats (at-least-once delivery).
pub async fn run_consumer(
    storage: RedisStorage<QueuedJob, ConnectionManager>,
    handler: Arc<JobHandler>,
    concurrency: usize,
    max_attempts: usize,
    shutdown: CancellationToken,
) {
    let max = MaxAttempts(max_attempts.max(1));
    let mut backoff = Duration::from_secs(1);
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        let storage = storage.clone();
        let handler = handler.clone();
        let stop = shutdown.clone();
        let signal = async move {
            stop.cancelled().await;
            Ok(())
        };
        let result = Monitor::new()
            .register(move |_| {
                // A fresh name per start: apalis refuses a name whose last
                // heartbeat is recent, which a restart would otherwise hit.
                WorkerBuilder::new(format!("jobs-{}", uuid::Uuid::now_v7()))
                    .backend(storage.clone().poll_with_interval(Duration::from_secs(1)))
                    .data(handler.clone())
                    .data(max)
                    .concurrency(concurrency.max(1))
                    .parallelize(tokio::spawn)
                    .build(deliver)
            })
            .should_restart(|_, _| false)
            .shutdown_timeout(Duration::from_secs(30))
            .run_with_signal(signal)
            .await;
        if shutdown.is_cancelled() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(?result, retry_in = ?backoff, "job consumer stopped (is Redis reachable?); restarting");
        if !pause(backoff, &shutdown).await {
            break;
        }
        backoff = next_backoff(backoff);
    }
    tracing::info!("job consumer stopped");
}
