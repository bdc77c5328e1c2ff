//! `GET /health/live` and `GET /health/ready`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{header, spawn_app, spawn_app_with};

#[tokio::test]
async fn liveness_answers_200() {
    let app = spawn_app().await;
    let resp = app.get("/health/live", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readiness_reports_the_database() {
    let app = spawn_app().await;
    let resp = app.get("/health/ready", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], true);
    assert!(body["redis"].is_null(), "no Redis configured: {body}");
}

#[tokio::test]
async fn readiness_reports_a_reachable_redis() {
    // Runs for real where TEST_REDIS_URL is set (CI sets it).
    let Some(redis) = coffee_testkit::test_redis_url() else { return };
    let app = spawn_app_with(&[("REDIS_URL", &redis)]).await;
    let resp = app.get("/health/ready", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "database": true, "redis": true}));
}

#[tokio::test]
async fn readiness_answers_503_when_redis_is_down() {
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let resp = app.get("/health/ready", None).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(resp.headers(), "x-request-id").is_some());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "unavailable", "database": true, "redis": false}));
    // Liveness does not depend on Redis.
    assert_eq!(app.get("/health/live", None).await.status(), StatusCode::OK);
}
