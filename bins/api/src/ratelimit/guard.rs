//! The middleware that rate-limits the auth routes (SPEC §9).
//!
//! Each limited route has two budgets of `AUTH_RATE_LIMIT`: one per client
//! IP (the socket's peer, or the right-most untrusted `X-Forwarded-For`
//! entry behind `TRUSTED_PROXIES`; for IPv6, its /64 network) and, when
//! the body names an e-mail address, one per address (so one IP cannot hammer many accounts and many
//! IPs cannot hammer one). A request over either budget gets 429
//! `rate_limited` with `Retry-After`; every answer of a limited route carries
//! the `RateLimit-Policy` and `RateLimit` headers. The limiter never fails:
//! with Redis down each replica limits on its own.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut, Data};
use actix_web::{Error, HttpMessage, ResponseError};
use coffee_app::Services;
use coffee_domain::user::Email;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{RateLimitHeaders, client_ip, join_forwarded_for};
use crate::body::{BODY_TIMEOUT, MAX_BODY_BYTES, body_timed_out, decoded, media_type};
use crate::extract::BodyFormat;
use crate::problem::{ApiError, catalogue};
use crate::verify_page::{self, Outcome};

/// The routes with a budget: `(method, route pattern)`. The OpenAPI document
/// lists 429 `rate_limited` for exactly these.
/// Verifying by code (`POST`) and by link (`GET`) share one budget.
pub const LIMITED_ROUTES: [(Method, &str); 6] = [
    (Method::POST, "/auth/signup"),
    (Method::POST, "/auth/verify"),
    (Method::GET, "/auth/verify"),
    (Method::POST, "/auth/verify/resend"),
    (Method::POST, "/auth/login"),
    (Method::POST, "/auth/refresh"),
];

/// The limited route `req` goes to. This middleware runs before routing, so
/// it compares the path as the router will match it: percent-decoded
/// (`match_info`), where `match_pattern` would read the raw path, and
/// `POST /auth/%6Cogin` would reach the login handler past every budget.
/// The limited routes have no parameters, so they compare as text.
fn limited_route(req: &ServiceRequest) -> Option<&'static str> {
    let path = req.match_info().as_str();
    LIMITED_ROUTES.iter().find(|(m, p)| m == req.method() && *p == path).map(|(_, p)| *p)
}

/// Reads the body and puts it back for the handler; `None` when it is
/// larger than [`MAX_BODY_BYTES`] or could not be read (the handler's own
/// extractor answers that, with the whole body still there to read).
///
/// # Errors
/// 408 when the body does not arrive within [`BODY_TIMEOUT`], as the
/// handler's extractor would answer.
async fn peek_body(req: &mut ServiceRequest) -> Result<Option<Bytes>, ApiError> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else { return false };
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY_BYTES {
                return false;
            }
        }
        true
    };
    let complete = actix_web::rt::time::timeout(BODY_TIMEOUT, read).await.map_err(|_| body_timed_out())?;
    let body = body.freeze();
    let read: Result<Bytes, PayloadError> = Ok(body.clone());
    let rest: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(futures_util::stream::once(async move { read }).chain(payload));
    req.set_payload(Payload::from(rest));
    Ok(complete.then_some(body))
}

/// The normalised e-mail address a body names (`email`, or `username`,
/// which the login accepts in both forms, as OAuth2's password grant names
/// it), read as the handlers read their bodies: by the request's media type
/// and with their parser, every other field skipped as theirs skip it.
/// Read any other way, a body the login accepts could name no address here
/// and spend only its IP's budget: a form body that is also a JSON string
/// (`"a=1&username=…"`), or JSON whose unknown field holds what a
/// `serde_json::Value` refuses but a skipped field may (`"\ud800"`).
fn named_email(format: Option<BodyFormat>, body: &[u8]) -> Option<Email> {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(alias = "username")]
        email: Option<String>,
    }
    let named: Named = format?.parse(body).ok()?;
    Email::parse("email", &named.email?).ok()
}

/// Whose budget a client address spends: the address itself for IPv4, its
/// /64 network for IPv6, since a single client (one home or one cloud host)
/// is usually given a whole /64 and could otherwise take a fresh budget for
/// every request. `ip` comes from [`client_ip`], which already turns an
/// IPv4 address written as IPv6 (`::ffff:a.b.c.d`) into IPv4.
fn budget_holder(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("{}/64", std::net::Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The middleware; see the module docs.
pub async fn auth_rate_limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(route) = limited_route(&req) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let Some(services) = req.app_data::<Data<Services>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let Some(policy) = services.config.auth_rate_limit else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let peer = req.peer_addr().map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let forwarded = join_forwarded_for(req.headers().get_all("x-forwarded-for").map(HeaderValue::as_bytes));
    let ip = client_ip(peer, forwarded.as_deref(), &services.config.trusted_proxies);
    let limiter = services.rate_limiter.clone();
    let by_ip = limiter.check(&format!("{route}:ip:{}", budget_holder(ip)), &policy).await;
    let mut headers = RateLimitHeaders::new().with("ip", &policy, &by_ip);
    let mut allowed = by_ip.allowed;
    let mut timed_out = None;
    if allowed {
        match peek_body(&mut req).await {
            Err(e) => timed_out = Some(e),
            Ok(body) => {
                // Decoded as the handler decodes it: a compressed login once named
                // no e-mail here and spent only its IP's budget, so many IPs could
                // guess one account's password.
                let body = match body {
                    Some(body) => decoded(&body, req.headers()).await.ok(),
                    None => None,
                };
                let format = BodyFormat::of(media_type(req.request()).as_deref());
                if let Some(email) = body.as_deref().and_then(|body| named_email(format, body)) {
                    // The address is hashed: keys in Redis carry no personal data.
                    let key = hex::encode(Sha256::digest(email.as_str().as_bytes()));
                    let by_email = limiter.check(&format!("{route}:email:{key}"), &policy).await;
                    allowed = by_email.allowed;
                    headers = headers.with("email", &policy, &by_email);
                }
            }
        }
    }
    let mut res = if let Some(e) = timed_out {
        req.into_response(e.error_response())
    } else if allowed {
        next.call(req).await?.map_into_boxed_body()
    } else {
        let retry_after = headers.retry_after().unwrap_or(1);
        // The one limited GET is the verification link: opened in a browser,
        // it gets a page, not a problem document.
        if req.method() == Method::GET && !verify_page::wants_json(req.request()) {
            let page = verify_page::render(Outcome::TooManyTries { retry_after }, services.shop.info());
            req.into_response(page)
        } else {
            req.into_response(ApiError::from(catalogue::RATE_LIMITED).retry_after(retry_after).error_response())
        }
    };
    for (name, value) in headers.pairs() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(HeaderName::from_static(name), value);
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_spends_the_budget_of_its_64_network() {
        let none = coffee_app::TrustedProxies::none();
        let holder = |ip: &str| budget_holder(client_ip(ip.parse().expect("an address"), None, &none));
        assert_eq!(holder("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(holder("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(holder("2001:db8:1:3::1"), holder("2001:db8:1:2::1"));
        assert_eq!(holder("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(holder("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn the_email_comes_from_json_or_the_login_form() {
        let read = |format, body: &str| named_email(Some(format), body.as_bytes()).map(|e| e.as_str().to_owned());
        let json = |body| read(BodyFormat::Json, body);
        let form = |body| read(BodyFormat::Form, body);
        assert_eq!(json(r#"{"email": " Ann@Example.com ", "password": "x"}"#).as_deref(), Some("ann@example.com"));
        assert_eq!(form("username=ann%40example.com&password=x").as_deref(), Some("ann@example.com"));
        assert_eq!(json(r#"{"username": "Ann@example.com", "password": "x"}"#).as_deref(), Some("ann@example.com"));
        assert_eq!(json(r#"{"refresh_token": "abc"}"#), None);
        assert_eq!(json(r#"{"email": "not an address"}"#), None);
        assert_eq!(json(r#"{"email": 42}"#), None);
        assert_eq!(named_email(None, br#"{"email": "ann@example.com"}"#), None, "a body no handler reads");
    }

    /// Each body the login accepts (and checks the password of) names its
    /// address here too.
    #[test]
    fn the_email_is_read_as_the_login_reads_it() {
        let read = |format, body: &str| named_email(Some(format), body.as_bytes()).map(|e| e.as_str().to_owned());
        // A form that is also a JSON string: read as a form, as the login does.
        let quoted = r#""a=1&username=ann%40example.com&password=x&b=2""#;
        assert_eq!(read(BodyFormat::Form, quoted).as_deref(), Some("ann@example.com"));
        // An unknown field the login skips, holding what `serde_json::Value` refuses.
        let surrogate = r#"{"email": "ann@example.com", "password": "x", "x": "\ud800"}"#;
        assert_eq!(read(BodyFormat::Json, surrogate).as_deref(), Some("ann@example.com"));
        let body =
            |json: &str| crate::extract::BodyFormat::Json.parse::<crate::dto::auth::LoginRequest>(json.as_bytes());
        assert!(body(surrogate).is_ok(), "the login reads it");
        // Named twice: the login refuses it (422) before any password check.
        let twice = r#"{"email": "ann@example.com", "username": "bob@example.com", "password": "x"}"#;
        assert_eq!(read(BodyFormat::Json, twice), None);
        assert!(body(twice).is_err(), "the login refuses it too");
    }
}
