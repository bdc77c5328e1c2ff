//! Which of its use case's problem codes each operation documents.
//!
//! Handlers return `Problem<E>`, and `E` (one error type per use-case
//! family: auth, users, catalog, cart, orders, support) names every code of
//! the family, so by type alone `GET /orders/{id}` would list `cart_empty`
//! and signup `refresh_token_reused`. [`OWN_CODES`] says which of its
//! family's own codes each operation can produce; the others are left out.
//! Codes of other sources stay: the extractors (malformed bodies, tokens),
//! CSRF, rate limits, access (404, 403), validation and a dependency that is
//! down — except that a read has no 403 unless only an admin may make it
//! ([`ADMIN_READS`]) and no 404 without an id in its path, and the menu's
//! public reads ([`PUBLIC_READS`]) take no token and no body. The runtime
//! conformance check ([`super::Conformance`]) fails any test in which an
//! operation answers with a code its document lacks, so a wrong entry
//! cannot go unnoticed where tests reach; an operation missing
//! from the table keeps everything its type names.

use std::collections::HashSet;

use coffee_domain::auth::AuthError;
use coffee_domain::cart::CartError;
use coffee_domain::catalog::CatalogError;
use coffee_domain::order::OrderError;
use coffee_domain::support::SupportError;
use coffee_domain::user::UserError;

use crate::problem::catalogue as c;
use crate::problem::{IntoProblem, ProblemType};

/// The codes of a use-case family's own (not access, validation or
/// dependency) problems.
type Family = fn() -> Vec<ProblemType>;

/// `(operationId, family, the family's codes it can produce)`.
const OWN_CODES: [(&str, Family, &[ProblemType]); 37] = [
    ("signup", AuthError::problems, &[c::EMAIL_TAKEN, c::BUSY]),
    ("verify", AuthError::problems, &[c::INVALID_VERIFICATION_CODE, c::ALREADY_VERIFIED, c::TOO_MANY_ATTEMPTS]),
    ("verifyLink", AuthError::problems, &[c::INVALID_VERIFICATION_CODE]),
    ("resendVerification", AuthError::problems, &[]),
    ("login", AuthError::problems, &[c::INVALID_CREDENTIALS, c::EMAIL_NOT_VERIFIED, c::BUSY]),
    ("refresh", AuthError::problems, &[c::INVALID_TOKEN, c::TOKEN_EXPIRED, c::REFRESH_TOKEN_REUSED]),
    ("logout", AuthError::problems, &[c::INVALID_TOKEN, c::TOKEN_EXPIRED]),
    ("updateMe", UserError::problems, &[]),
    ("listUsers", UserError::problems, &[]),
    ("getUser", UserError::problems, &[]),
    ("deleteUser", UserError::problems, &[c::LAST_ADMIN]),
    ("listCategories", CatalogError::problems, &[]),
    ("getCategory", CatalogError::problems, &[]),
    ("createCategory", CatalogError::problems, &[c::CATEGORY_NAME_TAKEN]),
    ("putCategory", CatalogError::problems, &[c::CATEGORY_NAME_TAKEN]),
    ("patchCategory", CatalogError::problems, &[c::CATEGORY_NAME_TAKEN]),
    ("deleteCategory", CatalogError::problems, &[]),
    ("listProducts", CatalogError::problems, &[]),
    ("getProduct", CatalogError::problems, &[]),
    ("createProduct", CatalogError::problems, &[]),
    ("putProduct", CatalogError::problems, &[]),
    ("patchProduct", CatalogError::problems, &[]),
    ("deleteProduct", CatalogError::problems, &[]),
    ("uploadProductImage", CatalogError::problems, &[c::UNSUPPORTED_IMAGE_TYPE]),
    ("getCart", CartError::problems, &[]),
    ("addToCart", CartError::problems, &[c::PRODUCT_UNAVAILABLE]),
    ("getCartItem", CartError::problems, &[]),
    ("updateCartItem", CartError::problems, &[]),
    ("removeCartItem", CartError::problems, &[]),
    ("clearCart", CartError::problems, &[]),
    ("listOrders", OrderError::problems, &[]),
    ("getOrder", OrderError::problems, &[]),
    ("deleteOrder", OrderError::problems, &[c::ORDER_NOT_PENDING, c::PRECONDITION_FAILED]),
    ("listConversations", SupportError::problems, &[]),
    ("getConversation", SupportError::problems, &[]),
    ("listMessages", SupportError::problems, &[]),
    ("createTicket", SupportError::problems, &[c::TOO_MANY_TICKETS]),
];

/// Codes of any family that are not the family's own. (An account gone is
/// answered as `invalid_token`, one of [`BEARER`].)
const SHARED: [ProblemType; 5] =
    [c::INTERNAL_ERROR, c::SERVICE_UNAVAILABLE, c::NOT_FOUND, c::FORBIDDEN, c::VALIDATION_FAILED];

/// The bearer token's codes: the access check's own on every protected
/// operation; on the public auth operations only what the table keeps.
const BEARER: [ProblemType; 4] = [c::MISSING_TOKEN, c::MALFORMED_AUTHORIZATION, c::INVALID_TOKEN, c::TOKEN_EXPIRED];

/// The public auth operations, whose token codes are the auth family's own.
const PUBLIC_AUTH: [&str; 7] = ["signup", "verify", "verifyLink", "resendVerification", "login", "refresh", "logout"];

/// The menu's public reads. They take no caller, so no token code, and no
/// body, so no 422 (and, as every read, no 403 and no 404 for a list).
const PUBLIC_READS: [&str; 4] = ["listCategories", "getCategory", "listProducts", "getProduct"];

/// The reads only an admin may make: a read refuses nobody else with 403
/// (another person's resource is a 404, `Caller::may_see`).
const ADMIN_READS: [&str; 1] = ["listUsers"];

/// Keeps, of its family's own codes, those operation `id` (`method` on
/// `path`) can produce.
pub(super) fn narrow(id: &str, method: &str, path: &str, problems: &mut Vec<(u16, Vec<(String, String)>)>) {
    // The access codes every family carries, where a read cannot produce
    // them: a 403 but for an admin's read, a 404 without an id in the path.
    if method.eq_ignore_ascii_case("get") {
        let cannot = |code: &str| {
            (code == c::FORBIDDEN.code && !ADMIN_READS.contains(&id))
                || (code == c::NOT_FOUND.code && !path.contains('{'))
        };
        for (_, listed) in problems.iter_mut() {
            listed.retain(|(code, _)| !cannot(code));
        }
    }
    if PUBLIC_READS.contains(&id) {
        for (_, listed) in problems.iter_mut() {
            listed.retain(|(code, _)| !(named(&BEARER, code) || code == c::VALIDATION_FAILED.code));
        }
    }
    let Some((_, family, keep)) = OWN_CODES.iter().find(|(op, _, _)| *op == id) else {
        problems.retain(|(_, listed)| !listed.is_empty());
        return;
    };
    let bearer_is_shared = !PUBLIC_AUTH.contains(&id);
    let own: HashSet<&str> = family()
        .into_iter()
        .map(|p| p.code)
        .filter(|code| !(named(&SHARED, code) || (bearer_is_shared && named(&BEARER, code))))
        .collect();
    for (_, listed) in problems.iter_mut() {
        listed.retain(|(code, _)| !own.contains(code.as_str()) || named(keep, code));
    }
    problems.retain(|(_, listed)| !listed.is_empty());
}

/// Whether `problems` holds the one with `code`.
fn named(problems: &[ProblemType], code: &str) -> bool {
    problems.iter().any(|p| p.code == code)
}
