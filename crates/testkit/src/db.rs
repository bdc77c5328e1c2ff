//! Fresh databases for tests.
//!
//! Without `TEST_DATABASE_URL` every test gets a temporary SQLite file. With
//! it (CI sets it), PostgreSQL cases run for real: each gets a new database
//! on that server, and an unreachable server fails the test instead of
//! skipping it.

use sea_orm::{ConnectionTrait, Database};

/// Which engine a [`TestDatabase`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A new database on the `TEST_DATABASE_URL` server.
    Postgres,
}

/// An empty database that lives as long as this value: a temporary SQLite
/// file, or a PostgreSQL database `coffee_test_<uuid>` dropped (with `FORCE`,
/// closing the application's connections) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL for the application.
    pub url: String,
    /// The engine.
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// `(server URL, database name)` of a PostgreSQL database to drop.
    drop_on_exit: Option<(String, String)>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_on_exit.take() else { return };
        // Drop runs inside the test's runtime, which must not be blocked on;
        // a short-lived thread with its own runtime does the async work.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// `TEST_REDIS_URL`, when set.
pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL").ok().filter(|s| !s.trim().is_empty())
}

/// `TEST_REDIS_URL`, or `None` after printing that `test` is skipped for
/// want of it. A test given the URL must fail, not skip, when Redis does
/// not answer there.
pub fn redis_or_skip(test: &str) -> Option<String> {
    let url = test_redis_url();
    if url.is_none() {
        eprintln!("note: {test} skipped: TEST_REDIS_URL is not set (it needs Redis)");
    }
    url
}

fn test_database_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|s| !s.trim().is_empty())
}

impl TestDatabase {
    /// PostgreSQL when `TEST_DATABASE_URL` is set, else SQLite.
    ///
    /// # Panics
    /// `TEST_DATABASE_URL` is set but the server cannot be reached.
    pub async fn fresh() -> Self {
        match Self::postgres().await {
            Some(db) => db,
            None => Self::sqlite(),
        }
    }

    /// Every backend available: SQLite always, PostgreSQL when configured.
    ///
    /// # Panics
    /// `TEST_DATABASE_URL` is set but the server cannot be reached.
    pub async fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite()];
        dbs.extend(Self::postgres().await);
        dbs
    }

    /// A temporary SQLite file.
    ///
    /// # Panics
    /// No temporary directory can be created.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Self { url, backend: Backend::Sqlite, _dir: Some(dir), drop_on_exit: None }
    }

    /// A new PostgreSQL database, or `None` when `TEST_DATABASE_URL` is unset.
    ///
    /// # Panics
    /// `TEST_DATABASE_URL` is set but malformed or unreachable.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_created("").await
    }

    /// A new PostgreSQL database whose default collation is the ICU locale
    /// `icu_locale` (e.g. `en-US`): linguistic ordering, as on a server
    /// initialised with such a locale (the official image's `en_US.utf8`),
    /// whatever the `TEST_DATABASE_URL` server's own default is. `None` when
    /// `TEST_DATABASE_URL` is unset.
    ///
    /// # Panics
    /// `TEST_DATABASE_URL` is set but malformed or unreachable, or the server
    /// has no ICU support (PostgreSQL 15 or later built with ICU is needed).
    pub async fn postgres_with_icu_locale(icu_locale: &str) -> Option<Self> {
        assert!(icu_locale.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "bad ICU locale {icu_locale:?}");
        Self::postgres_created(&format!(
            " TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'"
        ))
        .await
    }

    /// `CREATE DATABASE coffee_test_<uuid>{options}` on the `TEST_DATABASE_URL` server.
    async fn postgres_created(options: &str) -> Option<Self> {
        let admin_url = test_database_url()?;
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
        let name = format!("coffee_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}{options}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL must be a URL");
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            backend: Backend::Postgres,
            _dir: None,
            drop_on_exit: Some((admin_url, name)),
        })
    }

    /// The same database again, for a second application (a replica); only
    /// the original removes it when dropped, so keep that one alive longer.
    pub fn shared(&self) -> Self {
        Self { url: self.url.clone(), backend: self.backend, _dir: None, drop_on_exit: None }
    }
}
