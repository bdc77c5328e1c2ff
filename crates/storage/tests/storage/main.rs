//! Repository tests of `coffee-storage`.
//!
//! Every test runs the same case on each backend of `TestDatabase::all()`:
//! a temporary SQLite file always, and a fresh PostgreSQL database when
//! `TEST_DATABASE_URL` is set (an unreachable server fails the test);
//! `search_parity` adds one with a linguistic collation and compares them.

#![allow(clippy::unwrap_used)]

mod support;

mod catalog;
mod chat;
mod cleanup;
mod kept;
mod list;
mod orders;
mod outbox;
mod pool;
mod search_parity;
mod sessions;
mod sort_plans;
mod totals;
mod update;
mod users;
mod verification;
