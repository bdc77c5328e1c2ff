//! Jobs the worker gave up on: listed and re-queued by an operator
//! (`coffee-worker dead list | retry ID | retry-all`).
//!
//! apalis-redis keeps a parked job's id in the set `<queue>:dead`, its
//! payload in the queue's data hash and its attempt count, last status and
//! last error in `<meta hash>:<id>`. Re-queueing moves the id back to the
//! active list with the attempts reset, in one script, so two operators (or
//! an operator and a worker) cannot queue the same job twice.

use std::time::Duration;

use coffee_domain::error::InfraError;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::queue::redis_config;

/// One parked job, as `coffee-worker dead list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    /// The queue's id of the job (what `retry` takes).
    pub id: String,
    /// How many times it ran.
    pub attempts: Option<u32>,
    /// When it was parked (Unix seconds).
    pub parked_at: Option<i64>,
    /// The last failure, as the worker recorded it.
    pub last_error: Option<String>,
    /// The job itself (JSON), e.g. the e-mail it should send.
    pub payload: Option<String>,
}

/// Re-queues one dead job atomically; 1 if it was dead, 0 if not (unknown,
/// or already re-queued by someone else), -1 if its payload is gone (an
/// older worker's vacuum removed it): queued without one, the id would
/// fail every fetch of its batch.
const RETRY: &str = r"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then return -1 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[4], 'attempts', 0, 'status', 'Pending')
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('LPUSH', KEYS[3], 1)
return 1
";

/// The dead set of one job queue.
pub struct DeadJobs {
    conn: ConnectionManager,
    config: apalis_redis::Config,
}

impl std::fmt::Debug for DeadJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadJobs").field("queue", &self.config.dead_jobs_set()).finish_non_exhaustive()
    }
}

impl DeadJobs {
    /// The dead set of queue `queue` on the Redis at `url`.
    ///
    /// # Errors
    /// The URL is malformed or Redis does not answer within 5 s.
    pub async fn connect(url: &str, queue: &str) -> Result<Self, InfraError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let client = redis::Client::open(url).map_err(|e| InfraError::caused_by("REDIS_URL", e))?;
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| InfraError::caused_by("connecting to Redis", e))?;
        Ok(Self { conn, config: redis_config(queue) })
    }

    fn meta_key(&self, id: &str) -> String {
        format!("{}:{id}", self.config.job_meta_hash())
    }

    /// Every parked job, oldest first.
    ///
    /// # Errors
    /// Redis fails.
    pub async fn list(&self) -> Result<Vec<DeadJob>, InfraError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .smembers(self.config.dead_jobs_set())
            .await
            .map_err(|e| InfraError::caused_by("listing dead jobs", e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Two round trips whatever the number of jobs: every job's metadata
        // in one pipeline, every payload in one HMGET.
        let mut metas = redis::pipe();
        for id in &ids {
            metas.hgetall(self.meta_key(id));
        }
        let metas: Vec<std::collections::HashMap<String, String>> =
            metas.query_async(&mut conn).await.map_err(|e| InfraError::caused_by("reading the dead jobs", e))?;
        let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(self.config.job_data_hash())
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| InfraError::caused_by("reading the dead jobs", e))?;
        let mut jobs: Vec<DeadJob> = ids
            .into_iter()
            .zip(metas)
            .zip(payloads)
            .map(|((id, meta), payload)| DeadJob {
                attempts: meta.get("attempts").and_then(|a| a.parse().ok()),
                parked_at: meta.get("done_at").and_then(|t| t.parse().ok()),
                last_error: meta.get("result").cloned(),
                payload: payload.map(|p| String::from_utf8_lossy(&p).into_owned()),
                id,
            })
            .collect();
        jobs.sort_by(|a, b| a.parked_at.cmp(&b.parked_at).then_with(|| a.id.cmp(&b.id)));
        Ok(jobs)
    }

    /// Puts job `id` back on the queue with its attempts reset; `false` when
    /// no such job is parked.
    ///
    /// # Errors
    /// Redis fails, or the job's payload is gone.
    pub async fn retry(&self, id: &str) -> Result<bool, InfraError> {
        let mut conn = self.conn.clone();
        let moved: i64 = redis::Script::new(RETRY)
            .key(self.config.dead_jobs_set())
            .key(self.config.active_jobs_list())
            .key(self.config.signal_list())
            .key(self.meta_key(id))
            .key(self.config.job_data_hash())
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| InfraError::caused_by("re-queueing a dead job", e))?;
        if moved < 0 {
            return Err(InfraError::new(format!(
                "job {id} has no payload left (removed by an older coffee-worker's vacuum), so it cannot be re-queued"
            )));
        }
        Ok(moved == 1)
    }

    /// Re-queues every parked job that still has its payload; returns how many.
    ///
    /// # Errors
    /// Redis fails (the jobs re-queued before it stay re-queued).
    pub async fn retry_all(&self) -> Result<usize, InfraError> {
        let mut count = 0;
        // A job without its payload cannot run again (see `retry`); it stays listed.
        for job in self.list().await?.into_iter().filter(|job| job.payload.is_some()) {
            if self.retry(&job.id).await? {
                count += 1;
            }
        }
        Ok(count)
    }
}
