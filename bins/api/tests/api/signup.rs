//! `POST /auth/signup`.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, error_fields, header, id_of, spawn_app};

pub const USER_KEYS: [&str; 10] = [
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "role",
    "is_verified",
    "verified_at",
    "created_at",
    "updated_at",
];

/// Asserts the exact key set of a user object.
pub fn assert_user_shape(user: &Value) {
    let keys: BTreeSet<&str> = user.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    assert_eq!(keys, USER_KEYS.into_iter().collect(), "user keys of {user}");
}

#[tokio::test]
async fn signup_creates_an_unverified_user_and_answers_201_with_its_location() {
    let app = spawn_app().await;
    let resp = app
        .try_signup(&json!({
            "email": "ann@example.com", "password": PASSWORD,
            "first_name": "Ann", "last_name": "Smith", "phone": "+998 90 123-45-67"
        }))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header(resp.headers(), "location").expect("a Location header");
    let user: Value = resp.json().await.unwrap();
    assert_user_shape(&user);
    let id = id_of(&user);
    assert_eq!(location, format!("/users/{id}"));
    let uuid = uuid::Uuid::parse_str(&id).expect("the id is a UUID");
    assert_eq!(uuid.get_version_num(), 7, "ids are UUID v7");
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["first_name"], "Ann");
    assert_eq!(user["last_name"], "Smith");
    assert_eq!(user["phone"], "+998 90 123-45-67");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_verified"], false);
    assert_eq!(user["verified_at"], Value::Null);
    for key in ["created_at", "updated_at"] {
        let ts = user[key].as_str().unwrap();
        assert!(ts.ends_with('Z') || ts.ends_with("+00:00"), "{key} is not UTC RFC 3339: {ts}");
    }

    let admin = app.admin_token().await;
    let fetched = app.get(&location, Some(&admin)).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let fetched: Value = fetched.json().await.unwrap();
    assert_eq!(fetched["id"], user["id"]);
    assert_eq!(fetched["email"], "ann@example.com");
}

#[tokio::test]
async fn signup_stores_the_email_trimmed_and_lower_cased() {
    let app = spawn_app().await;
    let user = app.signup("  Ann.Smith@Example.COM ", PASSWORD).await;
    assert_eq!(user["email"], "ann.smith@example.com");
    // The mail goes to the normalised address.
    let mail = app.mail_to("ann.smith@example.com").await;
    assert_eq!(mail.to, vec!["ann.smith@example.com".to_owned()]);
}

#[tokio::test]
async fn signup_never_returns_the_password_or_its_hash() {
    let app = spawn_app().await;
    let resp = app.try_signup(&json!({"email": "ann@example.com", "password": PASSWORD})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("$argon2"), "{text}");
}

#[tokio::test]
async fn signup_refuses_an_address_that_is_taken_in_any_letter_case() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    for email in ["ann@example.com", "ANN@Example.com", " ann@EXAMPLE.COM "] {
        let resp = app.try_signup(&json!({"email": email, "password": PASSWORD})).await;
        assert_problem(resp, 409, "email_taken").await;
    }
    // The bootstrap admin's address is taken too.
    let resp = app.try_signup(&json!({"email": crate::helpers::ADMIN_EMAIL, "password": PASSWORD})).await;
    assert_problem(resp, 409, "email_taken").await;
}

#[tokio::test]
async fn signup_lists_every_invalid_field() {
    let app = spawn_app().await;
    let resp = app
        .try_signup(&json!({
            "email": "not-an-email", "password": "short",
            "first_name": "<script>alert(1)</script>", "last_name": "   ", "phone": "call me"
        }))
        .await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    let fields: BTreeSet<String> = error_fields(&problem).into_iter().collect();
    let expected: BTreeSet<String> =
        ["email", "password", "first_name", "last_name", "phone"].into_iter().map(str::to_owned).collect();
    assert_eq!(fields, expected, "{problem}");
    for e in problem["errors"].as_array().unwrap() {
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
}

#[tokio::test]
async fn signup_accepts_passwords_of_8_to_128_characters_only() {
    let app = spawn_app().await;
    for (email, password) in [("seven@example.com", "x".repeat(7)), ("long@example.com", "x".repeat(129))] {
        let resp = app.try_signup(&json!({"email": email, "password": password})).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), vec!["password"]);
    }
    // Characters, not bytes: 128 two-byte characters are fine.
    app.signup("max@example.com", &"é".repeat(128)).await;
    app.signup("min@example.com", &"x".repeat(8)).await;
}

#[tokio::test]
async fn signup_refuses_malformed_json_with_400() {
    let app = spawn_app().await;
    for body in ["{\"email\": \"ann@example.com\",", "not json", ""] {
        let resp = app.post_raw("/auth/signup", "application/json", body).await;
        assert_problem(resp, 400, "malformed_request").await;
    }
}

#[tokio::test]
async fn signup_refuses_bodies_that_are_not_json_with_415() {
    let app = spawn_app().await;
    let body = json!({"email": "ann@example.com", "password": PASSWORD}).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        let resp = app.post_raw("/auth/signup", content_type, body.clone()).await;
        assert_problem(resp, 415, "unsupported_media_type").await;
    }
    let resp = app.client.post(app.url("/auth/signup")).body(body).send().await.unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
    // None of these created the account.
    app.signup("ann@example.com", PASSWORD).await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    // Far deeper than serde_json's recursion limit (128), within the size limit:
    // the typed body refuses it at the first level, naming the field.
    let body = format!("{{\"email\":{}1{}}}", "[".repeat(20_000), "]".repeat(20_000));
    let resp = app.post_raw("/auth/signup", "application/json", body).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["email"]);
    assert_eq!(app.get("/health/live", None).await.status(), 200);
}

#[tokio::test]
async fn signup_refuses_bodies_over_64_kib_with_413() {
    let app = spawn_app().await;
    let body = json!({"email": "ann@example.com", "password": PASSWORD, "first_name": "x".repeat(70 * 1024)});
    let resp = app.try_signup(&body).await;
    assert_problem(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn signup_refuses_unknown_fields_such_as_role() {
    let app = spawn_app().await;
    let resp = app.try_signup(&json!({"email": "ann@example.com", "password": PASSWORD, "role": "admin"})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert!(problem.to_string().contains("role"), "the problem names the unknown field: {problem}");
    // Nothing was stored: the address is still free, and the user is no admin.
    let user = app.signup("ann@example.com", PASSWORD).await;
    assert_eq!(user["role"], "user");
}

#[tokio::test]
async fn signup_refuses_values_of_the_wrong_type_naming_the_field() {
    let app = spawn_app().await;
    let resp = app.try_signup(&json!({"email": 42, "password": PASSWORD})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), vec!["email"]);
    let resp = app.try_signup(&json!({"email": "ann@example.com"})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert!(problem.to_string().contains("password"), "the problem names the missing field: {problem}");
    let resp = app.try_signup(&json!(["ann@example.com", PASSWORD])).await;
    assert_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_failed_signup_leaves_no_user_and_sends_no_mail() {
    let app = spawn_app().await;
    let resp = app.try_signup(&json!({"email": "ann@example.com", "password": PASSWORD, "phone": "12"})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), vec!["phone"]);
    app.settle().await;
    assert!(app.mails_to("ann@example.com").is_empty(), "a refused signup sent mail");
    let user = app.signup_with(&json!({"email": "ann@example.com", "password": PASSWORD, "phone": "+12345678"})).await;
    assert_eq!(user["phone"], "+12345678");
}

#[tokio::test]
async fn concurrent_signups_with_one_address_create_exactly_one_account() {
    let app = spawn_app().await;
    let first = json!({"email": "race@example.com", "password": PASSWORD});
    let second = json!({"email": "RACE@example.com", "password": "another password"});
    let (a, b) = tokio::join!(app.try_signup(&first), app.try_signup(&second));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    let loser = if a.status() == StatusCode::CONFLICT { a } else { b };
    assert_problem(loser, 409, "email_taken").await;
    app.mail_to("race@example.com").await;
    app.settle().await;
    assert_eq!(app.mails_to("race@example.com").len(), 1, "only the created account gets a mail");
}

#[tokio::test]
async fn the_user_signup_returns_is_the_user_later_reads_return() {
    let app = spawn_app().await;
    let created = app
        .signup_with(
            &json!({"email": "ann@example.com", "password": PASSWORD, "first_name": "Ann", "phone": "+12345678"}),
        )
        .await;
    let admin = app.admin_token().await;
    let read: Value = app.get(&format!("/users/{}", id_of(&created)), Some(&admin)).await.json().await.unwrap();
    assert_eq!(read, created);
    // So the creation time it reports works as a filter bound.
    let since = created["created_at"].as_str().unwrap();
    let page: Value = app.list_users(&admin, &[("created_at__gte", since)]).await.json().await.unwrap();
    assert_eq!(page["total"], 1, "{page}");
}
