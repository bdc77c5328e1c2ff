//! The HTTP side of rate limits (SPEC §9): who the client is when the API
//! sits behind proxies, and the headers that tell a client its budget.
//!
//! [`guard::auth_rate_limit`] is the middleware that checks the auth
//! routes against the [`RateLimiter`](coffee_domain::ratelimit::RateLimiter).

mod guard;

pub use guard::{LIMITED_ROUTES, auth_rate_limit};

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

pub use coffee_app::TrustedProxies;
use coffee_domain::ratelimit::{RateDecision, RatePolicy};

/// The client's address: the socket's `peer`, unless the peer is a trusted
/// proxy; then the right-most address of `x_forwarded_for` that is not a
/// trusted proxy. Each proxy appends the address it received from, so only
/// the entries right of the first untrusted one were written by proxies we
/// trust; anything further left is whatever the client chose to send.
///
/// Walking from the right, a malformed entry stops the walk at the last
/// valid hop reached (a trusted proxy, or the peer itself); when every
/// entry is trusted, the left-most one is the client. Empty list elements
/// are skipped (RFC 9110 list syntax). Addresses may carry a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`). IPv4-mapped IPv6 addresses are
/// returned as IPv4, so one client has one key.
pub fn client_ip(peer: IpAddr, x_forwarded_for: Option<&str>, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    for entry in x_forwarded_for.unwrap_or_default().rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some(hop) = parse_hop(entry) else { return client };
        client = hop.to_canonical();
        if !trusted.contains(client) {
            return client;
        }
    }
    client
}

/// Joins the values of every `X-Forwarded-For` header of a request, in
/// order, into one list for [`client_ip`]; `None` when there is none. A
/// value that is not UTF-8 becomes one malformed entry, so the walk stops
/// there rather than skipping a hop.
pub fn join_forwarded_for<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
    let values: Vec<&str> = values.into_iter().map(|v| std::str::from_utf8(v).unwrap_or("?")).collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// One `X-Forwarded-For` entry: an address, optionally bracketed or with a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    IpAddr::from_str(entry)
        .ok()
        .or_else(|| SocketAddr::from_str(entry).ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// Name of the policy header (lower case, as `HeaderName::from_static` wants it).
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// Name of the header with the current budget.
pub const RATELIMIT: &str = "ratelimit";
/// Name of the `Retry-After` header.
pub const RETRY_AFTER: &str = "retry-after";

/// The rate-limit headers of one response, following
/// draft-ietf-httpapi-ratelimit-headers-11 (May 2026; the syntax has not
/// changed since -08): Structured Field lists, one item per policy the
/// request was checked under, e.g. per client IP and per e-mail:
///
/// ```text
/// RateLimit-Policy: "ip";q=10;w=60, "email";q=10;w=60
/// RateLimit: "ip";r=3;t=42, "email";r=0;t=6
/// Retry-After: 6
/// ```
///
/// `q` is the limit and `w` the period in seconds; `r` is what is left and
/// `t` the effective window in seconds. For an allowed request `t` is the
/// time until the budget is full again (rounded up); for a refused one it is
/// the wait before the next request, since the draft (§6) wants
/// `Retry-After` not to end before the effective window. `Retry-After` is
/// present when a check refused, with the longest wait among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    policies: Vec<String>,
    limits: Vec<String>,
    retry_after: Option<u64>,
}

impl RateLimitHeaders {
    /// No policy yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the outcome of checking `decision` under `policy`, named `name`
    /// (printable ASCII; anything else is dropped from the name).
    #[must_use]
    pub fn with(mut self, name: &str, policy: &RatePolicy, decision: &RateDecision) -> Self {
        let name = sf_string(name);
        self.policies.push(format!("{name};q={};w={}", policy.limit(), ceil_secs(policy.period())));
        let window = match decision.retry_after {
            Some(wait) if !decision.allowed => retry_after_secs(wait),
            _ => ceil_secs(decision.reset_after),
        };
        self.limits.push(format!("{name};r={};t={window}", decision.remaining));
        if let (false, Some(wait)) = (decision.allowed, decision.retry_after) {
            self.retry_after = self.retry_after.max(Some(retry_after_secs(wait)));
        }
        self
    }

    /// The `RateLimit-Policy` value.
    pub fn ratelimit_policy(&self) -> String {
        self.policies.join(", ")
    }

    /// The `RateLimit` value.
    pub fn ratelimit(&self) -> String {
        self.limits.join(", ")
    }

    /// The `Retry-After` seconds, when a check refused.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// Every header as `(lower-case name, value)`; nothing without a policy.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        if self.policies.is_empty() {
            return Vec::new();
        }
        let mut pairs = vec![(RATELIMIT_POLICY, self.ratelimit_policy()), (RATELIMIT, self.ratelimit())];
        pairs.extend(self.retry_after.map(|secs| (RETRY_AFTER, secs.to_string())));
        pairs
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    ceil_secs(wait).max(1)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A Structured Field String (RFC 9651 §3.3.3): quoted, `\` and `"` escaped,
/// only printable ASCII.
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| matches!(c, ' '..='~')) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
