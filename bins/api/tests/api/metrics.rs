//! `GET /metrics`: Prometheus text by route template, never the raw path;
//! the states read at scrape time; `METRICS_TOKEN`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_unauthorized, header, id_of, spawn_app, spawn_app_with};
use crate::ws::connect;

/// The metrics text, asserting a 200 in the text format.
async fn scrape(app: &TestApp, token: Option<&str>) -> String {
    let resp = app.get("/metrics", token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = header(resp.headers(), "content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    resp.text().await.unwrap()
}

/// The value of the sample line `series` (name and labels exactly as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_method_and_status() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me = app.get("/me", Some(&admin)).await.json::<serde_json::Value>().await.unwrap();
    let user_id = id_of(&me);
    let product = json!({"name": "Espresso", "price": 250});
    let resp = app.send_json(Method::POST, "/products", Some(&admin), &product).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let product_id = id_of(&resp.json().await.unwrap());
    assert_eq!(app.get(&format!("/users/{user_id}"), Some(&admin)).await.status(), StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(app.get(&format!("/products/{product_id}"), None).await.status(), StatusCode::OK);
    }
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(app.get(&format!("/products/{unknown}"), None).await.status(), StatusCode::NOT_FOUND);
    let nowhere = format!("/no-such-route/{}", uuid::Uuid::new_v4().simple());
    assert_eq!(app.get(&nowhere, None).await.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app, None).await;
    let count = |labels: &str| value(&text, &format!("coffee_http_requests_total{{{labels}}}"));
    assert_eq!(count(r#"method="GET",route="/users/{id}",status="200""#), Some(1.0), "{text}");
    assert_eq!(count(r#"method="GET",route="/products/{id}",status="200""#), Some(2.0), "{text}");
    assert_eq!(count(r#"method="GET",route="/products/{id}",status="404""#), Some(1.0), "{text}");
    assert_eq!(count(r#"method="POST",route="/products",status="201""#), Some(1.0), "{text}");
    assert_eq!(count(r#"method="GET",route="unmatched",status="404""#), Some(1.0), "{text}");
    // Never a concrete path.
    for raw in [user_id.as_str(), product_id.as_str(), &unknown.to_string(), nowhere.as_str()] {
        assert!(!text.contains(raw), "{raw} appears in the metrics:\n{text}");
    }
    // The latency histogram: buckets, sum and count per route template and method.
    let histogram = r#"coffee_http_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="+Inf"}"#;
    assert_eq!(value(&text, histogram), Some(3.0), "{text}");
    assert!(
        text.contains(r#"coffee_http_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="0.1"}"#)
    );
    let sum = value(&text, r#"coffee_http_request_duration_seconds_sum{method="GET",route="/products/{id}"}"#);
    assert!(sum.is_some_and(|s| s > 0.0), "{text}");
    // The pool, read when scraped.
    assert!(value(&text, "coffee_db_pool_max").is_some_and(|m| m >= 1.0), "{text}");
    let (in_use, idle) = (value(&text, "coffee_db_pool_in_use"), value(&text, "coffee_db_pool_idle"));
    assert!(in_use.is_some() && idle.is_some(), "{text}");
    // Nothing waits in the outbox once the (inline) relay has sent the mails; no Redis, no queue.
    assert!(value(&text, "coffee_outbox_backlog").is_some(), "{text}");
    assert!(!text.contains("coffee_jobs_queued"), "{text}");
}

#[tokio::test]
async fn a_metrics_token_is_required_when_configured() {
    let app = spawn_app_with(&[("METRICS_TOKEN", "scrape-me-7f3a")]).await;
    assert_unauthorized(app.get("/metrics", None).await, "missing_token").await;
    assert_unauthorized(app.get("/metrics", Some("scrape-me-7f3")).await, "invalid_token").await;
    assert_unauthorized(app.get("/metrics", Some("scrape-me-7f3a-and-more")).await, "invalid_token").await;
    // An access token of the API is not the metrics token.
    let admin = app.admin_token().await;
    assert_unauthorized(app.get("/metrics", Some(&admin)).await, "invalid_token").await;
    let text = scrape(&app, Some("scrape-me-7f3a")).await;
    assert!(text.contains("coffee_http_requests_total"), "{text}");
    // The refused scrapes were counted like any request.
    let refused = value(&text, r#"coffee_http_requests_total{method="GET",route="/metrics",status="401"}"#);
    assert_eq!(refused, Some(4.0), "{text}");
}

#[tokio::test]
async fn the_outbox_backlog_counts_mails_redis_did_not_take() {
    // Redis is down: the relay cannot hand the verification mail over.
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    app.signup("backlog@example.com", crate::helpers::PASSWORD).await;
    let text = scrape(&app, None).await;
    assert!(value(&text, "coffee_outbox_backlog").is_some_and(|n| n >= 1.0), "{text}");
    // The queue's depth cannot be read either, so it is left out rather than reported as 0.
    assert!(!text.contains("coffee_jobs_queued"), "{text}");
}

#[tokio::test]
async fn the_queue_depth_is_read_from_redis() {
    let Some(redis) = coffee_testkit::test_redis_url() else {
        eprintln!("note: skipped: needs TEST_REDIS_URL");
        return;
    };
    let queue = format!("coffee-test:{}", uuid::Uuid::new_v4().simple());
    let app = spawn_app_with(&[("REDIS_URL", &redis), ("JOBS_QUEUE", &queue)]).await;
    // No worker consumes this queue: the verification mail waits in it. The
    // relay pushes the job, then marks its outbox entry relayed: a scrape in
    // between sees both, so wait for the second step too.
    app.signup("queued@example.com", crate::helpers::PASSWORD).await;
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(&app, None).await;
        if value(&text, "coffee_jobs_queued") == Some(1.0) && value(&text, "coffee_outbox_backlog") == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(value(&text, "coffee_jobs_queued"), Some(1.0), "{text}");
    assert_eq!(value(&text, "coffee_jobs_dead"), Some(0.0), "{text}");
    assert_eq!(value(&text, "coffee_outbox_backlog"), Some(0.0), "{text}");
}

#[tokio::test]
async fn open_websockets_are_counted_while_connected() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_eq!(value(&scrape(&app, None).await, "coffee_websockets_open"), Some(0.0));
    let socket = connect(&app, &admin).await;
    assert_eq!(value(&scrape(&app, None).await, "coffee_websockets_open"), Some(1.0));
    socket.leave().await;
    let mut open = None;
    for _ in 0..50 {
        open = value(&scrape(&app, None).await, "coffee_websockets_open");
        if open == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, Some(0.0));
}

/// The menu's pages, totals and JSON: the first list reads, counts and
/// makes its JSON, the same list again is answered from memory after a
/// lookup of the menu's version, and a menu change makes the next one read,
/// count and make it again.
#[tokio::test]
async fn menu_list_totals_are_reported_as_remembered_or_counted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let totals = |text: &str| {
        let of = |source: &str| value(text, &format!(r#"coffee_list_totals_total{{source="{source}"}}"#));
        (of("counted"), of("remembered"))
    };
    let pages = |text: &str| {
        let of = |source: &str| value(text, &format!(r#"coffee_list_pages_total{{source="{source}"}}"#));
        (of("read"), of("remembered"))
    };
    let json = |text: &str| {
        let of = |source: &str| value(text, &format!(r#"coffee_list_json_total{{source="{source}"}}"#));
        (of("made"), of("remembered"))
    };
    let lookups = |text: &str| value(text, "coffee_list_version_lookups_total");
    assert_eq!(totals(&scrape(&app, None).await), (Some(0.0), Some(0.0)));
    assert_eq!(lookups(&scrape(&app, None).await), Some(0.0));
    assert_eq!(pages(&scrape(&app, None).await), (Some(0.0), Some(0.0)));
    assert_eq!(json(&scrape(&app, None).await), (Some(0.0), Some(0.0)));
    let product = json!({"name": "Espresso", "price": 250});
    assert_eq!(app.send_json(Method::POST, "/products", Some(&admin), &product).await.status(), StatusCode::CREATED);
    for _ in 0..3 {
        assert_eq!(app.get("/products?search=espresso", None).await.status(), StatusCode::OK);
    }
    assert_eq!(totals(&scrape(&app, None).await), (Some(1.0), Some(2.0)));
    assert_eq!(pages(&scrape(&app, None).await), (Some(1.0), Some(2.0)));
    assert_eq!(json(&scrape(&app, None).await), (Some(1.0), Some(2.0)), "its JSON made once");
    assert_eq!(lookups(&scrape(&app, None).await), Some(2.0), "one version lookup per remembered page");
    let product = json!({"name": "Espresso doppio", "price": 300});
    assert_eq!(app.send_json(Method::POST, "/products", Some(&admin), &product).await.status(), StatusCode::CREATED);
    let page = app.get("/products?search=espresso", None).await.json::<serde_json::Value>().await.unwrap();
    assert_eq!(page["total"], 2);
    assert_eq!(totals(&scrape(&app, None).await), (Some(2.0), Some(2.0)), "counted again after the change");
    assert_eq!(pages(&scrape(&app, None).await), (Some(2.0), Some(2.0)), "read again after the change");
    assert_eq!(json(&scrape(&app, None).await), (Some(2.0), Some(2.0)), "made again after the change");
    assert_eq!(lookups(&scrape(&app, None).await), Some(3.0), "the version looked up, found moved");
}
