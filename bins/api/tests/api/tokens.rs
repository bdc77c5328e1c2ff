//! `POST /auth/refresh`, `POST /auth/logout` and how bearer tokens are checked.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, assert_unauthorized, header, spawn_app, spawn_app_with, tokens};

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

fn encode_part(value: &Value) -> String {
    B64.encode(value.to_string())
}

#[tokio::test]
async fn refresh_returns_a_new_pair_and_the_old_refresh_token_is_single_use() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let first = app.login("ann@example.com", PASSWORD).await;
    let resp = app.refresh(&first.refresh).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    let second = crate::helpers::Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
    };
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(app.get("/me", Some(&second.access)).await.status(), StatusCode::OK);

    // Re-using the rotated token is taken as theft: it fails …
    let reused = app.refresh(&first.refresh).await;
    assert_unauthorized(reused, "refresh_token_reused").await;
    // … and the whole family is revoked, so the thief's new token fails too.
    let revoked = app.refresh(&second.refresh).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert_unauthorized(revoked, "invalid_token").await;
    // A separate login is a separate family and still works.
    let other = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_chain_keeps_working_while_each_token_is_used_once() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let mut current = app.login("ann@example.com", PASSWORD).await;
    for _ in 0..3 {
        let resp = app.refresh(&current.refresh).await;
        assert_eq!(resp.status(), StatusCode::OK);
        current = tokens(resp).await;
    }
    assert_eq!(app.get("/me", Some(&current.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn access_and_refresh_tokens_are_not_interchangeable() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let t = app.login("ann@example.com", PASSWORD).await;
    assert_unauthorized(app.refresh(&t.access).await, "invalid_token").await;
    assert_unauthorized(app.get("/me", Some(&t.refresh)).await, "invalid_token").await;
    let resp = app.post_json("/auth/logout", &json!({"refresh_token": t.access})).await;
    assert_unauthorized(resp, "invalid_token").await;
    // The genuine refresh token was not burnt by any of this.
    assert_eq!(app.refresh(&t.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_revokes_the_session_of_its_refresh_token() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let t = app.login("ann@example.com", PASSWORD).await;
    let resp = app.post_json("/auth/logout", &json!({"refresh_token": t.refresh})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let pair = app.post_json("/auth/login", &json!({"email": "ann@example.com", "password": PASSWORD})).await;
    assert_eq!(header(pair.headers(), "cache-control").as_deref(), Some("no-store"), "no cache keeps tokens");
    assert!(resp.text().await.unwrap().is_empty());
    assert_unauthorized(app.refresh(&t.refresh).await, "invalid_token").await;
    // A logout with a token rotated since ends the session its successor carries on.
    let old = app.login("ann@example.com", PASSWORD).await;
    let newer = tokens(app.refresh(&old.refresh).await).await.refresh;
    let resp = app.post_json("/auth/logout", &json!({"refresh_token": old.refresh})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.refresh(&newer).await, "invalid_token").await;
    // Garbage is refused.
    let resp = app.post_json("/auth/logout", &json!({"refresh_token": "garbage"})).await;
    assert_unauthorized(resp, "invalid_token").await;
    let resp = app.post_json("/auth/logout", &json!({})).await;
    assert_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn logout_ends_the_access_tokens_of_that_login_at_once_and_no_other() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let phone = app.login("ann@example.com", PASSWORD).await;
    let laptop = app.login("ann@example.com", PASSWORD).await;
    // A rotation leaves the earlier access token working until it expires …
    let rotated = tokens(app.refresh(&phone.refresh).await).await;
    assert_eq!(app.get("/me", Some(&phone.access)).await.status(), StatusCode::OK);
    // … a logout (even with the stale refresh token) ends every access token of the login.
    let resp = app.post_json("/auth/logout", &json!({"refresh_token": phone.refresh})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for access in [&phone.access, &rotated.access] {
        let problem = assert_unauthorized(app.get("/me", Some(access)).await, "invalid_token").await;
        assert!(problem["detail"].as_str().unwrap().contains("log in again"), "{problem}");
        assert_unauthorized(app.get("/cart", Some(access)).await, "invalid_token").await;
        // A query it may not even make is not checked first (a 400 would answer before the 401).
        for path in [
            "/orders?page=0",
            "/support/conversations?sort=password_hash",
            "/support/conversations/0193a7d4-0000-7000-8000-000000000000/messages?limit=lots",
        ] {
            assert_unauthorized(app.get(path, Some(access)).await, "invalid_token").await;
        }
    }
    assert_eq!(app.get("/me", Some(&laptop.access)).await.status(), StatusCode::OK, "the other login goes on");

    // Theft detection ends the access tokens of the family too.
    let first = tokens(app.refresh(&laptop.refresh).await).await;
    assert_unauthorized(app.refresh(&laptop.refresh).await, "refresh_token_reused").await;
    assert_unauthorized(app.get("/me", Some(&first.access)).await, "invalid_token").await;
}

#[tokio::test]
async fn an_access_token_without_a_session_claim_is_refused() {
    // Tokens issued before access tokens named their login, and forged ones
    // naming a login of someone else's, do not authenticate.
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    app.verified_user("bob@example.com").await;
    let (ann, bob) = (app.login("ann@example.com", PASSWORD).await, app.login("bob@example.com", PASSWORD).await);
    let claims = decode_part(ann.access.split('.').nth(1).unwrap());
    assert!(claims["sid"].is_string(), "{claims}");
    let bob_sid = decode_part(bob.access.split('.').nth(1).unwrap())["sid"].clone();
    let key = jsonwebtoken::EncodingKey::from_secret(crate::helpers::JWT_SECRET.as_bytes());
    let sign = |claims: &Value| jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).unwrap();
    assert_eq!(app.get("/me", Some(&sign(&claims))).await.status(), StatusCode::OK, "the signing is right");
    let mut without = claims.clone();
    without.as_object_mut().unwrap().remove("sid");
    assert_unauthorized(app.get("/me", Some(&sign(&without))).await, "invalid_token").await;
    let mut borrowed = claims;
    borrowed["sid"] = bob_sid;
    assert_unauthorized(app.get("/me", Some(&sign(&borrowed))).await, "invalid_token").await;
}

#[tokio::test]
async fn garbage_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    for token in ["", "garbage", "a.b.c"] {
        assert_unauthorized(app.refresh(token).await, "invalid_token").await;
    }
    let resp = app.post_json("/auth/refresh", &json!({"token": "x"})).await;
    assert_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn unsigned_and_tampered_tokens_are_refused() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let t = app.login("ann@example.com", PASSWORD).await;
    let parts: Vec<&str> = t.access.split('.').collect();
    let mut claims = decode_part(parts[1]);
    assert_eq!(claims["typ"], "access");
    assert_eq!(claims["role"], "user");
    claims["role"] = json!("admin");
    let escalated = encode_part(&claims);

    let none = encode_part(&json!({"alg": "none", "typ": "JWT"}));
    let forged = [
        format!("{none}.{escalated}."),
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}.{}", parts[1], parts[2]),
        format!("{}.{escalated}.{}", parts[0], parts[2]),
        format!("{}.{}.{}", encode_part(&json!({"alg": "HS512", "typ": "JWT"})), parts[1], parts[2]),
        format!("{}.{}", parts[0], parts[1]),
    ];
    for token in &forged {
        assert_unauthorized(app.get("/me", Some(token)).await, "invalid_token").await;
        // Never 403: a forged admin claim does not even authenticate.
        assert_unauthorized(app.get("/users", Some(token)).await, "invalid_token").await;
    }
    // The same holds for refresh tokens.
    let parts: Vec<&str> = t.refresh.split('.').collect();
    assert_unauthorized(app.refresh(&format!("{none}.{}.", parts[1])).await, "invalid_token").await;
}

#[tokio::test]
async fn an_expired_access_token_is_refused_but_can_be_refreshed() {
    // A token names whole seconds, its `exp` rounded down: one issued for
    // 3 s lives more than 2. So the first is expired after 3.1 s, and the
    // refreshed one still has 2 s for the last request, however busy the
    // machine (with 1 s, a fresh token issued late in a second expired
    // within milliseconds, and a loaded CI run saw it refused).
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL", "3s")]).await;
    app.verified_user("ann@example.com").await;
    let resp = app.try_login("ann@example.com", PASSWORD).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], 3);
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let resp = app.get("/me", Some(&access)).await;
    let challenge = header(resp.headers(), "www-authenticate").unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_unauthorized(resp, "token_expired").await;
    let fresh = tokens({
        let resp = app.refresh(&refresh).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp
    })
    .await;
    assert_eq!(app.get("/me", Some(&fresh.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let app = spawn_app_with(&[("REFRESH_TOKEN_TTL", "1s")]).await;
    app.verified_user("ann@example.com").await;
    let t = app.login("ann@example.com", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_unauthorized(app.refresh(&t.refresh).await, "token_expired").await;
}

#[tokio::test]
async fn of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds() {
    let app = spawn_app().await;
    app.verified_user("ann@example.com").await;
    let t = app.login("ann@example.com", PASSWORD).await;
    let (a, b) = tokio::join!(app.refresh(&t.refresh), app.refresh(&t.refresh));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
}
