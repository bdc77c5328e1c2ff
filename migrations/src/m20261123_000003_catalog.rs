//! The menu: categories, products and the join table between them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, pk_uuid, string_len, string_len_null, text_null, timestamp_with_time_zone, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Categories {
    Table,
    Id,
    Name,
    NameKey,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    Description,
    Price,
    IsAvailable,
    Image,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProductCategories {
    Table,
    ProductId,
    CategoryId,
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Categories::Table)
                    .col(pk_uuid(Categories::Id))
                    .col(string_len(Categories::Name, 100))
                    // The name folded to lower case by the application (Unicode-aware,
                    // unlike SQLite's lower()): unique, so names are unique ignoring case.
                    .col(string_len(Categories::NameKey, 400).unique_key())
                    .col(text_null(Categories::Description))
                    .col(timestamp_with_time_zone(Categories::CreatedAt))
                    .col(timestamp_with_time_zone(Categories::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [("ix_categories_name", &["name"][..]), ("ix_categories_created_at", &["created_at"])] {
            manager.create_index(index(name, Categories::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(pk_uuid(Products::Id))
                    .col(string_len(Products::Name, 100))
                    .col(text_null(Products::Description))
                    .col(big_integer(Products::Price))
                    .col(boolean(Products::IsAvailable).default(true))
                    .col(string_len_null(Products::Image, 100))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .check(Expr::col(Products::Price).gte(0))
                    .to_owned(),
            )
            .await?;
        // Every filter and sort of GET /products.
        for (name, cols) in [
            ("ix_products_name", &["name"][..]),
            ("ix_products_price", &["price"]),
            ("ix_products_created_at", &["created_at"]),
            ("ix_products_available", &["is_available", "created_at"]),
        ] {
            manager.create_index(index(name, Products::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ProductCategories::Table)
                    .col(uuid(ProductCategories::ProductId))
                    .col(uuid(ProductCategories::CategoryId))
                    .primary_key(Index::create().col(ProductCategories::ProductId).col(ProductCategories::CategoryId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_product_categories_product")
                            .from(ProductCategories::Table, ProductCategories::ProductId)
                            .to(Products::Table, Products::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_product_categories_category")
                            .from(ProductCategories::Table, ProductCategories::CategoryId)
                            .to(Categories::Table, Categories::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // category_id filters go from category to products.
        manager
            .create_index(index(
                "ix_product_categories_category",
                ProductCategories::Table,
                &["category_id", "product_id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [ProductCategories::Table.into_iden(), Products::Table.into_iden(), Categories::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
