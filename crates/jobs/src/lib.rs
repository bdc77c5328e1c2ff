//! Background jobs.
//!
//! * [`JobHandler`] runs one job (today: send one e-mail), once.
//! * Two adapters of the domain's `JobQueue` port: [`RedisQueue`] pushes to
//!   the apalis queue on Redis (distributed profile, consumed by
//!   `coffee-worker`), [`InlineQueue`] runs the job on the spot (embedded
//!   profile). Either way the caller is the outbox relay, whose table makes
//!   jobs durable: a failed hand-over is retried from the database.
//! * [`run_relay`], [`run_cleanup_schedule`] and [`run_consumer`] are the
//!   long-running loops that `coffee-api` and `coffee-worker` start.
//! * [`DeadJobs`] lists and re-queues the jobs the worker gave up on;
//!   [`vacuum_finished`] removes what the queue keeps of finished ones, and
//!   [`vacuum_workers`] what it keeps of stopped workers.

mod dead;
mod handler;
mod queue;
mod runners;
mod vacuum;

pub use dead::{DeadJob, DeadJobs};
pub use handler::{JobHandler, QueuedJob, Work};
pub use queue::{InlineQueue, JOB_QUEUE, MAX_DELIVERY_ATTEMPTS, QueueDepth, RedisQueue, redis_config};
pub use runners::{CleanupSchedule, run_cleanup_schedule, run_consumer, run_relay};
pub use vacuum::{vacuum_finished, vacuum_workers};
