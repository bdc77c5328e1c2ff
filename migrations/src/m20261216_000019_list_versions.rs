//! `list_versions`: a version of the rows a list counts, changed by the
//! database itself whenever they change, so that a replica may remember a
//! list's exact `total` and reuse it while the version stays the same
//! (`coffee-storage`, `totals.rs`). One row per versioned list; so far
//! `products`, which covers `products` and `product_categories` (the menu's
//! `category_id` filter reads the link table).
//!
//! **A new random value, not a counter.** A version must never come back
//! with other rows behind it. A counter would, after a restore from a backup
//! or a table emptied and filled again while replicas run with totals
//! remembered under the old numbers; a random 53-bit value (PostgreSQL's
//! `random()` has 52 bits of randomness, SQLite's 64) repeats with odds of
//! about one in 2^52 per change.
//!
//! **When it changes.** On PostgreSQL at the commit of each transaction that
//! wrote the rows, once per transaction: a deferred constraint trigger per
//! row, whose function skips every row after the first through a
//! transaction-local setting. The version row is one row lock that every
//! menu writer takes. Taken at commit, it is held from there to the end of
//! the commit, where an immediate trigger would hold it from the first
//! write to the end of the transaction, queueing every other menu write
//! behind the whole of it; and since the transaction has taken every other
//! lock it needs by then, waiting for it cannot close a deadlock cycle,
//! whatever order other writers (hand-written SQL included) lock rows in. A
//! plain statement trigger covers `TRUNCATE` (constraint triggers cannot). On
//! SQLite (one writer at a time) a plain row trigger sets it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len};
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ListVersions {
    Table,
    Name,
    Version,
}

/// The tables whose writes change the `products` version.
const PRODUCT_TABLES: [&str; 2] = ["products", "product_categories"];

/// A new version: a random integer the engine's own `random()` gives.
fn random(postgres: bool) -> &'static str {
    if postgres { "floor(random() * 9007199254740992)::bigint" } else { "random()" }
}

fn postgres_up() -> Vec<String> {
    let mut statements = vec![format!(
        "CREATE FUNCTION list_versions_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
        OR current_setting('coffee.list_version_bumped_' || TG_ARGV[0], true) IS DISTINCT FROM 'on' THEN
        UPDATE list_versions SET version = {random} WHERE name = TG_ARGV[0];
        PERFORM set_config('coffee.list_version_bumped_' || TG_ARGV[0], 'on', true);
    END IF;
    RETURN NULL;
END
$$",
        random = random(true),
    )];
    for table in PRODUCT_TABLES {
        statements.extend(bump_triggers(table, "products", true));
    }
    statements
}

/// The triggers that give the list `list` a new version whenever `table`
/// is written (and the function above on PostgreSQL), as described above;
/// later migrations add tables to a list with them.
pub(crate) fn bump_triggers(table: &str, list: &str, postgres: bool) -> Vec<String> {
    if postgres {
        return vec![
            format!(
                "CREATE CONSTRAINT TRIGGER {table}_list_version AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION list_versions_bump('{list}')"
            ),
            format!(
                "CREATE TRIGGER {table}_list_version_truncate AFTER TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION list_versions_bump('{list}')"
            ),
        ];
    }
    let bump = format!("UPDATE list_versions SET version = {} WHERE name = '{list}'", random(false));
    ["INSERT", "UPDATE", "DELETE"]
        .map(|op| {
            let name = format!("{table}_list_version_{}", op.to_lowercase());
            format!("CREATE TRIGGER {name} AFTER {op} ON {table} BEGIN {bump}; END")
        })
        .into()
}

/// Drops what [`bump_triggers`] made on `table`.
pub(crate) fn drop_bump_triggers(table: &str, postgres: bool) -> Vec<String> {
    let triggers: Vec<String> = if postgres {
        vec![format!("{table}_list_version ON {table}"), format!("{table}_list_version_truncate ON {table}")]
    } else {
        ["insert", "update", "delete"].map(|op| format!("{table}_list_version_{op}")).into()
    };
    triggers.into_iter().map(|trigger| format!("DROP TRIGGER IF EXISTS {trigger}")).collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// A transaction on SQLite too: no version without its triggers.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ListVersions::Table)
                    .col(string_len(ListVersions::Name, 32).primary_key())
                    .col(big_integer(ListVersions::Version))
                    .to_owned(),
            )
            .await?;
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "INSERT INTO list_versions (name, version) VALUES ('products', {})",
            random(postgres)
        ))
        .await?;
        let statements = if postgres {
            postgres_up()
        } else {
            PRODUCT_TABLES.iter().flat_map(|table| bump_triggers(table, "products", false)).collect()
        };
        for stmt in statements {
            db.execute_unprepared(&stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let db = manager.get_connection();
        for stmt in PRODUCT_TABLES.iter().flat_map(|table| drop_bump_triggers(table, postgres)) {
            db.execute_unprepared(&stmt).await?;
        }
        if postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS list_versions_bump()").await?;
        }
        manager.drop_table(Table::drop().table(ListVersions::Table).to_owned()).await?;
        Ok(())
    }
}
