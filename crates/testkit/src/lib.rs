//! Test-only support shared by several crates' tests.
//!
//! * [`SmtpSink`] — a minimal in-process SMTP server that records what it
//!   receives, so mail adapters and end-to-end tests can assert on real
//!   deliveries without an external mail catcher.
//! * [`ReceivedMail`] — one recorded message with helpers that decode the
//!   text part and pull out the verification code and link.
//! * [`TestDatabase`] — a fresh, empty database per test: a temporary SQLite
//!   file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set.
//! * [`free_port`] — a port for a server a test starts, which outgoing
//!   connections of tests running in parallel cannot take meanwhile.
//! * [`TcpProxy`] — a TCP forwarder a test can cut and restore, to take a
//!   dependency away (PostgreSQL) without stopping the shared server.
//! * [`Browser`] (feature `browser`) — headless Debian Chromium driven over
//!   the DevTools protocol, with [`Observations`] of console errors, CSP
//!   violations and requests to other origins.

#[cfg(feature = "browser")]
mod browser;
mod db;
mod message;
mod port;
mod redis_server;
mod smtp_sink;
mod tcp_proxy;

#[cfg(feature = "browser")]
pub use browser::{Browser, BrowserError, Observations, Page, chromium_path};
pub use db::{Backend, TestDatabase, redis_or_skip, test_redis_url};
pub use message::ReceivedMail;
pub use port::free_port;
pub use redis_server::RedisServer;
pub use smtp_sink::SmtpSink;
pub use tcp_proxy::TcpProxy;
