//! `POST /auth/verify`, `GET /auth/verify?token=…` and `POST /auth/verify/resend`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, PUBLIC_BASE_URL, TestApp, assert_problem, error_fields, header, spawn_app, spawn_app_with,
};

/// The `token` of the verification link in the first mail to `email`.
async fn link_token(app: &TestApp, email: &str) -> String {
    let link = app.mail_to(email).await.verification_link().expect("a verification link");
    link.split_once("token=").expect("a token parameter").1.to_owned()
}

/// A 6-digit code that is not `code`.
fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn signup_sends_a_mail_with_a_six_digit_code_and_a_link_to_the_public_base_url() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let mail = app.mail_to("ann@example.com").await;
    let code = mail.verification_code().expect("a code");
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let link = mail.verification_link().expect("a link");
    let prefix = format!("{PUBLIC_BASE_URL}/auth/verify?token=");
    assert!(link.starts_with(&prefix), "{link}");
    assert!(link.len() > prefix.len() + 16, "the token is long enough to be unguessable: {link}");
    assert!(!mail.data.contains(PASSWORD), "the mail must not contain the password");
}

#[tokio::test]
async fn verifying_with_the_mailed_code_verifies_the_user() {
    let app = spawn_app().await;
    app.signup("Ann@Example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    // The address may be typed in another case; the code may carry spaces.
    let resp = app.post_json("/auth/verify", &json!({"email": "ANN@example.com", "code": format!(" {code} ")})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let user: Value = resp.json().await.unwrap();
    crate::signup::assert_user_shape(&user);
    assert_eq!(user["is_verified"], true);
    assert!(user["verified_at"].is_string(), "{user}");
    // Now the user can log in.
    app.login("ann@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_400() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": wrong(&code)})).await;
    assert_problem(resp, 400, "invalid_verification_code").await;
    // An unknown address gives the same answer.
    let resp = app.post_json("/auth/verify", &json!({"email": "nobody@example.com", "code": code})).await;
    assert_problem(resp, 400, "invalid_verification_code").await;
    // The right code still works after one mistake.
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": code})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_verify_body_that_is_neither_code_nor_token_is_refused_with_422() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"email": "ann@example.com"}),
        json!({"email": "ann@example.com", "code": "12345"}),
        json!({"email": "ann@example.com", "code": "abcdef"}),
        json!({"email": "ann@example.com", "code": "123456", "token": "x"}),
        json!({"token": "   "}),
    ] {
        let resp = app.post_json("/auth/verify", &body).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert!(!error_fields(&problem).is_empty(), "{body} → {problem}");
    }
}

#[tokio::test]
async fn five_wrong_codes_invalidate_the_code_with_429_and_retry_after() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    let bad = json!({"email": "ann@example.com", "code": wrong(&code)});
    for _ in 0..4 {
        assert_problem(app.post_json("/auth/verify", &bad).await, 400, "invalid_verification_code").await;
    }
    let resp = app.post_json("/auth/verify", &bad).await;
    let retry_after = header(resp.headers(), "retry-after").expect("a Retry-After header");
    let secs: u64 = retry_after.parse().expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs} is within the resend cooldown");
    assert_problem(resp, 429, "too_many_attempts").await;
    // The right code no longer works either.
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": code})).await;
    assert_problem(resp, 429, "too_many_attempts").await;
    let resp = app.try_login("ann@example.com", PASSWORD).await;
    assert_problem(resp, 403, "email_not_verified").await;
}

#[tokio::test]
async fn verifying_an_already_verified_address_gives_409() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    let body = json!({"email": "ann@example.com", "code": code});
    assert_eq!(app.post_json("/auth/verify", &body).await.status(), StatusCode::OK);
    assert_problem(app.post_json("/auth/verify", &body).await, 409, "already_verified").await;
    let token = link_token(&app, "ann@example.com").await;
    let resp = app.post_json("/auth/verify", &json!({"token": token})).await;
    assert_problem(resp, 409, "already_verified").await;
}

#[tokio::test]
async fn verifying_with_the_link_token_in_a_post_body_works() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let token = link_token(&app, "ann@example.com").await;
    let resp = app.post_json("/auth/verify", &json!({"token": token})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let user: Value = resp.json().await.unwrap();
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["is_verified"], true);
    let resp = app.post_json("/auth/verify", &json!({"token": format!("{token}x")})).await;
    assert_problem(resp, 400, "invalid_verification_code").await;
}

#[tokio::test]
async fn opening_the_link_shows_a_success_page_and_again_still_does() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let token = link_token(&app, "ann@example.com").await;
    let path = format!("/auth/verify?token={token}");
    for expected in ["Your e-mail address is verified", "This address is already verified"] {
        let resp = app.request(reqwest::Method::GET, &path, None).header(ACCEPT, "text/html").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let content_type = header(resp.headers(), "content-type").unwrap();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let csp = header(resp.headers(), "content-security-policy").unwrap();
        let page = resp.text().await.unwrap();
        assert_page(&page, &csp, expected);
        assert!(page.contains("log in"), "the page says what to do next: {page}");
    }
    // A browser's usual Accept header also gets the page.
    let resp = app
        .request(reqwest::Method::GET, &path, None)
        .header(ACCEPT, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("text/html"));
    // A JSON client opening it again still gets a success (SPEC §4), which
    // says the address is verified and never shows the account (whoever
    // holds the link could read it for as long as it is kept). A client
    // that accepts problem documents is a JSON client too.
    for accept in ["application/json", "application/problem+json"] {
        let resp = app.request(reqwest::Method::GET, &path, None).header(ACCEPT, accept).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{accept}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"detail": "This e-mail address is verified; log in."}), "{accept}");
    }
    app.login("ann@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_json_client_opening_the_link_first_gets_the_verified_user() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let token = link_token(&app, "ann@example.com").await;
    let path = format!("/auth/verify?token={token}");
    let resp = app.request(reqwest::Method::GET, &path, None).header(ACCEPT, "application/json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("application/json"));
    let user: Value = resp.json().await.unwrap();
    assert_eq!((user["email"].as_str(), user["is_verified"].as_bool()), (Some("ann@example.com"), Some(true)));
    let resp = app.request(reqwest::Method::GET, &path, None).header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the page still shows success");
}

#[tokio::test]
async fn an_address_an_admin_unverified_is_proven_with_a_new_code_not_the_old_link() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let token = link_token(&app, "ann@example.com").await;
    let path = format!("/auth/verify?token={token}");
    let json = |path: String| app.request(reqwest::Method::GET, &path, None).header(ACCEPT, "application/json").send();
    assert_eq!(json(path.clone()).await.unwrap().status(), StatusCode::OK);
    let ann = app.login("ann@example.com", PASSWORD).await;
    let me: Value = app.get("/me", Some(&ann.access)).await.json().await.unwrap();
    let admin = app.admin_token().await;
    let unverify = app
        .request(reqwest::Method::PATCH, &format!("/users/{}", me["id"].as_str().unwrap()), Some(&admin))
        .json(&json!({"is_verified": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(unverify.status(), StatusCode::OK);

    assert_problem(json(path).await.unwrap(), 400, "invalid_verification_code").await;
    let resend = app.post_json("/auth/verify/resend", &json!({"email": "ann@example.com"})).await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    let code = app.nth_mail_to("ann@example.com", 2).await.verification_code().expect("a new code");
    let verify = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": code})).await;
    assert_eq!(verify.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_link_shows_an_error_page_or_a_problem_when_json_is_asked() {
    let app = spawn_app().await;
    let resp = app.get("/auth/verify?token=not-a-real-token", None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("text/html"));
    assert!(header(resp.headers(), "x-request-id").is_some());
    let csp = header(resp.headers(), "content-security-policy").unwrap();
    let page = resp.text().await.unwrap();
    assert_page(&page, &csp, "This link is no longer valid");
    assert!(!page.contains("not-a-real-token"), "{page}");
    assert!(page.contains("new verification code"), "the next step: {page}");
    // Someone who verified with this link before its record was purged is told they are done.
    assert!(page.contains("nothing more to do: log in"), "{page}");
    let resp = app
        .request(reqwest::Method::GET, "/auth/verify?token=not-a-real-token", None)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "invalid_verification_code").await;
    // Without a token at all (a link cut short): its own page, not a raw error.
    for path in ["/auth/verify", "/auth/verify?token=", "/auth/verify?token=%20"] {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        let csp = header(resp.headers(), "content-security-policy").unwrap();
        let page = resp.text().await.unwrap();
        assert_page(&page, &csp, "This link is incomplete");
        assert!(page.contains("6-digit code"), "{page}");
    }
    // A token given twice (no link of ours): a problem naming the query, in our words.
    let problem = assert_problem(app.get("/auth/verify?token=a&token=b", None).await, 400, "invalid_query").await;
    assert_eq!(error_fields(&problem), ["query"]);
    assert!(!problem.to_string().contains("deserialize"), "{problem}");
}

/// A verification page: the shop's name, the heading, readable on a phone,
/// and a policy that allows its own inline style by hash and nothing else.
fn assert_page(page: &str, csp: &str, heading: &str) {
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains(&format!("<h1>{heading}</h1>")), "expected {heading:?}: {page}");
    assert!(page.contains("name=\"viewport\""), "mobile-friendly: {page}");
    let shop = coffee_app::SAMPLE_SHOP_INFO.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"');
    assert!(page.contains(shop), "the shop's name {shop:?}: {page}");
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "{page}");
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
    let style = page.split("<style>").nth(1).and_then(|s| s.split("</style>").next()).unwrap();
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert!(csp.contains(&format!("'sha256-{hash}'")), "the policy allows exactly the page's style: {csp}");
}

#[tokio::test]
async fn resend_answers_202_for_unknown_addresses_and_sends_them_nothing() {
    let app = spawn_app().await;
    let resp = app.post_json("/auth/verify/resend", &json!({"email": "nobody@example.com"})).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let unknown: Value = resp.json().await.unwrap();
    // A verified account gets the very same answer and no mail either.
    let resp = app.post_json("/auth/verify/resend", &json!({"email": crate::helpers::ADMIN_EMAIL})).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let verified: Value = resp.json().await.unwrap();
    assert_eq!(unknown, verified);
    app.settle().await;
    assert!(app.mail.messages().is_empty(), "mail was sent: {:?}", app.mail.messages());
    // An invalid address is a validation error, not an enumeration oracle.
    let resp = app.post_json("/auth/verify/resend", &json!({"email": "nope"})).await;
    assert_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn resend_within_the_cooldown_sends_no_new_mail() {
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    let resp = app.post_json("/auth/verify/resend", &json!({"email": "ann@example.com"})).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    app.settle().await;
    assert_eq!(app.mails_to("ann@example.com").len(), 1);
    // The first code is still the valid one.
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": code})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn resend_after_the_cooldown_sends_a_new_code_that_replaces_the_old_one() {
    let app = spawn_app_with(&[("VERIFICATION_RESEND_COOLDOWN", "1s")]).await;
    app.signup("ann@example.com", PASSWORD).await;
    let first = app.nth_mail_to("ann@example.com", 1).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resp = app.post_json("/auth/verify/resend", &json!({"email": "Ann@Example.com"})).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let second = app.nth_mail_to("ann@example.com", 2).await;
    let (old_code, new_code) = (first.verification_code().unwrap(), second.verification_code().unwrap());
    assert_ne!(first.verification_link(), second.verification_link(), "the link is replaced too");
    if old_code != new_code {
        let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": old_code})).await;
        assert_problem(resp, 400, "invalid_verification_code").await;
    }
    let old_token = first.verification_link().unwrap().split_once("token=").unwrap().1.to_owned();
    let resp = app.post_json("/auth/verify", &json!({"token": old_token})).await;
    assert_problem(resp, 400, "invalid_verification_code").await;
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": new_code})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_code_resets_the_wrong_attempts() {
    let app = spawn_app_with(&[("VERIFICATION_RESEND_COOLDOWN", "1s")]).await;
    app.signup("ann@example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    let bad = json!({"email": "ann@example.com", "code": wrong(&code)});
    for _ in 0..4 {
        app.post_json("/auth/verify", &bad).await;
    }
    assert_problem(app.post_json("/auth/verify", &bad).await, 429, "too_many_attempts").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.post_json("/auth/verify/resend", &json!({"email": "ann@example.com"})).await;
    let new_code = app.nth_mail_to("ann@example.com", 2).await.verification_code().unwrap();
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": new_code})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_code_or_link_is_refused() {
    let app = spawn_app_with(&[("VERIFICATION_CODE_TTL", "1s")]).await;
    app.signup("ann@example.com", PASSWORD).await;
    let code = app.code_for("ann@example.com").await;
    let token = link_token(&app, "ann@example.com").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resp = app.post_json("/auth/verify", &json!({"email": "ann@example.com", "code": code})).await;
    assert_problem(resp, 400, "invalid_verification_code").await;
    let resp = app.post_json("/auth/verify", &json!({"token": token})).await;
    assert_problem(resp, 400, "invalid_verification_code").await;
    let resp = app.get(&format!("/auth/verify?token={token}"), None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_problem(app.try_login("ann@example.com", PASSWORD).await, 403, "email_not_verified").await;
}

#[tokio::test]
async fn the_verification_pages_render_in_a_browser_without_a_policy_violation() {
    let Some(browser) = coffee_testkit::Browser::launch_or_skip().await else { return };
    let app = spawn_app().await;
    app.signup("ann@example.com", PASSWORD).await;
    let token = link_token(&app, "ann@example.com").await;
    for (path, heading) in [
        (format!("/auth/verify?token={token}"), "Your e-mail address is verified"),
        (format!("/auth/verify?token={token}"), "This address is already verified"),
        ("/auth/verify?token=expired-or-unknown".to_owned(), "This link is no longer valid"),
        ("/auth/verify".to_owned(), "This link is incomplete"),
    ] {
        let page = browser.open(&format!("{}{path}", app.address)).await.unwrap();
        page.wait_for("h1", Duration::from_secs(10)).await.unwrap();
        assert_eq!(page.text("h1").await.unwrap(), heading);
        // The inline style applied (the policy's hash matched): the card is centred.
        let align = page.eval("getComputedStyle(document.querySelector('main')).textAlign").await.unwrap();
        assert_eq!(align, "center", "{path}: the page's style was blocked");
    }
    let seen = browser.observations().await;
    assert!(seen.csp_violations.is_empty(), "{:?}", seen.csp_violations);
    assert!(seen.outside_requests(&app.address).is_empty(), "{:?}", seen.requests);
    // The two error pages answer 400 on purpose; Chromium logs that, nothing else.
    let unexpected: Vec<_> = seen.console_errors.iter().filter(|e| !e.contains("status of 400")).collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert_eq!(seen.console_errors.len(), 2, "{:?}", seen.console_errors);
}
