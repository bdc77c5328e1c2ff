//! SeaORM entities, one module per table. Only this crate sees them.

pub mod email_verifications;
pub mod outbox;
pub mod sessions;
pub mod users;
