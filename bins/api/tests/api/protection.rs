//! SPEC §9: rate limits on the auth routes, CSRF and Fetch Metadata, the
//! browser-origin check, and strict request bodies.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::categories::{json_with, send};
use crate::helpers::{TestApp, assert_problem, compressed, error_fields, header, spawn_app, spawn_app_with};

/// A wrong login for `email`, from `client`.
async fn bad_login(app: &TestApp, client: &reqwest::Client, email: &str) -> Response {
    client
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": "wrong password"}))
        .send()
        .await
        .unwrap()
}

async fn assert_limited(resp: Response) -> Value {
    let retry = header(resp.headers(), "retry-after").expect("Retry-After");
    assert!(retry.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)), "Retry-After: {retry}");
    assert!(header(resp.headers(), "ratelimit-policy").is_some() && header(resp.headers(), "ratelimit").is_some());
    assert_problem(resp, 429, "rate_limited").await
}

#[tokio::test]
async fn logins_are_limited_per_client_ip() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT", "3/min")]).await;
    let here = app.client_from("127.0.0.1");
    for n in 0..3 {
        let resp = bad_login(&app, &here, &format!("user{n}@example.com")).await;
        assert_eq!(header(resp.headers(), "ratelimit-policy").as_deref(), Some("\"ip\";q=3;w=60, \"email\";q=3;w=60"));
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let problem = assert_limited(bad_login(&app, &here, "user9@example.com").await).await;
    assert!(problem["detail"].as_str().unwrap().contains("Retry-After"), "{problem}");
    // Another client address has a budget of its own.
    let there = app.client_from("127.0.0.2");
    assert_eq!(bad_login(&app, &there, "user10@example.com").await.status(), StatusCode::UNAUTHORIZED);
    // Every auth route is limited; each has its own budget.
    for _ in 0..3 {
        let resp = here.post(app.url("/auth/refresh")).json(&json!({"refresh_token": "x"})).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(here.post(app.url("/auth/refresh")).json(&json!({"refresh_token": "x"})).send().await.unwrap())
        .await;
    // The verification link too: guessing tokens costs the same budget as guessing codes.
    for _ in 0..3 {
        let resp = here.get(app.url("/auth/verify?token=guess")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    let link = |accept: &'static str| here.get(app.url("/auth/verify?token=guess")).header("accept", accept).send();
    assert_limited(link("application/json").await.unwrap()).await;
    // Opened in a browser, the link answers with its page, which says how long to wait.
    let page = link("text/html").await.unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = header(page.headers(), "retry-after").expect("Retry-After");
    assert!(header(page.headers(), "content-type").unwrap().starts_with("text/html"));
    let page = page.text().await.unwrap();
    assert!(page.contains("Too many tries") && page.contains(&format!("Wait {retry} second")), "{page}");
    // The router decodes the path; so does the limiter: an encoded spelling
    // of a route is the same route, with the same spent budget.
    let spelled = app.client_from("127.0.0.3");
    for n in 0..3 {
        let resp = spelled
            .post(app.url("/auth/%6Cogin"))
            .json(&json!({"email": format!("spelled{n}@example.com"), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "the handler answers the encoded path");
    }
    assert_limited(bad_login(&app, &spelled, "spelled9@example.com").await).await;
    assert_limited(spelled.post(app.url("/auth/log%69n")).json(&json!({})).send().await.unwrap()).await;
}

#[tokio::test]
async fn signup_and_verify_are_limited_per_client_ip_and_per_address() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT", "3/min")]).await;
    let password = "correct horse battery";
    let signup = |client: &reqwest::Client, email: &str| {
        client.post(app.url("/auth/signup")).json(&json!({"email": email, "password": password})).send()
    };
    let verify = |client: &reqwest::Client, email: &str| {
        client.post(app.url("/auth/verify")).json(&json!({"email": email, "code": "000000"})).send()
    };
    // One client address: three sign-ups, then 429.
    let here = app.client_from("127.0.2.1");
    for n in 0..3 {
        assert_eq!(signup(&here, &format!("new{n}@example.com")).await.unwrap().status(), StatusCode::CREATED);
    }
    assert_limited(signup(&here, "new9@example.com").await.unwrap()).await;
    // One address from many client addresses: three, then 429.
    for n in 2..=4 {
        let status = signup(&app.client_from(&format!("127.0.2.{n}")), "taken@example.com").await.unwrap().status();
        assert!(matches!(status.as_u16(), 201 | 409), "{status}");
    }
    assert_limited(signup(&app.client_from("127.0.2.5"), "taken@example.com").await.unwrap()).await;
    // Verify has budgets of its own, per client address and per address.
    for n in 0..3 {
        assert_eq!(verify(&here, &format!("new{n}@example.com")).await.unwrap().status(), StatusCode::BAD_REQUEST);
    }
    assert_limited(verify(&here, "new3@example.com").await.unwrap()).await;
    for n in 6..=8 {
        let resp = verify(&app.client_from(&format!("127.0.2.{n}")), "taken@example.com").await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    assert_limited(verify(&app.client_from("127.0.2.9"), "taken@example.com").await.unwrap()).await;
}

#[tokio::test]
async fn an_address_is_limited_across_client_ips() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT", "3/min")]).await;
    for n in 1..=3 {
        let client = app.client_from(&format!("127.0.0.{n}"));
        assert_eq!(bad_login(&app, &client, "victim@example.com").await.status(), StatusCode::UNAUTHORIZED);
    }
    let fourth = app.client_from("127.0.0.4");
    let resp = bad_login(&app, &fourth, "Victim@Example.com").await;
    assert_eq!(header(resp.headers(), "ratelimit").map(|r| r.contains("\"email\";r=0")), Some(true));
    assert_limited(resp).await;
    // Named as `username` (the login takes it in JSON too), it is the same address.
    let fifth = app.client_from("127.0.0.5");
    let body = json!({"username": "victim@example.com", "password": "wrong password"});
    assert_limited(fifth.post(app.url("/auth/login")).json(&body).send().await.unwrap()).await;
    // Compressed, it is the same address: the limiter reads the body as the
    // handler does (a gzip body once spent only its IP's budget, so many IPs
    // could go on guessing one account's password).
    let body = json!({"email": "victim@example.com", "password": "wrong password"}).to_string();
    for (n, coding) in [(6, "gzip"), (7, "deflate")] {
        let client = app.client_from(&format!("127.0.0.{n}"));
        let resp = client
            .post(app.url("/auth/login"))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(compressed(coding, body.as_bytes()))
            .send()
            .await
            .unwrap();
        assert_limited(resp).await;
    }
    // Whatever else the body holds, read as the login reads it: a form that
    // is also a JSON string, and JSON with a field the login skips but a
    // generic JSON reader refuses, once spent only their IP's budget.
    let disguised = [
        ("application/x-www-form-urlencoded", r#""a=1&username=victim%40example.com&password=guess&b=2""#),
        ("application/json", r#"{"email":"victim@example.com","password":"guess","x":"\ud800"}"#),
    ];
    for (n, (media, body)) in disguised.into_iter().enumerate() {
        let client = app.client_from(&format!("127.0.0.{}", 8 + n));
        let resp = client.post(app.url("/auth/login")).header("content-type", media).body(body).send().await.unwrap();
        assert_limited(resp).await;
    }
    // Resends to one address from many places are limited alike, and still answer 202 when allowed.
    for n in 1..=3 {
        let client = app.client_from(&format!("127.0.1.{n}"));
        let resp = client
            .post(app.url("/auth/verify/resend"))
            .json(&json!({"email": "ann@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
    }
    let client = app.client_from("127.0.1.9");
    assert_limited(
        client.post(app.url("/auth/verify/resend")).json(&json!({"email": "ann@example.com"})).send().await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let untrusted = spawn_app_with(&[("AUTH_RATE_LIMIT", "2/min")]).await;
    for n in 0..2 {
        let resp = untrusted
            .client
            .post(untrusted.url("/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .json(&json!({"email": format!("u{n}@example.com"), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let spoofed = untrusted
        .client
        .post(untrusted.url("/auth/login"))
        .header("x-forwarded-for", "198.51.100.77")
        .json(&json!({"email": "u7@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_limited(spoofed).await;

    let proxied = spawn_app_with(&[("AUTH_RATE_LIMIT", "2/min"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for n in 0..4 {
        let resp = proxied
            .client
            .post(proxied.url("/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.5, 198.51.100.{n}"))
            .json(&json!({"email": format!("p{n}@example.com"), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "client {n} behind the proxy has its own budget");
    }
}

#[tokio::test]
async fn with_redis_every_replica_shares_the_budget_and_without_it_each_still_limits() {
    let Some(redis) = coffee_testkit::test_redis_url() else {
        eprintln!("note: the shared-budget part needs TEST_REDIS_URL; checking the fallback only");
        return fallback_still_limits().await;
    };
    let queue = format!("coffee-test:{}", uuid::Uuid::new_v4().simple());
    let settings = [("AUTH_RATE_LIMIT", "3/min"), ("REDIS_URL", redis.as_str()), ("JOBS_QUEUE", queue.as_str())];
    let (a, b) = (spawn_app_with(&settings).await, spawn_app_with(&settings).await);
    for (app, n) in [(&a, 1), (&b, 2), (&a, 3)] {
        assert_eq!(bad_login(app, &app.client, &format!("r{n}@example.com")).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(bad_login(&b, &b.client, "r4@example.com").await).await;
    fallback_still_limits().await;
}

/// Redis configured but unreachable: each replica limits on its own, and nothing answers 5xx.
async fn fallback_still_limits() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT", "3/min"), ("REDIS_URL", "redis://127.0.0.1:1")]).await;
    for n in 0..3 {
        assert_eq!(bad_login(&app, &app.client, &format!("f{n}@example.com")).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(bad_login(&app, &app.client, "f9@example.com").await).await;
}

// ---------------------------------------------------------------- CSRF, Fetch Metadata, origins

fn category(name: &str) -> Value {
    json!({"name": name})
}

#[tokio::test]
async fn a_request_with_cookies_needs_the_matching_csrf_header() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let post = |cookie: Option<&str>, token: Option<&str>, name: &str| {
        let mut req = app.request(Method::POST, "/categories", Some(&admin)).json(&category(name));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    for (cookie, token) in [
        (Some("session=abc"), None),
        (Some("csrf_token=s3cret"), None),
        (Some("csrf_token=s3cret"), Some("other")),
        (Some("theme=dark; csrf_token="), Some("")),
    ] {
        assert_problem(post(cookie, token, "Refused").await.unwrap(), 403, "csrf_failed").await;
    }
    let ok = post(Some("theme=dark; csrf_token=s3cret"), Some("s3cret"), "With cookie").await.unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(post(None, None, "Bearer only").await.unwrap().status(), StatusCode::CREATED);
}

#[tokio::test]
async fn every_state_changing_method_with_cookies_needs_the_csrf_header_and_changes_nothing_without_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = app.request(Method::POST, "/categories", Some(&admin)).json(&category("Tea")).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let path = format!("/categories/{}", created.json::<Value>().await.unwrap()["id"].as_str().unwrap());
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let refused = app
            .request(method.clone(), &path, Some(&admin))
            .header("cookie", "csrf_token=s3cret")
            .header("x-csrf-token", "other")
            .json(&category("Changed"))
            .send()
            .await
            .unwrap();
        assert_problem(refused, 403, "csrf_failed").await;
    }
    let kept = app.request(Method::GET, &path, None).send().await.unwrap();
    assert_eq!(kept.json::<Value>().await.unwrap()["name"], "Tea", "nothing changed, nothing deleted");
    let matching = app
        .request(Method::PATCH, &path, Some(&admin))
        .header("cookie", "csrf_token=s3cret")
        .header("x-csrf-token", "s3cret")
        .json(&category("Green tea"))
        .send()
        .await
        .unwrap();
    assert_eq!(matching.status(), StatusCode::OK);
}

#[tokio::test]
async fn cross_site_and_foreign_origin_writes_are_refused_and_answers_vary_by_them() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://shop.example")]).await;
    let admin = app.admin_token().await;
    let post = |extra: (&'static str, &'static str), name: &str| {
        app.request(Method::POST, "/categories", Some(&admin)).header(extra.0, extra.1).json(&category(name)).send()
    };
    assert_problem(post(("sec-fetch-site", "cross-site"), "A").await.unwrap(), 403, "csrf_failed").await;
    let refused = post(("origin", "https://evil.example"), "B").await.unwrap();
    assert!(header(refused.headers(), "vary").is_some_and(|v| v.contains("Sec-Fetch-Site")), "a refusal varies too");
    assert_problem(refused, 403, "csrf_failed").await;
    // A header line that is not text, or a second line, is not skipped.
    let unreadable = reqwest::header::HeaderValue::from_bytes(b"https://evil.example\x80").unwrap();
    let allowed = reqwest::header::HeaderValue::from_static("https://shop.example");
    let evil = reqwest::header::HeaderValue::from_static("https://evil.example");
    let same = reqwest::header::HeaderValue::from_static("same-origin");
    let cross = reqwest::header::HeaderValue::from_static("cross-site");
    for (n, lines) in [
        vec![("origin", unreadable)],
        vec![("origin", allowed), ("origin", evil)],
        vec![("sec-fetch-site", same), ("sec-fetch-site", cross)],
    ]
    .into_iter()
    .enumerate()
    {
        let resp = lines
            .into_iter()
            .fold(app.request(Method::POST, "/categories", Some(&admin)), |req, (name, value)| req.header(name, value));
        assert_problem(resp.json(&category(&format!("C{n}"))).send().await.unwrap(), 403, "csrf_failed").await;
    }
    // Only the socket routes let any origin through CORS (they judge it themselves).
    let preflight = app
        .request(Method::OPTIONS, "/wsx", None)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(header(preflight.headers(), "access-control-allow-origin").is_none(), "{preflight:?}");
    for allowed in [
        ("sec-fetch-site", "same-origin"),
        ("origin", "https://shop.example"),
        ("origin", crate::helpers::PUBLIC_BASE_URL),
    ] {
        let resp = post(allowed, allowed.1).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{allowed:?}");
        let vary = resp
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(", ");
        assert!(vary.contains("Origin") && vary.contains("Sec-Fetch-Site"), "Vary: {vary}");
    }
    // Reads from a foreign origin are not allowed by CORS either, but are not writes.
    let read =
        app.request(Method::GET, "/categories", None).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_apis_own_origin_comes_from_public_base_url_never_from_host() {
    let app = spawn_app().await;
    for (origin, host) in [("http://evil.example", "evil.example"), ("https://evil.example", "evil.example")] {
        let resp = app
            .request(Method::GET, "/health/live", None)
            .header("origin", origin)
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert!(header(resp.headers(), "access-control-allow-origin").is_none(), "{origin} was reflected");
        assert_eq!(resp.status(), StatusCode::OK, "a read is answered, for no page to see");
    }
}

// ---------------------------------------------------------------- strict bodies

#[tokio::test]
async fn json_bodies_are_one_object_and_null_is_not_absent() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let login = r#"{"email":"ann@example.com","password":"correct horse battery"}"#;
    for body in [format!("{login}garbage"), format!("{login}{login}"), format!("{login} 1")] {
        let resp = app.post_raw("/auth/login", "application/json", body.clone()).await;
        assert_problem(resp, 400, "malformed_request").await;
    }
    // Broken JSON is 400 even where its shape is wrong too (the shape error comes first as it is read).
    for body in ["{} x", r#"{"a":1,}"#, "{}}", "[1,]", r#"{"email":"a"} {"email":"b"}"#] {
        let resp = app.post_raw("/auth/login", "application/json", body.to_owned()).await;
        assert_problem(resp, 400, "malformed_request").await;
    }
    let raw = |method: Method, path: &str, token: &str, body: &'static str| {
        app.request(method, path, Some(token)).header("content-type", "application/json").body(body).send()
    };
    let problem =
        assert_problem(raw(Method::PATCH, "/me", &ann.token, r#"["Eve"]"#).await.unwrap(), 422, "validation_failed")
            .await;
    assert_eq!(error_fields(&problem), ["body"]);
    let problem = assert_problem(
        raw(Method::POST, "/categories", &admin, r#"["ArrayCat","desc"]"#).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["body"]);
    let product = json_with(
        send(&app, Method::POST, "/products", Some(&admin), Some(&json!({"name": "Latte", "price": 350}))).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/products/{}", product["id"].as_str().unwrap());
    for (field, value) in
        [("name", Value::Null), ("price", Value::Null), ("is_available", Value::Null), ("category_ids", Value::Null)]
    {
        let resp = send(&app, Method::PATCH, &path, Some(&admin), Some(&json!({field: value}))).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field]);
    }
    let resp = send(
        &app,
        Method::POST,
        "/products",
        Some(&admin),
        Some(&json!({"name": "Mocha", "price": 400, "is_available": null})),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(resp, 422, "validation_failed").await), ["is_available"]);
    let nested = json!({"items": [[product["id"], 1]]});
    let resp = send(&app, Method::POST, "/orders", Some(&ann.token), Some(&nested)).await;
    assert_eq!(error_fields(&assert_problem(resp, 422, "validation_failed").await), ["items[0]"]);
    let after = json_with(send(&app, Method::GET, &path, None, None).await, StatusCode::OK).await;
    assert_eq!((after["name"].as_str(), after["price"].as_i64()), (Some("Latte"), Some(350)), "nothing changed");
}

#[tokio::test]
async fn a_query_value_that_is_not_utf8_is_a_bad_request() {
    let app = spawn_app().await;
    assert_problem(app.get("/products?search=%FF", None).await, 400, "malformed_request").await;
    assert_problem(app.get("/categories?name%C3=x", None).await, 400, "malformed_request").await;
    assert_eq!(app.get("/products?search=caf%C3%A9", None).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------- sessions follow the account

#[tokio::test]
async fn refresh_tokens_stop_working_when_an_admin_changes_the_account() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases: [(&str, Option<Value>); 4] = [
        ("unverified@example.com", Some(json!({"is_verified": false}))),
        ("promoted@example.com", Some(json!({"role": "admin"}))),
        ("moved@example.com", Some(json!({"email": "moved.elsewhere@example.com"}))),
        ("deleted@example.com", None),
    ];
    for (email, change) in cases {
        let user = app.logged_in(email).await;
        let tokens = app.login(email, crate::helpers::PASSWORD).await;
        let path = format!("/users/{}", user.id);
        let resp = match &change {
            Some(body) => send(&app, Method::PATCH, &path, Some(&admin), Some(body)).await,
            None => send(&app, Method::DELETE, &path, Some(&admin), None).await,
        };
        assert!(resp.status().is_success(), "{email}: {}", resp.status());
        crate::helpers::assert_unauthorized(app.refresh(&tokens.refresh).await, "invalid_token").await;
    }
    // A change of the profile alone keeps the sessions.
    let ann = app.logged_in("ann@example.com").await;
    let tokens = app.login("ann@example.com", crate::helpers::PASSWORD).await;
    send(&app, Method::PATCH, &format!("/users/{}", ann.id), Some(&admin), Some(&json!({"first_name": "Ann"}))).await;
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------- Unicode search, busy database

#[tokio::test]
async fn search_folds_case_beyond_ascii_on_every_backend() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (name, description) in [("КОФЕ Латте", "Молоко"), ("Éclair", "Crème pâtissière"), ("Straße Brew", "ß")]
    {
        let body = json!({"name": name, "price": 300, "description": description});
        json_with(send(&app, Method::POST, "/products", Some(&admin), Some(&body)).await, StatusCode::CREATED).await;
    }
    let names = |query: &'static str| {
        let app = &app;
        async move {
            let page = json_with(app.get(&format!("/products?{query}&sort=name"), None).await, StatusCode::OK).await;
            page["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(names("search=%D0%BA%D0%BE%D1%84%D0%B5").await, ["КОФЕ Латте"], "кофе");
    assert_eq!(names("search=%C3%A9clair").await, ["Éclair"], "éclair");
    assert_eq!(names("search=CR%C3%88ME").await, ["Éclair"], "CRÈME (description)");
    assert_eq!(names("name__contains=%D0%9B%D0%90%D0%A2").await, ["КОФЕ Латте"], "ЛАТ");
    assert_eq!(names("search=STRASSE").await, Vec::<String>::new(), "folding is lower-casing, not ß → ss");
    // The same for people's names.
    let ann = app.logged_in("zoe@example.com").await;
    send(&app, Method::PATCH, "/me", Some(&ann.token), Some(&json!({"first_name": "Zoë", "last_name": "ÖZTÜRK"})))
        .await;
    let found = json_with(app.list_users(&admin, &[("search", "öztürk")]).await, StatusCode::OK).await;
    assert_eq!(found["total"], 1);
}

#[tokio::test]
async fn a_busy_sqlite_database_answers_503_with_retry_after() {
    let app = spawn_app().await;
    if app.backend() != coffee_testkit::Backend::Sqlite {
        return;
    }
    let admin = app.admin_token().await;
    // Another process holds SQLite's write lock.
    let other = sea_orm::Database::connect(app.database_url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    other.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
    let resp = send(&app, Method::POST, "/categories", Some(&admin), Some(&category("Blocked"))).await;
    assert_eq!(header(resp.headers(), "retry-after").as_deref(), Some("5"));
    assert_problem(resp, 503, "service_unavailable").await;
    other.execute_unprepared("ROLLBACK").await.unwrap();
    let resp = send(&app, Method::POST, "/categories", Some(&admin), Some(&category("Unblocked"))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_browser_page_can_read_the_guards_refusals() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT", "1/min"), ("CORS_ORIGINS", "https://shop.example")]).await;
    let login = || {
        app.request(Method::POST, "/auth/login", None)
            .header("origin", "https://shop.example")
            .json(&json!({"email": "ann@example.com", "password": "wrong password"}))
            .send()
    };
    assert_eq!(login().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let limited = login().await.unwrap();
    assert_eq!(header(limited.headers(), "access-control-allow-origin").as_deref(), Some("https://shop.example"));
    let exposed = header(limited.headers(), "access-control-expose-headers").unwrap_or_default().to_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert_limited(limited).await;
    let cross_site = app
        .request(Method::POST, "/auth/verify/resend", None)
        .header("origin", "https://shop.example")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"email": "ann@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(cross_site.headers(), "access-control-allow-origin").as_deref(), Some("https://shop.example"));
    assert_problem(cross_site, 403, "csrf_failed").await;
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    // The headers and 8 of the 100 announced bytes, then nothing.
    stream.write_all(format!("{head}{{\"email\"").as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = vec![0; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut response))
        .await
        .expect("an answer within 20 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response[..n]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(text.contains("request_timeout") && text.contains("x-request-id"), "{text}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(9), "cut off only after the body timeout");
}

/// A chunked body the server answers before it ends (a GET that reads no
/// body, a 401 before the body is read) ends its connection with the
/// answer: one client could otherwise hold connections open forever.
#[tokio::test]
async fn a_chunked_request_answered_early_ends_its_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    for (head, status) in [
        (format!("GET /health/live HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"), "200"),
        (
            format!(
                "PATCH /me HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n"
            ),
            "401",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // The answer, then the end of the stream (well before the 5 s keep-alive).
        let mut response = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(3), stream.read_to_end(&mut response)).await;
        let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
        assert!(read.is_ok(), "the connection is still open after the answer: {text}");
        assert!(text.starts_with(&format!("http/1.1 {status}")), "{text}");
        assert!(text.contains("connection: close"), "{text}");
    }
}

#[tokio::test]
async fn a_refused_content_coding_is_a_406_problem_that_says_406() {
    let app = spawn_app().await;
    let resp = app.request(reqwest::Method::GET, "/info", None).header("accept-encoding", "identity;q=0").send().await;
    let problem = assert_problem(resp.unwrap(), 406, "not_acceptable").await;
    assert_eq!(problem["status"], 406);
}
