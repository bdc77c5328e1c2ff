//! Every sort a list offers is served by an index on both engines: a page
//! of 20 is read in its order, in either direction, and the walk stops
//! after it. A sort no index serves reads the whole table and sorts it, for
//! every page. Where the key is one that many rows share (a boolean, a
//! status), the index must give the id order within the key as well;
//! otherwise it may leave ties to a sort of the few rows that share a
//! key (PostgreSQL's Incremental Sort, SQLite's "RIGHT PART OF ORDER BY").
//!
//! The statements are written here as `list.rs` orders a page: by each
//! key, a text key by its folded copy first, then by `id` in the last
//! key's direction. Every sortable field of every resource must be in
//! [`order_columns`], so a new one is checked too.

use coffee_domain::catalog::{CategoryResource, ProductResource};
use coffee_domain::order::OrderResource;
use coffee_domain::query::{FieldKind, Resource};
use coffee_domain::support::ConversationResource;
use coffee_domain::user::UserResource;
use coffee_testkit::Backend;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::support::backends;

/// The columns a page of `table` sorted by `field` is ordered by, before
/// its id (the storage's list mappings).
fn order_columns(table: &str, field: &str) -> &'static [&'static str] {
    match (table, field) {
        (_, "created_at") => &["created_at"],
        ("users", "email") => &["email"],
        ("users", "first_name") => &["first_name_fold", "first_name"],
        ("users", "last_name") => &["last_name_fold", "last_name"],
        ("users", "role") => &["role"],
        ("users", "is_verified") => &["is_verified"],
        ("categories", "name") => &["name_key", "name"],
        ("products", "name") => &["name_fold", "name"],
        ("products", "price") => &["price"],
        ("products", "is_available") => &["is_available"],
        ("orders", "status") => &["status"],
        ("orders", "number") => &["number"],
        ("orders", "total") => &["total"],
        ("orders", "pickup_at") => &["pickup_at"],
        ("conversations", "status") => &["status"],
        ("conversations", "last_message_at") => &["last_message_at"],
        _ => panic!("{table}.{field} is sortable: say here which columns order it"),
    }
}

/// `(name, shared)` of each sortable field: `shared` when many rows have
/// the same value.
fn sortable<R: Resource>() -> Vec<(&'static str, bool)> {
    let shared = |kind| matches!(kind, FieldKind::Bool | FieldKind::Enum(_));
    R::FIELDS.iter().filter(|f| f.sortable).map(|f| (f.name, shared(f.kind))).collect()
}

/// The first page of `table` by `columns`, then id, as `list.rs` writes it:
/// the first column with a NULLS clause, the text after a folded copy and
/// the id without.
fn page(table: &str, columns: &[&str], descending: bool) -> String {
    let (direction, nulls) = if descending { ("DESC", " NULLS FIRST") } else { ("ASC", " NULLS LAST") };
    let keys: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\"{c}\" {direction}{}", if i == 0 { nulls } else { "" }))
        .collect();
    format!("SELECT * FROM \"{table}\" ORDER BY {}, \"id\" {direction} LIMIT 20 OFFSET 0", keys.join(", "))
}

/// Whether `plan` (PostgreSQL's `EXPLAIN` or SQLite's `EXPLAIN QUERY
/// PLAN`, one line per row) walks an index in the page's order: it scans no
/// whole table, sorts nothing whole, and, for a key many rows share
/// (`shared`), does not even sort the rows of one key.
fn served(plan: &[String], shared: bool) -> bool {
    // A plan node's name, without the arrow and its "Sort Key:" details.
    let node = |line: &str| line.trim_start().trim_start_matches("->").trim_start().to_owned();
    let sorts_ties = |line: &str| {
        node(line).starts_with("Incremental Sort")
            || line.contains("RIGHT PART OF ORDER BY")
            || line.contains("LAST TERM OF ORDER BY")
    };
    let sorts_all = |line: &str| node(line).starts_with("Sort  (") || line.contains("TEMP B-TREE FOR ORDER BY");
    let scans = |line: &str| line.contains("Seq Scan") || (line.starts_with("SCAN") && !line.contains("INDEX"));
    !plan.iter().any(|line| sorts_all(line) || scans(line) || (shared && sorts_ties(line)))
}

#[tokio::test]
async fn every_sort_a_list_offers_walks_an_index() {
    let lists = [
        ("users", sortable::<UserResource>()),
        ("categories", sortable::<CategoryResource>()),
        ("products", sortable::<ProductResource>()),
        ("orders", sortable::<OrderResource>()),
        ("conversations", sortable::<ConversationResource>()),
    ];
    for env in backends().await {
        let txn = env.db.begin().await.unwrap();
        let postgres = env.backend == Backend::Postgres;
        if postgres {
            // The tables are empty: without this any plan is as cheap as any
            // other. Forbidding whole-table scans and sorts leaves an index
            // that gives the order, or a plan that still has to sort.
            let off = "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off";
            txn.execute_unprepared(off).await.unwrap();
        }
        let mut unserved = Vec::new();
        for (table, fields) in &lists {
            for &(field, shared) in fields {
                for descending in [false, true] {
                    let sql = page(table, order_columns(table, field), descending);
                    let (explain, column, backend) = if postgres {
                        (format!("EXPLAIN {sql}"), "QUERY PLAN", DbBackend::Postgres)
                    } else {
                        (format!("EXPLAIN QUERY PLAN {sql}"), "detail", DbBackend::Sqlite)
                    };
                    let rows = txn.query_all_raw(Statement::from_string(backend, explain)).await.unwrap();
                    let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", column).unwrap()).collect();
                    if !served(&plan, shared) {
                        unserved.push(format!("{table}?sort={}{field}: {plan:#?}", if descending { "-" } else { "" }));
                    }
                }
            }
        }
        txn.rollback().await.unwrap();
        assert!(unserved.is_empty(), "{:?}: sorts no index serves:\n{}", env.backend, unserved.join("\n"));
    }
}
