//! The scheduled cleanup killed in the middle of a purge (SIGKILL, as in a
//! crash or an OOM kill) loses nothing but time: the batches it deleted stay
//! deleted, the batch in flight is deleted whole or not at all, and the next
//! worker's first run deletes every stale account that is left, while
//! verified accounts, admins and accounts younger than `UNVERIFIED_USER_TTL`
//! are never touched.
//!
//! One run deletes stale accounts [`BATCH`] at a time, so the test seeds
//! [`STALE`] of them (one bulk `INSERT … SELECT`): enough for a run to take
//! dozens of batches and seconds, so that the kill lands while it deletes.

use std::time::{Duration, Instant};

use coffee_testkit::Backend;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;

use crate::harness::{Env, eventually, redis_or_skip};

/// Stale accounts seeded: unverified customers created 30 days ago.
const STALE: i64 = 20_000;
/// Accounts of each kind the cleanup must keep.
const KEPT: i64 = 100;
/// Rows per delete statement of the cleanup (`CleanupSettings::batch_size`
/// as `coffee_app::Services` wires it).
const BATCH: i64 = 1000;
/// The worker's settings: a cleanup every second (the first tick starts the
/// purge at once), and the default retention spelled out.
const CLEANUP_EVERY_SECOND: &[(&str, &str)] = &[("CLEANUP_SCHEDULE", "* * * * * *"), ("UNVERIFIED_USER_TTL", "48h")];

/// Seeds [`STALE`] stale accounts (`stale-N@`), and [`KEPT`] each of old
/// verified customers (`verified-N@`), old unverified admins (`admin-N@`)
/// and unverified customers inside the retention (`fresh-N@`, 25 min to
/// 42 h old).
async fn seed(db: &DatabaseConnection, backend: Backend) {
    let (stale, kept) = match backend {
        Backend::Postgres => (
            format!(
                "INSERT INTO users (id, email, password_hash, role, is_verified, created_at, updated_at)
                 SELECT gen_random_uuid(), 'stale-' || i || '@coffee.test', '-', 'user', false, t, t
                 FROM generate_series(1, {STALE}) AS i,
                      LATERAL (SELECT now() - interval '30 days' + i * interval '1 second' AS t) AS at"
            ),
            format!(
                "INSERT INTO users (id, email, password_hash, role, is_verified, verified_at, created_at, updated_at)
                 SELECT gen_random_uuid(), kind || '-' || i || '@coffee.test', '-', role, verified,
                        CASE WHEN verified THEN t END, t, t
                 FROM (VALUES ('verified', 'user', true, interval '30 days'),
                              ('admin', 'admin', false, interval '30 days'),
                              ('fresh', 'user', false, interval '0 days')) AS k(kind, role, verified, age),
                      generate_series(1, {KEPT}) AS i,
                      LATERAL (SELECT now() - age - i * interval '25 minutes' AS t) AS at"
            ),
        ),
        // Timestamps as the application writes them (RFC 3339 text), ids as blobs.
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {STALE})
                 INSERT INTO users (id, email, password_hash, role, is_verified, created_at, updated_at)
                 SELECT randomblob(16), 'stale-' || i || '@coffee.test', '-', 'user', 0, t, t
                 FROM (SELECT i, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-30 days', '+' || i || ' seconds') AS t
                       FROM seq)"
            ),
            format!(
                "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {KEPT}),
                 kinds(kind, role, verified, age) AS (VALUES ('verified', 'user', 1, 30), ('admin', 'admin', 0, 30),
                                                            ('fresh', 'user', 0, 0))
                 INSERT INTO users (id, email, password_hash, role, is_verified, verified_at, created_at, updated_at)
                 SELECT randomblob(16), kind || '-' || i || '@coffee.test', '-', role, verified,
                        CASE WHEN verified = 1 THEN t END, t, t
                 FROM (SELECT kind, role, verified, i,
                              strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || age || ' days',
                                       '-' || (i * 25) || ' minutes') AS t
                       FROM kinds, seq)"
            ),
        ),
    };
    for sql in [stale, kept] {
        db.execute_unprepared(&sql).await.expect("seed the accounts");
    }
}

/// The single integer `sql` selects.
async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("count");
    row.expect("a count row").try_get_by_index(0).expect("an integer count")
}

/// Stale accounts still in the database.
async fn stale_left(db: &DatabaseConnection) -> i64 {
    count(db, "SELECT COUNT(*) FROM users WHERE email LIKE 'stale-%'").await
}

/// [`stale_left`] once no statement of the killed worker runs any more: a
/// PostgreSQL server finishes (and commits) the statement in flight before it
/// notices that its client is gone. SQLite's writer died with the process.
async fn stale_left_after_the_kill(db: &DatabaseConnection, backend: Backend) -> i64 {
    if backend == Backend::Postgres {
        let sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE 'DELETE%'";
        let deadline = Instant::now() + Duration::from_secs(5);
        while count(db, sql).await > 0 {
            assert!(Instant::now() < deadline, "the killed worker's delete still runs in PostgreSQL after 5 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stale_left(db).await
}

/// Every column of every account the cleanup must keep, one line each.
async fn kept_accounts(db: &DatabaseConnection, backend: Backend) -> Vec<String> {
    let id = match backend {
        Backend::Postgres => "id::text",
        Backend::Sqlite => "hex(id)",
    };
    let sql = format!(
        "SELECT {id} || ' ' || email || ' ' || password_hash || ' ' || role || ' ' || CAST(is_verified AS TEXT)
                || ' ' || COALESCE(CAST(verified_at AS TEXT), '-') || ' ' || CAST(created_at AS TEXT)
                || ' ' || CAST(updated_at AS TEXT)
         FROM users WHERE email NOT LIKE 'stale-%' ORDER BY email"
    );
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("read accounts");
    rows.iter().map(|r| r.try_get_by_index(0).expect("a text row")).collect()
}

/// `unverified_users` of every "cleanup finished" line of a worker's JSON log.
fn finished_runs(log: &str) -> Vec<i64> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == "cleanup finished")
        .map(|event| event["unverified_users"].as_i64().expect("unverified_users is a count"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanup_killed_mid_purge_is_finished_by_the_next_workers_first_run() {
    let Some(redis) = redis_or_skip("a_cleanup_killed_mid_purge_is_finished_by_the_next_workers_first_run") else {
        return;
    };
    let test_started = Instant::now();
    let env = Env::start(&redis).await;
    let backend = env.backend();
    let db = sea_orm::Database::connect(env.database_url()).await.expect("connect to the test database");
    seed(&db, backend).await;
    let kept = kept_accounts(&db, backend).await;
    assert_eq!(kept.len() as i64, 3 * KEPT);
    assert_eq!(stale_left(&db).await, STALE);
    eprintln!("{backend:?}: seeded {STALE} stale accounts in {:?}", test_started.elapsed());

    // The first worker: killed once its run has deleted some batches, not all.
    let spawned = Instant::now();
    let mut first = env.spawn_worker_with(CLEANUP_EVERY_SECOND);
    let mut purge_seen = None;
    while spawned.elapsed() < Duration::from_secs(15) {
        let left = stale_left(&db).await;
        if left <= STALE - 2 * BATCH {
            first.kill();
            purge_seen = Some(left);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = purge_seen
        .unwrap_or_else(|| panic!("the first worker deleted fewer than 2 batches within 15 s:\n{}", first.log()));
    let killed_after = spawned.elapsed();
    let left = stale_left_after_the_kill(&db, backend).await;
    eprintln!(
        "{backend:?}: killed the first worker {killed_after:?} after its start, {seen} stale left; {left} once its last delete ended"
    );
    assert!(left > 0, "the first run had deleted every stale account before the kill; seed more to catch it mid-purge");
    assert_eq!((STALE - left) % BATCH, 0, "the kill left a batch half deleted: {left} of {STALE} stale accounts left");
    assert!(finished_runs(&first.log()).is_empty(), "the first worker finished a run before it was killed");
    assert_eq!(kept_accounts(&db, backend).await, kept, "the interrupted run touched accounts it must keep");

    // The next worker's first run deletes the rest.
    let restarted = Instant::now();
    let second = env.spawn_worker_with(CLEANUP_EVERY_SECOND);
    assert!(
        eventually(Duration::from_secs(20), || !finished_runs(&second.log()).is_empty()).await,
        "the second worker finished no cleanup run within 20 s"
    );
    let finished_after = restarted.elapsed();
    assert_eq!(finished_runs(&second.log())[0], left, "the second worker's first run did not delete all that was left");
    assert_eq!(stale_left(&db).await, 0, "stale accounts survived the second worker's run");
    assert_eq!(kept_accounts(&db, backend).await, kept, "the cleanup touched accounts it must keep");
    eprintln!(
        "{backend:?}: the second worker's first run finished {finished_after:?} after its start; test took {:?}",
        test_started.elapsed()
    );
}
