//! Test-only support shared by several crates' tests.
//!
//! * [`SmtpSink`] — a minimal in-process SMTP server that records what it
//!   receives, so mail adapters and end-to-end tests can assert on real
//!   deliveries without an external mail catcher.
//! * [`ReceivedMail`] — one recorded message with helpers that decode the
//!   text part and pull out the verification code and link.

mod message;
mod smtp_sink;

pub use message::ReceivedMail;
pub use smtp_sink::SmtpSink;
