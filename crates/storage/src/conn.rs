//! [`Conn`]: where a repository runs its statements — the pool, or one open
//! transaction of a unit of work — and [`SeaUnitOfWork`], which opens them.
//!
//! Every repository holds a `Conn`, so the same adapter code serves plain
//! calls (each statement on a pooled connection, or in a short transaction
//! of its own) and calls inside a unit of work (every statement in the
//! shared transaction; an adapter's own transaction becomes a savepoint).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use coffee_domain::RepoError;
use coffee_domain::cart::CartRepository;
use coffee_domain::catalog::CatalogRepository;
use coffee_domain::order::{IdempotencyStore, OrderRepository};
use coffee_domain::outbox::OutboxRepository;
use coffee_domain::uow::{Transaction, UnitOfWork};
use coffee_domain::user::UserRepository;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionError, TransactionOptions, TransactionTrait,
};

use crate::lender::{self, Lender};
use crate::{
    Pools, SeaCartRepository, SeaCatalogRepository, SeaIdempotencyStore, SeaOrderRepository, SeaOutboxRepository,
    SeaUserRepository, repo_err,
};

/// The pool, or one open transaction shared by the repositories of a unit of work.
#[derive(Debug, Clone)]
pub enum Conn {
    /// Each statement on a connection of the calling thread's pool.
    Pool(Pools),
    /// Every statement in this transaction.
    Tx(Arc<DatabaseTransaction>),
}

impl From<DatabaseConnection> for Conn {
    fn from(db: DatabaseConnection) -> Self {
        Conn::Pool(db.into())
    }
}

impl From<Pools> for Conn {
    fn from(pools: Pools) -> Self {
        Conn::Pool(pools)
    }
}

impl Conn {
    fn executor(&self) -> DatabaseExecutor<'_> {
        match self {
            Conn::Pool(pools) => DatabaseExecutor::Connection(pools.current()),
            Conn::Tx(txn) => DatabaseExecutor::Transaction(txn),
        }
    }

    /// Several statements that must apply together: inside a unit of work
    /// they simply join its transaction (no savepoint, no extra round
    /// trips); on the pool they get a transaction of their own.
    pub(crate) async fn atomic(&self) -> Result<Atomic, DbErr> {
        let Conn::Pool(pools) = self else { return Ok(Atomic { conn: self.clone(), own: None }) };
        let txn = Arc::new(pools.for_others(pools.current().begin()).await?);
        Ok(Atomic { conn: Conn::Tx(txn.clone()), own: Some(txn) })
    }
}

/// How PostgreSQL is to plan a statement that [`Conn::query_all_planned`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Prepared once per connection and kept, as every statement SeaORM runs:
    /// PostgreSQL plans the first five executions with their values, and may
    /// then switch to one generic plan, made without them, for good.
    Cached,
    /// Planned with its values on every execution: an unnamed statement,
    /// which PostgreSQL never gives a generic plan. For statements whose
    /// values decide the plan, such as a search term (or a range) matching
    /// five rows or half the table: after a few common terms a cached statement switched
    /// to a generic plan that walks a whole index, and a rare term then took
    /// 125 ms instead of 4 (`bench/README.md`, "Search terms planned with
    /// their values"). It costs a parse, a plan and a round trip per run.
    WithValues,
}

impl Conn {
    /// Every row of a list's `stmt`, planned as `plan` says, on a lent
    /// connection where the pool lends (PostgreSQL), else on the connections
    /// for lists ([`Pools::for_lists`]; SQLite's read-only ones). SQLite has
    /// no generic plans, so there `plan` changes nothing. In a
    /// transaction it runs on the transaction's connection, which SeaORM
    /// holds, as prepared.
    pub(crate) async fn query_all_planned(&self, stmt: Statement, plan: Plan) -> Result<Vec<QueryResult>, DbErr> {
        let Conn::Pool(pools) = self else { return self.query_all_raw(stmt).await };
        if let Some(lender) = pools.lender() {
            return lender.query_all(stmt, plan == Plan::Cached).await;
        }
        let db = pools.for_lists();
        if plan == Plan::Cached || db.get_database_backend() != DbBackend::Postgres {
            return db.query_all_raw(stmt).await;
        }
        let rows = lender::query(stmt)
            .persistent(false)
            .fetch_all(db.get_postgres_connection_pool())
            .await
            .map_err(lender::query_err)?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// Runs `wait`, which takes a connection of the pool itself rather than
    /// a lent one (see [`Pools::for_others`]).
    async fn for_others<T>(&self, wait: impl Future<Output = T>) -> T {
        match self {
            Conn::Pool(pools) => pools.for_others(wait).await,
            Conn::Tx(_) => wait.await,
        }
    }

    /// The calling thread's lender, for a statement on the pool.
    fn lender(&self) -> Option<&Lender> {
        match self {
            Conn::Pool(pools) => pools.lender(),
            Conn::Tx(_) => None,
        }
    }
}

/// See [`Conn::atomic`]. Dropped without
/// [`Atomic::commit`], a transaction of its own rolls back (one joined from
/// a unit of work is the unit's to end).
pub(crate) struct Atomic {
    conn: Conn,
    own: Option<Arc<DatabaseTransaction>>,
}

impl Atomic {
    /// Where to run the statements.
    pub(crate) fn conn(&self) -> &Conn {
        &self.conn
    }

    /// Commits a transaction of its own; a joined one commits with its unit of work.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        let Atomic { conn, own } = self;
        drop(conn);
        match own {
            None => Ok(()),
            Some(txn) => match Arc::try_unwrap(txn) {
                Ok(txn) => txn.commit().await,
                Err(_) => Err(DbErr::Custom("an atomic write was committed while still in use".to_owned())),
            },
        }
    }
}

#[async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        self.executor().get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self.lender() {
            Some(lender) => lender.execute(stmt).await,
            None => self.executor().execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.for_others(self.executor().execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.lender() {
            Some(lender) => lender.query_one(stmt).await,
            None => self.executor().query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.lender() {
            Some(lender) => lender.query_all(stmt, true).await,
            None => self.executor().query_all_raw(stmt).await,
        }
    }
}

#[async_trait]
impl TransactionTrait for Conn {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.for_others(self.executor().begin()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.for_others(self.executor().begin_with_config(isolation_level, access_mode)).await
    }

    async fn begin_with_options(&self, options: TransactionOptions) -> Result<DatabaseTransaction, DbErr> {
        self.for_others(self.executor().begin_with_options(options)).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.for_others(self.executor().transaction(callback)).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>> + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.for_others(self.executor().transaction_with_config(callback, isolation_level, access_mode)).await
    }
}

/// [`UnitOfWork`] over the database pool.
#[derive(Debug, Clone)]
pub struct SeaUnitOfWork {
    db: Pools,
}

impl SeaUnitOfWork {
    /// Transactions on this pool (the calling thread's).
    pub fn new(db: impl Into<Pools>) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl UnitOfWork for SeaUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError> {
        let txn = Arc::new(self.db.for_others(self.db.current().begin()).await.map_err(repo_err)?);
        let conn = Conn::Tx(txn.clone());
        Ok(Box::new(SeaTransaction {
            repos: Repos {
                users: SeaUserRepository::new(conn.clone()),
                outbox: SeaOutboxRepository::new(conn.clone()),
                catalog: SeaCatalogRepository::new(conn.clone()),
                carts: SeaCartRepository::new(conn.clone()),
                orders: SeaOrderRepository::new(conn.clone()),
                idempotency: SeaIdempotencyStore::new(conn),
            },
            txn,
        }))
    }
}

/// The repositories of one transaction. Dropped uncommitted, SeaORM rolls
/// the transaction back.
struct SeaTransaction {
    txn: Arc<DatabaseTransaction>,
    repos: Repos,
}

/// The repositories of a transaction; each holds a handle of it.
struct Repos {
    users: SeaUserRepository,
    outbox: SeaOutboxRepository,
    catalog: SeaCatalogRepository,
    carts: SeaCartRepository,
    orders: SeaOrderRepository,
    idempotency: SeaIdempotencyStore,
}

#[async_trait]
impl Transaction for SeaTransaction {
    fn users(&self) -> &dyn UserRepository {
        &self.repos.users
    }

    fn outbox(&self) -> &dyn OutboxRepository {
        &self.repos.outbox
    }

    fn catalog(&self) -> &dyn CatalogRepository {
        &self.repos.catalog
    }

    fn carts(&self) -> &dyn CartRepository {
        &self.repos.carts
    }

    fn orders(&self) -> &dyn OrderRepository {
        &self.repos.orders
    }

    fn idempotency(&self) -> &dyn IdempotencyStore {
        &self.repos.idempotency
    }

    async fn commit(self: Box<Self>) -> Result<(), RepoError> {
        let SeaTransaction { txn, repos } = *self;
        // The repositories hold the only other handles of the transaction.
        drop(repos);
        let txn = Arc::try_unwrap(txn)
            .map_err(|_| RepoError::Other("a unit of work was committed while still in use".into()))?;
        txn.commit().await.map_err(repo_err)
    }
}
