//! Connections kept between statements (PostgreSQL, `lender.rs`): a
//! cancelled statement's connection is not kept, the pool's other users never
//! wait for kept ones, a kept connection the server closed is replaced, the
//! metrics count kept ones as idle, and the pool still closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coffee_domain::uow::UnitOfWork;
use coffee_storage::{Conn, DbSettings, Pools, SeaUnitOfWork};
use coffee_testkit::TestDatabase;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// Lending pools on a new PostgreSQL database of `max_connections`, or
/// `None` without `TEST_DATABASE_URL`.
async fn lending(max_connections: u32, acquire_timeout: Duration) -> Option<(TestDatabase, Pools)> {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL-only case skipped");
        return None;
    };
    let settings = DbSettings { url: database.url.clone(), max_connections, acquire_timeout };
    let pools = coffee_storage::connect_per_thread(&settings, 1).await.unwrap();
    Some((database, pools))
}

async fn number(conn: &Conn, sql: &str) -> Result<i32, DbErr> {
    let row = conn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
    row.expect("one row").try_get::<i32>("", "n")
}

#[tokio::test]
async fn a_statement_cancelled_midway_does_not_hold_up_the_next() {
    let Some((_database, pools)) = lending(4, Duration::from_secs(5)).await else { return };
    let conn = Conn::from(pools.clone());
    assert_eq!(number(&conn, "SELECT 1 AS n").await.unwrap(), 1);

    // A request dropped while its statement runs (the client went away).
    let cancelled = tokio::time::timeout(Duration::from_millis(100), number(&conn, "SELECT 2 AS n FROM pg_sleep(5)"));
    assert!(cancelled.await.is_err(), "the statement was cancelled, not finished");

    // Had its connection been kept, the next statement would wait on it
    // for the rest of the sleep before its own answer.
    let started = Instant::now();
    assert_eq!(number(&conn, "SELECT 3 AS n").await.unwrap(), 3);
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    pools.close().await.unwrap();
}

#[tokio::test]
async fn kept_connections_never_keep_a_transaction_waiting() {
    // Three connections: the lender keeps two at most, and statements run
    // back to back on many tasks until the transactions are done.
    let Some((_database, pools)) = lending(3, Duration::from_secs(2)).await else { return };
    let conn = Conn::from(pools.clone());
    let done = AtomicBool::new(false);
    let busy = futures_util::future::join_all((0..16).map(|_| async {
        while !done.load(Ordering::Relaxed) {
            number(&conn, "SELECT 1 AS n").await.unwrap();
        }
    }));
    let transactions = async {
        let uow = SeaUnitOfWork::new(pools.clone());
        for _ in 0..10 {
            tokio::task::yield_now().await;
            // The one connection the lender never keeps…
            let first = uow.begin().await.expect("a transaction gets the pool's own connection");
            // …and one it gave back for this transaction.
            let second = uow.begin().await.expect("a second one gets a connection the lender kept");
            second.commit().await.unwrap();
            first.commit().await.unwrap();
        }
        done.store(true, Ordering::Relaxed);
    };
    tokio::join!(busy, transactions);
    pools.close().await.unwrap();
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced_unseen() {
    let Some((database, pools)) = lending(2, Duration::from_secs(5)).await else { return };
    let conn = Conn::from(pools.clone());
    let first = number(&conn, "SELECT pg_backend_pid() AS n").await.unwrap();
    assert_eq!(coffee_storage::pool_stats(&pools).unwrap().idle, 1, "kept, and counted idle");

    let admin = coffee_storage::connect(&DbSettings {
        url: database.url.clone(),
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let sql = format!("SELECT pg_terminate_backend({first})");
    admin.execute_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap();
    // Past the window in which a connection in steady use is lent unpinged.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let second = number(&conn, "SELECT pg_backend_pid() AS n").await.expect("the next statement runs");
    assert_ne!(first, second, "the closed connection was replaced");
    pools.close().await.unwrap();
}

#[tokio::test]
async fn the_metrics_count_kept_connections_as_idle_and_the_pool_closes_with_them() {
    let Some((_database, pools)) = lending(4, Duration::from_secs(5)).await else { return };
    let conn = Conn::from(pools.clone());
    let both = futures_util::future::join(
        number(&conn, "SELECT 1 AS n FROM pg_sleep(0.2)"),
        number(&conn, "SELECT 1 AS n FROM pg_sleep(0.2)"),
    );
    let (a, b) = both.await;
    assert_eq!((a.unwrap(), b.unwrap()), (1, 1));

    let stats = coffee_storage::pool_stats(&pools).unwrap();
    assert_eq!((stats.in_use, stats.idle), (0, 2), "both connections kept, neither in use");
    tokio::time::timeout(Duration::from_secs(5), pools.close())
        .await
        .expect("the pool closes without waiting for kept connections")
        .unwrap();
}
