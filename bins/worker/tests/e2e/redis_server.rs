//! A private `redis-server` that a test may stop and start again, leaving
//! the shared Redis at `TEST_REDIS_URL` alone.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{log_tail, scratch_dir};

/// A `redis-server` child process on a free local port, without persistence.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers.
    ///
    /// # Panics
    /// The `redis-server` binary is missing or the server does not come up.
    pub async fn start() -> RedisServer {
        let log = scratch_dir("redis").join(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("find a free port").port();
        let mut server = RedisServer { port, child: None, log };
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

    /// Starts the server again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "TEST_REDIS_URL is set, so the Redis outage test runs, and it needs the `redis-server` binary \
                     on PATH to start a private Redis it can stop: {e}"
                )
            });
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.answers_ping().await {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().expect("poll redis-server")) {
                panic!("redis-server on port {} exited with {status}:\n{}", self.port, log_tail(&self.log, 20));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s:\n{}",
                self.port,
                log_tail(&self.log, 20)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether `PING` gets `+PONG` (plain RESP over TCP).
    async fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)).await else { return false };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut reply = [0_u8; 7];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await,
            Ok(Ok(_)) if &reply == b"+PONG\r\n"
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- last lines of redis-server ({}) ---\n{}", self.log.display(), log_tail(&self.log, 20));
        } else {
            let _ = std::fs::remove_file(&self.log);
            // Only when no other test's log is left in it.
            let _ = self.log.parent().map(std::fs::remove_dir);
        }
    }
}
