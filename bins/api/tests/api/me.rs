//! `GET /me` and `PATCH /me`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, assert_unauthorized, error_fields, spawn_app};

#[tokio::test]
async fn me_requires_a_bearer_token() {
    let app = spawn_app().await;
    let resp = app.get("/me", None).await;
    assert_eq!(crate::helpers::header(resp.headers(), "www-authenticate").as_deref(), Some("Bearer"));
    assert_unauthorized(resp, "missing_token").await;
    let resp = app.request(Method::GET, "/me", None).header("authorization", "").send().await.unwrap();
    assert_unauthorized(resp, "missing_token").await;
    // A header that is not `Bearer <one token>` says what is wrong with it.
    for value in ["Basic YW5uOnB3", "Bearer", "Bearer ", "token", "Bearer a b"] {
        let resp = app.request(Method::GET, "/me", None).header("authorization", value).send().await.unwrap();
        let challenge = crate::helpers::header(resp.headers(), "www-authenticate");
        assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_request\""), "{value}");
        assert_unauthorized(resp, "malformed_authorization").await;
    }
    let resp = app.get("/me", Some("not-a-jwt")).await;
    assert_unauthorized(resp, "invalid_token").await;
}

#[tokio::test]
async fn a_doubled_bearer_prefix_is_named_as_the_problem() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let doubled = format!("Bearer Bearer {}", ann.token);
    let resp = app.request(Method::GET, "/me", None).header("authorization", doubled).send().await.unwrap();
    let problem = assert_unauthorized(resp, "malformed_authorization").await;
    assert!(problem["detail"].as_str().unwrap().contains("twice"), "{problem}");
    // Two header lines, whichever comes first: which one is meant is unknowable.
    let (good, bad) = (format!("Bearer {}", ann.token), "Bearer not-a-jwt".to_owned());
    for (first, second) in [(good.clone(), bad.clone()), (bad, good)] {
        let resp = app.request(Method::GET, "/me", None).header("authorization", first).header("authorization", second);
        let problem = assert_unauthorized(resp.send().await.unwrap(), "malformed_authorization").await;
        assert!(problem["detail"].as_str().unwrap().contains("one Authorization header"), "{problem}");
    }
}

#[tokio::test]
async fn me_returns_the_caller() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let resp = app.get("/me", Some(&ann.token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    crate::signup::assert_user_shape(&me);
    assert_eq!(me["id"], ann.id.as_str());
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["role"], "user");
    assert_eq!(me["is_verified"], true);
    // The scheme name is case-insensitive.
    let resp = app.request(Method::GET, "/me", None).header("authorization", format!("bearer {}", ann.token)).send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn patch_me_updates_the_profile_and_null_clears_a_field() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let patch = json!({"first_name": " Ann ", "last_name": "Smith", "phone": "+998 90 123 45 67"});
    let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &patch).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Ann"), Some("Smith")));
    assert_eq!(me["phone"], "+998 90 123 45 67");
    let before = me["updated_at"].as_str().unwrap().to_owned();

    // Absent fields stay, null clears.
    let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &json!({"phone": null})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["phone"], Value::Null);
    assert_eq!(me["first_name"], "Ann");
    assert_ne!(me["updated_at"].as_str().unwrap(), before, "updated_at moves on a change");

    // What GET returns agrees.
    let me: Value = app.get("/me", Some(&ann.token)).await.json().await.unwrap();
    assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Ann"), Some("Smith")));
    assert_eq!(me["phone"], Value::Null);
    // A patch that changes nothing, empty or naming the current values, keeps even `updated_at`.
    for patch in [json!({}), json!({"first_name": "Ann", "last_name": " Smith", "phone": null})] {
        let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &patch).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let same: Value = resp.json().await.unwrap();
        assert_eq!(same, me, "{patch}");
    }
}

#[tokio::test]
async fn patch_me_refuses_role_and_other_unknown_fields() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    for body in [json!({"role": "admin"}), json!({"is_verified": false}), json!({"email": "x@example.com"})] {
        let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &body).await;
        assert_problem(resp, 422, "validation_failed").await;
    }
    let me: Value = app.get("/me", Some(&ann.token)).await.json().await.unwrap();
    assert_eq!(me["role"], "user");
    assert_eq!(me["email"], "ann@example.com");
}

#[tokio::test]
async fn patch_me_refuses_invalid_values_naming_each_field() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let body = json!({"phone": "call me maybe", "first_name": "<b>Ann</b>", "last_name": "x".repeat(101)});
    let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &body).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, vec!["first_name", "last_name", "phone"]);
    let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &json!({"phone": 12345678})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), vec!["phone"]);
    // Nothing was half-applied.
    let me: Value = app.get("/me", Some(&ann.token)).await.json().await.unwrap();
    assert_eq!(me["first_name"], Value::Null);
    assert_eq!(me["phone"], Value::Null);
}

#[tokio::test]
async fn patch_me_requires_a_token() {
    let app = spawn_app().await;
    let resp = app.send_json(Method::PATCH, "/me", None, &json!({"first_name": "Ann"})).await;
    assert_unauthorized(resp, "missing_token").await;
}

#[tokio::test]
async fn a_deleted_users_token_no_longer_works() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let admin = app.admin_token().await;
    let resp = app.request(Method::DELETE, &format!("/users/{}", ann.id), Some(&admin)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers().get("content-type"), None, "a 204 has no content, so no content type");
    assert_unauthorized(app.get("/me", Some(&ann.token)).await, "invalid_token").await;
    let resp = app.send_json(Method::PATCH, "/me", Some(&ann.token), &json!({"first_name": "Ann"})).await;
    assert_unauthorized(resp, "invalid_token").await;
}
