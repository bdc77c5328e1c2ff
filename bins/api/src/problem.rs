//! RFC 9457 `application/problem+json` errors: the one place where every
//! domain error becomes an HTTP status and a stable `code`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use coffee_domain::FieldError;
use coffee_domain::auth::AuthError;
use coffee_domain::catalog::CatalogError;
use coffee_domain::user::UserError;
use serde::Serialize;

use crate::middleware::current_request_id;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response. `detail` is safe to show; for 5xx it never carries
/// internals (those go to the log).
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<i64>,
}

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
}

#[derive(Serialize)]
struct FieldErrorBody<'a> {
    field: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with this status, stable code and human-readable detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), retry_after: None }
    }

    /// 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "Some fields are invalid.");
        e.errors = errors;
        e
    }

    /// 400 for an invalid list query, naming each parameter.
    pub fn invalid_query(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_query", "Some query parameters are invalid.");
        e.errors = errors;
        e
    }

    /// 400 for a body that is not well-formed.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    /// 401 for a missing or unusable bearer token.
    pub fn unauthorized(code: &'static str, detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "The requested resource does not exist.")
    }

    /// 500; the cause is logged here and never shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side.")
    }

    /// A generic problem for a bare status (used for framework-made errors).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            406 => "not_acceptable",
            408 => "request_timeout",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            429 => "rate_limited",
            503 => "service_unavailable",
            s if s >= 500 => "internal_error",
            _ => "error",
        };
        let detail = status.canonical_reason().unwrap_or("Error");
        Self::new(status, code, detail)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Serialises the problem document (used by the middleware too).
    pub fn body(&self, request_id: Option<String>) -> Vec<u8> {
        let body = ProblemBody {
            kind: format!("urn:problem:coffee:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            request_id,
            errors: self.errors.iter().map(|e| FieldErrorBody { field: &e.field, message: &e.message }).collect(),
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.content_type(PROBLEM_JSON);
        if self.status == StatusCode::UNAUTHORIZED {
            let value = match self.code {
                "invalid_token" | "token_expired" | "refresh_token_reused" => "Bearer error=\"invalid_token\"",
                _ => "Bearer",
            };
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(value)));
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.body(self.body(current_request_id()))
    }
}

// paperclip: error responses are documented per operation in `openapi.rs`.
impl paperclip::v2::schema::Apiv2Errors for ApiError {}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use StatusCode as S;
        match e {
            AuthError::EmailTaken => {
                Self::new(S::CONFLICT, "email_taken", "An account with this e-mail already exists.")
            }
            AuthError::InvalidCredentials => Self::unauthorized("invalid_credentials", "E-mail or password is wrong."),
            AuthError::EmailNotVerified => Self::new(
                S::FORBIDDEN,
                "email_not_verified",
                "Verify your e-mail address first; POST /auth/verify/resend sends a new code.",
            ),
            AuthError::InvalidVerificationCode => Self::new(
                S::BAD_REQUEST,
                "invalid_verification_code",
                "The verification code or link is wrong or has expired.",
            ),
            AuthError::TooManyAttempts { retry_after_secs } => {
                let mut e = Self::new(
                    S::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "Too many wrong codes: this code no longer works. Request a new one.",
                );
                e.retry_after = Some(retry_after_secs);
                e
            }
            AuthError::AlreadyVerified => {
                Self::new(S::CONFLICT, "already_verified", "This e-mail address is already verified.")
            }
            AuthError::InvalidToken => Self::unauthorized("invalid_token", "The token is invalid or was revoked."),
            AuthError::TokenExpired => Self::unauthorized("token_expired", "The token has expired."),
            AuthError::RefreshTokenReused => Self::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; all sessions of this login were revoked. Log in again.",
            ),
            AuthError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        use StatusCode as S;
        match e {
            UserError::Unauthenticated => {
                Self::unauthorized("invalid_token", "The account of this token no longer exists.")
            }
            UserError::Forbidden => Self::new(S::FORBIDDEN, "forbidden", "You are not allowed to do this."),
            UserError::NotFound => Self::not_found(),
            UserError::EmailTaken => {
                Self::new(S::CONFLICT, "email_taken", "An account with this e-mail already exists.")
            }
            UserError::LastAdmin => {
                Self::new(S::CONFLICT, "last_admin", "The last admin cannot be deleted or demoted.")
            }
            UserError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        use StatusCode as S;
        match e {
            CatalogError::Unauthenticated => {
                Self::unauthorized("invalid_token", "The account of this token no longer exists.")
            }
            CatalogError::Forbidden => Self::new(S::FORBIDDEN, "forbidden", "Only admins may change the menu."),
            CatalogError::NotFound => Self::not_found(),
            CatalogError::NameTaken => {
                Self::new(S::CONFLICT, "category_name_taken", "A category with this name already exists.")
            }
            CatalogError::UnknownCategories(ids) => {
                let list = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                Self::validation(vec![FieldError::new("category_ids", format!("unknown category ids: {list}"))])
            }
            CatalogError::Unexpected(cause) => Self::internal(&cause),
        }
    }
}
