//! Shared set-up: one migrated database per backend, fixed clocks, a user
//! fixture builder and a few raw-SQL probes for what the ports do not expose.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use coffee_domain::query::{ListQuery, parse_list_query};
use coffee_domain::user::{
    Email, NewSession, NewUser, NewVerification, Role, User, UserField, UserRepository, UserResource, UserWriteError,
};
use coffee_storage::{Db, DbSettings, SeaSessionRepository, SeaUserRepository};
use coffee_testkit::{Backend, TestDatabase};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// One migrated database and the repositories on it.
pub struct Env {
    pub backend: Backend,
    pub db: Db,
    pub users: SeaUserRepository,
    pub sessions: SeaSessionRepository,
    // Keeps the SQLite file alive as long as the connection.
    _database: TestDatabase,
}

/// A fresh, migrated database on every available backend. Each one is
/// announced on stderr, which the harness shows for a failing test, so the
/// last line names the backend that failed.
pub async fn backends() -> impl Iterator<Item = Env> {
    let mut envs = Vec::new();
    for database in TestDatabase::all().await {
        let settings =
            DbSettings { url: database.url.clone(), max_connections: 4, acquire_timeout: Duration::from_secs(10) };
        let db = coffee_storage::connect(&settings)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the {:?} test database: {e}", database.backend));
        coffee_storage::migrate(&db)
            .await
            .unwrap_or_else(|e| panic!("migrations failed on {:?}: {e}", database.backend));
        envs.push(Env {
            backend: database.backend,
            users: SeaUserRepository::new(db.clone()),
            sessions: SeaSessionRepository::new(db.clone()),
            db,
            _database: database,
        });
    }
    envs.into_iter().inspect(|env| eprintln!("--- running on {:?}", env.backend))
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
        mail: coffee_domain::mail::Mail::Verification {
            to: format!("{tag}@example.com"),
            code: "123456".to_owned(),
            link: format!("http://localhost/auth/verify?token=token-{tag}"),
            valid_minutes: 60,
        },
    }
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
