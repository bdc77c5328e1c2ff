//! PostgreSQL going away and coming back (SPEC §3: a dependency that is down
//! is a 503 `service_unavailable` with `Retry-After`, never a 500), with no
//! restart of the app. The database sits behind a [`TcpProxy`] the test cuts,
//! so the CI machine's shared PostgreSQL keeps running for other tests.

use std::time::{Duration, Instant};

use coffee_testkit::{TcpProxy, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// How long the database stays away; each request must still be answered
/// well inside it (the pool's connect timeout is 5 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(8);

#[tokio::test]
async fn postgres_down_is_a_503_everywhere_and_the_app_recovers_by_itself() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("PostgreSQL outage: needs TEST_DATABASE_URL (CI sets it); SQLite cannot go away");
        return;
    };
    let mut url = url::Url::parse(&db.url).expect("a database URL");
    let upstream = format!("{}:{}", url.host_str().expect("a host"), url.port().unwrap_or(5432));
    let proxy = TcpProxy::start(&upstream).await;
    url.set_host(Some("127.0.0.1")).expect("an IP host");
    url.set_port(Some(proxy.addr().port())).expect("a port");
    let app = spawn_on(db, &[("DATABASE_URL", url.as_str())]).await;
    let admin = app.admin_token().await;
    let customer = app.logged_in("outage@example.com").await;
    assert_eq!(app.get("/products", None).await.status(), StatusCode::OK);

    proxy.cut();
    for (method, path, token, body) in [
        (Method::GET, "/products", None, None),
        (Method::GET, "/me", Some(customer.token.as_str()), None),
        (Method::GET, "/orders", Some(admin.as_str()), None),
        (Method::POST, "/categories", Some(admin.as_str()), Some(json!({"name": "Outage"}))),
        (Method::POST, "/auth/login", None, Some(json!({"email": "outage@example.com", "password": PASSWORD}))),
    ] {
        let started = Instant::now();
        let mut request = app.request(method.clone(), path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.expect("the app answers while PostgreSQL is down");
        assert!(started.elapsed() < ANSWER_WITHIN, "{method} {path} took {:?}", started.elapsed());
        let retry_after = header(resp.headers(), "retry-after");
        let problem = assert_problem(resp, 503, "service_unavailable").await;
        assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()), "{method} {path}: Retry-After in seconds");
        let text = problem.to_string();
        assert!(!text.contains("sqlx") && !text.contains("connection"), "no internals leak: {text}");
    }
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/health/live", None).await.status(), StatusCode::OK, "the process itself is fine");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let products = app.get("/products", None).await.status();
        let ready = app.get("/health/ready", None).await.status();
        if products == StatusCode::OK && ready == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "not recovered 20 s after PostgreSQL returned: {products}, ready {ready}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = app.send_json(Method::POST, "/categories", Some(&admin), &json!({"name": "After the outage"})).await;
    assert_eq!(created.status(), StatusCode::CREATED, "writes work again without a restart");
    assert_eq!(app.get("/me", Some(&customer.token)).await.status(), StatusCode::OK);
}
