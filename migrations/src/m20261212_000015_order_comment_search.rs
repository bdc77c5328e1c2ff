//! `GET /orders?search=` (SPEC §3: every collection route searches its text
//! fields): `orders.comment_fold`, the case-folded copy of `comment`, folded
//! the way the application folds (see `m20261202_000005_search_folding`),
//! with a trigram index on PostgreSQL. SQLite scans, as for the other lists.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    CommentFold,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    id: sea_orm_migration::sea_orm::prelude::Uuid,
    comment: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        manager
            .alter_table(Table::alter().table(Orders::Table).add_column(text_null(Orders::CommentFold)).to_owned())
            .await?;
        // Orders with a comment get its folded copy (most orders have none).
        let read = "SELECT id, comment FROM orders WHERE comment IS NOT NULL";
        for row in Row::find_by_statement(Statement::from_string(backend, read)).all(db).await? {
            let update = Query::update()
                .table(Orders::Table)
                .value(Orders::CommentFold, row.comment.to_lowercase())
                .and_where(Expr::col(Orders::Id).eq(row.id))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE INDEX ix_orders_comment_fold_trgm ON orders USING gin (comment_fold gin_trgm_ops)",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS ix_orders_comment_fold_trgm").await?;
        manager.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::CommentFold).to_owned()).await
    }
}
