//! End-to-end tests of `coffee-worker` with real Redis: the API runs in this
//! process (as in the API tests), the worker runs as a real child process
//! (`CARGO_BIN_EXE_coffee-worker`), and mail goes to in-process SMTP sinks.
//!
//! They need Redis, so they run only when `TEST_REDIS_URL` is set (CI sets
//! it, and `TEST_DATABASE_URL` for PostgreSQL); without it every test returns
//! at once with a note. With it, an unreachable Redis fails the test. Each
//! test has its own job queue (`JOBS_QUEUE=coffee-test:<uuid>`), database
//! and sinks, so tests run in parallel without stealing each other's jobs.
//! The Redis-outage test starts a private `redis-server` it may stop, and
//! never touches the shared one.
//!
//! `TEST_LOG=1` logs the in-process API to stderr; worker and private Redis
//! logs are printed when a test fails.

#![allow(clippy::unwrap_used)]

mod cleanup_crash;
mod crash;
mod dead;
mod delivery;
mod harness;
mod metrics;
mod orders;
mod redis_outage;
mod shutdown;
mod worker;
