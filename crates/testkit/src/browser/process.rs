//! Starting Chromium so that it can never outlive the test.
//!
//! Chromium runs under a tiny `sh` wrapper that leads a new process group
//! and holds a pipe from the test process on a spare descriptor. When that
//! pipe closes — the [`Chromium`] value is dropped, the test panics, or the
//! test process is killed outright — the wrapper kills the whole group:
//! the browser, its zygotes, renderers and GPU/utility helpers. The wrapper
//! also ends the group when the browser exits by itself, so a browser that
//! dies during start-up is noticed at once.
//!
//! SIMPLIFICATION: when the test process is killed outright (SIGKILL), the
//! processes die but the temporary profile folder stays in the system's
//! temp dir; a fuller version would have a helper outside the group remove it.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::BrowserError;

/// How long Chromium may take to open its DevTools port.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags for a quiet, isolated headless Chromium on a machine with no
/// network but loopback (see the machine notes): nothing phones home.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
];

/// `sh -c` script: run the browser, end the group when our pipe on fd 3
/// closes or when the browser exits, whichever comes first.
const WRAPPER: &str = r#"exec 3<&0 0</dev/null
"$@" 3<&- &
browser=$!
{ read -r _ <&3; kill -9 0; } &
wait "$browser"
kill -9 0
"#;

/// A running Chromium and its temporary profile; both go away on drop.
pub(crate) struct Chromium {
    child: Child,
    lifeline: Option<ChildStdin>,
    dir: Option<tempfile::TempDir>,
}

impl Chromium {
    /// Starts `executable` headless with a fresh profile and waits until its
    /// DevTools endpoint is up; returns it and its WebSocket URL.
    pub(crate) async fn start(executable: &Path) -> Result<(Chromium, String), BrowserError> {
        let dir = tempfile::Builder::new().prefix("coffee-chromium-").tempdir()?;
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chromium.log");
        let log = File::create(&log_path)?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WRAPPER)
            .arg("chromium-wrapper")
            .arg(executable)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let mut child = command.spawn().map_err(|e| BrowserError::Launch(format!("cannot run sh: {e}")))?;
        let lifeline = child.stdin.take();
        let mut chromium = Chromium { child, lifeline, dir: Some(dir) };
        let ws_url = chromium.wait_for_devtools(&profile.join("DevToolsActivePort"), &log_path, executable).await?;
        Ok((chromium, ws_url))
    }

    /// The process group of the browser and all its helpers.
    pub(crate) fn process_group(&self) -> u32 {
        self.child.id()
    }

    /// The temporary folder that holds the profile and Chromium's log.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Polls the port file Chromium writes once DevTools listens.
    async fn wait_for_devtools(&mut self, port_file: &Path, log: &Path, exe: &Path) -> Result<String, BrowserError> {
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next())
                    && port.parse::<u16>().is_ok()
                    && path.starts_with('/')
                {
                    return Ok(format!("ws://127.0.0.1:{port}{path}"));
                }
            }
            let failure = if matches!(self.child.try_wait(), Ok(Some(_))) {
                "exited during start-up"
            } else if Instant::now() >= deadline {
                "did not open its DevTools port in time"
            } else {
                tokio::time::sleep(Duration::from_millis(25)).await;
                continue;
            };
            return Err(BrowserError::Launch(format!("{} {failure}; its log ends:\n{}", exe.display(), tail(log))));
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closing the lifeline makes the wrapper SIGKILL the whole group.
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // The profile may still be written to for a moment by dying helpers.
        if let Some(dir) = self.dir.take() {
            let path: PathBuf = dir.path().to_owned();
            for _ in 0..20 {
                if std::fs::remove_dir_all(&path).is_ok() || !path.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = dir.close();
        }
    }
}

/// The last few KiB of Chromium's log, for error messages.
fn tail(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
        let _ = file.read_to_end(&mut bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    if text.trim().is_empty() { "(empty)".to_owned() } else { text.into_owned() }
}
