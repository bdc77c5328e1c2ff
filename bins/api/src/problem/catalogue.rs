//! Every problem the API answers with: status, stable `code`, and a default
//! detail that reads well in the OpenAPI examples and in responses.

/// One kind of error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProblemType {
    /// HTTP status.
    pub status: u16,
    /// Stable, machine-readable, snake_case.
    pub code: &'static str,
    /// What happened, for people; a response may say something more specific.
    pub detail: &'static str,
}

impl ProblemType {
    const fn new(status: u16, code: &'static str, detail: &'static str) -> Self {
        Self { status, code, detail }
    }

    /// `urn:problem:coffee:<code>`.
    pub fn type_uri(&self) -> String {
        format!("urn:problem:coffee:{}", self.code)
    }

    /// The status' reason phrase.
    pub fn title(&self) -> &'static str {
        actix_web::http::StatusCode::from_u16(self.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
    }
}

// 400
pub const MALFORMED_REQUEST: ProblemType = ProblemType::new(400, "malformed_request", "The body is not valid JSON.");
pub const INVALID_QUERY: ProblemType =
    ProblemType::new(400, "invalid_query", "Some query parameters are invalid; `errors` names each one.");
pub const INVALID_VERIFICATION_CODE: ProblemType =
    ProblemType::new(400, "invalid_verification_code", "The verification code or link is wrong or has expired.");
pub const BAD_REQUEST: ProblemType = ProblemType::new(400, "bad_request", "The request cannot be processed.");
// 401
pub const MISSING_TOKEN: ProblemType =
    ProblemType::new(401, "missing_token", "Send an access token: Authorization: Bearer <token>.");
pub const MALFORMED_AUTHORIZATION: ProblemType = ProblemType::new(
    401,
    "malformed_authorization",
    "The Authorization header must be `Bearer <token>` with exactly one token.",
);
pub const INVALID_TOKEN: ProblemType = ProblemType::new(401, "invalid_token", "The token is invalid or was revoked.");
pub const ACCOUNT_GONE: ProblemType =
    ProblemType::new(401, "invalid_token", "The account of this token no longer exists.");
pub const SESSION_ENDED: ProblemType = ProblemType::new(
    401,
    "invalid_token",
    "The login this token was issued in has ended (logged out, or revoked); log in again.",
);
pub const TOKEN_EXPIRED: ProblemType = ProblemType::new(401, "token_expired", "The token has expired.");
pub const REFRESH_TOKEN_REUSED: ProblemType = ProblemType::new(
    401,
    "refresh_token_reused",
    "This refresh token was already used; all sessions of this login were revoked. Log in again.",
);
pub const INVALID_CREDENTIALS: ProblemType =
    ProblemType::new(401, "invalid_credentials", "E-mail or password is wrong.");
// 403
pub const FORBIDDEN: ProblemType = ProblemType::new(403, "forbidden", "You are not allowed to do this.");
pub const CSRF_FAILED: ProblemType = ProblemType::new(
    403,
    "csrf_failed",
    "This state-changing request looks cross-site: a foreign Origin, Sec-Fetch-Site: cross-site, or cookies without a matching X-CSRF-Token.",
);
pub const EMAIL_NOT_VERIFIED: ProblemType = ProblemType::new(
    403,
    "email_not_verified",
    "Verify your e-mail address first; POST /auth/verify/resend sends a new code.",
);
// 404, 405
pub const NOT_FOUND: ProblemType = ProblemType::new(404, "not_found", "The requested resource does not exist.");
pub const METHOD_NOT_ALLOWED: ProblemType =
    ProblemType::new(405, "method_not_allowed", "This route does not support this method; see `Allow`.");
pub const REQUEST_TIMEOUT: ProblemType =
    ProblemType::new(408, "request_timeout", "The request was not received in time.");
// 409
pub const EMAIL_TAKEN: ProblemType =
    ProblemType::new(409, "email_taken", "An account with this e-mail already exists.");
pub const ALREADY_VERIFIED: ProblemType =
    ProblemType::new(409, "already_verified", "This e-mail address is already verified.");
pub const LAST_ADMIN: ProblemType = ProblemType::new(409, "last_admin", "The last admin cannot be deleted or demoted.");
pub const CATEGORY_NAME_TAKEN: ProblemType =
    ProblemType::new(409, "category_name_taken", "A category with this name already exists.");
pub const PRODUCT_UNAVAILABLE: ProblemType =
    ProblemType::new(409, "product_unavailable", "Some products cannot be ordered now; `product_ids` lists them.");
pub const CONVERSATION_CLOSED: ProblemType = ProblemType::new(
    409,
    "conversation_closed",
    "The conversation is closed; the customer's next message opens a new one.",
);
pub const CART_EMPTY: ProblemType = ProblemType::new(409, "cart_empty", "The cart is empty: add products first.");
pub const SHOP_CLOSED: ProblemType = ProblemType::new(
    409,
    "shop_closed",
    "The shop is closed now: choose a pickup_at inside the opening hours (GET /info).",
);
pub const INVALID_TRANSITION: ProblemType =
    ProblemType::new(409, "invalid_transition", "The order cannot move from its status to the one requested.");
pub const ORDER_NOT_PENDING: ProblemType =
    ProblemType::new(409, "order_not_pending", "The order is no longer pending and cannot be changed this way.");
pub const IDEMPOTENCY_IN_FLIGHT: ProblemType = ProblemType::new(
    409,
    "idempotency_in_flight",
    "A request with this Idempotency-Key is still being processed; retry after `Retry-After` seconds.",
);
// 406
pub const NOT_ACCEPTABLE: ProblemType = ProblemType::new(
    406,
    "not_acceptable",
    "The answer cannot be sent in any content coding the request accepts (Accept-Encoding: gzip or identity).",
);
// 412
pub const PRECONDITION_FAILED: ProblemType = ProblemType::new(
    412,
    "precondition_failed",
    "The order's current version fails If-Match or If-None-Match; fetch it again (see its ETag).",
);
pub const IMAGE_PRECONDITION_FAILED: ProblemType = ProblemType::new(
    412,
    "precondition_failed",
    "The file does not match If-Match or was modified since If-Unmodified-Since.",
);
// 413, 415, 416
pub const PAYLOAD_TOO_LARGE: ProblemType =
    ProblemType::new(413, "payload_too_large", "The request body is too large (64 KiB for JSON, 5 MiB for images).");
pub const UNSUPPORTED_MEDIA_TYPE: ProblemType = ProblemType::new(
    415,
    "unsupported_media_type",
    "The body is not in a media type or content coding this operation takes; see its request body.",
);
pub const UNSUPPORTED_IMAGE_TYPE: ProblemType = ProblemType::new(
    415,
    "unsupported_image_type",
    "The file is not a whole PNG, JPEG or WebP image of at most 50 megapixels.",
);
pub const RANGE_NOT_SATISFIABLE: ProblemType = ProblemType::new(
    416,
    "range_not_satisfiable",
    "The Range asks for bytes outside the file; Content-Range gives its length.",
);
// 422
pub const VALIDATION_FAILED: ProblemType =
    ProblemType::new(422, "validation_failed", "Some fields are invalid; `errors` names each one.");
pub const IDEMPOTENCY_KEY_REUSED: ProblemType = ProblemType::new(
    422,
    "idempotency_key_reused",
    "This Idempotency-Key was used with a different request body; use a new key.",
);
// 429
pub const TOO_MANY_ATTEMPTS: ProblemType =
    ProblemType::new(429, "too_many_attempts", "Too many wrong codes: this code no longer works. Request a new one.");
pub const TOO_MANY_SOCKETS: ProblemType =
    ProblemType::new(429, "too_many_sockets", "You have as many live sockets open as allowed (5); close one first.");
pub const TOO_MANY_TICKETS: ProblemType = ProblemType::new(
    429,
    "too_many_tickets",
    "You asked for 10 tickets within 30 seconds; use one of them, or retry after `Retry-After` seconds.",
);
pub const RATE_LIMITED: ProblemType = ProblemType::new(
    429,
    "rate_limited",
    "Too many requests of this kind; retry after `Retry-After` seconds (see the RateLimit headers).",
);
// 5xx
pub const INTERNAL_ERROR: ProblemType = ProblemType::new(500, "internal_error", "Something went wrong on our side.");
pub const SERVICE_UNAVAILABLE: ProblemType = ProblemType::new(
    503,
    "service_unavailable",
    "A service this request needs is unavailable; retry after `Retry-After` seconds.",
);
pub const BUSY: ProblemType = ProblemType::new(
    503,
    "busy",
    "The server is checking as many passwords as it can right now; retry after `Retry-After` seconds.",
);

/// The problem for a bare status the framework produced (unknown route,
/// wrong method, body over the limit …). Its `status` is always the one
/// answered (RFC 9457 §3.1.2): one without a problem of its own gets the
/// generic `bad_request` or `internal_error` with that status.
pub fn for_status(status: u16) -> ProblemType {
    let problem = match status {
        401 => MISSING_TOKEN,
        403 => FORBIDDEN,
        404 => NOT_FOUND,
        405 => METHOD_NOT_ALLOWED,
        406 => NOT_ACCEPTABLE,
        408 => REQUEST_TIMEOUT,
        413 => PAYLOAD_TOO_LARGE,
        415 => UNSUPPORTED_MEDIA_TYPE,
        429 => RATE_LIMITED,
        503 => SERVICE_UNAVAILABLE,
        s if s >= 500 => INTERNAL_ERROR,
        _ => BAD_REQUEST,
    };
    ProblemType { status, ..problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_status_becomes_a_problem_that_says_that_status() {
        for status in 400..=599 {
            assert_eq!(for_status(status).status, status);
        }
        assert_eq!(for_status(411).code, "bad_request");
        assert_eq!(for_status(502).code, "internal_error");
        assert_eq!(for_status(406), NOT_ACCEPTABLE);
    }
}
