//! `GET /info`: the shop information from `SHOP_INFO_FILE` or the built-in sample.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, header, shop_file, spawn_app, spawn_app_with};

const WEEK: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

async fn app_with_hours(hours: &str) -> (TestApp, tempfile::NamedTempFile) {
    let file = shop_file(hours);
    let app = spawn_app_with(&[("SHOP_INFO_FILE", file.path().to_str().unwrap())]).await;
    (app, file)
}

/// The body and the `max-age` of `GET /info`.
async fn info_cached(app: &TestApp) -> (Value, u32) {
    let resp = app.get("/info", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("application/json"));
    let cache = header(resp.headers(), "cache-control").unwrap();
    let max_age = cache.strip_prefix("public, max-age=").and_then(|s| s.parse().ok());
    let max_age = max_age.unwrap_or_else(|| panic!("Cache-Control: {cache}"));
    assert!(max_age <= 60, "Cache-Control: {cache}");
    (resp.json().await.unwrap(), max_age)
}

#[tokio::test]
async fn info_shows_every_field_of_the_built_in_sample() {
    let app = spawn_app().await;
    let (body, _) = info_cached(&app).await;
    for key in ["name", "address", "phone", "email"] {
        assert!(body[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {body}");
    }
    assert_eq!(body["currency"], "UZS");
    assert_eq!(body["timezone"], "Asia/Tashkent");
    assert!(body["location"]["lat"].is_f64() && body["location"]["lng"].is_f64(), "{body}");
    assert!(body["is_open_now"].is_boolean(), "{body}");
    let hours = body["opening_hours"].as_array().unwrap();
    assert_eq!(hours.len(), 7, "{body}");
    assert_eq!(hours[0], serde_json::json!({"day": "monday", "open": "07:00", "close": "22:00"}));
    assert_eq!(hours[4], serde_json::json!({"day": "friday", "open": "07:00", "close": "01:00"}));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 9, "no extra fields: {keys:?}");
}

#[tokio::test]
async fn info_comes_from_shop_info_file_and_is_open_around_the_clock() {
    let hours: String = WEEK
        .iter()
        .map(|day| format!("[[opening_hours]]\nday = \"{day}\"\nopen = \"00:00\"\nclose = \"00:00\"\n"))
        .collect();
    let (app, _file) = app_with_hours(&hours).await;
    let (body, max_age) = info_cached(&app).await;
    assert_eq!(max_age, 60, "never closes, so the full minute");
    assert_eq!(body["name"], "Night Owl Coffee");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["timezone"], "Europe/Berlin");
    assert_eq!(body["location"]["lat"], 52.52);
    assert_eq!(body["opening_hours"][6], serde_json::json!({"day": "sunday", "open": "00:00", "close": "00:00"}));
    assert_eq!(body["is_open_now"], true, "open 24/7: {body}");
}

#[tokio::test]
async fn the_answer_is_cached_no_longer_than_the_shop_stays_open() {
    use chrono::{Datelike, TimeDelta, Utc};
    // Opened an hour ago and closing 50 s from now: an interval of its
    // opening day that runs past midnight when it must.
    let now = Utc::now();
    let (opened, closes) = (now - TimeDelta::hours(1), now + TimeDelta::seconds(50));
    let day = WEEK[opened.weekday().num_days_from_monday() as usize];
    let hours = format!(
        "[[opening_hours]]\nday = \"{day}\"\nopen = \"{}\"\nclose = \"{}\"\n",
        opened.format("%H:%M:%S"),
        closes.format("%H:%M:%S")
    );
    let file = crate::helpers::shop_file_in("UTC", &hours);
    let app = spawn_app_with(&[("SHOP_INFO_FILE", file.path().to_str().unwrap())]).await;
    let (body, max_age) = info_cached(&app).await;
    assert_eq!(body["is_open_now"], true, "{body}");
    // However long the server took to start, it closes within 50 s of `now`.
    assert!(max_age < 50, "closes in under 50 s, so cached no longer: max-age={max_age}");
}

#[tokio::test]
async fn a_shop_without_opening_hours_is_closed() {
    let (app, _file) = app_with_hours("").await;
    let (body, max_age) = info_cached(&app).await;
    assert_eq!(max_age, 60);
    assert_eq!(body["opening_hours"], serde_json::json!([]));
    assert_eq!(body["is_open_now"], false);
}

#[tokio::test]
async fn info_is_public_and_documented() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let op = &doc["paths"]["/info"]["get"];
    assert_eq!(op["operationId"], "getInfo");
    assert_eq!(op["security"], serde_json::json!([]));
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{op}");
}
