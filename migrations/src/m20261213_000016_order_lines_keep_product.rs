//! An order line keeps the id of the product it was ordered as after the
//! product leaves the menu. SPEC §6: "later menu edits or deletion never
//! change a placed order"; the `ON DELETE SET NULL` of migration 4 changed
//! it (the line's `product_id` became null), and without a new version, so a
//! client revalidating with `If-None-Match` was told its stale copy was
//! current. The foreign key goes, and with it the index that served it:
//! nothing reads lines by product.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string_len, uuid, uuid_null};
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum OrderItems {
    Table,
    OrderId,
    Position,
    ProductId,
    Name,
    UnitPrice,
    Quantity,
    LineTotal,
}

const PRODUCT_FK: &str = "fk_order_items_product";
const PRODUCT_INDEX: &str = "ix_order_items_product";
/// The table SQLite builds the new `order_items` in.
const REBUILT: &str = "order_items_rebuilt";

fn product_fk() -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(PRODUCT_FK)
        .from(OrderItems::Table, OrderItems::ProductId)
        .to(Products::Table, Products::Id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

/// SQLite cannot add or drop a foreign key: the table is built again, as
/// migration 4 built it, with the product's key or without it, and the
/// lines copied over. `order_items` is referenced by no other table, so
/// dropping it deletes nothing else.
async fn rebuild_on_sqlite(manager: &SchemaManager<'_>, with_product_fk: bool) -> Result<(), DbErr> {
    let mut table = Table::create();
    table
        .table(Alias::new(REBUILT))
        .col(uuid(OrderItems::OrderId))
        .col(integer(OrderItems::Position))
        .col(uuid_null(OrderItems::ProductId))
        .col(string_len(OrderItems::Name, 100))
        .col(big_integer(OrderItems::UnitPrice))
        .col(integer(OrderItems::Quantity))
        .col(big_integer(OrderItems::LineTotal))
        .primary_key(Index::create().col(OrderItems::OrderId).col(OrderItems::Position))
        .check(Expr::col(OrderItems::Quantity).gte(1).and(Expr::col(OrderItems::Quantity).lte(99)))
        .foreign_key(
            ForeignKey::create()
                .name("fk_order_items_order")
                .from(Alias::new(REBUILT), OrderItems::OrderId)
                .to(Orders::Table, Orders::Id)
                .on_delete(ForeignKeyAction::Cascade),
        );
    if with_product_fk {
        table.foreign_key(product_fk().from_tbl(Alias::new(REBUILT)));
    }
    manager.create_table(table.to_owned()).await?;
    let db = manager.get_connection();
    let columns = "order_id, position, product_id, name, unit_price, quantity, line_total";
    db.execute_unprepared(&format!("INSERT INTO {REBUILT} ({columns}) SELECT {columns} FROM order_items")).await?;
    manager.drop_table(Table::drop().table(OrderItems::Table).to_owned()).await?;
    manager.rename_table(Table::rename().table(Alias::new(REBUILT), OrderItems::Table).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too (sea-orm-migration's default there
    /// is none): the table is rebuilt whole or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager.drop_foreign_key(ForeignKey::drop().name(PRODUCT_FK).table(OrderItems::Table).to_owned()).await?;
            manager.drop_index(Index::drop().name(PRODUCT_INDEX).table(OrderItems::Table).to_owned()).await
        } else {
            // The index goes with the old table.
            rebuild_on_sqlite(manager, false).await
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Lines of products deleted since lose the id, as the key would have made them.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE order_items SET product_id = NULL WHERE product_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM products WHERE products.id = order_items.product_id)",
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager.create_foreign_key(product_fk()).await?;
        } else {
            rebuild_on_sqlite(manager, true).await?;
        }
        manager.create_index(index(PRODUCT_INDEX, OrderItems::Table, &["product_id"])).await
    }
}
