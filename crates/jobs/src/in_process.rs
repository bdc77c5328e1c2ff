//! The embedded profile's queue: a bounded channel and a worker task in this process.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::jobs::{Job, JobQueue};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::handler::JobHandler;

/// How long `enqueue` waits for room in a full queue before giving up.
const ENQUEUE_WAIT: Duration = Duration::from_secs(5);

/// A [`JobQueue`] whose jobs run in this process. Cheap to clone.
///
/// SIMPLIFICATION: jobs live only in memory; those still queued when the
/// process dies are lost. The Redis queue of the distributed profile keeps them.
#[derive(Debug, Clone)]
pub struct InProcessQueue {
    tx: mpsc::Sender<Job>,
}

/// The worker behind an [`InProcessQueue`]; use it to shut the queue down.
///
/// Dropping it without [`shutdown`](Self::shutdown) leaves the worker running
/// until every queue handle is gone.
#[derive(Debug)]
pub struct QueueWorker {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl InProcessQueue {
    /// Starts a worker task that runs jobs with `handler`, at most
    /// `concurrency` at a time, buffering up to `capacity` waiting jobs
    /// (both at least 1). Must be called inside a Tokio runtime.
    pub fn start(handler: Arc<JobHandler>, capacity: usize, concurrency: usize) -> (InProcessQueue, QueueWorker) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(work(rx, stop_rx, handler, concurrency.max(1)));
        (InProcessQueue { tx }, QueueWorker { stop, task })
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    /// Queues `job`, waiting up to 5 s for room when the queue is full.
    async fn enqueue(&self, job: Job) -> Result<(), InfraError> {
        self.tx.send_timeout(job, ENQUEUE_WAIT).await.map_err(|e| match e {
            SendTimeoutError::Closed(_) => InfraError("job queue is shut down".into()),
            SendTimeoutError::Timeout(_) => InfraError("job queue is full".into()),
        })
    }
}

impl QueueWorker {
    /// Closes the queue (later `enqueue` calls fail), runs the jobs already
    /// queued, and returns once every job has finished. To bound the wait,
    /// wrap the call in `tokio::time::timeout`.
    pub async fn shutdown(self) {
        // An error means the worker has already stopped: nothing to close.
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the job worker crashed");
        }
    }
}

/// Pulls jobs and runs them concurrently until the queue is closed and drained.
async fn work(
    mut rx: mpsc::Receiver<Job>,
    mut stop: oneshot::Receiver<()>,
    handler: Arc<JobHandler>,
    concurrency: usize,
) {
    let mut running = JoinSet::new();
    let mut stop_armed = true;
    loop {
        tokio::select! {
            requested = &mut stop, if stop_armed => {
                stop_armed = false;
                // A dropped `QueueWorker` is not a stop request.
                if requested.is_ok() {
                    rx.close();
                }
            }
            Some(finished) = running.join_next(), if !running.is_empty() => report(finished),
            job = rx.recv(), if running.len() < concurrency => match job {
                Some(job) => {
                    let handler = Arc::clone(&handler);
                    // A failed job has been logged by the handler; nothing more to do here.
                    running.spawn(async move { handler.run(job).await.ok(); });
                }
                None => break,
            },
        }
    }
    while let Some(finished) = running.join_next().await {
        report(finished);
    }
    tracing::debug!("job worker stopped");
}

fn report(finished: Result<(), JoinError>) {
    if let Err(e) = finished {
        tracing::error!(error = %e, "a job panicked");
    }
}
