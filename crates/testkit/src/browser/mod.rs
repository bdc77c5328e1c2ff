//! A real browser for tests: Debian's headless Chromium, driven over the
//! Chrome DevTools Protocol (CDP) from async tokio tests.
//!
//! ```no_run
//! # async fn demo(origin: &str) -> Result<(), coffee_testkit::BrowserError> {
//! use std::time::Duration;
//! let Some(browser) = coffee_testkit::Browser::launch_or_skip().await else { return Ok(()) };
//! let page = browser.open(&format!("{origin}/docs")).await?;
//! page.wait_for("#search", Duration::from_secs(10)).await?;
//! page.type_into("#search", "latte").await?;
//! page.click("button[type=submit]").await?;
//! assert_eq!(page.text("#result").await?, "1 drink");
//! browser.observations().await.assert_clean(origin);
//! # Ok(()) }
//! ```
//!
//! # Why a thin CDP client
//!
//! Measured on this 2-core machine against Chromium 156: the maintained
//! `chromiumoxide` 0.9 works (it launched, navigated, evaluated and saw
//! console, log and network events), but a cold build of it takes about
//! three minutes (178 s for a scratch crate; its generated bindings for the
//! whole protocol alone compile for over two minutes) and it brings
//! `reqwest` 0.13 next to the workspace's 0.12; its `type_str` also rejects
//! characters outside a US keyboard. `headless_chrome` is blocking, and
//! WebDriver (`fantoccini` + `chromedriver`) sees neither console messages,
//! CSP violations nor every request. The dozen commands needed here are
//! stable parts of the protocol, so this module speaks them itself over
//! `tokio-tungstenite` and `serde_json`: about 15 s of compilation on top
//! of the workspace's own dependencies (48 s for a cold scratch crate with
//! tokio and serde), behind the `browser` feature. Unknown events and
//! fields are ignored, so newer Chromium versions keep working.
//!
//! # Isolation
//!
//! Each [`Browser`] is its own Chromium process group with a fresh profile
//! in a temporary folder and a DevTools port the OS picks; it starts with
//! the flags that keep Chromium off the network. Dropping it (also while a
//! test panics) kills the whole group and deletes the folder; if the test
//! process itself is killed, the group kills itself (see `process.rs`).

mod cdp;
mod observe;
mod page;
mod process;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;

pub use observe::Observations;
pub use page::Page;

use cdp::{Connection, lock};
use observe::Recorder;
use process::Chromium;

/// What can go wrong while driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium could not be started (its log's end is included).
    #[error("could not start Chromium: {0}")]
    Launch(String),
    /// A local file or pipe failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The DevTools WebSocket could not be opened.
    #[error("cannot connect to Chromium's DevTools: {0}")]
    Connection(String),
    /// The browser went away.
    #[error("the browser connection is closed")]
    Closed,
    /// The browser refused a DevTools command.
    #[error("{method} failed: {message}")]
    Protocol {
        /// The DevTools command.
        method: String,
        /// The browser's reason.
        message: String,
    },
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A script threw, or an element could not be used.
    #[error("JavaScript error: {0}")]
    Js(String),
    /// A page could not be loaded at all.
    #[error("navigation to {url} failed: {error}")]
    Navigation {
        /// Where the page was to go.
        url: String,
        /// Chromium's reason, such as `net::ERR_CONNECTION_REFUSED`.
        error: String,
    },
    /// No rendered element matched a CSS selector in time.
    #[error("no rendered element matches {0:?}")]
    NotFound(String),
}

impl BrowserError {
    fn for_method(self, name: &str) -> Self {
        match self {
            BrowserError::Protocol { message, .. } => BrowserError::Protocol { method: name.to_owned(), message },
            other => other,
        }
    }
}

/// A headless Chromium for one test, killed (with every helper process)
/// and its profile deleted when dropped.
pub struct Browser {
    // Field order is drop order: the connection before the process.
    conn: Arc<Connection>,
    recorder: Arc<Mutex<Recorder>>,
    sessions: Mutex<Vec<String>>,
    chromium: Chromium,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("process_group", &self.chromium.process_group()).finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts headless Chromium ([`chromium_path`]) with a fresh profile on a
    /// free DevTools port, and connects to it.
    ///
    /// # Errors
    /// Chromium is missing, exits, or does not open DevTools within 30 s.
    pub async fn launch() -> Result<Browser, BrowserError> {
        let exe = chromium_path();
        if !is_executable(&exe) {
            return Err(BrowserError::Launch(format!("{} not found; run scripts/install-chromium.sh", exe.display())));
        }
        let (chromium, ws_url) = Chromium::start(&exe).await?;
        let recorder = Arc::new(Mutex::new(Recorder::default()));
        let conn = Arc::new(Connection::connect(&ws_url, Arc::clone(&recorder)).await?);
        Ok(Browser { conn, recorder, sessions: Mutex::default(), chromium })
    }

    /// For tests: [`Browser::launch`], or `None` with a `SKIPPED` line on
    /// stderr (not captured by the test harness) when
    /// Chromium is not installed and the `CI` environment variable is unset
    /// (a developer machine without the browser skips browser tests).
    ///
    /// # Panics
    /// Chromium is missing while `CI` is set (CI installs it first), or it
    /// is installed but does not start.
    pub async fn launch_or_skip() -> Option<Browser> {
        let exe = chromium_path();
        if !is_executable(&exe) {
            let test = std::thread::current().name().unwrap_or("a browser test").to_owned();
            assert!(
                !on_ci(),
                "{test}: Chromium not found at {} while CI is set; run scripts/install-chromium.sh",
                exe.display()
            );
            // Straight to stderr, past the test harness's output capture, so
            // the skip shows up in a passing run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: Chromium not found at {} (run scripts/install-chromium.sh or set CHROMIUM)",
                exe.display()
            );
            return None;
        }
        match Browser::launch().await {
            Ok(browser) => Some(browser),
            Err(e) => panic!("{e}"),
        }
    }

    /// Opens `url` in a new tab and waits for it to load.
    ///
    /// # Errors
    /// See [`Page::goto`].
    pub async fn open(&self, url: &str) -> Result<Page, BrowserError> {
        let page = Page::blank(Arc::clone(&self.conn)).await?;
        lock(&self.sessions).push(page.session().to_owned());
        page.goto(url).await?;
        Ok(page)
    }

    /// What every page of this browser did so far: console errors, CSP
    /// violations and requests. It first makes a round trip to every open
    /// tab, so whatever a tab did before this call is included.
    pub async fn observations(&self) -> Observations {
        let sessions = lock(&self.sessions).clone();
        for session in sessions {
            // A closed tab answers with an error; what it did is recorded.
            let _ = self.conn.call(Some(&session), "Runtime.evaluate", json!({ "expression": "0" })).await;
        }
        lock(&self.recorder).seen.clone()
    }

    /// The process group of Chromium and all its helpers (for leak checks).
    pub fn process_group(&self) -> u32 {
        self.chromium.process_group()
    }

    /// The temporary folder holding the profile and `chromium.log`; it is
    /// deleted on drop.
    pub fn temp_dir(&self) -> Option<&Path> {
        self.chromium.dir()
    }
}

/// The Chromium to run: `$CHROMIUM` if set (a path, or a name looked up in
/// `PATH`), else `/usr/bin/chromium` (Debian's package).
pub fn chromium_path() -> PathBuf {
    match std::env::var_os("CHROMIUM").filter(|v| !v.is_empty()) {
        Some(name) if !Path::new(&name).is_absolute() && !name.to_string_lossy().contains('/') => {
            let found = std::env::var_os("PATH")
                .map(|path| std::env::split_paths(&path).map(|dir| dir.join(&name)).find(|p| is_executable(p)));
            found.flatten().unwrap_or_else(|| PathBuf::from(name))
        }
        Some(path) => PathBuf::from(path),
        None => PathBuf::from("/usr/bin/chromium"),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the `CI` environment variable says this is a CI run.
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}
