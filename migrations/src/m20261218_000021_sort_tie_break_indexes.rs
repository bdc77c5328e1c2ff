//! Indexes that serve a sort by a field many rows share.
//!
//! A list page is ordered by its sort keys and then by `id`, so that equal
//! keys keep one order (`coffee-storage`, `list.rs`). An index on the key
//! alone, or on the key and `created_at`, gives rows of one key in another
//! order than by `id`: to find the first 20 rows by `(is_available, id)`
//! the engine read every row with the first key and sorted them, half of
//! `products` for a boolean, a whole table scan for `users?sort=role`
//! (53 ms at 200 000 users, against under a millisecond for the default
//! sort). An index on `(key, id)` walks in the page's order, in either
//! direction, and stops after one page.
//!
//! A name sorts by its folded copy, then by the name
//! (`m20261208_000011`): the `(folded, name)` indexes become
//! `(folded, name, id)`. SQLite did not use the two-column ones at all for
//! `sort=name` or `sort=first_name`, and scanned and sorted the table.
//!
//! The indexes on `products.price`, `orders.total` and `orders.pickup_at`
//! alone are replaced as well: their `(key, id)` successors serve the same
//! filters. The `(key, created_at)` ones stay: they serve a filter by the
//! key with the default sort (`-created_at`).

use sea_orm_migration::prelude::*;

use crate::index;

/// `(name, table, columns)` of each new index.
const ADDED: [(&str, &str, &[&str]); 12] = [
    ("ix_products_is_available_id", "products", &["is_available", "id"]),
    ("ix_products_price_id", "products", &["price", "id"]),
    ("ix_products_name_folded_order_id", "products", &["name_fold", "name", "id"]),
    ("ix_categories_name_folded_order_id", "categories", &["name_key", "name", "id"]),
    ("ix_users_role_id", "users", &["role", "id"]),
    ("ix_users_is_verified_id", "users", &["is_verified", "id"]),
    ("ix_users_first_name_folded_order_id", "users", &["first_name_fold", "first_name", "id"]),
    ("ix_users_last_name_folded_order_id", "users", &["last_name_fold", "last_name", "id"]),
    ("ix_orders_status_id", "orders", &["status", "id"]),
    ("ix_orders_total_id", "orders", &["total", "id"]),
    ("ix_orders_pickup_at_id", "orders", &["pickup_at", "id"]),
    ("ix_conversations_status_id", "conversations", &["status", "id"]),
];

/// `(name, table, columns)` of each index a new one replaces.
const REPLACED: [(&str, &str, &[&str]); 7] = [
    ("ix_products_price", "products", &["price"]),
    ("ix_products_name_folded_order", "products", &["name_fold", "name"]),
    ("ix_categories_name_folded_order", "categories", &["name_key", "name"]),
    ("ix_users_first_name_folded_order", "users", &["first_name_fold", "first_name"]),
    ("ix_users_last_name_folded_order", "users", &["last_name_fold", "last_name"]),
    ("ix_orders_total", "orders", &["total"]),
    ("ix_orders_pickup_at", "orders", &["pickup_at"]),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in ADDED {
            manager.create_index(index(name, Alias::new(table), cols)).await?;
        }
        for (name, table, _) in REPLACED {
            manager.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in REPLACED {
            manager.create_index(index(name, Alias::new(table), cols)).await?;
        }
        for (name, table, _) in ADDED {
            manager.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
