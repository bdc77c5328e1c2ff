#![allow(clippy::unwrap_used)]

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn trusted(text: &str) -> TrustedProxies {
    TrustedProxies::parse(text).unwrap()
}

/// The client seen from `peer` with `xff`, behind a load balancer at
/// 10.0.0.1 and an ingress network 192.168.0.0/16 (and their IPv6 twins).
fn client(peer: &str, xff: Option<&str>) -> IpAddr {
    client_ip(ip(peer), xff, &trusted("10.0.0.1, 192.168.0.0/16, fd00::/8"))
}

#[test]
fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
    assert_eq!(client("203.0.113.9", Some("1.2.3.4")), ip("203.0.113.9"));
    assert_eq!(client("203.0.113.9", None), ip("203.0.113.9"));
    let nobody = TrustedProxies::none();
    assert_eq!(client_ip(ip("10.0.0.1"), Some("1.2.3.4"), &nobody), ip("10.0.0.1"));
}

#[test]
fn a_trusted_peer_hands_over_to_the_right_most_untrusted_address() {
    assert_eq!(client("10.0.0.1", Some("198.51.100.4")), ip("198.51.100.4"));
    // The left-most entry is whatever the client sent: never believed.
    assert_eq!(client("10.0.0.1", Some("6.6.6.6, 198.51.100.4")), ip("198.51.100.4"));
    assert_eq!(client("10.0.0.1", Some("10.0.0.1, 198.51.100.4")), ip("198.51.100.4"));
}

#[test]
fn a_chain_of_trusted_proxies_is_walked_through() {
    let xff = Some("6.6.6.6, 198.51.100.4, 192.168.3.3, 10.0.0.1");
    assert_eq!(client("192.168.9.9", xff), ip("198.51.100.4"));
}

#[test]
fn when_every_hop_is_trusted_the_left_most_is_the_client() {
    assert_eq!(client("10.0.0.1", Some("192.168.1.1, 192.168.2.2")), ip("192.168.1.1"));
}

#[test]
fn ipv6_peers_and_hops_work_and_mapped_addresses_become_ipv4() {
    assert_eq!(client("fd00::1", Some("2001:db8::7, fd00::2")), ip("2001:db8::7"));
    assert_eq!(client("::ffff:10.0.0.1", Some("198.51.100.4")), ip("198.51.100.4"));
    assert_eq!(client("fd00::1", Some("::ffff:198.51.100.4")), ip("198.51.100.4"));
    assert_eq!(client("::ffff:203.0.113.9", None), ip("203.0.113.9"));
}

#[test]
fn hops_with_ports_or_brackets_are_understood() {
    assert_eq!(client("10.0.0.1", Some("198.51.100.4:5555")), ip("198.51.100.4"));
    assert_eq!(client("10.0.0.1", Some("[2001:db8::7]:443")), ip("2001:db8::7"));
    assert_eq!(client("10.0.0.1", Some("[2001:db8::7]")), ip("2001:db8::7"));
}

#[test]
fn a_malformed_entry_stops_the_walk_at_the_last_valid_hop() {
    assert_eq!(client("10.0.0.1", Some("1.2.3.4, garbage")), ip("10.0.0.1"));
    assert_eq!(client("10.0.0.1", Some("1.2.3.4, unknown, 192.168.5.5")), ip("192.168.5.5"));
    assert_eq!(client("10.0.0.1", Some("1.2.3.4, 999.0.0.1")), ip("10.0.0.1"));
    // A malformed entry left of the first untrusted address does not matter.
    assert_eq!(client("10.0.0.1", Some("garbage, 198.51.100.4")), ip("198.51.100.4"));
}

#[test]
fn an_empty_or_missing_header_leaves_the_peer() {
    assert_eq!(client("10.0.0.1", None), ip("10.0.0.1"));
    assert_eq!(client("10.0.0.1", Some("")), ip("10.0.0.1"));
    assert_eq!(client("10.0.0.1", Some(" , ,")), ip("10.0.0.1"));
    // Empty list elements are skipped.
    assert_eq!(client("10.0.0.1", Some("198.51.100.4,, ")), ip("198.51.100.4"));
}

#[test]
fn several_headers_are_joined_in_order() {
    let joined = join_forwarded_for([b"6.6.6.6".as_slice(), b"198.51.100.4, 192.168.1.1".as_slice()]);
    assert_eq!(joined.as_deref(), Some("6.6.6.6,198.51.100.4, 192.168.1.1"));
    assert_eq!(client("10.0.0.1", joined.as_deref()), ip("198.51.100.4"));
    assert_eq!(join_forwarded_for(std::iter::empty()), None);
}

#[test]
fn a_header_that_is_not_utf8_stops_the_walk_instead_of_being_skipped() {
    let joined = join_forwarded_for([b"6.6.6.6".as_slice(), b"\xff\xfe".as_slice()]);
    assert_eq!(client("10.0.0.1", joined.as_deref()), ip("10.0.0.1"));
}

fn policy(text: &str) -> RatePolicy {
    RatePolicy::parse(text).unwrap().unwrap()
}

fn allowed(remaining: u32, reset_ms: u64) -> RateDecision {
    RateDecision {
        allowed: true,
        limit: 10,
        remaining,
        reset_after: Duration::from_millis(reset_ms),
        retry_after: None,
    }
}

fn refused(reset_ms: u64, retry_ms: u64) -> RateDecision {
    RateDecision {
        allowed: false,
        limit: 10,
        remaining: 0,
        reset_after: Duration::from_millis(reset_ms),
        retry_after: Some(Duration::from_millis(retry_ms)),
    }
}

#[test]
fn an_allowed_request_gets_policy_and_budget_without_retry_after() {
    let headers = RateLimitHeaders::new().with("auth", &policy("10/min"), &allowed(3, 41_200));
    assert_eq!(headers.ratelimit_policy(), r#""auth";q=10;w=60"#);
    assert_eq!(headers.ratelimit(), r#""auth";r=3;t=42"#);
    assert_eq!(headers.retry_after(), None);
    assert_eq!(
        headers.pairs(),
        vec![("ratelimit-policy", r#""auth";q=10;w=60"#.to_owned()), ("ratelimit", r#""auth";r=3;t=42"#.to_owned())]
    );
}

#[test]
fn a_refused_request_gets_retry_after_rounded_up_and_a_window_that_ends_with_it() {
    let headers = RateLimitHeaders::new().with("auth", &policy("10/min"), &refused(60_000, 5_001));
    assert_eq!(headers.ratelimit(), r#""auth";r=0;t=6"#);
    assert_eq!(headers.retry_after(), Some(6));
    assert_eq!(headers.pairs().last(), Some(&("retry-after", "6".to_owned())));
}

#[test]
fn several_policies_are_listed_and_the_longest_wait_wins() {
    let headers = RateLimitHeaders::new()
        .with("ip", &policy("100/h"), &refused(3_600_000, 2_000))
        .with("email", &policy("5/s"), &allowed(4, 200))
        .with("burst", &policy("10/min"), &refused(60_000, 9_500));
    assert_eq!(headers.ratelimit_policy(), r#""ip";q=100;w=3600, "email";q=5;w=1, "burst";q=10;w=60"#);
    assert_eq!(headers.ratelimit(), r#""ip";r=0;t=2, "email";r=4;t=1, "burst";r=0;t=10"#);
    assert_eq!(headers.retry_after(), Some(10));
}

#[test]
fn no_policy_means_no_headers() {
    assert!(RateLimitHeaders::new().pairs().is_empty());
}

#[test]
fn policy_names_are_valid_structured_field_strings() {
    let headers = RateLimitHeaders::new().with("a \"q\\\" ü\n", &policy("1/s"), &allowed(0, 1_000));
    assert_eq!(headers.ratelimit_policy(), r#""a \"q\\\" ";q=1;w=1"#);
}

#[test]
fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
    assert_eq!(retry_after_secs(Duration::from_micros(1)), 1);
    assert_eq!(retry_after_secs(Duration::from_secs(6)), 6);
    assert_eq!(retry_after_secs(Duration::from_millis(6_001)), 7);
}
