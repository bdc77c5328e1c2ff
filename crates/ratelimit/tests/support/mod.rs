//! Redis for the tests: the shared one at `TEST_REDIS_URL`, and a private
//! `redis-server` a test may stop and start again.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

/// The Redis at `TEST_REDIS_URL`, with a connection for looking at keys.
pub struct TestRedis {
    pub url: String,
    conn: MultiplexedConnection,
}

impl TestRedis {
    pub async fn exists(&self, key: &str) -> bool {
        self.conn.clone().exists(key).await.unwrap()
    }

    /// Milliseconds the key has left (-2: no such key, -1: no expiry).
    pub async fn pttl(&self, key: &str) -> i64 {
        self.conn.clone().pttl(key).await.unwrap()
    }
}

/// `TEST_REDIS_URL`, or `None` after printing why `test` does not run.
///
/// # Panics
/// `TEST_REDIS_URL` is set but Redis does not answer: the limiter would
/// quietly fall back to memory, so the test would prove nothing.
pub async fn redis_or_skip(test: &str) -> Option<TestRedis> {
    let url = coffee_testkit::redis_or_skip(test)?;
    let conn =
        connect(&url).await.unwrap_or_else(|e| panic!("TEST_REDIS_URL is set but Redis at {url} is unreachable: {e}"));
    Some(TestRedis { url, conn })
}

async fn connect(url: &str) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let _: () = redis::cmd("PING").query_async(&mut conn).await.map_err(|e| e.to_string())?;
    Ok(conn)
}

/// A unique key prefix, so that tests running at once never share budgets.
pub fn unique_prefix() -> String {
    format!("test:ratelimit:{}:", uuid::Uuid::new_v4().simple())
}

/// A `redis-server` child on a free local port, without persistence.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// # Panics
    /// `redis-server` is not on `PATH` or does not come up within 10 s.
    pub async fn start() -> Self {
        let port = coffee_testkit::free_port();
        let mut server = Self { port, child: None };
        server.spawn().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn connect(&self) -> MultiplexedConnection {
        connect(&self.url()).await.unwrap()
    }

    /// Kills the server: an outage, not a clean stop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("TEST_REDIS_URL is set, so this test runs, and it needs `redis-server` on PATH: {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while connect(&self.url()).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer within 10 s", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
