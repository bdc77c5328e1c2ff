//! Case-folded copies of the searchable text columns, so that `search=` and
//! `__contains` match case-insensitively beyond ASCII on both engines (SQLite's
//! `lower()` folds ASCII only), with the same answers: the application folds
//! (Rust's `str::to_lowercase`) when it writes and when it searches. On
//! PostgreSQL, trigram indexes (pg_trgm) serve the `LIKE '%term%'` scans.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text_null;
use sea_orm_migration::sea_orm::{DatabaseBackend, FromQueryResult, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, [(text column, folded column)])`; `categories.name` is folded
/// into its existing `name_key` already, `users.email` is stored lower-case.
const FOLDED: [(&str, &[(&str, &str)]); 3] = [
    ("products", &[("name", "name_fold"), ("description", "description_fold")]),
    ("categories", &[("description", "description_fold")]),
    ("users", &[("first_name", "first_name_fold"), ("last_name", "last_name_fold")]),
];

/// Columns the trigram indexes cover on PostgreSQL.
const TRIGRAM: [(&str, &str); 7] = [
    ("products", "name_fold"),
    ("products", "description_fold"),
    ("categories", "name_key"),
    ("categories", "description_fold"),
    ("users", "email"),
    ("users", "first_name_fold"),
    ("users", "last_name_fold"),
];

#[derive(Debug, FromQueryResult)]
struct Row {
    id: sea_orm_migration::sea_orm::prelude::Uuid,
    text: Option<String>,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        for (table, columns) in FOLDED {
            for (_, folded) in columns {
                manager
                    .alter_table(
                        Table::alter().table(Alias::new(table)).add_column(text_null(Alias::new(*folded))).to_owned(),
                    )
                    .await?;
            }
            // Existing rows get their folded values the way the application folds.
            for (column, folded) in columns {
                let read = format!("SELECT id, {column} AS text FROM {table} WHERE {column} IS NOT NULL");
                let rows = Row::find_by_statement(Statement::from_string(backend, read)).all(db).await?;
                for row in rows {
                    let update = Query::update()
                        .table(Alias::new(table))
                        .value(Alias::new(*folded), row.text.map(|t| t.to_lowercase()))
                        .and_where(Expr::col(Alias::new("id")).eq(row.id))
                        .to_owned();
                    manager.exec_stmt(update).await?;
                }
            }
        }
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
            for (table, column) in TRIGRAM {
                db.execute_unprepared(&format!(
                    "CREATE INDEX ix_{table}_{column}_trgm ON {table} USING gin ({column} gin_trgm_ops)"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for (table, column) in TRIGRAM {
                manager
                    .get_connection()
                    .execute_unprepared(&format!("DROP INDEX IF EXISTS ix_{table}_{column}_trgm"))
                    .await?;
            }
        }
        for (table, columns) in FOLDED {
            for (_, folded) in columns {
                manager
                    .alter_table(Table::alter().table(Alias::new(table)).drop_column(Alias::new(*folded)).to_owned())
                    .await?;
            }
        }
        Ok(())
    }
}
