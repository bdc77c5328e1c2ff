//! The pure core of the Coffee Shop API.
//!
//! Models, parsed value objects, the ports (traits) that adapters implement,
//! the use-case services and the list query language. Nothing in here knows
//! which database, queue, mailer or web framework it runs on.

pub mod access;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod jobs;
pub mod live;
pub mod mail;
pub mod maintenance;
pub mod money;
pub mod order;
pub mod outbox;
pub mod query;
pub mod ratelimit;
pub mod realtime;
pub mod security;
pub mod shop;
pub mod support;
pub mod text;
pub mod uow;
pub mod user;

#[cfg(test)]
pub(crate) mod testing;

pub use error::{FieldError, RepoError, Unexpected};
