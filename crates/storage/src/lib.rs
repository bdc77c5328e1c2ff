//! SeaORM adapters of the domain's repository ports.
//!
//! The same code serves PostgreSQL (distributed profile) and SQLite (embedded
//! profile); where the two differ (row locks, pool size) it is said below.

mod cart;
mod catalog;
mod conn;
mod entity;
mod idempotency;
mod lender;
mod list;
mod maintenance;
mod orders;
mod outbox;
mod pools;
mod sessions;
mod support;
mod totals;
mod users;
mod versions;

use std::time::Duration;

use coffee_domain::RepoError;
use coffee_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, SelectStatement};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, RuntimeErr, SqlErr};

pub use cart::SeaCartRepository;
pub use catalog::SeaCatalogRepository;
pub use conn::{Conn, SeaUnitOfWork};
pub use idempotency::SeaIdempotencyStore;
pub use maintenance::SeaMaintenanceRepository;
pub use orders::SeaOrderRepository;
pub use outbox::SeaOutboxRepository;
pub use pools::{Pools, thread_number};
pub use sea_orm::DatabaseConnection as Db;
pub use sessions::SeaSessionRepository;
pub use support::SeaConversationRepository;
pub use totals::TotalsStats;
pub use users::SeaUserRepository;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// `postgres://…` or `sqlite://…`.
    pub url: String,
    /// Upper bound of the PostgreSQL pool. SQLite writes through one
    /// connection; `connect_per_thread` adds this many read-only ones for lists.
    pub max_connections: u32,
    /// How long a request may wait for a pooled connection.
    pub acquire_timeout: Duration,
}

/// How much of an SQLite file the read-only connections map into memory
/// instead of reading it through a page cache of their own (2 MB each by
/// default, which a menu of 10 000 products overflows): mapped pages are the
/// kernel's page cache, shared by every connection, read without a system
/// call or a copy. A search in one category went from 153–167 to 374–400
/// req/s at 32 connections (`bench/README.md`, "Lists on read-only
/// connections"). The price: a read that fails under the mapping (the file
/// truncated by another process, a disk error) is a `SIGBUS`, not an error;
/// the embedded profile's file belongs to its one process.
const SQLITE_MMAP_SIZE: u64 = 256 * 1024 * 1024;

/// A pooled connection idle at least this long is pinged before it is lent.
const IDLE_PING_AFTER: Duration = Duration::from_millis(500);

/// Opens a connection pool.
///
/// SQLite gets a single connection: it allows one writer at a time anyway,
/// and one connection rules out "database is locked" errors between
/// transactions that read before they write.
///
/// # Errors
/// The URL is malformed or the database is unreachable.
pub async fn connect(settings: &DbSettings) -> Result<DatabaseConnection, DbErr> {
    match sea_orm::Database::connect(pool_options(settings, settings.max_connections)).await {
        Ok(db) => Ok(db),
        Err(e) => Err(with_cause(settings, e).await),
    }
}

/// sqlx's pool retries a connection the server refuses until its timeout,
/// and then says only "pool timed out". One direct attempt names the cause
/// (refused, unknown host, no answer) for the start-up error; any other
/// error (a wrong password, an unknown database) already names it.
async fn with_cause(settings: &DbSettings, err: DbErr) -> DbErr {
    use sea_orm::sqlx::{self, Connection as _};
    let timed_out = matches!(&err, DbErr::Conn(RuntimeErr::SqlxError(e)) if matches!(**e, sqlx::Error::PoolTimedOut));
    if !timed_out || !settings.url.starts_with("postgres") {
        return err;
    }
    match tokio::time::timeout(settings.acquire_timeout, sqlx::PgConnection::connect(&settings.url)).await {
        Ok(Err(cause)) => DbErr::Conn(RuntimeErr::SqlxError(cause.into())),
        Err(_) => DbErr::Conn(RuntimeErr::Internal(format!("no answer within {:?}", settings.acquire_timeout))),
        // Reachable a moment later: the pool's own error is all there is.
        Ok(Ok(conn)) => {
            // Best effort: the connection is dropped either way.
            let _closed = conn.close().await;
            err
        }
    }
}

/// Opens one pool per thread for `threads` threads (see [`Pools`]), sharing
/// `max_connections` between them. Each pool gets at least one connection,
/// so with more threads than `max_connections` the total is `threads`. The
/// first pool connects now, so an unreachable database fails here; the
/// others open their connections when their thread first asks. SQLite keeps
/// the single connection of [`connect`], shared by every thread, and a file
/// (not an in-memory database, which another connection would not see) gets
/// up to `max_connections` read-only connections for lists, opened when
/// lists first ask for them ([`Pools::for_lists`]).
///
/// # Errors
/// The URL is malformed or the database is unreachable.
pub async fn connect_per_thread(settings: &DbSettings, threads: usize) -> Result<Pools, DbErr> {
    if is_sqlite(&settings.url) {
        let pools = Pools::from(connect(settings).await?);
        if settings.url.contains(":memory:") || settings.url.contains("mode=memory") {
            return Ok(pools);
        }
        let mut readers = pool_options(settings, settings.max_connections);
        readers
            .max_connections(std::cmp::max(settings.max_connections, 1))
            .min_connections(0)
            // In place of the writer's options: the file is in WAL mode
            // already, and a read-only connection cannot set it.
            .map_sqlx_sqlite_opts(|o| {
                o.read_only(true).busy_timeout(Duration::from_secs(5)).pragma("mmap_size", SQLITE_MMAP_SIZE.to_string())
            })
            .connect_lazy(true);
        return Ok(pools.with_readers(sea_orm::Database::connect(readers).await?));
    }
    if threads <= 1 {
        return connect(settings).await.map(|db| Pools::from(db).lending());
    }
    let n = u32::try_from(threads).unwrap_or(u32::MAX);
    // max_connections split as evenly as it goes (the last pools, the HTTP
    // workers', take the remainder), so the pools add up to it.
    let share =
        |i: u32| std::cmp::max(settings.max_connections / n + u32::from(i >= n - settings.max_connections % n), 1);
    let mut pools = match sea_orm::Database::connect(pool_options(settings, share(0))).await {
        Ok(first) => vec![first],
        Err(e) => return Err(with_cause(settings, e).await),
    };
    for i in 1..n {
        let mut lazy = pool_options(settings, share(i));
        lazy.connect_lazy(true);
        pools.push(sea_orm::Database::connect(lazy).await?);
    }
    Ok(Pools::new(pools).lending())
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

fn pool_options(settings: &DbSettings, max_connections: u32) -> ConnectOptions {
    let is_sqlite = is_sqlite(&settings.url);
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .max_connections(if is_sqlite { 1 } else { max_connections })
        .min_connections(if is_sqlite { 1 } else { 0 })
        .acquire_timeout(settings.acquire_timeout)
        .connect_timeout(settings.acquire_timeout)
        // sqlx pings every connection it lends: a round trip before each
        // statement or transaction, on top of the ping it always sends when
        // a connection comes back (which also discards a broken one). Ping on
        // lending only a connection that sat idle, like HikariCP's 500 ms
        // alive-bypass window: one in steady use was answering a moment ago.
        .test_before_acquire_if_idle_for(IDLE_PING_AFTER)
        .sqlx_logging(false);
    if is_sqlite {
        options.map_sqlx_sqlite_opts(|o| {
            o.foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    options
}

/// Applies every pending migration.
///
/// # Errors
/// A migration failed; the database is left at the last applied one.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The connection pool right now, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections running a statement or a transaction.
    pub in_use: u64,
    /// Open connections idle: in the pool, or kept by a lender between statements.
    pub idle: u64,
    /// The pool's upper bound.
    pub max: u64,
}

/// Reads the pools' counters, added up (no I/O). A connection a lender keeps
/// between statements counts as idle, not in use.
pub fn pool_stats(pools: &Pools) -> Option<PoolStats> {
    let mut total = PoolStats { in_use: 0, idle: 0, max: 0 };
    for pool in pools.all() {
        let one = one_pool_stats(pool)?;
        total = PoolStats { in_use: total.in_use + one.in_use, idle: total.idle + one.idle, max: total.max + one.max };
    }
    // Read after the pools: a connection kept since is in neither count.
    let kept = std::cmp::min(u64::try_from(pools.kept()).unwrap_or(u64::MAX), total.in_use);
    Some(PoolStats { in_use: total.in_use - kept, idle: total.idle + kept, ..total })
}

/// How this process answered the pages and totals of lists that have a
/// version (remembered, or read and counted, see `totals.rs`), for the metrics.
pub fn totals_stats(pools: &Pools) -> TotalsStats {
    pools.totals().stats()
}

/// One pool's counts; `None` for a backend this crate does not run.
pub(crate) fn one_pool_stats(db: &DatabaseConnection) -> Option<PoolStats> {
    fn stats<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
        counts(pool.size(), pool.num_idle(), pool.options().get_max_connections())
    }
    // The getters panic on the other backend: ask which one it is first.
    match db.get_database_backend() {
        DatabaseBackend::Postgres => Some(stats(db.get_postgres_connection_pool())),
        DatabaseBackend::Sqlite => Some(stats(db.get_sqlite_connection_pool())),
        _ => None,
    }
}

/// A pool's counts from sqlx's: `size` open connections, `num_idle` of them
/// idle, `max` at most.
///
/// sqlx keeps the idle count in an atomic of its own, which a returning
/// connection increments only after it is back in the idle queue; a task
/// that takes it from the queue in that moment decrements first, so the
/// count wraps below zero (`usize::MAX`) for a moment. Read then, it made a
/// scrape of `/metrics` overflow the sum of the pools (a panic in a debug
/// build, a nonsense figure in a release one). No pool has more idle
/// connections than open ones, so it is capped at `size`.
fn counts(size: u32, num_idle: usize, max: u32) -> PoolStats {
    let size = u64::from(size);
    let idle = std::cmp::min(u64::try_from(num_idle).unwrap_or(u64::MAX), size);
    PoolStats { in_use: size - idle, idle, max: u64::from(max) }
}

pub(crate) fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// `col IN (batch)`, with `batch` (a `SELECT … LIMIT n FOR UPDATE SKIP
/// LOCKED`) evaluated exactly once.
///
/// PostgreSQL may plan `IN (subquery)` as a nested-loop semi-join that runs
/// the subquery again for every outer row; each run skips the rows this very
/// statement has already changed and locks the next `n`, so an `UPDATE` or
/// `DELETE` meant for one batch touches every matching row. `ARRAY(subquery)`
/// is an init plan, run once. SQLite materialises an `IN` subquery once.
pub(crate) fn in_batch(db: &impl ConnectionTrait, col: impl IntoColumnRef, batch: SelectStatement) -> Expr {
    if is_postgres(db) {
        let batch = Expr::SubQuery(None, Box::new(batch.into()));
        Expr::cust_with_exprs("$1 = ANY(ARRAY $2)", [Expr::col(col), batch])
    } else {
        Expr::col(col).in_subquery(batch)
    }
}

/// Maps a database error to the domain's storage error, keeping it as the
/// cause. Unique violations become `Conflict`; a database that cannot be
/// reached, is shutting down, or is too busy to answer (SQLite's lock, an
/// exhausted pool) becomes `Unavailable`, which clients see as a 503 to retry.
pub(crate) fn repo_err(e: DbErr) -> RepoError {
    if let Some(SqlErr::UniqueConstraintViolation(constraint)) = e.sql_err() {
        return RepoError::Conflict(constraint);
    }
    if is_unavailable(&e) { RepoError::Unavailable(Box::new(e)) } else { RepoError::Other(Box::new(e)) }
}

/// The SQL of the first page of every list sorted by each field it may be
/// sorted by, both ways, as the repositories write it on `backend` (values
/// inlined):
/// `("users?sort=-role", SQL)`. For the test that checks an index serves
/// every sort (`tests/storage/sort_plans.rs`).
#[doc(hidden)]
pub fn first_page_sql(backend: DatabaseBackend) -> Vec<(String, String)> {
    use coffee_domain::query::{Resource, parse_list_query};
    use sea_orm::EntityTrait;

    fn pages<R: Resource, E: EntityTrait>(
        list: &str,
        mapping: &list::ListMapping<E, R::Field>,
        backend: DatabaseBackend,
        out: &mut Vec<(String, String)>,
    ) where
        R::Field: Copy + PartialEq,
    {
        for field in R::FIELDS.iter().filter(|f| f.sortable) {
            for sort in [field.name.to_owned(), format!("-{}", field.name)] {
                if let Ok(query) = parse_list_query::<R>(&[("sort".to_owned(), sort.clone())]) {
                    let (page, _) = list::page_select(E::find(), &query, mapping);
                    let sql = match backend {
                        DatabaseBackend::Postgres => page.to_string(sea_orm::sea_query::PostgresQueryBuilder),
                        _ => page.to_string(sea_orm::sea_query::SqliteQueryBuilder),
                    };
                    out.push((format!("{list}?sort={sort}"), sql));
                }
            }
        }
    }
    let mut out = Vec::new();
    pages::<coffee_domain::user::UserResource, _>("users", &users::MAPPING, backend, &mut out);
    pages::<coffee_domain::catalog::CategoryResource, _>("categories", &catalog::CATEGORY_MAPPING, backend, &mut out);
    pages::<coffee_domain::catalog::ProductResource, _>("products", &catalog::PRODUCT_MAPPING, backend, &mut out);
    pages::<coffee_domain::order::OrderResource, _>("orders", &orders::MAPPING, backend, &mut out);
    pages::<coffee_domain::support::ConversationResource, _>("conversations", &support::MAPPING, backend, &mut out);
    out
}

fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            match inner.as_ref() {
                Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_) => true,
                Sqlx::Database(db) => {
                    let code = db.code();
                    let code = code.as_deref().unwrap_or_default();
                    // SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6). PostgreSQL: connection
                    // exceptions (08…), shutting down or starting (57P01–57P03), too many
                    // connections, and a transaction aborted for another's sake (a
                    // serialization failure, a deadlock), which may be tried again.
                    matches!(
                        code,
                        "5" | "6" | "517" | "262" | "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
                    ) || code.starts_with("08")
                }
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{PoolStats, counts};

    #[test]
    fn a_pool_s_idle_count_read_while_it_wraps_is_capped_at_its_size() {
        assert_eq!(counts(4, 1, 10), PoolStats { in_use: 3, idle: 1, max: 10 });
        // sqlx's idle count one below zero, for a moment.
        assert_eq!(counts(4, usize::MAX, 10), PoolStats { in_use: 0, idle: 4, max: 10 });
        assert_eq!(counts(0, usize::MAX, 10), PoolStats { in_use: 0, idle: 0, max: 10 });
    }
}
