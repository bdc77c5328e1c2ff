//! Background jobs: what running a [`Job`](coffee_domain::jobs::Job) means
//! ([`JobHandler`]) and the queues that carry jobs to it.
//!
//! For now only [`InProcessQueue`] exists (embedded profile); the Redis-backed
//! queue and the separate worker process come later.

mod handler;
mod in_process;

pub use handler::{JobHandler, RetryPolicy};
pub use in_process::{InProcessQueue, QueueWorker};
