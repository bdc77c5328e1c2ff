//! [`Pools`]: the database pool, split into one pool per thread that serves
//! requests.
//!
//! `coffee-api` runs each actix worker on a single-threaded runtime, and a
//! socket belongs to the runtime of the thread that opened it. With one pool
//! shared by every worker, a statement on a connection another worker opened
//! is answered on that worker's reactor, which then has to wake this one: a
//! cross-thread wake-up (an `eventfd` write and a context switch) for most
//! round trips. With a pool per thread, a thread only ever uses connections
//! it opened itself (sqlx opens them in the task that asks).
//!
//! On PostgreSQL each pool also has a [`Lender`], which keeps the pool's
//! connections between single statements instead of handing them back after
//! each (`lender.rs` says why).
//!
//! SQLite has one writer: its pool is one connection, shared by every
//! thread, plus a pool of read-only connections that run the lists
//! ([`Pools::for_lists`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{DatabaseConnection, DbErr};

use crate::lender::Lender;
use crate::totals::Totals;

/// One pool per thread (a pool of pools), or a single pool shared by all;
/// on PostgreSQL each one's [`Lender`], if [`Pools::lending`]; on SQLite
/// the read-only connections that run lists; and the list totals this
/// process remembers (see `totals.rs`).
#[derive(Debug, Clone)]
pub struct Pools {
    pools: Arc<[DatabaseConnection]>,
    /// One per pool, in the same order; empty if not lending.
    lenders: Arc<[Lender]>,
    readers: Option<DatabaseConnection>,
    totals: Totals,
}

/// Numbers the threads in the order they first use a database, so that the
/// first `n` of them each get a pool of their own.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// This thread's number: 0 for the first thread that asked, and so on.
/// The request metrics pick their per-thread shard by it too.
pub fn thread_number() -> usize {
    THREAD.with(|t| *t)
}

impl Pools {
    pub(crate) fn new(pools: Vec<DatabaseConnection>) -> Self {
        assert!(!pools.is_empty(), "at least one pool");
        let totals = Totals::new(pools.len());
        Self { pools: pools.into(), lenders: Arc::new([]), readers: None, totals }
    }

    /// These pools, each with a [`Lender`] that keeps its connections
    /// between single statements (PostgreSQL; SQLite's are left as they
    /// are), if every pool has two connections at least (a lender keeps one
    /// fewer than its pool's). Lend from a pool through one `Pools` only,
    /// and begin its transactions there ([`Pools::for_others`]): a lender
    /// gives its kept connections back to those it is told of.
    pub(crate) fn lending(self) -> Self {
        let lenders = self
            .pools
            .iter()
            .map(|db| match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => Lender::new(db.get_postgres_connection_pool().clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>();
        match lenders {
            Some(lenders) => Self { lenders: lenders.into(), ..self },
            None => self,
        }
    }

    /// These pools, with `readers` running the lists.
    pub(crate) fn with_readers(self, readers: DatabaseConnection) -> Self {
        Self { readers: Some(readers), ..self }
    }

    /// The pool of the calling thread. Threads beyond the number of pools
    /// share them (round robin), which is correct, only not as fast.
    pub fn current(&self) -> &DatabaseConnection {
        &self.pools[self.index()]
    }

    /// Which of the pools is the calling thread's.
    pub(crate) fn index(&self) -> usize {
        thread_number() % self.pools.len()
    }

    /// The calling thread's pool's [`Lender`], if these pools lend.
    pub(crate) fn lender(&self) -> Option<&Lender> {
        self.lenders.get(self.index())
    }

    /// Runs `wait`, which waits for a connection of the calling thread's
    /// pool (a transaction's `begin`), with its lender, if any, giving its
    /// connections back meanwhile.
    pub(crate) async fn for_others<T>(&self, wait: impl std::future::Future<Output = T>) -> T {
        match self.lender() {
            Some(lender) => lender.for_others(wait).await,
            None => wait.await,
        }
    }

    /// Whether the database answers, on a connection of the calling thread's
    /// pool (a lent one, if it lends).
    ///
    /// # Errors
    /// No connection, or no answer on it.
    pub async fn ping(&self) -> Result<(), DbErr> {
        match self.lender() {
            Some(lender) => lender.ping().await,
            None => self.current().ping().await,
        }
    }

    /// How many connections the lenders keep between statements: out of
    /// their pools, but idle.
    pub(crate) fn kept(&self) -> usize {
        self.lenders.iter().map(Lender::kept).sum()
    }

    /// Where a list runs outside a transaction: SQLite's read-only
    /// connections, else the calling thread's pool.
    ///
    /// SQLite's single writer connection runs one statement at a time, so
    /// with it alone every request waited behind every search (32 at once:
    /// p99 101 ms for a 3 ms search). In WAL mode readers neither wait for
    /// the writer nor hold it up, and a read sees every transaction committed
    /// before it started, so a list after a write (answered only once it
    /// committed) sees that write. A list's page and its total are one
    /// statement, hence one snapshot.
    pub(crate) fn for_lists(&self) -> &DatabaseConnection {
        self.readers.as_ref().unwrap_or_else(|| self.current())
    }

    /// How many statements of a list the calling thread runs at once: one
    /// per connection its lender keeps, else one per connection of the
    /// pool lists run on.
    pub(crate) fn list_connections(&self) -> usize {
        match self.lender() {
            Some(lender) => lender.capacity(),
            None => crate::one_pool_stats(self.for_lists()).map_or(1, |stats| usize::try_from(stats.max).unwrap_or(1)),
        }
    }

    /// The list totals this process remembers.
    pub(crate) fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Every pool: the per-thread ones (SQLite: its one writer pool), then
    /// SQLite's read-only pool, e.g. to add up their counters.
    pub fn all(&self) -> impl Iterator<Item = &DatabaseConnection> {
        self.pools.iter().chain(&self.readers)
    }

    /// Closes every pool: waits for lent connections to come back.
    ///
    /// # Errors
    /// A pool failed to close; the others are still closed.
    pub async fn close(&self) -> Result<(), DbErr> {
        for lender in self.lenders.iter() {
            lender.close().await;
        }
        let mut result = Ok(());
        for pool in self.all() {
            if let Err(e) = pool.clone().close().await {
                result = Err(e);
            }
        }
        result
    }
}

impl From<DatabaseConnection> for Pools {
    fn from(db: DatabaseConnection) -> Self {
        Self::new(vec![db])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> DatabaseConnection {
        sea_orm::Database::connect("sqlite::memory:").await.expect("an in-memory SQLite database")
    }

    fn index_of(pools: &Pools) -> usize {
        let current: *const DatabaseConnection = pools.current();
        pools.all().position(|p| std::ptr::eq(p, current)).expect("current() is one of all()")
    }

    #[tokio::test]
    async fn a_thread_keeps_its_pool_and_consecutive_threads_get_different_ones() {
        let pools = Pools::new(vec![sqlite().await, sqlite().await, sqlite().await]);
        let on_a_new_thread = || {
            let pools = pools.clone();
            std::thread::spawn(move || (thread_number(), index_of(&pools), index_of(&pools)))
                .join()
                .expect("the thread did not panic")
        };
        let (first, second) = (on_a_new_thread(), on_a_new_thread());
        for (number, pool, again) in [first, second] {
            assert_eq!(pool, again, "a thread always gets the same pool");
            assert_eq!(pool, number % 3, "thread {number} gets pool {}", number % 3);
        }
        assert!(second.0 > first.0, "each new thread gets a new number");
        assert_eq!(index_of(&pools), thread_number() % 3);
    }
}
