//! Black-box tests of the HTTP API: each test starts the real application on
//! a random port with a fresh database (PostgreSQL when `TEST_DATABASE_URL`
//! is set, else a temporary SQLite file) and an in-process SMTP sink, and
//! talks HTTP to it.

#![allow(clippy::unwrap_used)]

mod cart;
mod categories;
mod chat;
mod chat_redis_outage;
mod chat_replicas;
mod chat_socket;
mod console;
mod console_recovery;
mod conventions;
mod docs;
mod health;
mod helpers;
mod info;
mod login;
mod me;
mod metrics;
mod orders;
mod orders_idempotency;
mod orders_status;
mod outage;
mod products;
mod protection;
mod shopping;
mod signup;
mod tokens;
mod users_item;
mod users_list;
mod verify;
mod ws;
