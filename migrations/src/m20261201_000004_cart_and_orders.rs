//! Carts, orders with their lines, the order number, and idempotency keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, pk_uuid, string_len, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
    uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum CartItems {
    Table,
    Id,
    UserId,
    ProductId,
    Quantity,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    Number,
    UserId,
    Status,
    Total,
    Comment,
    PickupAt,
    CreatedAt,
    UpdatedAt,
    Version,
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

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Id,
    UserId,
    Key,
    Fingerprint,
    OrderId,
    Response,
    LockedUntil,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrderNumbers {
    Table,
    Id,
    Last,
}

const STATUSES: [&str; 6] = ["pending", "confirmed", "preparing", "ready", "completed", "cancelled"];

fn quantity_check(col: impl IntoIden + Copy) -> SimpleExpr {
    Expr::col(col).gte(1).and(Expr::col(col).lte(99))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CartItems::Table)
                    .col(pk_uuid(CartItems::Id))
                    .col(uuid(CartItems::UserId))
                    .col(uuid(CartItems::ProductId))
                    .col(integer(CartItems::Quantity))
                    .col(timestamp_with_time_zone(CartItems::CreatedAt))
                    .col(timestamp_with_time_zone(CartItems::UpdatedAt))
                    .check(quantity_check(CartItems::Quantity))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cart_items_user")
                            .from(CartItems::Table, CartItems::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A product deleted from the menu disappears from every cart.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cart_items_product")
                            .from(CartItems::Table, CartItems::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One line per product per cart (merging relies on it); serves "the user's cart".
        manager
            .create_index(
                index("ux_cart_items_user_product", CartItems::Table, &["user_id", "product_id"]).unique().to_owned(),
            )
            .await?;
        manager.create_index(index("ix_cart_items_product", CartItems::Table, &["product_id"])).await?;

        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(pk_uuid(Orders::Id))
                    .col(big_integer(Orders::Number).unique_key())
                    .col(uuid(Orders::UserId))
                    .col(string_len(Orders::Status, 16))
                    .col(big_integer(Orders::Total))
                    .col(text_null(Orders::Comment))
                    .col(timestamp_with_time_zone_null(Orders::PickupAt))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .col(big_integer(Orders::Version).default(1))
                    .check(Expr::col(Orders::Status).is_in(STATUSES))
                    .check(Expr::col(Orders::Total).gte(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_user")
                            .from(Orders::Table, Orders::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Every filter and sort of GET /orders: the admin board filters by status
        // newest first, a customer sees their own newest first.
        for (name, cols) in [
            ("ix_orders_status_created_at", &["status", "created_at"][..]),
            ("ix_orders_user_created_at", &["user_id", "created_at"]),
            ("ix_orders_created_at", &["created_at"]),
            ("ix_orders_total", &["total"]),
            ("ix_orders_pickup_at", &["pickup_at"]),
        ] {
            manager.create_index(index(name, Orders::Table, cols)).await?;
        }

        // The order number: a sequence on PostgreSQL (unique and increasing across
        // replicas without a lock), a one-row counter on SQLite (one writer at a time).
        if postgres {
            let db = manager.get_connection();
            db.execute_unprepared("CREATE SEQUENCE order_number_seq AS BIGINT START 1").await?;
            db.execute_unprepared("ALTER TABLE orders ALTER COLUMN number SET DEFAULT nextval('order_number_seq')")
                .await?;
            db.execute_unprepared("ALTER SEQUENCE order_number_seq OWNED BY orders.number").await?;
        } else {
            manager
                .create_table(
                    Table::create()
                        .table(OrderNumbers::Table)
                        .col(integer(OrderNumbers::Id).primary_key())
                        .col(big_integer(OrderNumbers::Last))
                        .to_owned(),
                )
                .await?;
            let seed = Query::insert()
                .into_table(OrderNumbers::Table)
                .columns([OrderNumbers::Id, OrderNumbers::Last])
                .values_panic([1.into(), 0.into()])
                .to_owned();
            manager.exec_stmt(seed).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .col(uuid(OrderItems::OrderId))
                    .col(integer(OrderItems::Position))
                    .col(uuid_null(OrderItems::ProductId))
                    .col(string_len(OrderItems::Name, 100))
                    .col(big_integer(OrderItems::UnitPrice))
                    .col(integer(OrderItems::Quantity))
                    .col(big_integer(OrderItems::LineTotal))
                    .primary_key(Index::create().col(OrderItems::OrderId).col(OrderItems::Position))
                    .check(quantity_check(OrderItems::Quantity))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_order")
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // The line keeps its name and price when the product goes.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_product")
                            .from(OrderItems::Table, OrderItems::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_order_items_product", OrderItems::Table, &["product_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(pk_uuid(IdempotencyKeys::Id))
                    .col(uuid(IdempotencyKeys::UserId))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    .col(string_len(IdempotencyKeys::Fingerprint, 128))
                    .col(uuid_null(IdempotencyKeys::OrderId))
                    .col(text_null(IdempotencyKeys::Response))
                    .col(timestamp_with_time_zone(IdempotencyKeys::LockedUntil))
                    .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Keys are scoped to the user who sent them.
        manager
            .create_index(
                index("ux_idempotency_keys_user_key", IdempotencyKeys::Table, &["user_id", "key"]).unique().to_owned(),
            )
            .await?;
        manager.create_index(index("ix_idempotency_keys_expires_at", IdempotencyKeys::Table, &["expires_at"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut tables = vec![
            IdempotencyKeys::Table.into_iden(),
            OrderItems::Table.into_iden(),
            Orders::Table.into_iden(),
            CartItems::Table.into_iden(),
        ];
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            tables.push(OrderNumbers::Table.into_iden());
        }
        for table in tables {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
