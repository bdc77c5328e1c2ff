//! Names sort ignoring case. `sort=name` (products, categories) and
//! `sort=first_name` / `last_name` (users) order by the case-folded copy that
//! search already keeps (`str::to_lowercase`, written by the application),
//! then by the text itself, so "apple" sits beside "Apple" and the two keep
//! one order. Before, names sorted by code point alone, every capitalised
//! name ahead of every lower-case one ("Banana", "Tmp3", "apple").
//!
//! On PostgreSQL the folded columns take `COLLATE "C"`, as the names did in
//! `m20261205_000008_binary_name_order`: both engines then order the same
//! bytes the same way. On both, an index on (folded, text) serves each sort.
//! Equality, uniqueness and the trigram indexes do not change (both
//! collations are deterministic; PostgreSQL rebuilds the indexes).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(folded column, its type, the text column it folds)`.
type Folded = (&'static str, &'static str, &'static str);

/// The sorted folded columns, per table.
const SORTED: [(&str, &[Folded]); 3] = [
    ("products", &[("name_fold", "text", "name")]),
    ("categories", &[("name_key", "varchar(400)", "name")]),
    ("users", &[("first_name_fold", "text", "first_name"), ("last_name_fold", "text", "last_name")]),
];

fn index_name(table: &str, text: &str) -> String {
    format!("ix_{table}_{text}_folded_order")
}

async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for (table, columns) in SORTED {
        let changes: Vec<String> = columns
            .iter()
            .map(|(folded, ty, _)| format!("ALTER COLUMN {folded} TYPE {ty} COLLATE {collation}"))
            .collect();
        // One statement per table: it and its indexes are rewritten once.
        manager.get_connection().execute_unprepared(&format!("ALTER TABLE {table} {}", changes.join(", "))).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "\"C\"").await?;
        for (table, columns) in SORTED {
            for &(folded, _, text) in columns {
                manager
                    .create_index(
                        Index::create()
                            .name(index_name(table, text))
                            .table(Alias::new(table))
                            .col(Alias::new(folded))
                            .col(Alias::new(text))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, columns) in SORTED {
            for &(_, _, text) in columns {
                manager
                    .drop_index(Index::drop().name(index_name(table, text)).table(Alias::new(table)).to_owned())
                    .await?;
            }
        }
        collate(manager, "\"default\"").await
    }
}
