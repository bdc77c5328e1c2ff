//! The pools: a working connection after the server dropped an idle one
//! (a PostgreSQL restart, a proxy's idle timeout: a connection that sat idle
//! is pinged before it is lent, and replaced unseen when the ping fails),
//! their sizes, and lists running beside a write transaction.

use std::time::Duration;

use chrono::Utc;
use coffee_domain::catalog::{CatalogRepository, NewProduct, ProductResource};
use coffee_domain::query::parse_list_query;
use coffee_domain::uow::UnitOfWork;
use coffee_storage::{DbSettings, SeaCatalogRepository, SeaUnitOfWork};
use coffee_testkit::{Backend, TestDatabase};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::catalog::product;

async fn backend_pid(db: &DatabaseConnection) -> Result<i32, sea_orm::DbErr> {
    let row =
        db.query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT pg_backend_pid() AS pid")).await?;
    row.expect("one row").try_get::<i32>("", "pid")
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_unseen() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL-only case skipped");
        return;
    };
    let settings =
        DbSettings { url: database.url.clone(), max_connections: 1, acquire_timeout: Duration::from_secs(5) };
    let db = coffee_storage::connect(&settings).await.unwrap();
    let admin = coffee_storage::connect(&settings).await.unwrap();
    let first = backend_pid(&db).await.unwrap();

    let killed = admin
        .execute_raw(Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT pg_terminate_backend({first})"),
        ))
        .await
        .unwrap();
    assert_eq!(killed.rows_affected(), 1, "the pooled connection's backend was terminated");
    // Past the window in which a connection in steady use is lent unpinged.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let second = backend_pid(&db).await.expect("the next statement runs on a fresh connection");
    assert_ne!(first, second, "the dead connection was replaced");
}

#[tokio::test]
async fn per_thread_pools_add_up_to_the_configured_size_and_sqlite_keeps_one_writer() {
    for database in TestDatabase::all().await {
        let settings =
            DbSettings { url: database.url.clone(), max_connections: 10, acquire_timeout: Duration::from_secs(5) };
        let pools = coffee_storage::connect_per_thread(&settings, 3).await.unwrap();
        let stats = coffee_storage::pool_stats(&pools).unwrap();
        match database.backend {
            Backend::Postgres => {
                assert_eq!(pools.all().count(), 3, "one pool per thread");
                assert_eq!(stats.max, 10, "the pools share DATABASE_MAX_CONNECTIONS");
            }
            Backend::Sqlite => {
                assert_eq!(pools.all().count(), 2, "SQLite: one writer pool for every thread, one for lists");
                assert_eq!(stats.max, 1 + 10, "one writer, and DATABASE_MAX_CONNECTIONS read-only connections");
            }
        }
        pools.close().await.unwrap();
    }
}

/// A list runs beside an open write transaction instead of waiting for it,
/// sees none of it, and sees it once committed. On SQLite the transaction
/// holds the one writer connection, and lists run on read-only ones: before
/// they did, this list waited for the writer until its acquire timeout.
#[tokio::test]
async fn a_list_neither_waits_for_nor_sees_an_open_write_and_sees_it_committed() {
    for database in TestDatabase::all().await {
        eprintln!("--- running on {:?}", database.backend);
        let settings =
            DbSettings { url: database.url.clone(), max_connections: 4, acquire_timeout: Duration::from_secs(5) };
        let pools = coffee_storage::connect_per_thread(&settings, 2).await.unwrap();
        coffee_storage::migrate(pools.current()).await.unwrap();
        let catalog = SeaCatalogRepository::new(pools.clone());
        let all = parse_list_query::<ProductResource>(&[]).unwrap();
        let list = || async {
            let page = tokio::time::timeout(Duration::from_secs(2), catalog.list_products(&all))
                .await
                .expect("the list does not wait for the open transaction")
                .unwrap();
            page.items.iter().map(|p| p.name.clone()).collect::<Vec<_>>()
        };

        let tx = SeaUnitOfWork::new(pools.clone()).begin().await.unwrap();
        let flat_white = NewProduct { product: product("Flat white", 350, Utc::now()), category_ids: Vec::new() };
        tx.catalog().create_product(&flat_white).await.unwrap();
        assert!(list().await.is_empty(), "an uncommitted product is not listed");
        tx.commit().await.unwrap();
        assert_eq!(list().await, ["Flat white"], "a committed one is, at once");

        pools.close().await.unwrap();
    }
}

/// A database that refuses connections is named as refusing them at start-up,
/// not only as "pool timed out" (sqlx's pool retries until its timeout and
/// keeps the cause to itself). Needs no server: nothing listens on port 1.
#[tokio::test]
async fn a_refused_connection_is_reported_as_refused() {
    let settings = DbSettings {
        url: "postgres://postgres@127.0.0.1:1/coffee".to_owned(),
        max_connections: 4,
        acquire_timeout: Duration::from_millis(500),
    };
    for (how, result) in [
        ("one pool", coffee_storage::connect(&settings).await.map(drop)),
        ("a pool per thread", coffee_storage::connect_per_thread(&settings, 3).await.map(drop)),
    ] {
        let message = result.expect_err("nothing listens on port 1").to_string();
        assert!(message.contains("Connection refused"), "{how}: {message}");
    }
}
