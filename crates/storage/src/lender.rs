//! [`Lender`]: keeps a thread's PostgreSQL connections between single
//! statements instead of handing each back to sqlx's pool, which costs a
//! round trip per statement.
//!
//! sqlx pings every connection that comes back to its pool, unconditionally
//! (`sqlx-core` 0.9 `PoolConnection::return_to_pool`: a `Sync` and a wait for
//! `ReadyForQuery`), so each statement run on the pool costs two round trips
//! where the statement needs one. The ping is how sqlx notices a connection
//! that a cancelled request left in the middle of a statement. A lender does
//! the same job without the round trip, because it knows whether the
//! statement it ran on a connection came to its end.
//!
//! A lender is a small pool (`deadpool`) in front of sqlx's, whose objects
//! are connections taken from sqlx's pool and kept:
//!
//! * A connection whose statement came to its end (its rows read, no error)
//!   is lent again as it is. Any other (the request was cancelled, the
//!   statement failed) goes back to sqlx's pool when it is next asked for,
//!   and sqlx pings it and closes it if it is broken.
//! * One last lent `IDLE_PING_AFTER` ago or more is pinged before it is lent
//!   again, as sqlx pings its own idle connections.
//! * The kept connections are still the sqlx pool's: they count against its
//!   bound. A lender keeps one fewer than the bound, so whatever takes a
//!   connection from sqlx's pool itself (a transaction, a migration, a test's
//!   probe) never waits for the lender's idle ones; a pool of one has no
//!   lender. Transactions also announce themselves with
//!   [`Lender::for_others`] while they wait for a connection: the lender then
//!   hands its idle connections back, and every connection it gets back
//!   afterwards, until they have one.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::query::Query;
use sea_orm::sqlx::{self, AssertSqlSafe, Connection as _, PgPool, Postgres};
use sea_orm::{ConnAcquireErr, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

use crate::IDLE_PING_AFTER;

/// One thread's connections between statements; see the module docs.
pub(crate) struct Lender {
    connections: managed::Pool<FromSqlx>,
    /// Transactions (and the like) waiting for a connection of sqlx's pool.
    others: AtomicUsize,
    /// Held while a connection goes back to the lender, and while one of the
    /// others announces itself, so that no connection is kept idle after
    /// the lender has been told to give them back.
    gate: Mutex<()>,
}

impl std::fmt::Debug for Lender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lender").field("status", &self.connections.status()).finish_non_exhaustive()
    }
}

/// The lender's objects come from sqlx's pool.
struct FromSqlx {
    pool: PgPool,
}

/// A connection of sqlx's pool, and whether its last statement came to its end.
struct Kept {
    conn: PoolConnection<Postgres>,
    done: bool,
}

impl managed::Manager for FromSqlx {
    type Type = Kept;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Kept, sqlx::Error> {
        Ok(Kept { conn: self.pool.acquire().await?, done: true })
    }

    async fn recycle(&self, kept: &mut Kept, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if !kept.done {
            // Dropped by deadpool: back to sqlx's pool, which pings it.
            return Err(RecycleError::message("its last statement did not come to its end"));
        }
        if metrics.last_used() >= IDLE_PING_AFTER {
            kept.conn.ping().await?;
        }
        Ok(())
    }
}

impl Lender {
    /// A lender of `pool`'s connections, keeping one fewer than the pool
    /// has, and waiting for one, or for the ping of one idle a while, at
    /// most as long as the pool would; `None` for a pool of one.
    pub(crate) fn new(pool: PgPool) -> Option<Self> {
        let options = pool.options();
        let keep = usize::try_from(options.get_max_connections()).unwrap_or(usize::MAX).saturating_sub(1);
        if keep == 0 {
            return None;
        }
        let wait = options.get_acquire_timeout();
        let connections = managed::Pool::builder(FromSqlx { pool })
            .max_size(keep)
            .wait_timeout(Some(wait))
            // A ping left unanswered (a server gone without closing the
            // socket) is given up then, and another connection taken.
            .recycle_timeout(Some(wait))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a runtime is set, as a wait timeout needs");
        Some(Self { connections, others: AtomicUsize::new(0), gate: Mutex::new(()) })
    }

    /// Every row of `stmt`, prepared and kept per connection if `persistent`
    /// (as SeaORM runs its statements), else planned with its values.
    pub(crate) async fn query_all(&self, stmt: Statement, persistent: bool) -> Result<Vec<QueryResult>, DbErr> {
        let mut lent = self.lend().await?;
        let rows = query(stmt).persistent(persistent).fetch_all(lent.conn()).await.map_err(query_err)?;
        lent.done();
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// The first row of `stmt`, if any.
    pub(crate) async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut lent = self.lend().await?;
        // sqlx reads the statement's response to its end, the other rows too.
        let row = query(stmt).fetch_optional(lent.conn()).await.map_err(query_err)?;
        lent.done();
        Ok(row.map(QueryResult::from))
    }

    /// Runs `stmt` for its effect.
    pub(crate) async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut lent = self.lend().await?;
        let result = query(stmt)
            .execute(lent.conn())
            .await
            // As SeaORM's own statements report it, so `repo_err` reads it alike.
            .map_err(|e| DbErr::Exec(RuntimeErr::SqlxError(e.into())))?;
        lent.done();
        Ok(result.into())
    }

    /// Whether the database answers, on a lent connection.
    pub(crate) async fn ping(&self) -> Result<(), DbErr> {
        let mut lent = self.lend().await?;
        lent.conn().ping().await.map_err(query_err)?;
        lent.done();
        Ok(())
    }

    /// Runs `wait`, which waits for a connection of sqlx's pool (a
    /// transaction's `begin`), with the lender giving its connections back
    /// meanwhile.
    pub(crate) async fn for_others<T>(&self, wait: impl Future<Output = T>) -> T {
        struct Announced<'a>(&'a AtomicUsize);
        impl Drop for Announced<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let (_announced, idle) = {
            let _gate = self.gate();
            self.others.fetch_add(1, Ordering::AcqRel);
            // The idle ones, at once; those in use, as they come back.
            (Announced(&self.others), self.connections.retain(|_, _| false))
        };
        // Outside the gate: sqlx pings them on their way back.
        drop(idle);
        wait.await
    }

    /// Closes sqlx's pool, the kept connections and those lent as they come
    /// back. The pool is marked closed first, so that it closes them rather
    /// than pinging them: at shutdown the threads that opened them may have
    /// stopped, and their sockets with them.
    pub(crate) async fn close(&self) {
        let closed = self.connections.manager().pool.close();
        self.connections.close();
        closed.await;
    }

    /// How many connections it keeps at most.
    pub(crate) fn capacity(&self) -> usize {
        self.connections.status().max_size
    }

    /// How many connections are kept right now (idle, but out of sqlx's pool).
    pub(crate) fn kept(&self) -> usize {
        self.connections.status().available
    }

    async fn lend(&self) -> Result<Lent<'_>, DbErr> {
        let mut object = self.connections.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            PoolError::Closed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            // sqlx's pool could not give one (`repo_err`: unavailable).
            PoolError::Backend(e) => DbErr::Conn(RuntimeErr::SqlxError(e.into())),
            e @ (PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_)) => {
                DbErr::Conn(RuntimeErr::Internal(e.to_string()))
            }
        })?;
        object.done = false;
        Ok(Lent { lender: self, object: Some(object) })
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, ()> {
        // Guards no data: a panic elsewhere leaves nothing half-changed.
        self.gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection lent for one statement.
struct Lent<'a> {
    lender: &'a Lender,
    object: Option<Object<FromSqlx>>,
}

impl Lent<'_> {
    fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.object.as_mut().expect("lent until dropped").conn
    }

    /// The statement came to its end: the connection is ready for the next.
    fn done(&mut self) {
        if let Some(object) = self.object.as_mut() {
            object.done = true;
        }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else { return };
        let to_sqlx = {
            let _gate = self.lender.gate();
            if self.lender.others.load(Ordering::Acquire) == 0 {
                // Back to the lender (dropping an object returns it).
                drop(object);
                None
            } else {
                Some(Object::take(object))
            }
        };
        // Outside the gate: sqlx pings it on its way back.
        drop(to_sqlx);
    }
}

/// `stmt` as sqlx runs it, with its values bound.
pub(crate) fn query(stmt: Statement) -> Query<'static, Postgres, SqlxValues> {
    let values = SqlxValues(stmt.values.unwrap_or(Values(Vec::new())));
    sqlx::query_with(AssertSqlSafe(stmt.sql), values)
}

/// As SeaORM reports a query's error, so `repo_err` tells an outage apart.
pub(crate) fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}
