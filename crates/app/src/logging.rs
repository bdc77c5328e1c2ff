//! Structured logging with `tracing`.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` uses `RUST_LOG` syntax (the
/// configuration refuses an invalid one; should one get here anyway, it
/// falls back to `info` with a warning).
pub fn init_logging(filter: &str, format: LogFormat) {
    let (env_filter, bad) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, false),
        Err(_) => (EnvFilter::new("info"), true),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(env_filter).with_target(true);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).finish().with(ClientFaults::new(filter)).try_init(),
        LogFormat::Pretty => builder.finish().with(ClientFaults::new(filter)).try_init(),
    };
    if installed.is_ok() && bad {
        tracing::warn!(filter, "RUST_LOG is not a valid filter; logging at info");
    }
}

/// Where actix-http reports a connection it closed.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Keeps the client's faults out of the error log.
///
/// actix-http answers a request it cannot parse (a malformed request line
/// or header: 400; a head over its limit: 431) or a connection that fails
/// under it (reset, broken pipe) by closing the connection, and logs each
/// at ERROR as `stream error: …`. Those requests never reach the
/// middleware, so they have no access-log line either. They are what the
/// client did, not a fault of the server, and any client could fill the log
/// with them, one line per connection. This layer drops those two kinds
/// (parse and I/O errors) unless `RUST_LOG` names `actix_http` (e.g.
/// `info,actix_http=debug`), which is how one asks to look into them. (A
/// subscriber cannot ask the filter from inside its callbacks, so the
/// directive is looked for once, in the filter's text.) actix-http's other
/// errors (an internal error, a body that failed while streaming a
/// response) stay at ERROR.
struct ClientFaults {
    /// `RUST_LOG` names `actix_http`: keep everything it logs.
    keep: bool,
}

impl ClientFaults {
    fn new(filter: &str) -> Self {
        Self { keep: filter.contains("actix_http") }
    }
}

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if self.keep || meta.target() != DISPATCHER || *meta.level() != Level::ERROR {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !["stream error: request parse error", "stream error: I/O error"].iter().any(|p| message.0.starts_with(p))
    }
}

/// An event's `message` field, as text.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use tracing_subscriber::Registry;

    use super::*;

    /// Records the message of every event that reaches it.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }

    /// What reaches the log under `filter` when actix-http and others report.
    fn logged(filter: &str) -> Vec<String> {
        let seen = Seen::default();
        let subscriber =
            Registry::default().with(EnvFilter::new(filter)).with(seen.clone()).with(ClientFaults::new(filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: {}", "request parse error: invalid Header provided");
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: request parse error: message head is too large");
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: I/O error: Connection reset by peer");
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: internal error");
            tracing::error!(target: "actix_http::h1::dispatcher", "Response payload stream error: disk gone");
            tracing::error!(target: "coffee_api", "stream error: request parse error: ours, not actix's");
        });
        seen.0.lock().unwrap().clone()
    }

    #[test]
    fn the_clients_malformed_requests_and_resets_stay_out_of_the_error_log() {
        let kept = [
            "stream error: internal error",
            "Response payload stream error: disk gone",
            "stream error: request parse error: ours, not actix's",
        ];
        assert_eq!(logged("info"), kept);
        assert_eq!(logged("warn,coffee_api=debug"), kept);
    }

    #[test]
    fn they_are_logged_when_the_filter_names_actix_http() {
        assert_eq!(logged("info,actix_http=debug").len(), 6);
        assert_eq!(logged("warn,actix_http::h1::dispatcher=error").len(), 6);
    }
}
