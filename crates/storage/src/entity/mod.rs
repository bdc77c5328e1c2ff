//! SeaORM entities, one module per table. Only this crate sees them.

pub mod cart_items;
pub mod categories;
pub mod conversations;
pub mod email_verifications;
pub mod idempotency_keys;
pub mod messages;
pub mod order_counts;
pub mod order_items;
pub mod orders;
pub mod outbox;
pub mod product_categories;
pub mod products;
pub mod sessions;
pub mod users;
