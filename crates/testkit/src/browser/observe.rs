//! What the pages of one browser session did that a test may forbid:
//! console errors, Content Security Policy violations and requests.

use std::fmt::Write as _;

use serde_json::Value;
use url::Url;

/// Name of the page function that reports `securitypolicyviolation` events
/// (a DevTools binding, see [`CSP_LISTENER`]).
pub(crate) const CSP_BINDING: &str = "__coffeeTestkitCsp";

/// Installed in every document before its own scripts: forwards each CSP
/// violation (enforced or report-only) to the test through the binding.
pub(crate) const CSP_LISTENER: &str = r"
document.addEventListener('securitypolicyviolation', (e) => {
  try {
    window.__coffeeTestkitCsp(JSON.stringify({
      directive: e.effectiveDirective || e.violatedDirective,
      blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
      disposition: e.disposition, sample: e.sample,
    }));
  } catch (_) {}
}, true);
";

/// Everything the pages of one [`Browser`](super::Browser) did that a test
/// may want to forbid, from launch until the snapshot was taken (see
/// [`Browser::observations`](super::Browser::observations)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations {
    /// `console.error`/`console.assert` calls, uncaught exceptions and
    /// unhandled rejections, browser-side errors logged to the console
    /// (a failed resource load), and renderer crashes. Not the 404 of the
    /// `/favicon.ico` that Chromium asks every site for on its own. A
    /// worker's error can appear twice: from the worker and in the page's log.
    pub console_errors: Vec<String>,
    /// Content Security Policy violations, from the console (the `Log`
    /// domain) and from `securitypolicyviolation` events; one violation
    /// usually appears in both forms.
    pub csp_violations: Vec<String>,
    /// Every URL a page, frame or worker requested (documents, scripts,
    /// images, fetches, WebSockets, redirect targets), in order.
    pub requests: Vec<String>,
}

impl Observations {
    /// The requests that went (or tried to go) anywhere but `allowed_origin`
    /// (such as `http://127.0.0.1:8080`; a full URL works too, only its
    /// origin counts). `ws:`/`wss:` count as `http:`/`https:`; `data:`,
    /// `blob:` and `about:` URLs never leave the browser and are not listed.
    ///
    /// # Panics
    /// When `allowed_origin` is not a URL.
    pub fn outside_requests(&self, allowed_origin: &str) -> Vec<String> {
        let allowed = match Url::parse(allowed_origin) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(e) => panic!("allowed origin {allowed_origin:?} is not a URL: {e}"),
        };
        self.requests.iter().filter(|url| is_outside(url, &allowed)).cloned().collect()
    }

    /// Every problem seen, one line each: console errors, CSP violations
    /// and requests outside `allowed_origin`. Empty when the session was clean.
    ///
    /// # Panics
    /// When `allowed_origin` is not a URL.
    pub fn problems(&self, allowed_origin: &str) -> Vec<String> {
        let console = self.console_errors.iter().map(|e| format!("console error: {e}"));
        let csp = self.csp_violations.iter().map(|e| format!("CSP violation: {e}"));
        let outside =
            self.outside_requests(allowed_origin).into_iter().map(|u| format!("request to another origin: {u}"));
        console.chain(csp).chain(outside).collect()
    }

    /// Panics, listing them, when the session saw any console error, CSP
    /// violation or request outside `allowed_origin`.
    ///
    /// # Panics
    /// On any such problem, and when `allowed_origin` is not a URL.
    pub fn assert_clean(&self, allowed_origin: &str) {
        let problems = self.problems(allowed_origin);
        if problems.is_empty() {
            return;
        }
        let mut report = format!("the browser session was not clean (allowed origin {allowed_origin}):");
        for problem in &problems {
            let _ = write!(report, "\n  - {problem}");
        }
        panic!("{report}");
    }
}

fn is_outside(url: &str, allowed: &str) -> bool {
    let Ok(parsed) = Url::parse(url) else { return true };
    let scheme = match parsed.scheme() {
        "data" | "blob" | "about" => return false,
        "ws" => "http",
        "wss" => "https",
        other => other,
    };
    let mut normalized = parsed.clone();
    if scheme != parsed.scheme() && normalized.set_scheme(scheme).is_err() {
        return true;
    }
    normalized.origin().ascii_serialization() != allowed
}

/// Collects [`Observations`] from DevTools events as they arrive.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) seen: Observations,
}

impl Recorder {
    /// Notes what the event `method` with `params` says, if it matters.
    pub(crate) fn record(&mut self, method: &str, params: &Value) {
        let seen = &mut self.seen;
        match method {
            "Runtime.consoleAPICalled" => {
                let kind = str_at(params, "/type");
                if kind == "error" || kind == "assert" {
                    seen.console_errors.push(format!("{}{}", console_text(params), location(&params["stackTrace"])));
                }
            }
            "Runtime.exceptionThrown" => seen.console_errors.push(exception_text(&params["exceptionDetails"])),
            "Runtime.bindingCalled" if str_at(params, "/name") == CSP_BINDING => {
                let v: Value = serde_json::from_str(str_at(params, "/payload")).unwrap_or_default();
                seen.csp_violations.push(format!(
                    "{} blocked {:?} at {}:{} ({})",
                    str_at(&v, "/directive"),
                    str_at(&v, "/blocked"),
                    str_at(&v, "/source"),
                    v["line"],
                    str_at(&v, "/disposition"),
                ));
            }
            "Log.entryAdded" if str_at(params, "/entry/level") == "error" => {
                let text = str_at(params, "/entry/text");
                let url = str_at(params, "/entry/url");
                let line = if url.is_empty() { text.to_owned() } else { format!("{text} ({url})") };
                if is_implicit_favicon(params) {
                    // Chromium's own request, not the page's: a site need not have an icon.
                } else if text.contains("Content Security Policy") {
                    seen.csp_violations.push(line);
                } else {
                    seen.console_errors.push(format!("[{}] {line}", str_at(params, "/entry/source")));
                }
            }
            "Network.requestWillBeSent" => seen.requests.push(str_at(params, "/request/url").to_owned()),
            "Network.webSocketCreated" => seen.requests.push(str_at(params, "/url").to_owned()),
            "Inspector.targetCrashed" => seen.console_errors.push("the page's renderer crashed".to_owned()),
            _ => {}
        }
    }
}

/// Chromium's automatic `GET /favicon.ico` found nothing (the page did not ask).
fn is_implicit_favicon(params: &Value) -> bool {
    str_at(params, "/entry/source") == "network"
        && str_at(params, "/entry/text").contains("404")
        && Url::parse(str_at(params, "/entry/url")).is_ok_and(|url| url.path() == "/favicon.ico")
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The arguments of a console call, as the console would show them.
fn console_text(params: &Value) -> String {
    let args = params["args"].as_array().map(Vec::as_slice).unwrap_or_default();
    let parts: Vec<String> = args
        .iter()
        .map(|arg| match (&arg["value"], arg["description"].as_str()) {
            (Value::String(s), _) => s.clone(),
            (Value::Null, Some(description)) => description.to_owned(),
            (Value::Null, None) => str_at(arg, "/unserializableValue").to_owned(),
            (value, _) => value.to_string(),
        })
        .collect();
    parts.join(" ")
}

fn exception_text(details: &Value) -> String {
    let text = details.pointer("/exception/description").and_then(Value::as_str).unwrap_or(str_at(details, "/text"));
    let url = str_at(details, "/url");
    if url.is_empty() { text.to_owned() } else { format!("{text} ({url}:{})", line_number(details)) }
}

/// ` (url:line)` of a console call's top stack frame, if it has one.
fn location(stack: &Value) -> String {
    match stack.pointer("/callFrames/0") {
        Some(frame) if !str_at(frame, "/url").is_empty() => {
            format!(" ({}:{})", str_at(frame, "/url"), line_number(frame))
        }
        _ => String::new(),
    }
}

/// The 1-based line of a 0-based DevTools `lineNumber`.
fn line_number(location: &Value) -> u64 {
    location["lineNumber"].as_u64().map_or(0, |line| line + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seen(requests: &[&str]) -> Observations {
        Observations { requests: requests.iter().map(|s| (*s).to_owned()).collect(), ..Observations::default() }
    }

    #[test]
    fn only_other_origins_are_outside_requests() {
        let obs = seen(&[
            "http://127.0.0.1:8080/docs",
            "ws://127.0.0.1:8080/chat",
            "data:image/png;base64,AAAA",
            "http://127.0.0.1:8081/x",
            "https://127.0.0.1:8080/",
            "http://localhost:8080/",
            "wss://127.0.0.1:8080/",
        ]);
        assert_eq!(
            obs.outside_requests("http://127.0.0.1:8080/anything"),
            ["http://127.0.0.1:8081/x", "https://127.0.0.1:8080/", "http://localhost:8080/", "wss://127.0.0.1:8080/"]
        );
    }

    #[test]
    fn assert_clean_lists_every_problem() {
        let mut obs = seen(&["http://127.0.0.2:9/x.png"]);
        obs.console_errors.push("boom".into());
        let report = std::panic::catch_unwind(|| obs.assert_clean("http://127.0.0.1:1")).unwrap_err();
        let report = report.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(report.contains("console error: boom"), "{report}");
        assert!(report.contains("request to another origin: http://127.0.0.2:9/x.png"), "{report}");
        seen(&["http://127.0.0.1:1/"]).assert_clean("http://127.0.0.1:1");
    }
}
