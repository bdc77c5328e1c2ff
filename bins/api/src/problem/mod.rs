//! RFC 9457 `application/problem+json` errors.
//!
//! * [`ProblemType`]s are the catalogue of everything the API can answer
//!   with: a status, a stable `code` and a realistic default detail
//!   ([`catalogue`]).
//! * [`IntoProblem`] maps each domain error to its problem in **one** place
//!   ([`mapping`]) and lists the problems it can produce; the OpenAPI
//!   document is built from those lists, so it cannot drift from the
//!   mapping.
//! * A handler returns `Result<T, Problem<E>>`: its signature names the
//!   domain error `E` it can fail with, which documents the operation.
//! * [`ApiError`] is the response itself. 5xx bodies say nothing internal;
//!   the cause chain goes to the log with the request id.

pub mod catalogue;
mod mapping;

use std::marker::PhantomData;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use coffee_domain::FieldError;
use coffee_domain::error::{Unexpected, error_chain};
use paperclip::v2::models::DefaultOperationRaw;
use serde::Serialize;

pub use self::catalogue::ProblemType;
use crate::middleware::current_request_id;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long clients should wait before retrying after a 503.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

/// How long clients should wait before retrying after a 503 `busy`: the work
/// that was refused (a password hash) frees up within milliseconds.
const BUSY_RETRY_SECS: u64 = 1;

/// An error response. `detail` is safe to show; for 5xx it never carries
/// internals (those go to the log).
#[derive(Debug, Clone)]
pub struct ApiError {
    problem: ProblemType,
    detail: Option<String>,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
    extension: Option<Box<(&'static str, serde_json::Value)>>,
    /// One more response header, e.g. `Accept-Encoding` on a 415 for a content coding.
    header: Option<Box<(header::HeaderName, HeaderValue)>>,
}

/// The `code` of a problem response, left in the response's extensions for
/// the middleware (which checks every problem against the document).
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldErrorBody<'a>>,
    #[serde(flatten)]
    extension: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct FieldErrorBody<'a> {
    field: &'a str,
    message: &'a str,
}

impl From<ProblemType> for ApiError {
    fn from(problem: ProblemType) -> Self {
        Self { problem, detail: None, errors: Vec::new(), retry_after: None, extension: None, header: None }
    }
}

impl ApiError {
    /// This problem with a more specific detail than the catalogue's.
    pub fn with_detail(problem: ProblemType, detail: impl Into<String>) -> Self {
        Self { detail: Some(detail.into()), ..problem.into() }
    }

    /// This problem listing field errors (422 validation, 400 invalid query).
    pub fn with_fields(problem: ProblemType, errors: Vec<FieldError>) -> Self {
        Self { errors, ..problem.into() }
    }

    /// 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::with_fields(catalogue::VALIDATION_FAILED, errors)
    }

    /// 400 for a body that is not well-formed.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::with_detail(catalogue::MALFORMED_REQUEST, detail)
    }

    /// 404.
    pub fn not_found() -> Self {
        catalogue::NOT_FOUND.into()
    }

    /// 503 (`Retry-After`) for a dependency that is down and for work refused
    /// because the server is at capacity, 500 otherwise; the cause chain is
    /// logged here and never shown.
    pub fn unexpected(e: &Unexpected) -> Self {
        let chain = error_chain(e);
        match e {
            Unexpected::Unavailable(_) => {
                tracing::warn!(error = %chain, "a dependency is unavailable");
                Self { retry_after: Some(UNAVAILABLE_RETRY_SECS), ..catalogue::SERVICE_UNAVAILABLE.into() }
            }
            Unexpected::Busy(_) => {
                // Expected under a login flood: one line per refusal would flood the log too.
                tracing::debug!(error = %chain, "refused: busy");
                Self { retry_after: Some(BUSY_RETRY_SECS), ..catalogue::BUSY.into() }
            }
            Unexpected::Failed(_) => {
                tracing::error!(error = %chain, "request failed unexpectedly");
                catalogue::INTERNAL_ERROR.into()
            }
        }
    }

    /// 500 for a broken invariant of the server itself; `cause` is logged.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        catalogue::INTERNAL_ERROR.into()
    }

    /// Adds an RFC 9457 extension member, e.g. `product_ids` of unavailable products.
    pub fn with_extension(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.extension = Some(Box::new((name, value)));
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.header = Some(Box::new((name, value)));
        self
    }

    /// Asks the client to wait `secs` seconds before retrying.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The problem type.
    pub fn problem(&self) -> ProblemType {
        self.problem
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.problem.code
    }

    /// The detail shown to clients with each field error
    /// (`"Invalid: body: must be 1 to 2000 characters long."`); used where a
    /// problem travels as text, such as a WebSocket `error` frame.
    pub fn describe(&self) -> String {
        if self.detail.is_none() && !self.errors.is_empty() {
            // The generic detail points at an `errors` member a frame does not have: name them here.
            let each: Vec<String> = self.errors.iter().map(|e| format!("{}: {}.", e.field, e.message)).collect();
            return format!("Invalid: {}", each.join(" "));
        }
        let mut text = self.detail.as_deref().unwrap_or(self.problem.detail).to_owned();
        for e in &self.errors {
            text.push_str(&format!(" {}: {}.", e.field, e.message));
        }
        text
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The status and problem document of this error as answered to the
    /// current request, for a store that replays it (an `Idempotency-Key`).
    pub fn answer(&self) -> (u16, String) {
        (self.problem.status, String::from_utf8_lossy(&self.body(current_request_id())).into_owned())
    }

    /// Serialises the problem document (used by the middleware too).
    pub fn body(&self, request_id: Option<String>) -> Vec<u8> {
        let body = ProblemBody {
            kind: self.problem.type_uri(),
            title: self.problem.title(),
            status: self.problem.status,
            detail: self.detail.as_deref().unwrap_or(self.problem.detail),
            code: self.problem.code,
            request_id,
            errors: self.errors.iter().map(|e| FieldErrorBody { field: &e.field, message: &e.message }).collect(),
            extension: self.extension.iter().map(|e| (e.0.to_owned(), e.1.clone())).collect(),
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detail = self.detail.as_deref().unwrap_or(self.problem.detail);
        write!(f, "{} {}: {detail}", self.problem.status, self.problem.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status());
        res.content_type(PROBLEM_JSON);
        if self.problem.status == 401 {
            let value = match self.problem.code {
                "invalid_token" | "token_expired" | "refresh_token_reused" => "Bearer error=\"invalid_token\"",
                "malformed_authorization" => "Bearer error=\"invalid_request\"",
                _ => "Bearer",
            };
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(value)));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(extra) = &self.header {
            res.insert_header(extra.as_ref().clone());
        }
        let mut res = res.body(self.body(current_request_id()));
        res.extensions_mut().insert(ProblemCode(self.problem.code));
        res
    }
}

/// A domain error as the API answers it.
pub trait IntoProblem {
    /// Every problem [`IntoProblem::into_problem`] can produce, for the
    /// OpenAPI document.
    fn problems() -> Vec<ProblemType>;
    /// The response for this error.
    fn into_problem(self) -> ApiError;
}

/// The error of a handler that fails with domain error `E` (or with an
/// input error found while parsing the request). The operation's documented
/// error responses come from `E::problems()`.
pub struct Problem<E>(ApiError, PhantomData<fn() -> E>);

impl<E> Problem<E> {
    /// The response.
    pub fn into_api_error(self) -> ApiError {
        self.0
    }
}

impl<E: IntoProblem> From<E> for Problem<E> {
    fn from(e: E) -> Self {
        Self(e.into_problem(), PhantomData)
    }
}

impl<E> From<ApiError> for Problem<E> {
    fn from(e: ApiError) -> Self {
        Self(e, PhantomData)
    }
}

impl<E> std::fmt::Debug for Problem<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E> std::fmt::Display for Problem<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl<E> ResponseError for Problem<E> {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.error_response()
    }
}

impl<E: IntoProblem> paperclip::v2::schema::Apiv2Errors for Problem<E> {
    fn update_error_definitions(op: &mut DefaultOperationRaw) {
        crate::openapi::document_problems(op, &E::problems());
    }
}

// Errors raised by extractors are documented by the extractors themselves.
impl paperclip::v2::schema::Apiv2Errors for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_described_validation_problem_names_its_fields_and_no_errors_member() {
        let e = ApiError::validation(vec![FieldError::new("conversation_id", "is required of staff")]);
        assert_eq!(e.describe(), "Invalid: conversation_id: is required of staff.");
        let closed = ApiError::from(catalogue::CONVERSATION_CLOSED).describe();
        assert_eq!(closed, catalogue::CONVERSATION_CLOSED.detail);
    }
}
