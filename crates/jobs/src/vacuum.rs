//! Removes what the Redis queue keeps of jobs that finished long ago.
//!
//! apalis-redis keeps every job's payload (`<queue>:data`) and metadata
//! (`<queue>:meta:<id>`) after it ends, and puts a finished job's id in
//! `<queue>:done`. Its own `vacuum_before` was not fit to run here:
//!
//! * it removed a parked job's payload and metadata a week after it was
//!   parked, but left its id in the dead set: `coffee-worker dead list`
//!   then showed a job without its mail, and `dead retry` queued an id
//!   without a payload, which fails every fetch of the batch it is in and
//!   stops the consumer, again and again;
//! * it left every finished job's id in `<queue>:done` for ever;
//! * it read the whole data hash in one script, blocking Redis for as long
//!   as that takes.
//!
//! This one keeps parked jobs (until an operator re-queues them) and jobs
//! waiting for a retry, removes finished ones from the done set too, and
//! walks the data hash with `HSCAN`, a batch per script.
//!
//! apalis-redis also leaves a small hash per worker it ever registered
//! (`<queue>:workers:metadata:<name>`): it forgets an orphaned worker's
//! heartbeat but not its hash. A consumer takes a fresh name at every start,
//! so these grew with every deploy and every Redis outage;
//! [`vacuum_workers`] removes the hashes of workers no longer registered.

use std::time::Duration;

use apalis_redis::{Config, ConnectionManager};

/// Ids per script call.
const BATCH: usize = 500;

/// KEYS: the data hash, the metadata prefix, the dead set, the scheduled
/// set, the done set. ARGV[1]: the retention in seconds; the rest: ids.
/// Redis's own clock sets the cutoff, as it stamped `done_at`.
const VACUUM: &str = r"
local cutoff = tonumber(redis.call('TIME')[1]) - tonumber(ARGV[1])
local finished = { Done = true, Failed = true, Killed = true }
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local meta = KEYS[2] .. ':' .. id
  local status = redis.call('HGET', meta, 'status')
  local done_at = tonumber(redis.call('HGET', meta, 'done_at'))
  if status and finished[status] and done_at and done_at <= cutoff
      and redis.call('SISMEMBER', KEYS[3], id) == 0
      and not redis.call('ZSCORE', KEYS[4], id) then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2] .. ':result', id)
    redis.call('DEL', meta)
    redis.call('SREM', KEYS[5], id)
    removed = removed + 1
  end
end
return removed
";

/// KEYS[1]: the workers set; the rest: worker metadata keys.
/// ARGV[1]: the length of their common prefix, before the worker's name.
/// One script: a worker registers its heartbeat and its hash in one script
/// too, so a live worker's hash is never taken for a stale one.
const FORGET_WORKERS: &str = r"
local prefix = tonumber(ARGV[1])
local removed = 0
for i = 2, #KEYS do
  local name = string.sub(KEYS[i], prefix + 1)
  if not redis.call('ZSCORE', KEYS[1], name) then
    -- SCAN may name a key twice: count what is deleted, not what is named.
    removed = removed + redis.call('DEL', KEYS[i])
  end
end
return removed
";

/// Removes the metadata apalis-redis keeps of the queue's workers that are
/// no longer registered (stopped, or orphaned and forgotten); returns how
/// many. It walks the key space with `SCAN`, a batch per script.
///
/// # Errors
/// Redis fails (what was removed before stays removed).
pub async fn vacuum_workers(conn: &mut ConnectionManager, config: &Config) -> Result<usize, redis::RedisError> {
    // apalis-redis names them `<queue>:workers:metadata:<name>`.
    let prefix = format!("{}:metadata:", config.workers_set());
    let pattern = format!("{}*", glob_escape(&prefix));
    let script = redis::Script::new(FORGET_WORKERS);
    let mut removed = 0;
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(BATCH).query_async(conn).await?;
        if !keys.is_empty() {
            let mut call = script.key(config.workers_set());
            for key in &keys {
                call.key(key);
            }
            let n: usize = call.arg(prefix.len()).invoke_async(conn).await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// `text` as a `SCAN MATCH` pattern that matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Removes the jobs of the queue `config` names that finished more than
/// `retention` ago, but for parked ones and those waiting for a retry;
/// returns how many.
///
/// # Errors
/// Redis fails (what was removed before stays removed).
pub async fn vacuum_finished(
    conn: &mut ConnectionManager,
    config: &Config,
    retention: Duration,
) -> Result<usize, redis::RedisError> {
    let script = redis::Script::new(VACUUM);
    let mut removed = 0;
    let mut cursor = 0_u64;
    loop {
        let (next, fields): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(config.job_data_hash())
            .arg(cursor)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        // `HSCAN` answers field, value, field, value…: the ids are the fields.
        let ids: Vec<&String> = fields.iter().step_by(2).collect();
        if !ids.is_empty() {
            let n: usize = script
                .key(config.job_data_hash())
                .key(config.job_meta_hash())
                .key(config.dead_jobs_set())
                .key(config.scheduled_jobs_set())
                .key(config.done_jobs_set())
                .arg(retention.as_secs())
                .arg(ids)
                .invoke_async(conn)
                .await?;
            removed += n;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}
