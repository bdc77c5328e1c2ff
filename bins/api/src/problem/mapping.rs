//! The one place where domain errors become problems. Each `into_problem`
//! is an exhaustive `match`, and each `problems()` lists what it can
//! produce; the tests below check the two against each other, so the
//! OpenAPI document (built from `problems()`) cannot drift from the
//! responses.

use coffee_domain::FieldError;
use coffee_domain::access::AccessError;
use coffee_domain::auth::AuthError;
use coffee_domain::cart::CartError;
use coffee_domain::catalog::CatalogError;
use coffee_domain::error::Unexpected;
use coffee_domain::order::{Condition, OrderError, TransitionError};
use coffee_domain::support::SupportError;
use coffee_domain::user::UserError;

use super::catalogue::{self as c, ProblemType};
use super::{ApiError, IntoProblem};

/// Problems every use case may end in: 500, or 503 when a dependency is down.
fn unexpected() -> Vec<ProblemType> {
    vec![c::INTERNAL_ERROR, c::SERVICE_UNAVAILABLE]
}

impl IntoProblem for Unexpected {
    fn problems() -> Vec<ProblemType> {
        unexpected()
    }

    fn into_problem(self) -> ApiError {
        ApiError::unexpected(&self)
    }
}

impl IntoProblem for AccessError {
    fn problems() -> Vec<ProblemType> {
        let mut all = vec![c::ACCOUNT_GONE, c::SESSION_ENDED, c::FORBIDDEN, c::NOT_FOUND];
        all.extend(unexpected());
        all
    }

    fn into_problem(self) -> ApiError {
        match self {
            AccessError::Unauthenticated => c::ACCOUNT_GONE.into(),
            AccessError::SessionEnded => c::SESSION_ENDED.into(),
            AccessError::Forbidden => c::FORBIDDEN.into(),
            AccessError::NotFound => c::NOT_FOUND.into(),
            AccessError::Unexpected(e) => e.into_problem(),
        }
    }
}

/// `own` plus what the embedded access and unexpected errors can produce.
fn with_access(own: &[ProblemType]) -> Vec<ProblemType> {
    let mut all = own.to_vec();
    all.extend(AccessError::problems());
    all
}

impl IntoProblem for AuthError {
    fn problems() -> Vec<ProblemType> {
        let mut all = vec![
            c::EMAIL_TAKEN,
            c::INVALID_CREDENTIALS,
            c::EMAIL_NOT_VERIFIED,
            c::INVALID_VERIFICATION_CODE,
            c::TOO_MANY_ATTEMPTS,
            c::ALREADY_VERIFIED,
            c::INVALID_TOKEN,
            c::TOKEN_EXPIRED,
            c::REFRESH_TOKEN_REUSED,
            // Signup and login hash a password: refused when the hashing queue is full.
            c::BUSY,
        ];
        all.extend(unexpected());
        all
    }

    fn into_problem(self) -> ApiError {
        match self {
            AuthError::EmailTaken => c::EMAIL_TAKEN.into(),
            AuthError::InvalidCredentials => c::INVALID_CREDENTIALS.into(),
            AuthError::EmailNotVerified => c::EMAIL_NOT_VERIFIED.into(),
            AuthError::InvalidVerificationCode => c::INVALID_VERIFICATION_CODE.into(),
            AuthError::TooManyAttempts { retry_after_secs } => {
                ApiError::from(c::TOO_MANY_ATTEMPTS).retry_after(u64::try_from(retry_after_secs).unwrap_or(1))
            }
            // No Retry-After: a new code would not help.
            AuthError::CodesExhausted => ApiError::with_detail(
                c::TOO_MANY_ATTEMPTS,
                "Too many codes tried for this account: codes no longer verify it. Open the link in the verification mail.",
            ),
            AuthError::AlreadyVerified => c::ALREADY_VERIFIED.into(),
            AuthError::InvalidToken => c::INVALID_TOKEN.into(),
            AuthError::TokenExpired => c::TOKEN_EXPIRED.into(),
            AuthError::RefreshTokenReused => c::REFRESH_TOKEN_REUSED.into(),
            AuthError::Unexpected(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for UserError {
    fn problems() -> Vec<ProblemType> {
        with_access(&[c::EMAIL_TAKEN, c::LAST_ADMIN])
    }

    fn into_problem(self) -> ApiError {
        match self {
            UserError::Access(e) => e.into_problem(),
            UserError::EmailTaken => c::EMAIL_TAKEN.into(),
            UserError::LastAdmin => c::LAST_ADMIN.into(),
            UserError::Unexpected(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for CatalogError {
    fn problems() -> Vec<ProblemType> {
        with_access(&[c::CATEGORY_NAME_TAKEN, c::VALIDATION_FAILED, c::UNSUPPORTED_IMAGE_TYPE])
    }

    fn into_problem(self) -> ApiError {
        match self {
            CatalogError::Access(e) => e.into_problem(),
            CatalogError::NameTaken => c::CATEGORY_NAME_TAKEN.into(),
            CatalogError::UnknownCategories(ids) => {
                let list = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                ApiError::validation(vec![FieldError::new("category_ids", format!("unknown category ids: {list}"))])
            }
            CatalogError::UnsupportedImage => c::UNSUPPORTED_IMAGE_TYPE.into(),
            CatalogError::Unexpected(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for CartError {
    fn problems() -> Vec<ProblemType> {
        with_access(&[c::PRODUCT_UNAVAILABLE, c::VALIDATION_FAILED])
    }

    fn into_problem(self) -> ApiError {
        match self {
            CartError::Access(e) => e.into_problem(),
            CartError::ProductUnavailable(id) => product_unavailable(&[id]),
            CartError::Invalid(e) => ApiError::validation(vec![e]),
            CartError::Unexpected(e) => e.into_problem(),
        }
    }
}

fn product_unavailable(ids: &[uuid::Uuid]) -> ApiError {
    ApiError::from(c::PRODUCT_UNAVAILABLE).with_extension("product_ids", serde_json::json!(ids))
}

/// Seconds a client should wait before retrying a request whose key is in flight.
const IN_FLIGHT_RETRY_SECS: u64 = 1;

impl IntoProblem for OrderError {
    fn problems() -> Vec<ProblemType> {
        with_access(&[
            c::CART_EMPTY,
            c::PRODUCT_UNAVAILABLE,
            c::VALIDATION_FAILED,
            c::SHOP_CLOSED,
            c::INVALID_TRANSITION,
            c::ORDER_NOT_PENDING,
            c::PRECONDITION_FAILED,
            c::IDEMPOTENCY_KEY_REUSED,
            c::IDEMPOTENCY_IN_FLIGHT,
        ])
    }

    fn into_problem(self) -> ApiError {
        match self {
            OrderError::Access(e) => e.into_problem(),
            OrderError::CartEmpty => c::CART_EMPTY.into(),
            OrderError::ProductUnavailable(ids) => product_unavailable(&ids),
            OrderError::Invalid(errors) => ApiError::validation(errors),
            OrderError::ShopClosed => c::SHOP_CLOSED.into(),
            OrderError::Transition(TransitionError::StaffOnly(to)) => ApiError::with_detail(
                c::FORBIDDEN,
                format!("Only staff move an order to {}; you may cancel it while it is pending.", to.as_str()),
            ),
            OrderError::Transition(e @ TransitionError::Invalid { .. }) => {
                ApiError::with_detail(c::INVALID_TRANSITION, format!("{e}."))
            }
            OrderError::NotPending(status) => ApiError::with_detail(
                c::ORDER_NOT_PENDING,
                format!("The order is {}; only a pending order can be changed this way.", status.as_str()),
            ),
            OrderError::PreconditionFailed(Condition::IfMatch) => ApiError::with_detail(
                c::PRECONDITION_FAILED,
                "The order is at none of the versions If-Match names (a weak tag never matches); nothing was \
                 changed. Fetch it again (see its ETag).",
            ),
            OrderError::PreconditionFailed(Condition::IfNoneMatch) => ApiError::with_detail(
                c::PRECONDITION_FAILED,
                "The order is at a version If-None-Match names (or it says *); nothing was changed.",
            ),
            OrderError::KeyReused => c::IDEMPOTENCY_KEY_REUSED.into(),
            OrderError::InFlight => ApiError::from(c::IDEMPOTENCY_IN_FLIGHT).retry_after(IN_FLIGHT_RETRY_SECS),
            OrderError::Unexpected(e) => e.into_problem(),
        }
    }
}

impl IntoProblem for SupportError {
    fn problems() -> Vec<ProblemType> {
        with_access(&[c::CONVERSATION_CLOSED, c::VALIDATION_FAILED, c::TOO_MANY_TICKETS])
    }

    fn into_problem(self) -> ApiError {
        match self {
            SupportError::Access(e) => e.into_problem(),
            SupportError::ConversationRequired => ApiError::validation(vec![FieldError::new(
                "conversation_id",
                "is required of staff: name the conversation to write to",
            )]),
            SupportError::ConversationClosed => c::CONVERSATION_CLOSED.into(),
            // A state transition that does not exist (SPEC §3: 409).
            SupportError::CannotReopen => ApiError::with_detail(
                c::CONVERSATION_CLOSED,
                "A closed conversation is not reopened; the customer's next message opens a new one.",
            ),
            SupportError::TooManyTickets { retry_after } => {
                ApiError::from(c::TOO_MANY_TICKETS).retry_after(crate::ratelimit::retry_after_secs(retry_after))
            }
            SupportError::Unexpected(e) => e.into_problem(),
        }
    }
}

#[cfg(test)]
mod tests {
    use coffee_domain::error::{InfraError, RepoError};
    use uuid::Uuid;

    use super::*;

    fn unavailable() -> Unexpected {
        RepoError::Unavailable("connection refused".into()).into()
    }

    fn failed() -> Unexpected {
        InfraError::new("disk full").into()
    }

    fn access_errors() -> Vec<AccessError> {
        vec![
            AccessError::Unauthenticated,
            AccessError::SessionEnded,
            AccessError::Forbidden,
            AccessError::NotFound,
            AccessError::Unexpected(unavailable()),
            AccessError::Unexpected(failed()),
        ]
    }

    /// Every error of `samples` maps to one of `E::problems()`, and every one
    /// of those is produced by some sample (nothing documented that cannot happen).
    fn check<E: IntoProblem>(samples: Vec<E>) {
        let documented = E::problems();
        let produced: Vec<ProblemType> = samples.into_iter().map(|e| e.into_problem().problem()).collect();
        for p in &produced {
            assert!(documented.contains(p), "{} {} is produced but not documented", p.status, p.code);
        }
        for p in &documented {
            assert!(produced.contains(p), "{} {} is documented but never produced", p.status, p.code);
        }
    }

    #[test]
    fn too_many_tickets_says_when_to_retry_rounded_up() {
        let refused = SupportError::TooManyTickets { retry_after: std::time::Duration::from_millis(1_500) };
        let problem = refused.into_problem();
        assert_eq!((problem.problem().code, problem.retry_after), ("too_many_tickets", Some(2)));
    }

    #[test]
    fn a_request_still_running_and_a_spent_code_say_whether_to_retry() {
        let in_flight = OrderError::InFlight.into_problem();
        assert_eq!(
            (in_flight.problem().code, in_flight.retry_after),
            ("idempotency_in_flight", Some(IN_FLIGHT_RETRY_SECS))
        );
        let spent = AuthError::TooManyAttempts { retry_after_secs: 42 }.into_problem();
        assert_eq!((spent.problem().code, spent.retry_after), ("too_many_attempts", Some(42)));
        // Past the account's attempts a new code would not help: no Retry-After, and the link is named.
        let exhausted = AuthError::CodesExhausted.into_problem();
        assert_eq!((exhausted.problem().code, exhausted.retry_after), ("too_many_attempts", None));
        assert!(exhausted.describe().contains("link"), "{}", exhausted.describe());
    }

    #[test]
    fn media_errors_are_documented_exactly() {
        use crate::routes::media::MediaError;
        check(vec![
            MediaError::NoSuchImage,
            MediaError::PreconditionFailed,
            MediaError::RangeNotSatisfiable,
            MediaError::UnreadableRange,
            MediaError::Unreadable("permission denied".into()),
        ]);
    }

    #[test]
    fn access_errors_map_to_401_403_404_and_5xx() {
        check(access_errors());
    }

    #[test]
    fn auth_errors_are_documented_exactly() {
        check(vec![
            AuthError::EmailTaken,
            AuthError::InvalidCredentials,
            AuthError::EmailNotVerified,
            AuthError::InvalidVerificationCode,
            AuthError::TooManyAttempts { retry_after_secs: 30 },
            AuthError::CodesExhausted,
            AuthError::AlreadyVerified,
            AuthError::InvalidToken,
            AuthError::TokenExpired,
            AuthError::RefreshTokenReused,
            AuthError::Unexpected(InfraError::busy("password hashing queue is full").into()),
            AuthError::Unexpected(unavailable()),
            AuthError::Unexpected(failed()),
        ]);
    }

    #[test]
    fn user_errors_are_documented_exactly() {
        let mut samples: Vec<UserError> = access_errors().into_iter().map(UserError::from).collect();
        samples.extend([UserError::EmailTaken, UserError::LastAdmin, UserError::Unexpected(failed())]);
        check(samples);
    }

    #[test]
    fn catalog_errors_are_documented_exactly() {
        let mut samples: Vec<CatalogError> = access_errors().into_iter().map(CatalogError::from).collect();
        samples.extend([
            CatalogError::NameTaken,
            CatalogError::UnknownCategories(vec![Uuid::now_v7()]),
            CatalogError::UnsupportedImage,
            CatalogError::Unexpected(failed()),
        ]);
        check(samples);
    }

    #[test]
    fn cart_errors_are_documented_exactly() {
        let mut samples: Vec<CartError> = access_errors().into_iter().map(CartError::from).collect();
        samples.extend([
            CartError::ProductUnavailable(Uuid::now_v7()),
            CartError::Invalid(FieldError::new("quantity", "too many")),
            CartError::Unexpected(failed()),
        ]);
        check(samples);
    }

    #[test]
    fn order_errors_are_documented_exactly() {
        use coffee_domain::order::OrderStatus as S;
        let mut samples: Vec<OrderError> = access_errors().into_iter().map(OrderError::from).collect();
        samples.extend([
            OrderError::CartEmpty,
            OrderError::ProductUnavailable(vec![Uuid::now_v7()]),
            OrderError::Invalid(vec![FieldError::new("pickup_at", "too soon")]),
            OrderError::ShopClosed,
            OrderError::Transition(TransitionError::StaffOnly(S::Confirmed)),
            OrderError::Transition(TransitionError::Invalid { from: S::Completed, to: S::Pending }),
            OrderError::NotPending(S::Ready),
            OrderError::PreconditionFailed(Condition::IfMatch),
            OrderError::PreconditionFailed(Condition::IfNoneMatch),
            OrderError::KeyReused,
            OrderError::InFlight,
            OrderError::Unexpected(failed()),
        ]);
        check(samples);
    }

    #[test]
    fn unavailable_products_are_listed_in_the_problem() {
        let id = Uuid::now_v7();
        let body: serde_json::Value =
            serde_json::from_slice(&OrderError::ProductUnavailable(vec![id]).into_problem().body(None))
                .unwrap_or_default();
        assert_eq!(body["code"], "product_unavailable");
        assert_eq!(body["product_ids"], serde_json::json!([id]));
    }

    #[test]
    fn a_dependency_that_is_down_is_a_503_with_retry_after_and_no_internals() {
        let e = unavailable().into_problem();
        assert_eq!((e.problem().status, e.code()), (503, "service_unavailable"));
        let body = String::from_utf8(e.body(None)).unwrap_or_default();
        assert!(!body.contains("connection refused"), "{body}");
        assert!(e.retry_after.is_some());
    }

    #[test]
    fn a_full_hashing_queue_is_a_503_busy_with_retry_after_and_no_internals() {
        let e = AuthError::from(InfraError::busy("password hashing queue is full")).into_problem();
        assert_eq!((e.problem().status, e.code()), (503, "busy"));
        assert_eq!(e.retry_after, Some(1));
        let body = String::from_utf8(e.body(None)).unwrap_or_default();
        assert!(!body.contains("queue is full"), "{body}");
    }

    #[test]
    fn support_errors_are_documented_exactly() {
        let mut samples: Vec<SupportError> = access_errors().into_iter().map(SupportError::from).collect();
        samples.extend([
            SupportError::ConversationRequired,
            SupportError::ConversationClosed,
            SupportError::CannotReopen,
            SupportError::TooManyTickets { retry_after: std::time::Duration::from_millis(1_500) },
            SupportError::Unexpected(failed()),
        ]);
        check(samples);
    }
}
