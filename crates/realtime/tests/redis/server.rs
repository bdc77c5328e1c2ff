//! A private `redis-server` that a test may kill and start again, leaving
//! the shared Redis at `TEST_REDIS_URL` alone.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{DEADLINE, closed_port};

/// A `redis-server` child process on a free local port, without persistence.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers.
    pub async fn start() -> RedisServer {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("coffee-realtime");
        std::fs::create_dir_all(&dir).expect("create the log directory");
        let log = dir.join(format!("redis-{}.log", uuid::Uuid::new_v4().simple()));
        let mut server = RedisServer { port: closed_port(), child: None, log };
        server.spawn().await;
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: an outage, not a maintenance stop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: its connections
    /// stay open but nothing answers, like a peer lost without a TCP reset.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("the server runs").id().to_string();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid]).status().expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Starts the server again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let out = File::options().create(true).append(true).open(&self.log).expect("open the log file");
        let err = out.try_clone().expect("clone the log file handle");
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("TEST_REDIS_URL is set, so this test runs, and it needs `redis-server` on PATH: {e}")
            });
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self.answers_ping().await {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().expect("poll redis-server")) {
                panic!("redis-server on port {} exited with {status}:\n{}", self.port, self.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not answer within {DEADLINE:?}:\n{}",
                self.port,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers_ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else { return false };
        let ping = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(tokio::time::timeout(Duration::from_secs(1), ping).await, Ok(Ok(pong)) if pong == "PONG")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- last lines of redis-server ({}) ---\n{}", self.log.display(), self.log_tail());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
