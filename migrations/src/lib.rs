//! Database schema migrations, applied by `coffee-api` on start (unless
//! `RUN_MIGRATIONS=false`). One migration per file; never edit a released one.

pub use sea_orm_migration::prelude::*;

/// How many `order_counts` rows (slots) each status's count is spread over on
/// PostgreSQL; a transaction that must lock them all needs to know.
pub use m20261206_000009_order_counts::SLOTS as ORDER_COUNT_SLOTS;

mod m20261123_000001_users_and_auth;
mod m20261123_000002_outbox;
mod m20261123_000003_catalog;
mod m20261201_000004_cart_and_orders;
mod m20261202_000005_search_folding;
mod m20261203_000006_support_chat;
mod m20261204_000007_outbox_delivered;
mod m20261205_000008_binary_name_order;
mod m20261206_000009_order_counts;
mod m20261207_000010_user_name_order;
mod m20261208_000011_case_insensitive_name_order;
mod m20261209_000012_outbox_redelivery;
mod m20261210_000013_idempotency_status;
mod m20261211_000014_message_client_id_per_sender;
mod m20261212_000015_order_comment_search;
mod m20261213_000016_order_lines_keep_product;
mod m20261214_000017_outbox_delivery_lease;
mod m20261215_000018_order_line_search;
mod m20261216_000019_list_versions;
mod m20261217_000020_category_names_in_menu_version;
mod m20261218_000021_sort_tie_break_indexes;
mod m20261219_000022_account_code_attempts;
mod m20261220_000023_session_family_expiry;
mod m20261221_000024_outbox_parked;

/// An index named `name` on `cols` of `table` (migrations from the fourth on).
pub(crate) fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}

/// The ordered list of migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_users_and_auth::Migration),
            Box::new(m20261123_000002_outbox::Migration),
            Box::new(m20261123_000003_catalog::Migration),
            Box::new(m20261201_000004_cart_and_orders::Migration),
            Box::new(m20261202_000005_search_folding::Migration),
            Box::new(m20261203_000006_support_chat::Migration),
            Box::new(m20261204_000007_outbox_delivered::Migration),
            Box::new(m20261205_000008_binary_name_order::Migration),
            Box::new(m20261206_000009_order_counts::Migration),
            Box::new(m20261207_000010_user_name_order::Migration),
            Box::new(m20261208_000011_case_insensitive_name_order::Migration),
            Box::new(m20261209_000012_outbox_redelivery::Migration),
            Box::new(m20261210_000013_idempotency_status::Migration),
            Box::new(m20261211_000014_message_client_id_per_sender::Migration),
            Box::new(m20261212_000015_order_comment_search::Migration),
            Box::new(m20261213_000016_order_lines_keep_product::Migration),
            Box::new(m20261214_000017_outbox_delivery_lease::Migration),
            Box::new(m20261215_000018_order_line_search::Migration),
            Box::new(m20261216_000019_list_versions::Migration),
            Box::new(m20261217_000020_category_names_in_menu_version::Migration),
            Box::new(m20261218_000021_sort_tie_break_indexes::Migration),
            Box::new(m20261219_000022_account_code_attempts::Migration),
            Box::new(m20261220_000023_session_family_expiry::Migration),
            Box::new(m20261221_000024_outbox_parked::Migration),
        ]
    }
}
