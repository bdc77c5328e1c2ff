//! Every sort a list offers is served by an index on both engines: a page
//! of 20 is read in its order, in either direction, and the walk stops
//! after it. A sort no index serves reads the whole table and sorts it, for
//! every page. Where the key is one that many rows share (a boolean, a
//! status), the index must give the id order within the key as well;
//! otherwise it may leave ties to a sort of the few rows that share a
//! key (PostgreSQL's Incremental Sort, SQLite's "RIGHT PART OF ORDER BY").
//!
//! The statements are the repositories' own (`coffee_storage::
//! first_page_sql`): each list's first page, sorted by each sortable field
//! of its resource, both ways.

use coffee_domain::catalog::{CategoryResource, ProductResource};
use coffee_domain::order::OrderResource;
use coffee_domain::query::{FieldKind, Resource};
use coffee_domain::support::ConversationResource;
use coffee_domain::user::UserResource;
use coffee_testkit::Backend;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::support::backends;

/// `("list?sort=field", shared)` for each sortable field and direction:
/// `shared` when many rows have the same value.
fn sorts<R: Resource>(list: &str) -> Vec<(String, bool)> {
    let shared = |kind| matches!(kind, FieldKind::Bool | FieldKind::Enum(_));
    let fields = R::FIELDS.iter().filter(|f| f.sortable);
    fields
        .flat_map(|f| [("", f), ("-", f)])
        .map(|(minus, f)| (format!("{list}?sort={minus}{}", f.name), shared(f.kind)))
        .collect()
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
    let expected: Vec<(String, bool)> = [
        sorts::<UserResource>("users"),
        sorts::<CategoryResource>("categories"),
        sorts::<ProductResource>("products"),
        sorts::<OrderResource>("orders"),
        sorts::<ConversationResource>("conversations"),
    ]
    .concat();
    for env in backends().await {
        let postgres = env.backend == Backend::Postgres;
        let backend = if postgres { DbBackend::Postgres } else { DbBackend::Sqlite };
        let pages = coffee_storage::first_page_sql(backend);
        let named: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
        let wanted: Vec<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(named, wanted, "one statement per list, sortable field and direction");
        let txn = env.db.begin().await.unwrap();
        if postgres {
            // The tables are empty: without this any plan is as cheap as any
            // other. Forbidding whole-table scans and sorts leaves an index
            // that gives the order, or a plan that still has to sort.
            txn.execute_unprepared("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off").await.unwrap();
        }
        let mut unserved = Vec::new();
        for ((name, sql), (_, shared)) in pages.iter().zip(&expected) {
            let (explain, column) = if postgres {
                (format!("EXPLAIN {sql}"), "QUERY PLAN")
            } else {
                (format!("EXPLAIN QUERY PLAN {sql}"), "detail")
            };
            let rows = txn.query_all_raw(Statement::from_string(backend, explain)).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", column).unwrap()).collect();
            if !served(&plan, *shared) {
                unserved.push(format!("{name}: {sql}\n{plan:#?}"));
            }
        }
        txn.rollback().await.unwrap();
        assert!(unserved.is_empty(), "{:?}: sorts no index serves:\n{}", env.backend, unserved.join("\n"));
    }
}
