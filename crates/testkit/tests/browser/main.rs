//! The browser harness, proved against small pages in real headless
//! Chromium. Without Chromium these tests skip, unless `CI` is set.
#![allow(clippy::unwrap_used)]

mod site;

use std::future::Future;
use std::time::Duration;

use coffee_testkit::{Browser, BrowserError, Observations};
use site::Site;

/// Every test finishes or fails within this.
const TEST_LIMIT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(10);

async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, test).await.expect("the test took too long");
}

/// The panic message of `assert_clean`, or `None` when it passed.
fn assert_clean_report(seen: &Observations, origin: &str) -> Option<String> {
    let seen = seen.clone();
    let origin = origin.to_owned();
    let result = std::panic::catch_unwind(move || seen.assert_clean(&origin));
    result.err().map(|panic| panic.downcast_ref::<String>().cloned().unwrap_or_default())
}

const FORM: &str = r#"<!doctype html><title>form</title>
<input id="name" autocomplete="off"> <button id="greet">Greet</button>
<p id="live"></p><p id="out">nobody yet</p>
<script src="/form.js"></script>"#;

const FORM_JS: &str = r#"let keys = 0;
const name = document.getElementById('name');
name.addEventListener('keydown', () => { keys += 1; });
name.addEventListener('input', () => { document.getElementById('live').textContent = name.value; });
document.getElementById('greet').addEventListener('click', (e) => {
  if (!e.isTrusted) return;
  document.getElementById('out').textContent = `Hello, ${name.value}! (${keys} keys)`;
});"#;

#[tokio::test]
async fn typing_and_clicking_change_the_page_text() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let site = Site::builder().html("/", FORM).file("/form.js", "text/javascript", FORM_JS).start().await;
        let page = browser.open(&site.url("/")).await.unwrap();
        assert_eq!(page.text("#out").await.unwrap(), "nobody yet");

        page.type_into("#name", "Zoë").await.unwrap();
        assert_eq!(page.text("#live").await.unwrap(), "Zoë", "input events reach the page");
        page.click("#greet").await.unwrap();

        assert_eq!(page.text("#out").await.unwrap(), "Hello, Zoë! (3 keys)");
        assert_eq!(page.eval("document.title + ' ' + (1 + 2)").await.unwrap(), "form 3");
        browser.observations().await.assert_clean(&site.origin());
    })
    .await;
}

#[tokio::test]
async fn a_screenshot_is_a_png_of_the_page() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let site = Site::builder().html("/", FORM).file("/form.js", "text/javascript", FORM_JS).start().await;
        let page = browser.open(&site.url("/")).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shots/form.png");

        page.screenshot_png(&path).await.unwrap();

        let png = std::fs::read(&path).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(png.len() > 1000, "an empty picture: {} bytes", png.len());
        if let Some(keep) = std::env::var_os("BROWSER_SCREENSHOT") {
            std::fs::copy(&path, keep).unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn console_errors_and_uncaught_exceptions_are_reported() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let html = r#"<!doctype html><p>noisy</p><script>
            console.log('fine'); console.warn('also fine');
            console.error('kaboom', 42);
            Promise.reject(new Error('rejected-boom'));
            setTimeout(() => { throw new Error('uncaught-boom'); }, 0);
            setTimeout(() => { document.body.insertAdjacentHTML('beforeend', '<p id=done>done</p>'); }, 50);
        </script>"#;
        let site = Site::builder().html("/", html).start().await;
        let page = browser.open(&site.url("/")).await.unwrap();
        page.wait_for("#done", WAIT).await.unwrap();

        let seen = browser.observations().await;
        let errors = seen.console_errors.join("\n");
        for expected in ["kaboom 42", "rejected-boom", "uncaught-boom"] {
            assert!(errors.contains(expected), "{expected:?} missing from:\n{errors}");
        }
        assert!(!errors.contains("fine"), "only errors count:\n{errors}");
        assert_eq!(seen.console_errors.len(), 3, "{errors}");
        let report = assert_clean_report(&seen, &site.origin()).expect("assert_clean must fail");
        assert!(report.contains("console error: kaboom 42"), "{report}");
    })
    .await;
}

#[tokio::test]
async fn a_csp_violation_is_reported() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let html = r#"<!doctype html><title>strict</title><body>
            <script>document.title = 'inline ran';</script>
            <script src="/ok.js"></script>"#;
        let ok_js = "document.body.insertAdjacentHTML('beforeend', '<p id=ready>ready</p>');";
        let site = Site::builder()
            .html("/", html)
            .header("/", "Content-Security-Policy", "default-src 'self'")
            .file("/ok.js", "text/javascript", ok_js)
            .start()
            .await;
        let page = browser.open(&site.url("/")).await.unwrap();
        page.wait_for("#ready", WAIT).await.unwrap();
        assert_eq!(page.eval("document.title").await.unwrap(), "strict", "the inline script was blocked");

        let seen = browser.observations().await;
        assert!(!seen.csp_violations.is_empty(), "no CSP violation seen: {seen:?}");
        assert!(seen.csp_violations.iter().any(|v| v.contains("script-src")), "{seen:?}");
        let report = assert_clean_report(&seen, &site.origin()).expect("assert_clean must fail");
        assert!(report.contains("CSP violation"), "{report}");
    })
    .await;
}

#[tokio::test]
async fn a_request_to_another_origin_is_reported() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        // Port 9 (discard) is on Chromium's blocked list: the requests are
        // announced, then refused inside the browser; nothing is sent.
        let html = r#"<!doctype html><img src="http://127.0.0.2:9/x.png" alt="">
            <script>try { new WebSocket('ws://127.0.0.2:9/live'); } catch (_) {}</script>
            <p id=ready>ready</p>"#;
        let site = Site::builder().html("/", html).start().await;
        let page = browser.open(&site.url("/")).await.unwrap();
        page.wait_for("#ready", WAIT).await.unwrap();

        let seen = browser.observations().await;
        let outside = seen.outside_requests(&site.origin());
        assert!(outside.contains(&"http://127.0.0.2:9/x.png".to_owned()), "{seen:?}");
        assert!(seen.requests.contains(&site.url("/")), "{seen:?}");
        let report = assert_clean_report(&seen, &site.origin()).expect("assert_clean must fail");
        assert!(report.contains("request to another origin: http://127.0.0.2:9/x.png"), "{report}");
    })
    .await;
}

#[tokio::test]
async fn a_clean_page_passes_assert_clean() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let html = r#"<!doctype html><link rel="stylesheet" href="/style.css">
            <img src="/logo.svg" alt="logo"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
            <script src="/app.js"></script>"#;
        let app = "fetch('/menu.json').then(r => r.json()).then(m => {
            document.body.insertAdjacentHTML('beforeend', `<p id=ready>${m.drink}</p>`); });";
        let svg =
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;
        let site = Site::builder()
            .html("/", html)
            .header("/", "Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
            .file("/style.css", "text/css", "body { margin: 2em; }")
            .file("/logo.svg", "image/svg+xml", svg)
            .file("/app.js", "text/javascript", app)
            .file("/menu.json", "application/json", r#"{"drink":"latte"}"#)
            .start()
            .await;
        let page = browser.open(&site.url("/")).await.unwrap();
        assert_eq!(page.text("#ready").await.unwrap(), "latte");

        let seen = browser.observations().await;
        for path in ["/", "/style.css", "/logo.svg", "/app.js", "/menu.json"] {
            assert!(seen.requests.contains(&site.url(path)), "{path} not observed: {seen:?}");
        }
        seen.assert_clean(&site.origin());
        assert!(seen.problems(&site.origin()).is_empty());
    })
    .await;
}

#[tokio::test]
async fn failures_are_errors_not_hangs() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let refused = browser.open(&format!("http://127.0.0.1:{closed_port}/")).await.unwrap_err();
        assert!(
            matches!(&refused, BrowserError::Navigation { error, .. } if error.contains("CONNECTION_REFUSED")),
            "{refused}"
        );

        let site = Site::builder().html("/", "<p id=here>here</p><p id=hidden hidden>x</p>").start().await;
        let page = browser.open(&site.url("/")).await.unwrap();
        let missing = page.wait_for("#nowhere", Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(missing, BrowserError::NotFound(_)), "{missing}");
        let hidden = page.wait_for("#hidden", Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(hidden, BrowserError::NotFound(_)), "{hidden}");
        let thrown = page.eval("(() => { throw new TypeError('nope') })()").await.unwrap_err();
        assert!(thrown.to_string().contains("TypeError: nope"), "{thrown}");
        let bad_selector = page.wait_for("p[", WAIT).await.unwrap_err();
        assert!(matches!(bad_selector, BrowserError::Js(_)), "{bad_selector}");
    })
    .await;
}

/// Processes (not yet dead) whose process group is `group`.
fn live_processes_in_group(group: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...; comm may contain spaces.
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&group.to_string().as_str()) && fields.first() != Some(&"Z") {
            found.push(stat);
        }
    }
    found
}

#[tokio::test]
async fn a_panicking_test_leaves_no_chromium_and_no_profile_behind() {
    let Some(browser) = Browser::launch_or_skip().await else { return };
    bounded(async {
        let site = Site::builder().html("/", "<p>hi</p>").start().await;
        browser.open(&site.url("/")).await.unwrap();
        let group = browser.process_group();
        let dir = browser.temp_dir().unwrap().to_owned();
        assert!(live_processes_in_group(group).len() >= 3, "browser, zygote and renderer run");

        let crashed = tokio::spawn(async move {
            let _browser = browser;
            panic!("a test fails while it holds the browser");
        })
        .await;
        assert!(crashed.unwrap_err().is_panic());

        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !live_processes_in_group(group).is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(live_processes_in_group(group), Vec::<String>::new());
        assert!(!dir.exists(), "{} is left behind", dir.display());
    })
    .await;
}
