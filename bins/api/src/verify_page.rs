//! The pages a person sees after opening the link in a verification mail
//! (`GET /auth/verify?token=…` in a browser): verified, already verified,
//! link not valid, link incomplete. Small, styled, readable on a phone, with
//! the shop's name and a next step; no script, no request elsewhere, and a
//! policy that allows exactly the page's own inline style (by its hash).

use std::borrow::Cow;
use std::sync::LazyLock;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use coffee_domain::shop::ShopInfo;
use coffee_domain::text::escape_html;
use sha2::{Digest, Sha256};

/// What the link did, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This opening verified the address.
    Verified,
    /// The address was verified before (a second click, a mail scanner).
    AlreadyVerified,
    /// Unknown, expired or superseded token.
    NotValid,
    /// No token in the URL (a link cut short by a mail client).
    Incomplete,
    /// Over `AUTH_RATE_LIMIT`: the link may be opened again after this many seconds.
    TooManyTries {
        /// Seconds until the budget allows another try (`Retry-After`).
        retry_after: u64,
    },
}

/// Whether the client that opened the link wants JSON (it accepts
/// `application/json` or `application/problem+json`, and not HTML) rather
/// than the page.
pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| (a.contains("application/json") || a.contains("+json")) && !a.contains("text/html"))
}

const STYLE: &str = "\
:root{color-scheme:light dark;--accent:#6f4e37;--muted:#6b6b6b}\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
background:#f6f1eb;color:#222;display:flex;min-height:100vh;align-items:center;justify-content:center;padding:1rem}\
main{background:#fff;max-width:28rem;width:100%;border-radius:12px;padding:2rem 1.5rem;\
box-shadow:0 2px 12px rgba(0,0,0,.08);text-align:center}\
.shop{margin:0 0 1.5rem;color:var(--accent);font-weight:600;letter-spacing:.02em}\
.mark{font-size:2.5rem;line-height:1;margin:0 0 .5rem}\
h1{font-size:1.35rem;margin:0 0 .75rem}\
p{margin:0 0 1rem}\
.next{font-weight:600}\
footer{margin-top:1.5rem;font-size:.85rem;color:var(--muted)}\
a{color:var(--accent)}\
@media (prefers-color-scheme:dark){body{background:#1d1915;color:#eee}main{background:#2a241f;box-shadow:none}\
:root{--accent:#d8b59a;--muted:#aaa}}";

/// `Content-Security-Policy` of the pages: nothing but this inline style.
pub static PAGE_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; form-action 'none'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// The page for `outcome`, with its status (200 for the two successes, 429
/// with `Retry-After` for too many tries, 400 for the rest).
pub fn render(outcome: Outcome, shop: &ShopInfo) -> HttpResponse {
    let (status, mark, title, text, next): (_, _, _, _, Cow<'static, str>) = match outcome {
        Outcome::Verified => (
            StatusCode::OK,
            "✓",
            "Your e-mail address is verified",
            "Thank you — your account is ready.",
            "Go back to the app and log in with your e-mail and password.".into(),
        ),
        Outcome::AlreadyVerified => (
            StatusCode::OK,
            "✓",
            "This address is already verified",
            "There is nothing more to do with this link.",
            "Go back to the app and log in with your e-mail and password.".into(),
        ),
        Outcome::NotValid => (
            StatusCode::BAD_REQUEST,
            "!",
            "This link is no longer valid",
            "It has expired, or a newer mail replaced it. If you verified your address with it before, \
             there is nothing more to do: log in.",
            "Otherwise, ask the app for a new verification code: the new mail brings a fresh link. \
             Accounts left unverified for two days are removed; then sign up again."
                .into(),
        ),
        Outcome::Incomplete => (
            StatusCode::BAD_REQUEST,
            "?",
            "This link is incomplete",
            "The address you opened has no verification token; the mail program may have cut it.",
            "Open the link from the mail again, or type the 6-digit code from the mail into the app.".into(),
        ),
        Outcome::TooManyTries { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            "…",
            "Too many tries just now",
            "Verification links were opened too often from your network in a short time.",
            Cow::Owned(format!("Wait {} and open the link again.", wait_in_words(retry_after))),
        ),
    };
    let shop_name = escape_html(&shop.name);
    let contact = escape_html(&shop.email);
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>{title} · {shop_name}</title><style>{STYLE}</style></head>\
         <body><main><p class=\"shop\">{shop_name}</p><p class=\"mark\" aria-hidden=\"true\">{mark}</p>\
         <h1>{title}</h1><p>{text}</p><p class=\"next\">{next}</p>\
         <footer>Questions? Write to <a href=\"mailto:{contact}\">{contact}</a>.</footer></main></body></html>\n"
    );
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Outcome::TooManyTries { retry_after } = outcome {
        response.insert_header((header::RETRY_AFTER, retry_after));
    }
    response.body(page)
}

/// `retry_after` seconds for a person: "1 second", "40 seconds", "3 minutes".
fn wait_in_words(retry_after: u64) -> String {
    match retry_after {
        1 => "1 second".to_owned(),
        0..=119 => format!("{retry_after} seconds"),
        _ => format!("{} minutes", retry_after.div_ceil(60)),
    }
}
