//! One browser tab, driven the way a person would: real mouse and key
//! events, waits for what is on screen.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::BrowserError;
use super::cdp::Connection;
use super::observe::{CSP_BINDING, CSP_LISTENER};

/// How long a page load may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Page::click`], [`Page::type_into`] and [`Page::text`] wait
/// for their element to be rendered.
const ACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Width and height of every tab's viewport, in CSS pixels.
const VIEWPORT: (u32, u32) = (1280, 900);
/// Pause between two looks for an element.
const POLL: Duration = Duration::from_millis(50);

/// Commands that make a target report what [`Observations`](super::Observations)
/// collects, and attach (paused) to its frames and workers so they are
/// observed before they run.
pub(crate) fn observing_commands() -> Vec<(&'static str, Value)> {
    vec![
        ("Runtime.enable", json!({})),
        ("Log.enable", json!({})),
        ("Network.enable", json!({})),
        ("Inspector.enable", json!({})),
        ("Target.setAutoAttach", json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true })),
    ]
}

/// A browser tab, opened by [`Browser::open`](super::Browser::open); the tab
/// is closed when this value is dropped (what it did stays observed).
pub struct Page {
    conn: Arc<Connection>,
    session: String,
    target: String,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.conn.send(None, "Target.closeTarget", json!({ "targetId": self.target }));
    }
}

impl Page {
    /// Opens a blank tab, sets up observation, and returns it with its
    /// DevTools session id.
    pub(crate) async fn blank(conn: Arc<Connection>) -> Result<Page, BrowserError> {
        let created = conn.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await?;
        let target = created["targetId"].as_str().unwrap_or_default().to_owned();
        let attached = conn.call(None, "Target.attachToTarget", json!({ "targetId": target, "flatten": true })).await?;
        let session = attached["sessionId"].as_str().unwrap_or_default().to_owned();
        let page = Page { conn, session, target };
        page.call("Page.enable", json!({})).await?;
        page.call("Page.setLifecycleEventsEnabled", json!({ "enabled": true })).await?;
        let viewport = json!({ "width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false });
        page.call("Emulation.setDeviceMetricsOverride", viewport).await?;
        page.call("Runtime.addBinding", json!({ "name": CSP_BINDING })).await?;
        page.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": CSP_LISTENER })).await?;
        for (method, params) in observing_commands() {
            page.call(method, params).await?;
        }
        Ok(page)
    }

    /// This tab's DevTools session id.
    pub(crate) fn session(&self) -> &str {
        &self.session
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.conn.call(Some(&self.session), method, params).await
    }

    /// Navigates to `url` and waits for its `load` event.
    ///
    /// # Errors
    /// The navigation fails (no server, bad URL) or the page does not load
    /// within 30 s.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        let mut events = self.conn.subscribe();
        let nav = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(BrowserError::Navigation { url: url.to_owned(), error: error.to_owned() });
        }
        let Some(loader) = nav["loaderId"].as_str() else { return Ok(()) }; // same-document navigation
        let loaded = async {
            loop {
                match events.recv().await {
                    Ok(e)
                        if e.session.as_deref() == Some(self.session.as_str())
                            && e.method == "Page.lifecycleEvent"
                            && e.params["name"] == "load"
                            && e.params["loaderId"] == loader =>
                    {
                        return Ok(());
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Err(BrowserError::Closed),
                }
            }
        };
        tokio::time::timeout(LOAD_TIMEOUT, loaded)
            .await
            .map_err(|_| BrowserError::Timeout(format!("{url} did not finish loading in {LOAD_TIMEOUT:?}")))?
    }

    /// Evaluates the JavaScript expression `js` in the page (awaiting it if
    /// it is a promise) and returns its value as JSON (`null` for
    /// `undefined`; `NaN`, `Infinity` and big integers as strings).
    ///
    /// # Errors
    /// The script throws, or the browser does not answer.
    pub async fn eval(&self, js: &str) -> Result<Value, BrowserError> {
        let params = json!({ "expression": js, "returnByValue": true, "awaitPromise": true, "userGesture": true });
        let mut reply = self.call("Runtime.evaluate", params).await?;
        if let Some(details) = reply.get("exceptionDetails") {
            let text = details.pointer("/exception/description").and_then(Value::as_str);
            let text = text.or(details["text"].as_str()).unwrap_or("exception");
            return Err(BrowserError::Js(text.to_owned()));
        }
        let result = &mut reply["result"];
        Ok(match result.get_mut("value") {
            Some(value) => value.take(),
            None => result.get_mut("unserializableValue").map(Value::take).unwrap_or(Value::Null),
        })
    }

    /// Waits until an element matching the CSS `selector` is in the
    /// document and rendered (it has a non-empty box and is not
    /// `visibility: hidden`).
    ///
    /// # Errors
    /// [`BrowserError::NotFound`] after `timeout`; a JavaScript error for an
    /// invalid selector.
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> Result<(), BrowserError> {
        let js = format!(
            "(() => {{ const el = document.querySelector({sel}); if (!el) return false;
               const r = el.getBoundingClientRect();
               return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; }})()",
            sel = quote(selector)
        );
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(&js).await? == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::NotFound(selector.to_owned()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the middle of the element matching `selector` with real mouse
    /// events (move, press, release), after scrolling it into view; whatever
    /// is on top at that point receives the click, as for a person.
    ///
    /// # Errors
    /// No such element is rendered within 10 s.
    pub async fn click(&self, selector: &str) -> Result<(), BrowserError> {
        self.wait_for(selector, ACTION_TIMEOUT).await?;
        let js = format!(
            "(() => {{ const el = document.querySelector({sel});
               el.scrollIntoView({{ block: 'center', inline: 'center' }});
               const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            sel = quote(selector)
        );
        let point = self.eval(&js).await?;
        let (x, y) = (point[0].as_f64().unwrap_or(0.0), point[1].as_f64().unwrap_or(0.0));
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let button = if kind == "mouseMoved" { "none" } else { "left" };
            let params = json!({ "type": kind, "x": x, "y": y, "button": button, "buttons": buttons, "clickCount": 1 });
            self.call("Input.dispatchMouseEvent", params).await?;
        }
        Ok(())
    }

    /// Focuses the element matching `selector`, puts the caret at the end of
    /// its value, and types `text` with real key events (`keydown`,
    /// `keypress`, `beforeinput`, `input`, `keyup` per character, so React
    /// and other frameworks see it as typing). `\n` presses Enter.
    ///
    /// # Errors
    /// No such element is rendered within 10 s, or it cannot take focus.
    pub async fn type_into(&self, selector: &str, text: &str) -> Result<(), BrowserError> {
        self.wait_for(selector, ACTION_TIMEOUT).await?;
        let js = format!(
            "(() => {{ const el = document.querySelector({sel}); el.focus();
               try {{ const n = el.value.length; el.setSelectionRange(n, n); }} catch (_) {{}}
               return document.activeElement === el; }})()",
            sel = quote(selector)
        );
        if self.eval(&js).await? != Value::Bool(true) {
            return Err(BrowserError::Js(format!("{selector:?} cannot take focus")));
        }
        for ch in text.chars() {
            let (down, key) = if ch == '\n' {
                let enter = json!({ "type": "keyDown", "key": "Enter", "code": "Enter",
                    "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13, "text": "\r" });
                (enter, "Enter".to_owned())
            } else {
                let s = ch.to_string();
                (json!({ "type": "keyDown", "key": s, "text": s, "unmodifiedText": s }), s)
            };
            self.call("Input.dispatchKeyEvent", down).await?;
            self.call("Input.dispatchKeyEvent", json!({ "type": "keyUp", "key": key })).await?;
        }
        Ok(())
    }

    /// The rendered text (`innerText`) of the element matching `selector`.
    ///
    /// # Errors
    /// No such element is rendered within 10 s.
    pub async fn text(&self, selector: &str) -> Result<String, BrowserError> {
        self.wait_for(selector, ACTION_TIMEOUT).await?;
        let value = self.eval(&format!("document.querySelector({}).innerText", quote(selector))).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Saves a PNG screenshot of the viewport (1280×900) to `path`,
    /// creating its folder if needed.
    ///
    /// # Errors
    /// The browser cannot capture the page, or the file cannot be written.
    pub async fn screenshot_png(&self, path: impl AsRef<Path>) -> Result<(), BrowserError> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" })).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .map_err(|e| BrowserError::Protocol { method: "Page.captureScreenshot".into(), message: e.to_string() })?;
        let path = path.as_ref();
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(folder).await?;
        }
        tokio::fs::write(path, png).await?;
        Ok(())
    }
}

/// `s` as a JavaScript string literal.
fn quote(s: &str) -> String {
    Value::from(s).to_string()
}
