//! Prometheus metrics (SPEC §3 `GET /metrics`), shared by `coffee-api` and
//! `coffee-worker`.
//!
//! Each process owns one [`Metrics`] (its own collectors, so several servers
//! in one test process never mix their numbers). Requests are counted as
//! they finish ([`Metrics::observe_request`]: a counter and a histogram
//! bucket, atomics behind a read lock), each thread into its own shard so
//! that two workers never write the same cache lines; a scrape adds the
//! shards up, so it always sees every request that has finished.
//! Everything that describes a state — the pool, the outbox backlog, the
//! queue, the sockets — is read only when scraped ([`Sample`]), so it costs
//! requests nothing.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Duration;

use coffee_crypto::RandomSecrets;
use coffee_domain::security::OneTimeSecrets;
use prometheus::core::Collector;
use prometheus::proto::{Metric, MetricFamily};
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, TextEncoder};
use subtle::ConstantTimeEq;

/// `Content-Type` of a scrape: the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `route` label of requests no route matched (never the raw path,
/// which the client chooses).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets in seconds: 1 ms (a cached read) to 10 s (a stuck dependency).
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The methods a `method` label may name; anything else is `other`, so a
/// client inventing methods cannot grow the series.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// What the process reports about itself; request metrics are recorded
/// as they happen, the rest comes in a [`Sample`] at scrape time.
pub struct Metrics {
    /// One per thread that answers requests, picked by
    /// [`coffee_storage::thread_number`] (the numbering that also gives each
    /// worker its database pool). Threads beyond the number of shards share
    /// them, which is correct, only slower.
    shards: Box<[Shard]>,
    token_digest: Option<String>,
}

/// The request metrics one thread records.
///
/// Why shards: with one counter and one histogram for the whole process,
/// every request took the same read lock and bumped the same atomics from
/// every worker thread, so those cache lines moved between the cores. Two
/// threads recording at once into one shared shard pay 110–690 ns an
/// observation, into their own 30–50 ns (`metrics_contention`,
/// `bench/README.md`, "Metrics"); the gap grows with the number of workers.
struct Shard {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Shard {
    /// # Panics
    /// Never: the metric definitions are constants known to be valid.
    fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new("coffee_http_requests_total", "HTTP requests answered, by route template, method and status."),
            &["route", "method", "status"],
        )
        .expect("valid counter definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "coffee_http_request_duration_seconds",
                "Time from receiving a request to its response head, by route template and method.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid histogram definition");
        Self { requests, latency }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("protected", &self.token_digest.is_some()).finish_non_exhaustive()
    }
}

/// States read when scraped; a value that could not be read (its
/// dependency is down) is left out rather than reported stale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// The database pool.
    pub pool: Option<coffee_storage::PoolStats>,
    /// Outbox entries not yet handed to the job queue (neither relayed nor parked).
    pub outbox_backlog: Option<u64>,
    /// Outbox entries given up on and not delivered since.
    pub outbox_parked: Option<u64>,
    /// The Redis job queue (distributed profile only).
    pub jobs: Option<coffee_jobs::QueueDepth>,
    /// WebSockets open on this replica (`coffee-api` only).
    pub open_websockets: Option<u64>,
    /// How the totals of lists with a version (the menu's) were answered.
    pub list_totals: Option<coffee_storage::TotalsStats>,
    /// How the JSON of pages with a version was answered (`coffee-api` only).
    pub page_json: Option<PageJsonStats>,
}

/// The JSON of pages with a version (the menu's) since start: answered
/// with the bytes made before at the same version, or made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageJsonStats {
    /// Answered with the bytes made before.
    pub remembered: u64,
    /// Made (nothing kept for the query, or kept at another version).
    pub made: u64,
}

impl Metrics {
    /// Empty metrics with a shard for each of `threads` threads (the HTTP
    /// workers and the main thread); scrapes need `Authorization: Bearer
    /// <token>` when a token is given.
    pub fn new(token: Option<&str>, threads: usize) -> Self {
        let shards = (0..threads.max(1)).map(|_| Shard::new()).collect();
        Self { shards, token_digest: token.map(|t| RandomSecrets.digest(t)) }
    }

    /// Counts one answered request. `route` is the route template (or
    /// [`UNMATCHED_ROUTE`]), never the raw path.
    pub fn observe_request(&self, route: &str, method: &str, status: &str, elapsed: Duration) {
        let method = METHODS.iter().copied().find(|m| *m == method).unwrap_or("other");
        let shard = &self.shards[coffee_storage::thread_number() % self.shards.len()];
        shard.requests.with_label_values(&[route, method, status]).inc();
        shard.latency.with_label_values(&[route, method]).observe(elapsed.as_secs_f64());
    }

    /// Whether a scrape with this `Authorization` header may read the
    /// metrics: always without a token, else only with `Bearer <token>`.
    /// Their SHA-256 digests are compared, in constant time: the time taken
    /// tells neither the token's bytes nor its length.
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token_digest) = &self.token_digest else { return true };
        let presented = authorization.and_then(|h| strip_bearer(h)).and_then(|p| std::str::from_utf8(p).ok());
        let Some(presented) = presented else { return false };
        bool::from(RandomSecrets.digest(presented).as_bytes().ct_eq(token_digest.as_bytes()))
    }

    /// The text exposition of everything recorded plus `sample`.
    pub fn render(&self, sample: &Sample) -> String {
        let mut families =
            add_up(self.shards.iter().flat_map(|s| s.requests.collect().into_iter().chain(s.latency.collect())));
        let mut gauge = |name: &str, help: &str, value: Option<u64>| {
            let Some(value) = value else { return };
            if let Ok(g) = IntGauge::with_opts(Opts::new(name, help)) {
                g.set(i64::try_from(value).unwrap_or(i64::MAX));
                families.extend(g.collect());
            }
        };
        let pool = sample.pool;
        gauge(
            "coffee_db_pool_in_use",
            "Database connections running a statement or a transaction.",
            pool.map(|p| p.in_use),
        );
        gauge(
            "coffee_db_pool_idle",
            "Open database connections idle (in the pool, or kept between statements).",
            pool.map(|p| p.idle),
        );
        gauge("coffee_db_pool_max", "Upper bound of the database pool.", pool.map(|p| p.max));
        gauge(
            "coffee_outbox_backlog",
            "Outbox entries not yet handed to the job queue (neither relayed nor parked).",
            sample.outbox_backlog,
        );
        gauge(
            "coffee_outbox_parked",
            "Outbox entries given up on and not delivered since (in the dead set, or parked by a relay).",
            sample.outbox_parked,
        );
        gauge(
            "coffee_jobs_queued",
            "Jobs waiting in the Redis queue for a worker (due now or scheduled for a retry).",
            sample.jobs.map(|j| j.queued),
        );
        gauge("coffee_jobs_dead", "Jobs the worker gave up on (coffee-worker dead list).", sample.jobs.map(|j| j.dead));
        gauge("coffee_websockets_open", "WebSockets open on this replica.", sample.open_websockets);
        if let Some(totals) = sample.list_totals {
            let help = "Menu list totals answered since start: remembered (the menu unchanged since they \
                        were counted) or counted.";
            if let Ok(c) = IntCounterVec::new(Opts::new("coffee_list_totals_total", help), &["source"]) {
                c.with_label_values(&["remembered"]).inc_by(totals.remembered);
                c.with_label_values(&["counted"]).inc_by(totals.counted);
                families.extend(c.collect());
            }
            let help = "Menu list pages answered since start: remembered (the menu unchanged since they \
                        were read) or read from the database.";
            if let Ok(c) = IntCounterVec::new(Opts::new("coffee_list_pages_total", help), &["source"]) {
                c.with_label_values(&["remembered"]).inc_by(totals.pages_remembered);
                c.with_label_values(&["read"]).inc_by(totals.pages_read);
                families.extend(c.collect());
            }
            let help = "Menu version lookups sent since start, before answering a remembered page: one \
                        answers every request of its thread that was waiting for it.";
            if let Ok(c) = IntCounter::new("coffee_list_version_lookups_total", help) {
                c.inc_by(totals.version_lookups);
                families.extend(c.collect());
            }
        }
        if let Some(json) = sample.page_json {
            let help = "Menu list pages' JSON answered since start: remembered (made before at the same menu \
                        version) or made.";
            if let Ok(c) = IntCounterVec::new(Opts::new("coffee_list_json_total", help), &["source"]) {
                c.with_label_values(&["remembered"]).inc_by(json.remembered);
                c.with_label_values(&["made"]).inc_by(json.made);
                families.extend(c.collect());
            }
        }
        TextEncoder::new().encode_to_string(&families).unwrap_or_else(|e| {
            tracing::error!(error = %e, "metrics could not be rendered");
            String::new()
        })
    }
}

/// The shards' families added up into one family per name, each series (a
/// set of label values) once: counters and histogram buckets summed. Sorted
/// by name and label values, so scrapes are stable. A family with no series
/// yet (no request answered) is left out, as `Registry::gather` does: the
/// text encoder refuses an empty one.
fn add_up(families: impl IntoIterator<Item = MetricFamily>) -> Vec<MetricFamily> {
    let mut merged: BTreeMap<String, (MetricFamily, BTreeMap<Vec<String>, Metric>)> = BTreeMap::new();
    for mut family in families {
        let metrics = family.take_metric();
        let (_, series) = merged.entry(family.name().to_owned()).or_insert_with(|| (family, BTreeMap::new()));
        for metric in metrics {
            let key = metric.get_label().iter().map(|l| l.value().to_owned()).collect();
            match series.entry(key) {
                Entry::Vacant(e) => {
                    e.insert(metric);
                }
                Entry::Occupied(mut e) => add_into(e.get_mut(), &metric),
            }
        }
    }
    merged
        .into_values()
        .filter(|(_, series)| !series.is_empty())
        .map(|(mut family, series)| {
            family.set_metric(series.into_values().collect());
            family
        })
        .collect()
}

/// Adds `other`'s counter and histogram into `into` (same series, same buckets).
fn add_into(into: &mut Metric, other: &Metric) {
    let mut counter = into.get_counter().clone();
    counter.set_value(counter.get_value() + other.get_counter().get_value());
    into.set_counter(counter);
    let (ours, theirs) = (into.get_histogram(), other.get_histogram());
    let mut histogram = ours.clone();
    histogram.set_sample_count(ours.get_sample_count() + theirs.get_sample_count());
    histogram.set_sample_sum(ours.get_sample_sum() + theirs.get_sample_sum());
    let buckets = ours.get_bucket().iter().zip(theirs.get_bucket()).map(|(a, b)| {
        let mut bucket = a.clone();
        bucket.set_cumulative_count(a.cumulative_count() + b.cumulative_count());
        bucket
    });
    histogram.set_bucket(buckets.collect());
    into.set_histogram(histogram);
}

/// The credentials of `Bearer <credentials>` (scheme case-insensitive).
fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ")).then(|| rest.trim_ascii()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_bearer_token_may_scrape() {
        assert!(Metrics::new(None, 2).authorized(None));
        let m = Metrics::new(Some("s3cret"), 2);
        assert!(m.authorized(Some(b"Bearer s3cret")) && m.authorized(Some(b"bearer s3cret")));
        for wrong in
            [&b"Bearer s3cre"[..], b"Bearer s3cret2", b"Bearer s3cre\xff", b"Basic s3cret", b"Bearer ", b"s3cret", b""]
        {
            assert!(!m.authorized(Some(wrong)), "{}", String::from_utf8_lossy(wrong));
        }
        assert!(!m.authorized(None));
        assert!(!format!("{m:?}").contains("s3cret"));
    }

    #[test]
    fn requests_are_counted_by_template_and_states_appear_when_known() {
        let m = Metrics::new(None, 2);
        m.observe_request("/users/{id}", "GET", "200", Duration::from_millis(3));
        m.observe_request("/users/{id}", "BREW", "405", Duration::from_millis(1));
        let text = m.render(&Sample { outbox_backlog: Some(2), outbox_parked: Some(1), ..Sample::default() });
        assert!(
            text.contains(r#"coffee_http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"method="other",route="/users/{id}",status="405"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"coffee_http_request_duration_seconds_bucket{method="GET",route="/users/{id}",le="0.005"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("coffee_outbox_backlog 2"), "{text}");
        assert!(text.contains("coffee_outbox_parked 1"), "{text}");
        assert!(!text.contains("coffee_jobs_queued") && !text.contains("coffee_db_pool_in_use"), "{text}");
        assert!(!text.contains("coffee_list_totals_total") && !text.contains("coffee_list_pages_total"), "{text}");

        let totals = coffee_storage::TotalsStats {
            remembered: 7,
            counted: 2,
            pages_remembered: 5,
            pages_read: 4,
            version_lookups: 3,
        };
        let text = m.render(&Sample { list_totals: Some(totals), ..Sample::default() });
        assert!(text.contains("# TYPE coffee_list_totals_total counter"), "{text}");
        assert!(text.contains(r#"coffee_list_totals_total{source="remembered"} 7"#), "{text}");
        assert!(text.contains(r#"coffee_list_totals_total{source="counted"} 2"#), "{text}");
        assert!(text.contains(r#"coffee_list_pages_total{source="remembered"} 5"#), "{text}");
        assert!(text.contains(r#"coffee_list_pages_total{source="read"} 4"#), "{text}");
        assert!(text.contains("coffee_list_version_lookups_total 3"), "{text}");
        assert!(!text.contains("coffee_list_json_total"), "{text}");

        let json = PageJsonStats { remembered: 9, made: 3 };
        let text = m.render(&Sample { page_json: Some(json), ..Sample::default() });
        assert!(text.contains(r#"coffee_list_json_total{source="remembered"} 9"#), "{text}");
        assert!(text.contains(r#"coffee_list_json_total{source="made"} 3"#), "{text}");
    }

    #[test]
    fn a_scrape_before_any_request_shows_the_states_and_no_request_series() {
        let text = Metrics::new(None, 2).render(&Sample { outbox_backlog: Some(0), ..Sample::default() });
        assert_eq!(text.trim_end().lines().last(), Some("coffee_outbox_backlog 0"), "{text}");
        assert!(!text.contains("coffee_http_request"), "{text}");
    }

    #[test]
    fn a_scrape_adds_up_what_every_thread_recorded() {
        let m = std::sync::Arc::new(Metrics::new(None, 2));
        // Three threads on two shards: the numbers must add up either way.
        let threads: Vec<_> = [(5, 2), (7, 30), (1, 2)]
            .into_iter()
            .map(|(n, ms)| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..n {
                        m.observe_request("/me", "GET", "200", Duration::from_millis(ms));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("the thread did not panic");
        }
        m.observe_request("/me", "GET", "401", Duration::from_millis(2));
        let text = m.render(&Sample::default());
        for line in [
            r#"coffee_http_requests_total{method="GET",route="/me",status="200"} 13"#,
            r#"coffee_http_requests_total{method="GET",route="/me",status="401"} 1"#,
            r#"coffee_http_request_duration_seconds_bucket{method="GET",route="/me",le="0.0025"} 7"#,
            r#"coffee_http_request_duration_seconds_bucket{method="GET",route="/me",le="0.025"} 7"#,
            r#"coffee_http_request_duration_seconds_bucket{method="GET",route="/me",le="0.05"} 14"#,
            r#"coffee_http_request_duration_seconds_count{method="GET",route="/me"} 14"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(text.matches("# TYPE coffee_http_requests_total counter").count(), 1, "{text}");
        assert_eq!(text.matches(r#"coffee_http_requests_total{method="GET",route="/me",status="200"}"#).count(), 1);
        let sum = text.lines().find(|l| l.starts_with("coffee_http_request_duration_seconds_sum")).expect("a sum");
        let sum: f64 = sum.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a number");
        assert!((sum - 0.224).abs() < 1e-9, "5×2 + 7×30 + 1×2 + 2 ms = 0.224 s, got {sum}");
    }
}
