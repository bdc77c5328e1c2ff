//! `GET /orders?search=` matches the lines' product names as well as the
//! comment (SPEC §3: a search covers the resource's text fields):
//! `order_items.name_fold`, the case-folded copy of `name`, folded the way
//! the application folds (see `m20261202_000005_search_folding`), with a
//! trigram index on PostgreSQL. SQLite scans, as for the other lists.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    Name,
    NameFold,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    name: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        manager
            .alter_table(Table::alter().table(OrderItems::Table).add_column(text_null(OrderItems::NameFold)).to_owned())
            .await?;
        // Lines repeat the menu's few names: one update per distinct name,
        // not per line, each finding its lines through an index that lives
        // as long as this loop (without it, each would read every line).
        db.execute_unprepared("CREATE INDEX ix_order_items_name_backfill ON order_items (name)").await?;
        let read = "SELECT DISTINCT name FROM order_items";
        for row in Row::find_by_statement(Statement::from_string(backend, read)).all(db).await? {
            let update = Query::update()
                .table(OrderItems::Table)
                .value(OrderItems::NameFold, row.name.to_lowercase())
                .and_where(Expr::col(OrderItems::Name).eq(row.name))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        db.execute_unprepared("DROP INDEX ix_order_items_name_backfill").await?;
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE INDEX ix_order_items_name_fold_trgm ON order_items USING gin (name_fold gin_trgm_ops)",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_order_items_name_fold_trgm").await?;
        manager.alter_table(Table::alter().table(OrderItems::Table).drop_column(OrderItems::NameFold).to_owned()).await
    }
}
