//! `GET`, `PATCH`, `PUT` and `DELETE /users/{id}`.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, TestApp, assert_problem, assert_unauthorized, error_fields, id_of, spawn_app,
};

async fn send(app: &TestApp, method: Method, id: &str, token: &str, body: Option<Value>) -> Response {
    let req = app.request(method, &format!("/users/{id}"), Some(token));
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    req.send().await.unwrap()
}

async fn ok(resp: Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn admin_id(app: &TestApp, admin: &str) -> String {
    id_of(&ok(app.get("/me", Some(admin)).await).await)
}

#[tokio::test]
async fn admins_read_any_user_and_users_only_themselves() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let bob = app.logged_in("bob@example.com").await;
    let admin = app.admin_token().await;
    let user = ok(send(&app, Method::GET, &ann.id, &admin, None).await).await;
    crate::signup::assert_user_shape(&user);
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(ok(send(&app, Method::GET, &ann.id, &ann.token, None).await).await, user);
    // Someone else's account does not exist for a user, as for PATCH and PUT.
    assert_problem(send(&app, Method::GET, &ann.id, &bob.token, None).await, 404, "not_found").await;
    let resp = app.get(&format!("/users/{}", ann.id), None).await;
    assert_unauthorized(resp, "missing_token").await;
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_gives_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [unknown.as_str(), "not-a-uuid", "1", "%27%20OR%201%3D1"] {
        assert_problem(send(&app, Method::GET, id, &admin, None).await, 404, "not_found").await;
        let patch = Some(json!({"first_name": "X"}));
        assert_problem(send(&app, Method::PATCH, id, &admin, patch).await, 404, "not_found").await;
        assert_problem(send(&app, Method::PUT, id, &admin, Some(json!({}))).await, 404, "not_found").await;
        assert_problem(send(&app, Method::DELETE, id, &admin, None).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn users_may_patch_their_own_profile_fields() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let patch = json!({"first_name": "Ann", "last_name": "Smith", "phone": "+12025550123"});
    let user = ok(send(&app, Method::PATCH, &ann.id, &ann.token, Some(patch)).await).await;
    assert_eq!((user["first_name"].as_str(), user["last_name"].as_str()), (Some("Ann"), Some("Smith")));
    assert_eq!(user["phone"], "+12025550123");
    let user = ok(send(&app, Method::PATCH, &ann.id, &ann.token, Some(json!({"last_name": null}))).await).await;
    assert_eq!(user["last_name"], Value::Null);
    assert_eq!(user["first_name"], "Ann");
}

#[tokio::test]
async fn users_may_not_change_their_own_role_verification_or_email() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    for body in [json!({"role": "admin"}), json!({"is_verified": false}), json!({"email": "new@example.com"})] {
        let resp = send(&app, Method::PATCH, &ann.id, &ann.token, Some(body.clone())).await;
        assert_problem(resp, 403, "forbidden").await;
        let resp = send(&app, Method::PUT, &ann.id, &ann.token, Some(body)).await;
        assert_problem(resp, 403, "forbidden").await;
    }
    // A refused request changes nothing, not even the allowed fields in it.
    let body = json!({"first_name": "Mallory", "role": "admin"});
    assert_problem(send(&app, Method::PATCH, &ann.id, &ann.token, Some(body)).await, 403, "forbidden").await;
    assert_eq!(ok(app.get("/me", Some(&ann.token)).await).await["first_name"], Value::Null);
    // Sending the current values is not a change and is allowed.
    let same = json!({"role": "user", "is_verified": true, "email": "ANN@example.com", "first_name": "Ann"});
    let user = ok(send(&app, Method::PATCH, &ann.id, &ann.token, Some(same)).await).await;
    assert_eq!((user["role"].as_str(), user["first_name"].as_str()), (Some("user"), Some("Ann")));
    // And the user is still no admin.
    assert_problem(app.get("/users", Some(&ann.token)).await, 403, "forbidden").await;
}

#[tokio::test]
async fn users_cannot_touch_other_users() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let bob = app.signup_with(&json!({"email": "bob@example.com", "password": PASSWORD, "first_name": "Bob"})).await;
    let bob_id = id_of(&bob);
    let patch = Some(json!({"first_name": "Hacked"}));
    assert_problem(send(&app, Method::PATCH, &bob_id, &ann.token, patch).await, 404, "not_found").await;
    let put = Some(json!({"first_name": "Hacked"}));
    assert_problem(send(&app, Method::PUT, &bob_id, &ann.token, put).await, 404, "not_found").await;
    assert_problem(send(&app, Method::DELETE, &bob_id, &ann.token, None).await, 403, "forbidden").await;
    let admin = app.admin_token().await;
    let admin_id = admin_id(&app, &admin).await;
    let escalate = Some(json!({"role": "user"}));
    assert_problem(send(&app, Method::PATCH, &admin_id, &ann.token, escalate).await, 404, "not_found").await;
    let bob = ok(send(&app, Method::GET, &bob_id, &admin, None).await).await;
    assert_eq!(bob["first_name"], "Bob");
}

#[tokio::test]
async fn admins_may_change_role_verification_and_email() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    app.signup("bob@example.com", PASSWORD).await;

    let user = ok(send(&app, Method::PATCH, &ann.id, &admin, Some(json!({"is_verified": false}))).await).await;
    assert_eq!((user["is_verified"].as_bool(), user["verified_at"].as_str()), (Some(false), None));
    let user = ok(send(&app, Method::PATCH, &ann.id, &admin, Some(json!({"is_verified": true}))).await).await;
    assert_eq!(user["is_verified"], true);
    assert!(user["verified_at"].is_string());

    let change = json!({"email": " Ann.New@Example.com ", "first_name": "Ann"});
    let user = ok(send(&app, Method::PATCH, &ann.id, &admin, Some(change)).await).await;
    assert_eq!(user["email"], "ann.new@example.com");
    assert_eq!(user["first_name"], "Ann");
    // The new address logs in, the old one no longer does.
    app.login("ann.new@example.com", PASSWORD).await;
    let resp = app.try_login("ann@example.com", PASSWORD).await;
    assert_unauthorized(resp, "invalid_credentials").await;

    for taken in ["bob@example.com", "BOB@example.com", ADMIN_EMAIL] {
        let resp = send(&app, Method::PATCH, &ann.id, &admin, Some(json!({"email": taken}))).await;
        assert_problem(resp, 409, "email_taken").await;
    }
    let resp = send(&app, Method::PATCH, &ann.id, &admin, Some(json!({"email": "nope"}))).await;
    assert_eq!(error_fields(&assert_problem(resp, 422, "validation_failed").await), vec!["email"]);
    let resp = send(&app, Method::PATCH, &ann.id, &admin, Some(json!({"role": "superuser"}))).await;
    assert_problem(resp, 422, "validation_failed").await;

    let user = ok(send(&app, Method::PATCH, &ann.id, &admin, Some(json!({"role": "admin"}))).await).await;
    assert_eq!(user["role"], "admin");
}

#[tokio::test]
async fn put_replaces_the_profile_and_clears_absent_fields() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let full = json!({"first_name": "Ann", "last_name": "Smith", "phone": "+12025550123"});
    ok(send(&app, Method::PATCH, &ann.id, &ann.token, Some(full)).await).await;
    let user = ok(send(&app, Method::PUT, &ann.id, &ann.token, Some(json!({"first_name": "Anna"}))).await).await;
    assert_eq!(user["first_name"], "Anna");
    assert_eq!((user["last_name"].clone(), user["phone"].clone()), (Value::Null, Value::Null));
    // Admin-only fields stay as they are when absent.
    assert_eq!((user["email"].as_str(), user["role"].as_str()), (Some("ann@example.com"), Some("user")));
    assert_eq!(user["is_verified"], true);
    let resp = send(&app, Method::PUT, &ann.id, &ann.token, Some(json!({"first_name": "Anna", "extra": 1}))).await;
    assert_problem(resp, 422, "validation_failed").await;
    // An admin's PUT may set the admin-only fields.
    let admin = app.admin_token().await;
    let body = json!({"first_name": "Ann", "email": "ann2@example.com", "role": "admin", "is_verified": true});
    let user = ok(send(&app, Method::PUT, &ann.id, &admin, Some(body)).await).await;
    assert_eq!((user["email"].as_str(), user["role"].as_str()), (Some("ann2@example.com"), Some("admin")));
    assert_eq!(user["last_name"], Value::Null);
}

#[tokio::test]
async fn admins_delete_users_with_everything_they_own() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.verified_user("ann@example.com").await;
    let ann_tokens = app.login("ann@example.com", PASSWORD).await;
    let ann_id = id_of(&ok(app.get("/me", Some(&ann_tokens.access)).await).await);
    let resp = send(&app, Method::DELETE, &ann_id, &admin, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.text().await.unwrap().is_empty());
    assert_problem(send(&app, Method::GET, &ann_id, &admin, None).await, 404, "not_found").await;
    assert_problem(send(&app, Method::DELETE, &ann_id, &admin, None).await, 404, "not_found").await;
    // Sessions went with the account; the address is free again.
    assert_unauthorized(app.refresh(&ann_tokens.refresh).await, "invalid_token").await;
    assert_unauthorized(app.try_login("ann@example.com", PASSWORD).await, "invalid_credentials").await;
    app.signup("ann@example.com", PASSWORD).await;
}

#[tokio::test]
async fn users_may_not_delete_anyone_not_even_themselves() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    assert_problem(send(&app, Method::DELETE, &ann.id, &ann.token, None).await, 403, "forbidden").await;
    assert_eq!(app.get("/me", Some(&ann.token)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_demoted_or_unverified() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = admin_id(&app, &admin).await;
    assert_problem(send(&app, Method::DELETE, &id, &admin, None).await, 409, "last_admin").await;
    let demote = Some(json!({"role": "user"}));
    assert_problem(send(&app, Method::PATCH, &id, &admin, demote).await, 409, "last_admin").await;
    let demote = Some(json!({"role": "user", "first_name": "Root"}));
    assert_problem(send(&app, Method::PUT, &id, &admin, demote).await, 409, "last_admin").await;
    // An unverified admin cannot log in, so is no stand-in: with Bob
    // promoted and then un-verified, the admin is still the last one.
    let bob = app.logged_in("bob@example.com").await;
    ok(send(&app, Method::PATCH, &bob.id, &admin, Some(json!({"role": "admin"}))).await).await;
    ok(send(&app, Method::PATCH, &bob.id, &admin, Some(json!({"is_verified": false}))).await).await;
    assert_problem(send(&app, Method::DELETE, &id, &admin, None).await, 409, "last_admin").await;
    let me = ok(app.get("/me", Some(&admin)).await).await;
    assert_eq!((me["role"].as_str(), me["first_name"].as_str()), (Some("admin"), None));
    // Patching the admin's own name is fine.
    ok(send(&app, Method::PATCH, &id, &admin, Some(json!({"first_name": "Root"}))).await).await;
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_rights_at_once() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let root_id = admin_id(&app, &root).await;
    let bob = app.logged_in("bob@example.com").await;
    ok(send(&app, Method::PATCH, &bob.id, &root, Some(json!({"role": "admin"}))).await).await;
    let bob_admin = app.login("bob@example.com", PASSWORD).await.access;
    assert_eq!(app.get("/users", Some(&bob_admin)).await.status(), StatusCode::OK);

    // With two admins, one may demote the other …
    let user = ok(send(&app, Method::PATCH, &bob.id, &root, Some(json!({"role": "user"}))).await).await;
    assert_eq!(user["role"], "user");
    // … and the demoted admin's token, not expired, no longer authenticates:
    // the change ended their logins …
    assert_unauthorized(app.get("/users", Some(&bob_admin)).await, "invalid_token").await;
    assert_unauthorized(app.get("/me", Some(&bob_admin)).await, "invalid_token").await;
    // … and logged in again they are a user, with no admin route.
    let bob_admin = app.login("bob@example.com", PASSWORD).await.access;
    assert_problem(app.get("/users", Some(&bob_admin)).await, 403, "forbidden").await;
    assert_problem(send(&app, Method::GET, &root_id, &bob_admin, None).await, 404, "not_found").await;
    let demote_root = Some(json!({"role": "user"}));
    assert_problem(send(&app, Method::PATCH, &root_id, &bob_admin, demote_root).await, 404, "not_found").await;
    assert_problem(send(&app, Method::DELETE, &root_id, &bob_admin, None).await, 403, "forbidden").await;
    // Now root is the last admin again.
    assert_problem(send(&app, Method::DELETE, &root_id, &root, None).await, 409, "last_admin").await;
}

#[tokio::test]
async fn with_two_admins_one_may_delete_the_other() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let root_id = admin_id(&app, &root).await;
    let bob = app.logged_in("bob@example.com").await;
    ok(send(&app, Method::PATCH, &bob.id, &root, Some(json!({"role": "admin"}))).await).await;
    let bob_admin = app.login("bob@example.com", PASSWORD).await.access;
    let resp = send(&app, Method::DELETE, &root_id, &bob_admin, None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_unauthorized(app.get("/users", Some(&root)).await, "invalid_token").await;
    assert_problem(send(&app, Method::DELETE, &bob.id, &bob_admin, None).await, 409, "last_admin").await;
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let root_id = admin_id(&app, &root).await;
    let bob = app.logged_in("bob@example.com").await;
    ok(send(&app, Method::PATCH, &bob.id, &root, Some(json!({"role": "admin"}))).await).await;
    let bob_admin = app.login("bob@example.com", PASSWORD).await.access;
    let demote = json!({"role": "user"});
    let (a, b) = tokio::join!(
        send(&app, Method::PATCH, &bob.id, &root, Some(demote.clone())),
        send(&app, Method::PATCH, &root_id, &bob_admin, Some(demote.clone())),
    );
    let (sa, sb) = (a.status().as_u16(), b.status().as_u16());
    let (ta, tb) = (a.text().await.unwrap(), b.text().await.unwrap());
    let mut statuses = [sa, sb];
    statuses.sort_unstable();
    // The loser's answer depends on timing: its demotion refused (409), its
    // target already no admin to see (404), or its own login ended by the
    // winner's demotion, which revokes the demoted admin's sessions (401).
    assert!(matches!(statuses, [200, 401 | 404 | 409]), "{sa} {ta} / {sb} {tb}");
    let admins: Value = app.list_users(&root, &[("role", "admin")]).await.json().await.unwrap();
    let admins = if admins["total"].is_null() {
        app.list_users(&bob_admin, &[("role", "admin")]).await.json().await.unwrap()
    } else {
        admins
    };
    assert_eq!(admins["total"], 1, "{admins}");
}
