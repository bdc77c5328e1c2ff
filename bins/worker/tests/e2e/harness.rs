//! One test's world: a database, the API in this process, two SMTP sinks
//! (the worker's, and the API's, which must stay empty), and a job queue of
//! its own on Redis; workers are spawned from it as child processes.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::web::Data;
use coffee_testkit::{ReceivedMail, SmtpSink, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::worker::Worker;

/// Shared by the API and the workers.
pub const JWT_SECRET: &str = "e2e-test-secret-that-is-at-least-32-bytes";
/// A password that satisfies the policy.
pub const PASSWORD: &str = "correct horse battery";

pub use coffee_testkit::redis_or_skip;

/// Where this suite keeps its logs (Cargo's scratch directory for integration tests).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("coffee-e2e").join(name);
    std::fs::create_dir_all(&dir).expect("create the log directory");
    dir
}

/// The last `lines` lines of a log file, for failure reports.
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running API with its own queue, database and sinks.
pub struct Env {
    /// `http://127.0.0.1:PORT` of the in-process API.
    pub address: String,
    /// A plain HTTP client.
    pub client: reqwest::Client,
    /// The workers' SMTP server: every mail should arrive here.
    pub mail: SmtpSink,
    /// The API's SMTP server: with Redis the API never sends mail itself.
    pub api_mail: SmtpSink,
    /// The Redis both sides use.
    pub redis_url: String,
    /// `JOBS_QUEUE` of this test.
    pub queue: String,
    /// Worker logs.
    logs: PathBuf,
    workers: AtomicUsize,
    db: TestDatabase,
}

impl Env {
    /// Starts the API (migrating a fresh database) against `redis_url` with a
    /// queue of its own, and checks that it sees the database and Redis.
    ///
    /// # Panics
    /// Redis or the database is unreachable.
    pub async fn start(redis_url: &str) -> Env {
        Self::start_with(redis_url, &[]).await
    }

    /// [`Env::start`] with more settings for the API (e.g. an admin, a shop file).
    pub async fn start_with(redis_url: &str, extra: &[(&str, &str)]) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let queue = format!("coffee-test:{id}");
        let logs = scratch_dir(&id);
        let media = logs.join("media").display().to_string();
        let db = TestDatabase::fresh().await;
        let mail = SmtpSink::start().await;
        let api_mail = SmtpSink::start().await;
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", db.url.as_str()),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("REDIS_URL", redis_url),
            ("JOBS_QUEUE", queue.as_str()),
            ("SMTP_URL", api_mail.url().as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("MEDIA_DIR", media.as_str()),
            ("AUTH_RATE_LIMIT", "off"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        if std::env::var_os("TEST_LOG").is_some() {
            coffee_app::init_logging("info", coffee_app::LogFormat::Pretty);
        }
        let config = coffee_app::Config::from_vars(vars).expect("test configuration is valid");
        let services = coffee_app::Services::start(config, coffee_app::Process::Api).await.expect("the API starts");
        services.spawn_api_background().await;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        let address = format!("http://{}", listener.local_addr().expect("bound address"));
        let doc = Data::new(coffee_api::openapi::build());
        tokio::spawn(coffee_api::serve(Data::new(services), doc, listener).expect("the server starts"));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("a reqwest client");
        let env = Env {
            address,
            client,
            mail,
            api_mail,
            redis_url: redis_url.to_owned(),
            queue,
            logs,
            workers: AtomicUsize::new(0),
            db,
        };
        env.assert_ready().await;
        env
    }

    /// Fails unless `/health/ready` reports database and Redis reachable.
    async fn assert_ready(&self) {
        let mut last = String::new();
        for _ in 0..5 {
            let resp = self.client.get(format!("{}/health/ready", self.address)).send().await.expect("request sent");
            let status = resp.status();
            let body: Value = resp.json().await.expect("a JSON health body");
            if status == StatusCode::OK && body["redis"] == true && body["database"] == true {
                return;
            }
            last = format!("{status} {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "Redis at {} (or the test database) is unreachable; TEST_REDIS_URL is set, so the Redis \
             end-to-end tests must run. GET /health/ready: {last}",
            self.redis_url
        );
    }

    /// This test's database URL (tests that reach past the API).
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    /// Which database engine this test runs on.
    pub fn backend(&self) -> coffee_testkit::Backend {
        self.db.backend
    }

    /// Starts a `coffee-worker` process on this test's queue, database and sink.
    pub fn spawn_worker(&self) -> Worker {
        self.spawn_worker_with(&[])
    }

    /// [`Env::spawn_worker`] with more settings (e.g. `JOB_MAX_ATTEMPTS`).
    pub fn spawn_worker_with(&self, extra: &[(&str, &str)]) -> Worker {
        let n = self.workers.fetch_add(1, Ordering::SeqCst) + 1;
        let vars = self.worker_vars(extra);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Worker::spawn(&format!("worker-{n}"), &self.logs.join(format!("worker-{n}.log")), &vars)
    }

    /// Runs `coffee-worker <args>` (an operator command) with this test's
    /// settings and waits for it.
    pub fn worker_command(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffee-worker"));
        cmd.env_clear().current_dir(std::env::temp_dir()).args(args);
        cmd.envs(self.worker_vars(&[]));
        cmd.output().expect("run coffee-worker")
    }

    fn worker_vars(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let media = self.logs.join("media").display().to_string();
        let vars: std::collections::BTreeMap<String, String> = [
            ("DATABASE_URL", self.db.url.as_str()),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("REDIS_URL", self.redis_url.as_str()),
            ("JOBS_QUEUE", self.queue.as_str()),
            ("SMTP_URL", self.mail.url().as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("MEDIA_DIR", media.as_str()),
            ("RUST_LOG", "info"),
            ("LOG_FORMAT", "json"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.into_iter().collect()
    }

    /// `POST /auth/signup` for `email`; asserts 201 and returns the user.
    pub async fn signup(&self, email: &str) -> Value {
        let resp = self
            .client
            .post(format!("{}/auth/signup", self.address))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let body = resp.text().await.expect("a body");
        assert_eq!(status, StatusCode::CREATED, "signup of {email}: {body}");
        serde_json::from_str(&body).expect("a JSON user")
    }

    /// `POST /auth/verify` with `code`; returns the status.
    pub async fn verify(&self, email: &str, code: &str) -> StatusCode {
        self.client
            .post(format!("{}/auth/verify", self.address))
            .json(&json!({"email": email, "code": code}))
            .send()
            .await
            .expect("request sent")
            .status()
    }

    /// Mails the workers' sink has accepted for `email`.
    pub fn mails_to(&self, email: &str) -> Vec<ReceivedMail> {
        self.mail.messages().into_iter().filter(|m| m.to.iter().any(|t| t == email)).collect()
    }

    /// Waits up to `timeout` for the first mail to `email` at the workers' sink.
    ///
    /// # Panics
    /// None arrives in time.
    pub async fn mail_to(&self, email: &str, timeout: Duration) -> ReceivedMail {
        let to = email.to_owned();
        self.mail
            .wait_for(move |m| m.to.contains(&to), timeout)
            .await
            .unwrap_or_else(|| panic!("no mail to {email} arrived within {timeout:?}"))
    }
}

impl Env {
    /// Deletes this test's queue from Redis (best effort: the shared Redis
    /// of a developer should not fill up with the keys of finished tests;
    /// also how a test makes Redis lose its jobs).
    pub fn forget_queue(&self) {
        use redis::Commands;
        let Ok(client) = redis::Client::open(self.redis_url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
        let keys: Vec<String> = match conn.scan_match(format!("{}:*", self.queue)) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<usize> = conn.del(keys);
        }
        // apalis lists every queue (by its workers set) in one global index.
        let _: redis::RedisResult<usize> = conn.zrem("core:apalis:queues:list", format!("{}:workers", self.queue));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.forget_queue();
        if std::thread::panicking() {
            eprintln!("logs of the failed test are kept in {}", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

/// Polls `cond` every 20 ms for up to `timeout`; whether it became true.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
