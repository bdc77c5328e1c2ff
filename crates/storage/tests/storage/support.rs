//! Shared set-up: one migrated database per backend, fixed clocks, a user
//! fixture builder and a few raw-SQL probes for what the ports do not expose.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use coffee_domain::clock::Clock;
use coffee_domain::jobs::Job;
use coffee_domain::mail::Mail;
use coffee_domain::query::{ListQuery, parse_list_query};
use coffee_domain::user::{
    Email, NewSession, NewUser, NewVerification, Role, User, UserField, UserRepository, UserResource, UserWriteError,
};
use coffee_storage::{
    Db, DbSettings, Pools, SeaMaintenanceRepository, SeaOutboxRepository, SeaSessionRepository, SeaUnitOfWork,
    SeaUserRepository,
};
use coffee_testkit::{Backend, TestDatabase};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr, Statement};
use uuid::Uuid;

/// One migrated database and the repositories on it.
pub struct Env {
    pub backend: Backend,
    /// The pool, for raw statements.
    pub db: Db,
    /// The same pool as the server has it, lending (PostgreSQL): for the
    /// repositories.
    pub pools: Pools,
    pub uow: SeaUnitOfWork,
    pub users: SeaUserRepository,
    pub sessions: SeaSessionRepository,
    pub outbox: SeaOutboxRepository,
    pub maintenance: SeaMaintenanceRepository,
    // Keeps the SQLite file alive as long as the connection.
    _database: TestDatabase,
}

/// A fresh, migrated database on every available backend. Each one is
/// announced on stderr, which the harness shows for a failing test, so the
/// last line names the backend that failed.
pub async fn backends() -> impl Iterator<Item = Env> {
    let mut envs = Vec::new();
    for database in TestDatabase::all().await {
        envs.push(migrated(database).await);
    }
    envs.into_iter().inspect(|env| eprintln!("--- running on {:?}", env.backend))
}

/// `database`, connected and migrated, with the repositories on it.
pub async fn migrated(database: TestDatabase) -> Env {
    migrated_with_pool(database, 4).await
}

/// [`migrated`] on a pool of `max_connections` (PostgreSQL; SQLite has one).
pub async fn migrated_with_pool(database: TestDatabase, max_connections: u32) -> Env {
    let settings = DbSettings { url: database.url.clone(), max_connections, acquire_timeout: Duration::from_secs(10) };
    let pools = coffee_storage::connect_per_thread(&settings, 1)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the {:?} test database: {e}", database.backend));
    let db = pools.current().clone();
    coffee_storage::migrate(&db).await.unwrap_or_else(|e| panic!("migrations failed on {:?}: {e}", database.backend));
    Env {
        backend: database.backend,
        uow: SeaUnitOfWork::new(pools.clone()),
        users: SeaUserRepository::new(pools.clone()),
        sessions: SeaSessionRepository::new(pools.clone()),
        outbox: SeaOutboxRepository::new(pools.clone()),
        maintenance: SeaMaintenanceRepository::new(pools.clone()),
        db,
        pools,
        _database: database,
    }
}

/// Reverts `migration` and every later one, as an upgrade from before it
/// would find the schema.
pub async fn down_to_before(env: &Env, migration: &str) {
    use coffee_migrations::{Migrator, MigratorTrait};
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let ours = names.iter().position(|n| n == migration).unwrap_or_else(|| panic!("no migration {migration}"));
    Migrator::down(&env.db, Some(u32::try_from(names.len() - ours).unwrap())).await.unwrap();
}

/// Runs `sql` on the environment's database, which must accept it.
pub async fn run(env: &Env, sql: &str) {
    env.db.execute_raw(Statement::from_string(env.db.get_database_backend(), sql)).await.unwrap();
}

/// Waits until `n` connections to the environment's database (PostgreSQL)
/// wait for a lock, so that a test knows the statements it spawned are
/// blocked, not merely late on a slow machine. Fails after 10 s.
pub async fn wait_for_lock_waiters(env: &Env, n: i64) {
    let sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = env.db.query_one_raw(Statement::from_string(env.db.get_database_backend(), sql)).await.unwrap();
        let waiting = row.unwrap().try_get_by_index::<i64>(0).unwrap();
        if waiting >= n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{waiting} of {n} statements wait for a lock after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fixed instant with a non-zero microsecond part, so that a backend that
/// rounds to milliseconds or seconds is caught.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 15, 9, 26).unwrap() + TimeDelta::microseconds(535_897)
}

pub fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

pub fn micros(n: i64) -> TimeDelta {
    TimeDelta::microseconds(n)
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A user to insert; see [`user`].
#[derive(Debug, Clone)]
pub struct UserBuilder {
    user: User,
    verification: Option<NewVerification>,
}

/// A plain, unverified customer with this address, created at [`t0`].
pub fn user(email: &str) -> UserBuilder {
    UserBuilder {
        user: User {
            id: Uuid::now_v7(),
            email: Email::parse("email", email).unwrap(),
            first_name: None,
            last_name: None,
            phone: None,
            role: Role::User,
            is_verified: false,
            verified_at: None,
            created_at: t0(),
            updated_at: t0(),
        },
        verification: None,
    }
}

impl UserBuilder {
    pub fn named(mut self, first: &str, last: &str) -> Self {
        self.user.first_name = Some(first.to_owned());
        self.user.last_name = Some(last.to_owned());
        self
    }

    pub fn phone(mut self, phone: &str) -> Self {
        self.user.phone = Some(phone.to_owned());
        self
    }

    pub fn admin(mut self) -> Self {
        self.user.role = Role::Admin;
        self
    }

    pub fn verified_at(mut self, at: DateTime<Utc>) -> Self {
        self.user.is_verified = true;
        self.user.verified_at = Some(at);
        self
    }

    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.user.created_at = at;
        self.user.updated_at = at;
        self
    }

    /// Creates the user together with this first verification.
    pub fn with_verification(mut self, verification: NewVerification) -> Self {
        self.verification = Some(verification);
        self
    }

    pub fn build(&self) -> NewUser {
        NewUser { user: self.user.clone(), password_hash: password_hash(self.user.email.as_str()) }
    }

    pub async fn try_create(self, repo: &SeaUserRepository) -> Result<User, UserWriteError> {
        repo.create(&self.build(), self.verification.as_ref()).await.map(|()| self.user)
    }

    pub async fn create(self, repo: &SeaUserRepository) -> User {
        let email = self.user.email.clone();
        self.try_create(repo).await.unwrap_or_else(|e| panic!("creating {email} failed: {e:?}"))
    }
}

/// The (fake) password hash the builder stores for an address.
pub fn password_hash(email: &str) -> String {
    format!("$argon2id$v=19$m=19456,t=2,p=1$fake${email}")
}

/// A verification whose code and token digests are derived from `tag`,
/// sent at `sent_at` and valid for an hour.
pub fn verification(tag: &str, sent_at: DateTime<Utc>) -> NewVerification {
    NewVerification {
        code_hash: format!("code-{tag}"),
        token_hash: format!("token-{tag}"),
        expires_at: sent_at + hours(1),
        sent_at,
    }
}

/// The verification mail that would carry [`verification`]`(tag, …)`.
pub fn mail(tag: &str) -> Mail {
    Mail::Verification {
        to: format!("{tag}@example.com"),
        code: "123456".to_owned(),
        link: format!("http://localhost/auth/verify?token=token-{tag}"),
        valid_minutes: 60,
    }
}

/// The job that sends [`mail`]`(tag)`.
pub fn mail_job(tag: &str) -> Job {
    Job::SendMail(mail(tag))
}

/// The first session of a login (its own family), valid for 30 days.
pub fn session(user_id: Uuid, created_at: DateTime<Utc>) -> NewSession {
    let id = Uuid::now_v7();
    NewSession { id, user_id, family_id: id, created_at, expires_at: created_at + TimeDelta::days(30) }
}

/// A list query parsed from query-string pairs, as the API would.
pub fn query(pairs: &[(&str, &str)]) -> ListQuery<UserField> {
    let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    parse_list_query::<UserResource>(&owned).unwrap()
}

/// Inserts a users row directly, bypassing the repository and `Email`.
pub async fn insert_user_row(db: &Db, email: &str) -> Result<(), DbErr> {
    let stmt = Query::insert()
        .into_table(Alias::new("users"))
        .columns(["id", "email", "password_hash", "role", "is_verified", "created_at", "updated_at"].map(Alias::new))
        .values_panic([
            Uuid::now_v7().into(),
            email.into(),
            "hash".into(),
            "user".into(),
            false.into(),
            t0().into(),
            t0().into(),
        ])
        .to_owned();
    db.execute(&stmt).await.map(|_| ())
}

/// How many rows of `table` belong to this user.
pub async fn rows_of_user(db: &Db, table: &str, user_id: Uuid) -> i64 {
    let stmt = Query::select()
        .expr(Expr::col(Asterisk).count())
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("user_id")).eq(user_id))
        .to_owned();
    db.query_one(&stmt).await.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
}

/// Opens a second pooled connection on PostgreSQL so that two concurrent
/// requests really run side by side instead of one waiting for a connect.
pub async fn warm_pool(env: &Env) {
    if env.backend == Backend::Postgres {
        let nap = || env.db.execute_unprepared("SELECT pg_sleep(0.05)");
        let (a, b) = tokio::join!(nap(), nap());
        a.unwrap();
        b.unwrap();
    }
}

/// How many rows `table` holds.
pub async fn count_rows(db: &Db, table: &str) -> i64 {
    let stmt = Query::select().expr(Expr::col(Asterisk).count()).from(Alias::new(table)).to_owned();
    db.query_one(&stmt).await.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
}

/// One row of the `outbox` table, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: Uuid,
    /// The job as JSON (any text when inserted raw).
    pub job: String,
    pub created_at: DateTime<Utc>,
    pub available_at: DateTime<Utc>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub relayed_at: Option<DateTime<Utc>>,
    pub parked_at: Option<DateTime<Utc>>,
}

const OUTBOX_COLUMNS: [&str; 9] =
    ["id", "job", "created_at", "available_at", "claimed_until", "attempts", "last_error", "relayed_at", "parked_at"];

/// A pending entry sending [`mail`]`(tag)`, created and available at `available_at`.
pub fn outbox_row(tag: &str, available_at: DateTime<Utc>) -> OutboxRow {
    OutboxRow {
        id: Uuid::now_v7(),
        job: serde_json::to_string(&mail_job(tag)).unwrap(),
        created_at: available_at,
        available_at,
        claimed_until: None,
        attempts: 0,
        last_error: None,
        relayed_at: None,
        parked_at: None,
    }
}

/// Inserts outbox rows directly, bypassing the repositories; returns their ids.
pub async fn insert_outbox(db: &Db, rows: &[OutboxRow]) -> Vec<Uuid> {
    for row in rows {
        let stmt = Query::insert()
            .into_table(Alias::new("outbox"))
            .columns(OUTBOX_COLUMNS.map(Alias::new))
            .values_panic([
                row.id.into(),
                row.job.clone().into(),
                row.created_at.into(),
                row.available_at.into(),
                row.claimed_until.into(),
                row.attempts.into(),
                row.last_error.clone().into(),
                row.relayed_at.into(),
                row.parked_at.into(),
            ])
            .to_owned();
        db.execute(&stmt).await.unwrap();
    }
    rows.iter().map(|r| r.id).collect()
}

/// Every outbox row, oldest first (by creation, then id).
pub async fn outbox_rows(db: &Db) -> Vec<OutboxRow> {
    let stmt = Query::select()
        .columns(OUTBOX_COLUMNS.map(Alias::new))
        .from(Alias::new("outbox"))
        .order_by(Alias::new("created_at"), sea_orm::Order::Asc)
        .order_by(Alias::new("id"), sea_orm::Order::Asc)
        .to_owned();
    let rows = db.query_all(&stmt).await.unwrap();
    rows.into_iter()
        .map(|r| OutboxRow {
            id: r.try_get("", "id").unwrap(),
            job: r.try_get("", "job").unwrap(),
            created_at: r.try_get("", "created_at").unwrap(),
            available_at: r.try_get("", "available_at").unwrap(),
            claimed_until: r.try_get("", "claimed_until").unwrap(),
            attempts: r.try_get("", "attempts").unwrap(),
            last_error: r.try_get("", "last_error").unwrap(),
            relayed_at: r.try_get("", "relayed_at").unwrap(),
            parked_at: r.try_get("", "parked_at").unwrap(),
        })
        .collect()
}

/// The outbox row with this id.
pub async fn outbox_row_by_id(db: &Db, id: Uuid) -> OutboxRow {
    outbox_rows(db).await.into_iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no outbox row {id}"))
}

/// The ids in `column` of every row of `table`, sorted.
pub async fn uuids(db: &Db, table: &str, column: &str) -> Vec<Uuid> {
    let stmt = Query::select().column(Alias::new(column)).from(Alias::new(table)).to_owned();
    let mut ids: Vec<Uuid> =
        db.query_all(&stmt).await.unwrap().into_iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
    ids.sort();
    ids
}
