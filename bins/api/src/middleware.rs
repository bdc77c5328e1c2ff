//! Cross-cutting request handling: request ids, access logs, request
//! metrics, security headers, and problem+json for errors the framework
//! produces itself.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpResponse};
use tracing::Instrument;
use uuid::Uuid;

use crate::openapi::OpenApiDoc;
use crate::problem::{ApiError, PROBLEM_JSON, ProblemCode, catalogue};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if called while handling one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The strict policy for API responses; Swagger UI sets its own.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// A client-sent id is kept if it is short and printable; otherwise a new one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

/// Wraps every request: assigns the request id (task-local, so error bodies
/// can carry it), routes `HEAD` as `GET`, logs one line per request, counts
/// it in the metrics (by route template, never the raw path), adds security
/// headers and `Cache-Control: no-store` to JSON answers that set no caching
/// (and drops the content type of a 204),
/// turns bodiless framework errors (404, 405, 413 …) into problem+json, and
/// checks every problem a documented operation answers with against the
/// OpenAPI document.
pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = request_id(&req);
    let doc = req.app_data::<Data<OpenApiDoc>>().cloned();
    let method = req.method().to_string();
    // A chunked body is kept alive until the answer is written, so that one
    // not read to its end ends its connection (see `unread_body`).
    let chunked_body = crate::unread_body::share_if_chunked(&mut req);
    if req.method() == Method::HEAD {
        // HEAD is GET without the body (RFC 9110 §9.3.2; every server must
        // support it): it is routed as GET, and actix-http, which saw the
        // request as HEAD, sends the headers alone.
        req.head_mut().method = Method::GET;
    }
    // The method as sent (a HEAD stays HEAD in the log and the metrics).
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let result = REQUEST_ID.scope(id.clone(), next.call(req)).instrument(span.clone()).await;
    // Handlers and the middleware inside this one answer errors as responses;
    // an `Err` here can only come from the framework itself and is passed on.
    let mut res = result?.map_into_boxed_body();
    let status = res.status();
    // Bodies a handler made on purpose (problem+json, the readiness JSON, the verify-link page) stay.
    let designed = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| !v.as_bytes().starts_with(b"text/plain"));
    // The route template (`/users/{id}`), never the raw path; `None` when no route matched.
    let route = res.request().match_pattern();
    if status.as_u16() >= 400 && !designed {
        let problem = ApiError::from(catalogue::for_status(status.as_u16()));
        let original = res.response();
        let replaced = problem_response(&problem, original, &id);
        res = res.into_response(replaced);
    } else if let (Some(doc), Some(code), Some(pattern)) =
        (&doc, res.response().extensions().get::<ProblemCode>().copied(), route.as_deref())
    {
        doc.conformance.check(&method, pattern, status.as_u16(), code.0);
    }
    let elapsed = started.elapsed();
    if let Some(services) = res.request().app_data::<Data<coffee_app::Services>>() {
        let route = route.as_deref().unwrap_or(coffee_app::UNMATCHED_ROUTE);
        services.metrics.observe_request(route, &method, status.as_str(), elapsed);
        if services.lifecycle.is_draining() {
            // Draining before a shutdown: clients reconnect elsewhere.
            res.response_mut().head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
        }
    }
    let headers = res.headers_mut();
    headers.insert(X_REQUEST_ID, HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid")));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, API_CSP),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    merge_vary(headers);
    if status == StatusCode::NO_CONTENT {
        // No content, so no content type (paperclip's `NoContent` sets one).
        headers.remove(header::CONTENT_TYPE);
    }
    // JSON answers are per caller and often secret (tokens: RFC 6749 §5.1):
    // no cache keeps them unless the handler said otherwise.
    let json = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/json") || v.starts_with(PROBLEM_JSON.as_bytes())
    });
    if json && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), latency_ms = elapsed.as_millis() as u64, "request completed");
    });
    if let Some(payload) = chunked_body {
        res = res.map_body(|_, body| crate::unread_body::KeptWith::body(body, payload));
    }
    Ok(res)
}

/// Folds every `Vary` header (CORS and the CSRF guard each add one) into
/// one, each field named once.
fn merge_vary(headers: &mut actix_web::http::header::HeaderMap) {
    let mut fields: Vec<String> = Vec::new();
    for value in headers.get_all(header::VARY).filter_map(|v| v.to_str().ok()) {
        for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if !fields.iter().any(|known| known.eq_ignore_ascii_case(field)) {
                fields.push(field.to_owned());
            }
        }
    }
    if !fields.is_empty()
        && let Ok(merged) = HeaderValue::from_str(&fields.join(", "))
    {
        headers.insert(header::VARY, merged);
    }
}

/// A problem response keeping the headers of `original` that matter to
/// clients, the CORS ones included (a browser app must be able to read a 405).
fn problem_response(problem: &ApiError, original: &HttpResponse<impl MessageBody>, id: &str) -> HttpResponse {
    let mut res = HttpResponse::build(original.status());
    for (name, value) in original.headers() {
        let kept = [header::WWW_AUTHENTICATE, header::RETRY_AFTER, header::VARY].contains(name)
            || name.as_str().starts_with("access-control-");
        if *name == header::ALLOW {
            res.append_header((name.clone(), allow_with_head(value)));
        } else if kept {
            res.append_header((name.clone(), value.clone()));
        }
    }
    res.content_type(PROBLEM_JSON).body(problem.body(Some(id.to_owned())))
}

/// actix lists the methods of a resource's routes in `Allow`; every `GET`
/// route also answers `HEAD` (routed as `GET` above), so it is named too.
fn allow_with_head(allow: &HeaderValue) -> HeaderValue {
    let Ok(methods) = allow.to_str() else { return allow.clone() };
    let listed = |m: &str| methods.split(',').any(|x| x.trim().eq_ignore_ascii_case(m));
    if listed("GET") && !listed("HEAD") {
        HeaderValue::from_str(&format!("{methods}, HEAD")).unwrap_or_else(|_| allow.clone())
    } else {
        allow.clone()
    }
}
