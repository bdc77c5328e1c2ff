//! `POST /auth/login`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, assert_problem, assert_unauthorized, compressed, error_fields, header, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn login_with_json_returns_a_bearer_token_pair() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let resp = app.try_login(" ANN@example.com", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900, "access tokens live 15 minutes by default");
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_ne!(access, refresh);
    assert_eq!(access.split('.').count(), 3, "a JWT");
    let me = app.get("/me", Some(access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ann@example.com");
}

#[tokio::test]
async fn login_accepts_an_oauth2_password_form() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let form = format!("grant_type=password&username=ann%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let resp = app.post_raw("/auth/login", "application/x-www-form-urlencoded", form).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    let resp = app
        .post_raw(
            "/auth/login",
            "application/x-www-form-urlencoded",
            "username=ann%40example.com&password=wrong-password",
        )
        .await;
    assert_unauthorized(resp, "invalid_credentials").await;
    let resp = app.post_raw("/auth/login", "application/x-www-form-urlencoded", "username=ann%40example.com").await;
    assert_problem(resp, 422, "validation_failed").await;
    // Another OAuth2 grant is not this one, even with a right password.
    let form =
        format!("grant_type=client_credentials&username=ann%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let resp = app.post_raw("/auth/login", "application/x-www-form-urlencoded", form).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(crate::helpers::error_fields(&problem), ["grant_type"]);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_refused_alike() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let unknown = app.try_login("nobody@example.com", PASSWORD).await;
    let unknown = assert_unauthorized(unknown, "invalid_credentials").await;
    let wrong = app.try_login("ann@example.com", "wrong password").await;
    let wrong = assert_unauthorized(wrong, "invalid_credentials").await;
    let not_an_email = app.try_login("ann", PASSWORD).await;
    let not_an_email = assert_unauthorized(not_an_email, "invalid_credentials").await;
    for key in ["type", "title", "detail"] {
        assert_eq!(unknown[key], wrong[key]);
        assert_eq!(unknown[key], not_an_email[key]);
    }
}

#[tokio::test]
async fn login_refuses_unverified_users_with_403() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let resp = app.try_login("ann@example.com", PASSWORD).await;
    let problem = assert_problem(resp, 403, "email_not_verified").await;
    assert!(problem["detail"].as_str().unwrap().contains("resend"), "{problem}");
    // A wrong password does not reveal that the account exists.
    let resp = app.try_login("ann@example.com", "wrong password").await;
    assert_unauthorized(resp, "invalid_credentials").await;
}

#[tokio::test]
async fn login_refuses_malformed_bodies() {
    let app = spawn_app().await;
    let resp = app.post_json("/auth/login", &json!({"email": "ann@example.com"})).await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = app.post_json("/auth/login", &json!({"email": "ann@example.com", "password": ""})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), vec!["password"]);
    let resp = app.post_json("/auth/login", &json!({"email": "ann@example.com", "password": "x".repeat(129)})).await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = app.post_raw("/auth/login", "application/json", "{").await;
    assert_problem(resp, 400, "malformed_request").await;
    let resp = app.post_raw("/auth/login", "text/plain", "ann@example.com").await;
    assert_problem(resp, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn a_body_is_read_in_the_content_codings_the_server_decodes_and_refused_in_others() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let body = json!({"email": "ann@example.com", "password": PASSWORD}).to_string();
    let login = |coding: &'static str, bytes: Vec<u8>| {
        app.client
            .post(app.url("/auth/login"))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(bytes)
            .send()
    };
    for coding in ["gzip", "deflate", "GZIP"] {
        let resp = login(coding, compressed(&coding.to_ascii_lowercase(), body.as_bytes())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{coding}");
    }
    assert_eq!(login("identity", body.clone().into_bytes()).await.unwrap().status(), StatusCode::OK);
    // Codings actix-web does not decode were read as if uncompressed: now 415,
    // saying which it reads (RFC 7694).
    for coding in ["br", "zstd", "x-gzip", "gzip, br", "compress"] {
        let resp = login(coding, compressed("gzip", body.as_bytes())).await.unwrap();
        assert_eq!(header(resp.headers(), "accept-encoding").as_deref(), Some("gzip, deflate"), "{coding}");
        let problem = assert_problem(resp, 415, "unsupported_media_type").await;
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("Content-Encoding")), "{problem}");
    }
    // Decoded to at most 64 KiB (a bomb of 60 MB of zeros in 58 KB of gzip
    // is refused as too large, not inflated), and a body that is not the
    // gzip it claims to be is malformed.
    let bomb = compressed("gzip", &vec![0; 60_000_000]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    assert_problem(login("gzip", bomb).await.unwrap(), 413, "payload_too_large").await;
    assert_problem(login("gzip", body.clone().into_bytes()).await.unwrap(), 400, "malformed_request").await;
    // Two lines: actix-web would read only the first.
    let resp = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("content-encoding", "br")
        .body(compressed("gzip", body.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn repeated_failed_logins_are_rate_limited_with_429() {
    let app = crate::helpers::spawn_app_with(&[("AUTH_RATE_LIMIT", "10/min")]).await;
    for _ in 0..10 {
        assert_unauthorized(app.try_login("ann@example.com", "wrong password").await, "invalid_credentials").await;
    }
    let resp = app.try_login("ann@example.com", "wrong password").await;
    let retry_after = crate::helpers::header(resp.headers(), "retry-after").expect("Retry-After");
    assert!(retry_after.parse::<u64>().is_ok_and(|s| s >= 1), "{retry_after}");
    assert_problem(resp, 429, "rate_limited").await;
}

#[tokio::test]
async fn past_the_password_hash_queue_logins_and_signups_are_refused_at_once_with_503_busy() {
    // No waiting at all: only as many hashes as there are CPUs are accepted.
    let app = spawn_app_with(&[("PASSWORD_HASH_QUEUE", "0")]).await;
    app.verified_user("ann@example.com").await;
    // Far more concurrent hashes than CPUs (one permit each).
    let storm = 16 + 8 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let app = &app;
    let attempts = (0..storm).map(|i| async move {
        if i % 4 == 0 {
            app.try_signup(&json!({ "email": format!("new{i}@example.com"), "password": PASSWORD })).await
        } else {
            app.try_login("ann@example.com", "wrong password").await
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let (mut busy, mut answered) = (0, 0);
    for resp in responses {
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            let retry_after = header(resp.headers(), "retry-after");
            assert_eq!(retry_after.as_deref(), Some("1"), "503 busy says when to retry");
            assert_problem(resp, 503, "busy").await;
            busy += 1;
        } else {
            let status = resp.status();
            assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::CREATED, "{status}");
            answered += 1;
        }
    }
    assert!(busy > 0, "{storm} concurrent hashes with no queue: some must be refused");
    assert!(answered > 0, "the ones that found a free CPU are answered");
    // The storm is over: logins work again.
    assert_eq!(app.try_login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
}
