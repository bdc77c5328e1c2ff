//! Shared support of the domain's unit tests: a runner for futures, a fixed
//! clock, value helpers, a unit of work over the in-memory fakes, and
//! [`Fakes`], which wires one set of them. Each aggregate's fakes live
//! beside it (`user/fakes.rs`, `catalog/fakes.rs`, …).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use std::collections::HashMap;

use crate::auth::AuthPorts;
use crate::auth::fakes::{CountingHasher, PlainTokens, SequentialSecrets};
use crate::cart::CartRepository;
use crate::cart::fakes::{InMemoryCarts, StoredLine};
use crate::catalog::CatalogRepository;
use crate::catalog::fakes::InMemoryCatalog;
use crate::clock::Clock;
use crate::error::RepoError;
use crate::order::fakes::{InMemoryIdempotency, InMemoryOrders, KeyRow, OrderTables};
use crate::order::{IdempotencyStore, OrderRepository};
use crate::outbox::OutboxRepository;
use crate::outbox::fakes::{InMemoryOutbox, OutboxRow};
use crate::uow::{Transaction, UnitOfWork};
use crate::user::fakes::{InMemorySessions, InMemoryUsers, UserTables};
use crate::user::{Email, Password, Role, User, UserRepository};

/// Drives a future to completion on the current thread. The fakes never
/// wait on anything, so this needs no runtime.
pub(crate) fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// Locks a fake's state, ignoring poisoning (a failed test already panicked).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An e-mail address known to be valid.
pub(crate) fn email(raw: &str) -> Email {
    Email::parse("email", raw).expect("test e-mail must be valid")
}

/// A password known to satisfy the policy.
pub(crate) fn password(raw: &str) -> Password {
    Password::parse("password", raw).expect("test password must be valid")
}

/// A verified user without profile fields, created at `at`.
pub(crate) fn verified_user(address: &str, role: Role, at: DateTime<Utc>) -> User {
    User {
        id: Uuid::now_v7(),
        email: email(address),
        first_name: None,
        last_name: None,
        phone: None,
        role,
        is_verified: true,
        verified_at: Some(at),
        created_at: at,
        updated_at: at,
    }
}

// ---------------------------------------------------------------- clock

/// A clock that only moves when told to.
#[derive(Debug)]
pub(crate) struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    pub(crate) fn advance(&self, by: TimeDelta) {
        *lock(&self.0) += by;
    }
}

impl Default for FixedClock {
    fn default() -> Self {
        Self::new("2026-01-05T09:00:00Z".parse().expect("valid timestamp"))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

// ---------------------------------------------------------------- unit of work

/// A [`UnitOfWork`] over the in-memory fakes. A transaction writes straight
/// into them and, unless committed, puts back the snapshot it took when it
/// began: atomic for the single-threaded tests that use it.
#[derive(Debug, Clone)]
pub(crate) struct InMemoryUnitOfWork {
    users: Arc<InMemoryUsers>,
    outbox: Arc<InMemoryOutbox>,
    catalog: Arc<InMemoryCatalog>,
    carts: Arc<InMemoryCarts>,
    orders: Arc<InMemoryOrders>,
    idempotency: Arc<InMemoryIdempotency>,
    fail_commit: Arc<AtomicBool>,
}

/// What a transaction puts back unless committed (the catalog is only read).
struct Snapshot {
    users: UserTables,
    outbox: Vec<OutboxRow>,
    carts: Vec<StoredLine>,
    orders: OrderTables,
    idempotency: HashMap<(Uuid, String), KeyRow>,
}

struct InMemoryTransaction {
    uow: InMemoryUnitOfWork,
    snapshot: Option<Snapshot>,
}

#[async_trait]
impl UnitOfWork for InMemoryUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError> {
        let snapshot = Some(Snapshot {
            users: self.users.snapshot(),
            outbox: self.outbox.snapshot(),
            carts: self.carts.snapshot(),
            orders: self.orders.snapshot(),
            idempotency: self.idempotency.snapshot(),
        });
        Ok(Box::new(InMemoryTransaction { uow: self.clone(), snapshot }))
    }
}

#[async_trait]
impl Transaction for InMemoryTransaction {
    fn users(&self) -> &dyn UserRepository {
        self.uow.users.as_ref()
    }

    fn outbox(&self) -> &dyn OutboxRepository {
        self.uow.outbox.as_ref()
    }

    fn catalog(&self) -> &dyn CatalogRepository {
        self.uow.catalog.as_ref()
    }

    fn carts(&self) -> &dyn CartRepository {
        self.uow.carts.as_ref()
    }

    fn orders(&self) -> &dyn OrderRepository {
        self.uow.orders.as_ref()
    }

    fn idempotency(&self) -> &dyn IdempotencyStore {
        self.uow.idempotency.as_ref()
    }

    async fn commit(mut self: Box<Self>) -> Result<(), RepoError> {
        if self.uow.fail_commit.swap(false, Ordering::SeqCst) {
            // Dropped uncommitted: the snapshot is put back.
            return Err(RepoError::Unavailable("the test made this commit fail".into()));
        }
        self.snapshot = None;
        Ok(())
    }
}

impl Drop for InMemoryTransaction {
    fn drop(&mut self) {
        if let Some(s) = self.snapshot.take() {
            self.uow.users.restore(s.users);
            self.uow.outbox.restore(s.outbox);
            self.uow.carts.restore(s.carts);
            self.uow.orders.restore(s.orders);
            self.uow.idempotency.restore(s.idempotency);
        }
    }
}

// ---------------------------------------------------------------- wiring

/// One set of fakes, shared by the services a test wires.
#[derive(Debug)]
pub(crate) struct Fakes {
    pub(crate) clock: Arc<FixedClock>,
    pub(crate) users: Arc<InMemoryUsers>,
    pub(crate) sessions: Arc<InMemorySessions>,
    pub(crate) outbox: Arc<InMemoryOutbox>,
    pub(crate) catalog: Arc<InMemoryCatalog>,
    pub(crate) carts: Arc<InMemoryCarts>,
    pub(crate) orders: Arc<InMemoryOrders>,
    pub(crate) idempotency: Arc<InMemoryIdempotency>,
    pub(crate) hasher: Arc<CountingHasher>,
    pub(crate) tokens: Arc<PlainTokens>,
    pub(crate) secrets: Arc<SequentialSecrets>,
    pub(crate) live: Arc<crate::live::fakes::RecordingFanOut>,
    /// Set: the next commit of a transaction fails (once).
    pub(crate) fail_commit: Arc<AtomicBool>,
}

impl Fakes {
    pub(crate) fn new() -> Self {
        let clock = Arc::new(FixedClock::default());
        let catalog = Arc::new(InMemoryCatalog::default());
        let sessions = Arc::new(InMemorySessions::default());
        Self {
            tokens: Arc::new(PlainTokens::new(Arc::clone(&clock))),
            clock,
            users: Arc::new(InMemoryUsers::with_sessions(sessions.clone())),
            sessions,
            outbox: Arc::default(),
            carts: Arc::new(InMemoryCarts::new(catalog.clone())),
            catalog,
            orders: Arc::default(),
            idempotency: Arc::default(),
            hasher: Arc::default(),
            secrets: Arc::default(),
            live: Arc::default(),
            fail_commit: Arc::default(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn uow(&self) -> Arc<InMemoryUnitOfWork> {
        Arc::new(InMemoryUnitOfWork {
            users: self.users.clone(),
            outbox: self.outbox.clone(),
            catalog: self.catalog.clone(),
            carts: self.carts.clone(),
            orders: self.orders.clone(),
            idempotency: self.idempotency.clone(),
            fail_commit: self.fail_commit.clone(),
        })
    }

    pub(crate) fn access(&self) -> crate::access::Access {
        crate::access::Access::new(self.users.clone())
    }

    pub(crate) fn auth_ports(&self) -> AuthPorts {
        AuthPorts {
            users: self.users.clone(),
            sessions: self.sessions.clone(),
            uow: self.uow(),
            hasher: self.hasher.clone(),
            tokens: self.tokens.clone(),
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
            live: crate::live::LiveFeed::new(self.live.clone()),
        }
    }

    pub(crate) fn user_service(&self) -> crate::user::UserService {
        let live = crate::live::LiveFeed::new(self.live.clone());
        crate::user::UserService::new(self.users.clone(), self.sessions.clone(), self.clock.clone(), live)
    }

    /// A signed-in caller for `user` (who must exist in the fakes).
    pub(crate) fn caller(&self, user: &User) -> crate::access::Caller {
        let actor = crate::access::Actor { id: user.id, role: user.role, session: self.sessions.sign_in(user.id) };
        run(self.access().caller(actor)).expect("the caller exists")
    }
}
