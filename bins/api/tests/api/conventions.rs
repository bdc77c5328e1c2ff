//! Conventions every route follows: request ids, problem+json for framework
//! errors, security headers and the browser-origin check.

use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{PUBLIC_BASE_URL, TestApp, assert_problem, header, spawn_app, spawn_app_with};

/// A few requests that end in very different ways.
async fn assorted_responses(app: &TestApp) -> Vec<(String, Response)> {
    let mut out = Vec::new();
    for (method, path, body) in [
        (Method::GET, "/health/live", None),
        (Method::GET, "/openapi.json", None),
        (Method::GET, "/no/such/route", None),
        (Method::DELETE, "/me", None),
        (Method::GET, "/me", None),
        (Method::POST, "/auth/login", Some(json!({"email": "x"}))),
        (Method::POST, "/auth/verify/resend", Some(json!({"email": "nobody@example.com"}))),
        (Method::GET, "/auth/verify?token=nope", None),
    ] {
        let mut req = app.request(method.clone(), path, None);
        if let Some(b) = body {
            req = req.json(&b);
        }
        out.push((format!("{method} {path}"), req.send().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (what, resp) in assorted_responses(&app).await {
        let id = header(resp.headers(), "x-request-id").unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
        assert!(!id.is_empty(), "{what}");
        assert!(!ids.contains(&id), "{what}: request id {id} repeated");
        ids.push(id);
    }
}

#[tokio::test]
async fn a_sent_request_id_is_echoed_in_the_header_and_the_problem() {
    let app = spawn_app().await;
    let resp = app.request(Method::GET, "/health/live", None).header("x-request-id", "trace-abc-123").send().await;
    assert_eq!(header(resp.unwrap().headers(), "x-request-id").as_deref(), Some("trace-abc-123"));
    let resp = app.request(Method::GET, "/no/such/route", None).header("x-request-id", "trace-404").send().await;
    let problem = assert_problem(resp.unwrap(), 404, "not_found").await;
    assert_eq!(problem["request_id"], "trace-404");
    let resp = app.request(Method::GET, "/me", None).header("x-request-id", "trace-401").send().await.unwrap();
    assert_eq!(assert_problem(resp, 401, "missing_token").await["request_id"], "trace-401");
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced() {
    let app = spawn_app().await;
    for bad in ["x".repeat(500), "has space".to_owned(), String::new()] {
        let resp = app.request(Method::GET, "/health/live", None).header("x-request-id", &bad).send().await.unwrap();
        let id = header(resp.headers(), "x-request-id").unwrap();
        assert!(!id.is_empty() && id != bad, "{bad:?} was kept");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_problems() {
    let app = spawn_app().await;
    assert_problem(app.get("/no/such/route", None).await, 404, "not_found").await;
    assert_problem(app.get("/users/", None).await, 404, "not_found").await;
    let some_id = uuid::Uuid::now_v7().to_string();
    for (method, path, allow) in [
        (Method::DELETE, "/me".to_owned(), "GET, HEAD, PATCH"),
        (Method::DELETE, "/auth/verify".to_owned(), "POST, GET, HEAD"),
        (Method::POST, format!("/users/{some_id}"), "GET, HEAD, PATCH, PUT, DELETE"),
        (Method::GET, "/auth/login".to_owned(), "POST"),
    ] {
        let resp = app.request(method.clone(), &path, None).send().await.unwrap();
        let allowed = header(resp.headers(), "allow").unwrap_or_default();
        let mut allowed: Vec<&str> = allowed.split(',').map(str::trim).collect();
        let mut expected: Vec<&str> = allow.split(", ").collect();
        allowed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(allowed, expected, "{method} {path}: Allow");
        assert_problem(resp, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn a_wrong_method_on_any_existing_route_gives_405() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/auth/signup"),
        (Method::GET, "/auth/login"),
        (Method::POST, "/users"),
        (Method::POST, "/health/live"),
        (Method::DELETE, "/openapi.json"),
        (Method::POST, "/ws"),
        (Method::PUT, "/ws/support"),
    ] {
        let resp = app.request(method.clone(), path, None).send().await.unwrap();
        assert_problem(resp, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let app = spawn_app().await;
    for (what, resp) in assorted_responses(&app).await {
        let h = resp.headers();
        assert_eq!(header(h, "x-content-type-options").as_deref(), Some("nosniff"), "{what}");
        assert_eq!(header(h, "x-frame-options").as_deref(), Some("DENY"), "{what}");
        assert_eq!(header(h, "referrer-policy").as_deref(), Some("no-referrer"), "{what}");
        let csp = header(h, "content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
        assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    }
}

#[tokio::test]
async fn a_browser_origin_outside_the_allow_list_gets_no_cors_headers() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://shop.example")]).await;
    // Answered, but without the headers that would let the page read it.
    let resp = app.request(Method::GET, "/health/live", None).header("origin", "https://evil.example").send().await;
    let resp = resp.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "access-control-allow-origin").is_none());
    let resp = app.post_json("/auth/verify/resend", &json!({"email": "a@example.com"})).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED, "requests without Origin are unaffected");
    for origin in ["https://shop.example", PUBLIC_BASE_URL] {
        let resp = app.request(Method::GET, "/health/live", None).header("origin", origin).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{origin}");
        assert_eq!(header(resp.headers(), "access-control-allow-origin").as_deref(), Some(origin));
        // CORS and the CSRF guard both vary on Origin: one Vary header, each field once.
        let vary: Vec<&str> = resp.headers().get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(vary.len(), 1, "{vary:?}");
        let fields: Vec<String> = vary[0].split(',').map(|f| f.trim().to_ascii_lowercase()).collect();
        assert!(fields.contains(&"origin".to_owned()) && fields.contains(&"sec-fetch-site".to_owned()), "{fields:?}");
        let mut unique = fields.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), fields.len(), "{fields:?}");
    }
    let preflight = app
        .request(Method::OPTIONS, "/me", None)
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    let methods = header(preflight.headers(), "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("PATCH"), "{methods}");
    // Every request header the API reads may be sent from an allowed page
    // (`If-None-Match` once had its preflight refused).
    let read =
        "authorization, content-type, accept, if-match, if-none-match, idempotency-key, x-csrf-token, x-request-id";
    let preflight = app
        .request(Method::OPTIONS, "/orders/0190a0a0-0000-7000-8000-000000000000", None)
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", read)
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK, "{read}");
    let evil_preflight = app
        .request(Method::OPTIONS, "/me", None)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "PATCH")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_preflight.status(), StatusCode::BAD_REQUEST);
    assert!(header(evil_preflight.headers(), "access-control-allow-origin").is_none());
    // Errors made outside the handlers are readable by an allowed page too.
    let shop = |method: Method, path: &str| app.request(method, path, None).header("origin", "https://shop.example");
    let not_allowed = shop(Method::PUT, "/health/live").send().await.unwrap();
    assert_eq!(not_allowed.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(not_allowed.headers(), "access-control-allow-origin").as_deref(), Some("https://shop.example"));
}

#[tokio::test]
async fn head_answers_as_get_does_without_the_body() {
    let app = spawn_app().await;
    let get = app.request(Method::GET, "/products", None).send().await.unwrap();
    let length = header(get.headers(), "content-length");
    assert!(length.is_some(), "GET /products sends a Content-Length");
    let head = app.request(Method::HEAD, "/products", None).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(head.headers(), "content-type").as_deref(), Some("application/json"));
    assert_eq!(header(head.headers(), "content-length"), length, "the length of the body GET sends");
    assert!(head.bytes().await.unwrap().is_empty());
    // Rules hold as for GET: a protected list still needs a token.
    let orders = app.request(Method::HEAD, "/orders", None).send().await.unwrap();
    assert_eq!(orders.status(), StatusCode::UNAUTHORIZED);
    // Only GET routes answer HEAD.
    let login = app.request(Method::HEAD, "/auth/login", None).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// A caller who may not make a request is told so before anything about
/// what the request holds: 401 or 403 comes before the 400, 415 or 422 its
/// body or query would earn (actix extracts a handler's arguments
/// together, and the access check is the one that reads the database).
#[tokio::test]
async fn who_may_not_ask_is_told_so_before_what_is_wrong_with_the_request() {
    let app = spawn_app().await;
    let ann = app.logged_in("ann@example.com").await;
    let nowhere = "/products/0193a7d4-0000-7000-8000-000000000000";
    for (method, path, content_type, body) in [
        (Method::POST, "/categories", "application/json", "{not json"),
        (Method::POST, "/categories", "text/plain", "Cakes"),
        (Method::PUT, nowhere, "application/json", "[]"),
        (Method::PATCH, nowhere, "application/json", r#"{"price": "free"}"#),
        (Method::GET, "/users?page=0", "application/json", ""),
    ] {
        let resp = app.request(method.clone(), path, Some(&ann.token)).header("content-type", content_type).body(body);
        let problem = assert_problem(resp.send().await.unwrap(), 403, "forbidden").await;
        assert_eq!(problem["status"], 403, "{method} {path}: {problem}");
    }

    // A session that ended: 401 whatever the body.
    let t = app.login("ann@example.com", crate::helpers::PASSWORD).await;
    let logout = app.post_json("/auth/logout", &json!({"refresh_token": t.refresh})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let order = "/orders/0193a7d4-0000-7000-8000-000000000000";
    for (method, path, body, if_match) in [
        (Method::POST, "/orders", "{not json", "*"),
        (Method::POST, "/cart", "[1, 2]", "*"),
        (Method::PATCH, "/me", "[]", "*"),
        (Method::PATCH, order, "{}", "not an entity tag"),
    ] {
        let resp = app
            .request(method, path, Some(&t.access))
            .header("content-type", "application/json")
            .header("if-match", if_match)
            .body(body);
        crate::helpers::assert_unauthorized(resp.send().await.unwrap(), "invalid_token").await;
    }
}
