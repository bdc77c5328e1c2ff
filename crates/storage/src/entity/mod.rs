//! SeaORM entities, one module per table. Only this crate sees them.

pub mod categories;
pub mod email_verifications;
pub mod outbox;
pub mod product_categories;
pub mod products;
pub mod sessions;
pub mod users;
