//! `GET /users`: the list query language on users.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, assert_problem, assert_unauthorized, error_fields, spawn_app};

/// Seeds four users besides the admin and returns an admin token.
/// ann (verified, "Ann Smith"), bob ("Robert"), 100%real and under_score.
async fn seed(app: &TestApp) -> String {
    app.signup_with(
        &json!({"email": "ann@example.com", "password": PASSWORD, "first_name": "Ann", "last_name": "Smith"}),
    )
    .await;
    app.signup_with(&json!({"email": "bob@example.com", "password": PASSWORD, "first_name": "Robert"})).await;
    app.signup("100%real@example.com", PASSWORD).await;
    app.signup("under_score@example.com", PASSWORD).await;
    app.verify_from_mail("ann@example.com").await;
    app.admin_token().await
}

async fn page(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Value {
    let resp = app.list_users(token, query).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{query:?} → {body}");
    body
}

fn emails(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn listing_users_is_for_admins_only() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    assert_unauthorized(app.get("/users", None).await, "missing_token").await;
    assert_problem(app.get("/users", Some(&ann.token)).await, 403, "forbidden").await;
    // Even with a valid query, and even an invalid one does not leak the whitelist to users.
    assert_problem(app.list_users(&ann.token, &[("role", "admin")]).await, 403, "forbidden").await;
    for bad in [("page", "0"), ("role", "root"), ("password_hash", "x"), ("page_size", "1000")] {
        assert_problem(app.list_users(&ann.token, &[bad]).await, 403, "forbidden").await;
    }
}

#[tokio::test]
async fn admins_get_a_page_of_users_newest_first() {
    let app = spawn_app().await;
    let admin = seed(&app).await;
    let resp = app.list_users(&admin, &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("password") && !text.contains("$argon2"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        sorted(keys.iter().map(|k| (*k).to_owned()).collect()),
        ["items", "page", "page_size", "pages", "total"]
    );
    assert_eq!((body["total"].as_u64(), body["page"].as_u64()), (Some(5), Some(1)));
    assert_eq!((body["page_size"].as_u64(), body["pages"].as_u64()), (Some(20), Some(1)));
    for user in body["items"].as_array().unwrap() {
        crate::signup::assert_user_shape(user);
    }
    // Newest first: the reverse of the creation order.
    let expected =
        ["under_score@example.com", "100%real@example.com", "bob@example.com", "ann@example.com", ADMIN_EMAIL];
    assert_eq!(emails(&body), expected);
}

#[tokio::test]
async fn users_can_be_filtered_by_role_verification_email_and_creation_time() {
    let app = spawn_app().await;
    let admin = seed(&app).await;
    assert_eq!(emails(&page(&app, &admin, &[("role", "admin")]).await), [ADMIN_EMAIL]);
    let users = page(&app, &admin, &[("role", "user")]).await;
    assert_eq!(users["total"], 4);
    let both = page(&app, &admin, &[("role__in", "user,admin")]).await;
    assert_eq!(both["total"], 5);
    let unverified = page(&app, &admin, &[("is_verified", "false")]).await;
    assert_eq!(sorted(emails(&unverified)), ["100%real@example.com", "bob@example.com", "under_score@example.com"]);
    let verified = page(&app, &admin, &[("is_verified", "true"), ("role", "user")]).await;
    assert_eq!(emails(&verified), ["ann@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("email__contains", "ANN@")]).await), ["ann@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("email", "bob@example.com")]).await), ["bob@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("first_name", "Robert")]).await), ["bob@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("last_name__contains", "mit")]).await), ["ann@example.com"]);

    // created_at__gte with the creation time of the third-oldest user, as the API reports it.
    let oldest_first = page(&app, &admin, &[("sort", "created_at")]).await;
    let third = &oldest_first["items"][2];
    let since = third["created_at"].as_str().unwrap();
    let newer = page(&app, &admin, &[("created_at__gte", since), ("sort", "created_at")]).await;
    let expected: Vec<String> = emails(&oldest_first)[2..].to_vec();
    assert_eq!(emails(&newer), expected);
    let older = page(&app, &admin, &[("created_at__lt", since), ("sort", "created_at")]).await;
    assert_eq!(emails(&older), emails(&oldest_first)[..2].to_vec());
    let none = page(&app, &admin, &[("created_at__gt", "2999-01-01T00:00:00Z")]).await;
    assert_eq!((none["total"].as_u64(), none["pages"].as_u64()), (Some(0), Some(0)));
    assert!(none["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn search_matches_email_and_names_case_insensitively() {
    let app = spawn_app().await;
    let admin = seed(&app).await;
    assert_eq!(emails(&page(&app, &admin, &[("search", "ROBERT")]).await), ["bob@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("search", "smi")]).await), ["ann@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("search", "BOB@")]).await), ["bob@example.com"]);
    let all = page(&app, &admin, &[("search", "example.com")]).await;
    assert_eq!(all["total"], 4);
    // Search combines with filters.
    let none = page(&app, &admin, &[("search", "robert"), ("is_verified", "true")]).await;
    assert_eq!(none["total"], 0);
    // A blank search is no search.
    assert_eq!(page(&app, &admin, &[("search", "  ")]).await["total"], 5);
}

#[tokio::test]
async fn users_can_be_sorted_and_paged() {
    let app = spawn_app().await;
    let admin = seed(&app).await;
    let mut all_emails = vec![
        "100%real@example.com".to_owned(),
        ADMIN_EMAIL.to_owned(),
        "ann@example.com".to_owned(),
        "bob@example.com".to_owned(),
        "under_score@example.com".to_owned(),
    ];
    all_emails.sort();
    assert_eq!(emails(&page(&app, &admin, &[("sort", "email")]).await), all_emails);
    let descending = page(&app, &admin, &[("sort", "-email")]).await;
    assert_eq!(emails(&descending), all_emails.iter().rev().cloned().collect::<Vec<_>>());
    // Several keys: role first (admin < user), then e-mail descending.
    let multi = page(&app, &admin, &[("sort", "role,-email")]).await;
    assert_eq!(emails(&multi)[0], ADMIN_EMAIL);
    assert_eq!(emails(&multi)[1], "under_score@example.com");

    let second = page(&app, &admin, &[("page_size", "1"), ("page", "2"), ("sort", "email")]).await;
    assert_eq!(emails(&second), [all_emails[1].clone()]);
    assert_eq!((second["total"].as_u64(), second["pages"].as_u64()), (Some(5), Some(5)));
    assert_eq!((second["page"].as_u64(), second["page_size"].as_u64()), (Some(2), Some(1)));
    // Pages of 2 cover everybody exactly once.
    let mut seen = Vec::new();
    for p in ["1", "2", "3"] {
        let body = page(&app, &admin, &[("page_size", "2"), ("page", p), ("sort", "-created_at")]).await;
        assert_eq!(body["pages"], 3);
        seen.extend(emails(&body));
    }
    assert_eq!(sorted(seen), all_emails);
    // Past the end: an empty page, not an error.
    let beyond = page(&app, &admin, &[("page", "9")]).await;
    assert!(beyond["items"].as_array().unwrap().is_empty());
    assert_eq!(beyond["total"], 5);
}

#[tokio::test]
async fn invalid_list_queries_are_refused_with_400_naming_the_parameter() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (name, value) in [
        ("unknown_field", "1"),
        ("password_hash", "x"),
        ("password_hash__contains", "$argon2"),
        ("role", "superuser"),
        ("role__in", "user,root"),
        ("page", "0"),
        ("page", "-1"),
        ("page", "abc"),
        ("page_size", "0"),
        ("page_size", "1000"),
        ("sort", "password_hash"),
        ("sort", "-nope"),
        ("sort", "email,email"),
        ("is_verified", "maybe"),
        ("created_at__gte", "yesterday"),
        ("email__gt", "a"),
        ("email__regex", "a"),
        ("role__contains", "adm"),
        ("search", &"x".repeat(201)),
    ] {
        let resp = app.list_users(&admin, &[(name, value)]).await;
        let problem = assert_problem(resp, 400, "invalid_query").await;
        assert_eq!(error_fields(&problem), vec![name], "{name}={value} → {problem}");
    }
    // A repeated parameter is named too, and several errors are all listed.
    let resp = app.list_users(&admin, &[("page", "1"), ("page", "2")]).await;
    assert_eq!(error_fields(&assert_problem(resp, 400, "invalid_query").await), vec!["page"]);
    let resp = app.list_users(&admin, &[("page", "0"), ("role", "root"), ("sort", "password_hash")]).await;
    assert_eq!(error_fields(&assert_problem(resp, 400, "invalid_query").await), vec!["page", "role", "sort"]);
}

#[tokio::test]
async fn injection_shaped_values_match_only_literally() {
    let app = spawn_app().await;
    let admin = seed(&app).await;
    for (name, value) in [
        ("search", "' OR 1=1 --"),
        ("search", "\" OR \"\"=\""),
        ("email", "' OR '1'='1"),
        ("email__contains", "'; DROP TABLE users; --"),
        ("first_name__in", "a') OR ('1'='1"),
        ("search", "\\"),
    ] {
        let body = page(&app, &admin, &[(name, value)]).await;
        assert_eq!(body["total"], 0, "{name}={value} matched {body}");
    }
    assert_eq!(emails(&page(&app, &admin, &[("email__contains", "%")]).await), ["100%real@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("search", "%")]).await), ["100%real@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("search", "_")]).await), ["under_score@example.com"]);
    assert_eq!(emails(&page(&app, &admin, &[("email__contains", "a_n")]).await), Vec::<String>::new());
    // The table is still there.
    assert_eq!(page(&app, &admin, &[]).await["total"], 5);
}

#[tokio::test]
async fn search_ignores_case_beyond_ascii() {
    let app = spawn_app().await;
    app.signup_with(
        &json!({"email": "anna@example.com", "password": PASSWORD, "first_name": "Анна", "last_name": "Ólafsdóttir"}),
    )
    .await;
    let admin = app.admin_token().await;
    for term in ["анна", "АННА", "óLAFS", "ÓLAFS"] {
        assert_eq!(emails(&page(&app, &admin, &[("search", term)]).await), ["anna@example.com"], "search={term}");
    }
    assert_eq!(emails(&page(&app, &admin, &[("first_name__contains", "аНн")]).await), ["anna@example.com"]);
}

#[tokio::test]
async fn control_characters_in_text_filters_are_refused_with_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (name, value) in
        [("search", "a\u{0}b"), ("email", "\u{0}"), ("email__contains", "x\u{0}"), ("first_name__in", "a,\u{0}")]
    {
        let resp = app.list_users(&admin, &[(name, value)]).await;
        let problem = assert_problem(resp, 400, "invalid_query").await;
        assert_eq!(error_fields(&problem), [name], "{name}={value:?}");
    }
}
