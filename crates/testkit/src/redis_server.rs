//! A private `redis-server` that a test may kill, freeze or restart,
//! leaving the shared Redis at `TEST_REDIS_URL` alone.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the server may take to answer after a start.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A `redis-server` child process on a free local port, without persistence.
/// Its log is printed when a test panics while it runs.
#[derive(Debug)]
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
        let dir = std::env::temp_dir().join("coffee-test-redis");
        std::fs::create_dir_all(&dir).expect("create the log directory");
        let log = dir.join(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let port = crate::free_port();
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

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: its connections
    /// stay open but nothing answers, like a peer lost without a TCP reset.
    ///
    /// # Panics
    /// The server is not running, or `kill` fails.
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
                    "TEST_REDIS_URL is set, so this test runs, and it needs the `redis-server` binary on PATH to \
                     start a private Redis it can stop: {e}"
                )
            });
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        while !self.answers_ping().await {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().expect("poll redis-server")) {
                panic!("redis-server on port {} exited with {status}:\n{}", self.port, self.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not answer within {START_DEADLINE:?}:\n{}",
                self.port,
                self.log_tail()
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
