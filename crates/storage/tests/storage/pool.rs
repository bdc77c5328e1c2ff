//! The pool lends a working connection after the server dropped an idle one
//! (a PostgreSQL restart, a proxy's idle timeout): it pings a connection that
//! sat idle before lending it, and replaces it unseen when the ping fails.

use std::time::Duration;

use coffee_storage::DbSettings;
use coffee_testkit::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

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
