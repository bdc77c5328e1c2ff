//! `coffee-worker` serves `/metrics` on `METRICS_PORT`: the same text format
//! and token rule as the API, with the worker's own states.

use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::{Env, redis_or_skip};

const TOKEN: &str = "worker-scrape-token-1";

/// The value of the unlabelled sample `name`.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_serves_its_metrics_on_metrics_port() {
    let Some(redis) = redis_or_skip("the_worker_serves_its_metrics_on_metrics_port") else { return };
    let env = Env::start(&redis).await;
    let port = coffee_testkit::free_port();
    let port_text = port.to_string();
    // Every delivery is refused for good, and the first refusal parks the job.
    env.mail.reject_next(usize::MAX);
    let worker = env.spawn_worker_with(&[
        ("METRICS_PORT", port_text.as_str()),
        ("METRICS_TOKEN", TOKEN),
        ("JOB_MAX_ATTEMPTS", "1"),
    ]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let refused = loop {
        if let Ok(resp) = env.client.get(&url).send().await {
            break resp;
        }
        assert!(tokio::time::Instant::now() < deadline, "no metrics on port {port}:\n{}", worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let wrong = env.client.get(&url).bearer_auth("worker-scrape-token-2").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    env.signup("dead-letter@coffee.test").await;
    let mut text = String::new();
    while tokio::time::Instant::now() < deadline + Duration::from_secs(30) {
        let resp = env.client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        text = resp.text().await.unwrap();
        if value(&text, "coffee_jobs_dead") == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(value(&text, "coffee_jobs_dead"), Some(1.0), "the parked mail is counted:\n{text}");
    assert_eq!(value(&text, "coffee_jobs_queued"), Some(0.0), "{text}");
    assert_eq!(value(&text, "coffee_outbox_backlog"), Some(0.0), "{text}");
    assert_eq!(value(&text, "coffee_outbox_parked"), Some(1.0), "the parked mail's outbox entry:\n{text}");
    assert_eq!(value(&text, "coffee_db_pool_max"), Some(4.0), "DATABASE_MAX_CONNECTIONS of the worker:\n{text}");
    assert!(value(&text, "coffee_db_pool_idle").is_some() && value(&text, "coffee_db_pool_in_use").is_some());
    // No sockets and no API routes in a worker.
    assert!(!text.contains("coffee_websockets_open") && !text.contains("coffee_http_requests_total"), "{text}");
    assert!(!worker.log().contains(TOKEN), "the token is never logged");
}
