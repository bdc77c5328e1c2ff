//! Cross-site request forgery protection (SPEC §9), for every route.
//!
//! The API authenticates by bearer token, which a browser never attaches on
//! its own, so a forged request cannot act for a user. Should a deployment
//! ever carry credentials in cookies, three rules still keep state-changing
//! requests (`POST`, `PUT`, `PATCH`, `DELETE`) to the API's own pages and
//! the origins in `CORS_ORIGINS`:
//!
//! * `Sec-Fetch-Site: cross-site` (Fetch Metadata, sent by every current
//!   browser) is refused;
//! * a browser `Origin` other than the allowed ones is refused;
//! * a request that carries a `Cookie` must carry `X-CSRF-Token` equal to the
//!   `csrf_token` cookie (double submit): a page on another site can make
//!   the browser send the cookie, but cannot read it to send it back.
//!
//! Refusals are 403 `csrf_failed`. Responses vary by `Origin` and
//! `Sec-Fetch-Site`, so caches keep them apart.

use std::collections::HashSet;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, ResponseError};

use crate::problem::{ApiError, catalogue};

/// The browser origins that may call the API (`scheme://host[:port]`).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(HashSet<String>);

impl AllowedOrigins {
    /// These origins (trailing slashes removed).
    pub fn new(origins: impl IntoIterator<Item = String>) -> Self {
        Self(origins.into_iter().map(|o| o.trim_end_matches('/').to_owned()).collect())
    }

    /// Whether `origin` is one of them (a trailing `/` aside, as some
    /// clients send it).
    pub fn contains(&self, origin: &str) -> bool {
        self.0.contains(origin.trim_end_matches('/'))
    }

    /// Why a request's `Origin` is refused, if it is: every line is judged,
    /// and one that is not text, or a second one, is refused like an origin
    /// outside the list (a browser sends one). No `Origin` is no refusal.
    /// The CSRF guard and the socket upgrade both ask this.
    pub fn refusal(&self, headers: &HeaderMap) -> Option<String> {
        match headers.get_all(header::ORIGIN).collect::<Vec<_>>().as_slice() {
            [] => None,
            [one] => match one.to_str() {
                Ok(origin) if self.contains(origin) => None,
                Ok(origin) => Some(format!("The origin {origin:?} is not allowed here.")),
                Err(_) => Some("An Origin header that is not readable text is not allowed.".to_owned()),
            },
            _ => Some("More than one Origin header is not allowed.".to_owned()),
        }
    }

    /// Every origin, for the CORS layer.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

/// Whether a request with this method may change state.
pub fn is_unsafe(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

const CSRF_COOKIE: &str = "csrf_token";
const CSRF_HEADER: &str = "x-csrf-token";

/// Why a state-changing request is refused, if it is.
fn refusal(req: &ServiceRequest, allowed: &AllowedOrigins) -> Option<String> {
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Every line is judged, and one that is not text counts as cross-site.
    if headers.get_all("sec-fetch-site").any(|v| v.to_str().map_or(true, |s| s.eq_ignore_ascii_case("cross-site"))) {
        return Some("Cross-site requests may not change anything (Sec-Fetch-Site: cross-site).".to_owned());
    }
    if let Some(why) = allowed.refusal(headers) {
        return Some(format!("{why} This request may not change anything."));
    }
    if headers.contains_key(header::COOKIE) {
        let cookie = csrf_cookie(req).filter(|v| !v.is_empty());
        let sent = text(CSRF_HEADER);
        if cookie.is_none() || cookie.as_deref() != sent {
            return Some(format!(
                "A request that sends cookies must send the {CSRF_COOKIE} cookie's value in the X-CSRF-Token header."
            ));
        }
    }
    None
}

/// The value of the `csrf_token` cookie, from any `Cookie` header.
fn csrf_cookie(req: &ServiceRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// The middleware; see the module docs.
pub async fn csrf_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if is_unsafe(req.method()) {
        let allowed = req.app_data::<Data<AllowedOrigins>>().cloned().unwrap_or_default();
        if let Some(detail) = refusal(&req, &allowed) {
            let mut refused = ApiError::with_detail(catalogue::CSRF_FAILED, detail).error_response();
            refused.headers_mut().append(header::VARY, HeaderValue::from_static("Origin, Sec-Fetch-Site"));
            return Ok(req.into_response(refused));
        }
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    res.headers_mut().append(header::VARY, HeaderValue::from_static("Origin, Sec-Fetch-Site"));
    Ok(res)
}
