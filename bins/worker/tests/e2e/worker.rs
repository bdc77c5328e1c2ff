//! `coffee-worker` as a real child process, killed when its guard is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::harness::log_tail;

/// Variables passed through from the test's environment (all others are
/// cleared, so a developer's shell or `.env` cannot change the setup).
const PASS_THROUGH: &[&str] = &["PATH", "RUST_BACKTRACE", "LLVM_PROFILE_FILE"];

/// A running `coffee-worker`; its stdout and stderr go to a log file.
pub struct Worker {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Starts the binary with exactly `vars` (plus [`PASS_THROUGH`]).
    pub fn spawn(name: &str, log: &Path, vars: &[(&str, &str)]) -> Worker {
        let out = File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone the log file handle");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffee-worker"));
        // A directory without a `.env` above it.
        cmd.env_clear().current_dir(std::env::temp_dir()).stdin(Stdio::null()).stdout(out).stderr(err);
        for key in PASS_THROUGH {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.envs(vars.iter().copied());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start coffee-worker: {e}"));
        Worker { name: name.to_owned(), child, log: log.to_owned() }
    }

    /// SIGKILL, like a crash or an OOM kill: no chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the worker");
        self.child.wait().expect("reap the worker");
    }

    /// SIGTERM, like `docker stop`: the worker should finish what is in flight.
    pub fn terminate(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.child.id());
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the worker") {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of {} ({}) ---\n{}", self.name, self.log.display(), log_tail(&self.log, 40));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
