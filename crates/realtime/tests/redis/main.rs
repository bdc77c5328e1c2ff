//! The Redis adapters against a real Redis.
//!
//! They run only when `TEST_REDIS_URL` is set (CI sets it), and then fail if
//! that Redis is unreachable. Tests that must kill connections or stop the
//! server start a private `redis-server` on a free port instead, or reach
//! the shared one through a `TcpProxy` they cut, so it is never disturbed.

mod fanout;
mod outage;
mod slots;
mod support;
mod tickets;
