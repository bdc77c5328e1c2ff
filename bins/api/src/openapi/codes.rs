//! Which of its use case's problem codes each operation documents.
//!
//! Handlers return `Problem<E>`, and `E` (one error type per use-case
//! family: auth, users, catalog, cart, orders, support) names every code of
//! the family, so by type alone `GET /orders/{id}` would list `cart_empty`
//! and signup `refresh_token_reused`. [`OWN_CODES`] says which of its
//! family's own codes each operation can produce; the others are left out.
//! Codes of other sources stay: the extractors (malformed bodies, tokens),
//! CSRF, rate limits, access (404, 403), validation and a dependency that is
//! down. The runtime conformance check ([`super::Conformance`]) fails any
//! test in which an operation answers with a code its document lacks, so a
//! wrong entry cannot go unnoticed where tests reach; an operation missing
//! from the table keeps everything its type names.

use std::collections::HashSet;

use coffee_domain::auth::AuthError;
use coffee_domain::cart::CartError;
use coffee_domain::catalog::CatalogError;
use coffee_domain::order::OrderError;
use coffee_domain::support::SupportError;
use coffee_domain::user::UserError;

use crate::problem::{IntoProblem, ProblemType};

/// The codes of a use-case family's own (not access, validation or
/// dependency) problems.
type Family = fn() -> Vec<ProblemType>;

/// `(operationId, family, the family's codes it can produce)`.
const OWN_CODES: [(&str, Family, &[&str]); 36] = [
    ("signup", AuthError::problems, &["email_taken", "busy"]),
    ("verify", AuthError::problems, &["invalid_verification_code", "already_verified", "too_many_attempts"]),
    ("verifyLink", AuthError::problems, &["invalid_verification_code"]),
    ("resendVerification", AuthError::problems, &[]),
    ("login", AuthError::problems, &["invalid_credentials", "email_not_verified", "busy"]),
    ("refresh", AuthError::problems, &["invalid_token", "token_expired", "refresh_token_reused"]),
    ("logout", AuthError::problems, &["invalid_token", "token_expired"]),
    ("updateMe", UserError::problems, &[]),
    ("listUsers", UserError::problems, &[]),
    ("getUser", UserError::problems, &[]),
    ("deleteUser", UserError::problems, &["last_admin"]),
    ("listCategories", CatalogError::problems, &[]),
    ("getCategory", CatalogError::problems, &[]),
    ("createCategory", CatalogError::problems, &["category_name_taken"]),
    ("putCategory", CatalogError::problems, &["category_name_taken"]),
    ("patchCategory", CatalogError::problems, &["category_name_taken"]),
    ("deleteCategory", CatalogError::problems, &[]),
    ("listProducts", CatalogError::problems, &[]),
    ("getProduct", CatalogError::problems, &[]),
    ("createProduct", CatalogError::problems, &[]),
    ("putProduct", CatalogError::problems, &[]),
    ("patchProduct", CatalogError::problems, &[]),
    ("deleteProduct", CatalogError::problems, &[]),
    ("uploadProductImage", CatalogError::problems, &["unsupported_image_type"]),
    ("getCart", CartError::problems, &[]),
    ("addToCart", CartError::problems, &["product_unavailable"]),
    ("updateCartItem", CartError::problems, &[]),
    ("removeCartItem", CartError::problems, &[]),
    ("clearCart", CartError::problems, &[]),
    ("listOrders", OrderError::problems, &[]),
    ("getOrder", OrderError::problems, &[]),
    ("deleteOrder", OrderError::problems, &["order_not_pending", "precondition_failed"]),
    ("listConversations", SupportError::problems, &[]),
    ("getConversation", SupportError::problems, &[]),
    ("listMessages", SupportError::problems, &[]),
    ("createTicket", SupportError::problems, &[]),
];

/// Codes of any family that are not the family's own.
const SHARED: [&str; 6] =
    ["internal_error", "service_unavailable", "not_found", "forbidden", "account_gone", "validation_failed"];

/// The bearer token's codes: the access check's own on every protected
/// operation; on the public auth operations only what the table keeps.
const BEARER: [&str; 4] = ["missing_token", "malformed_authorization", "invalid_token", "token_expired"];

/// The public auth operations, whose token codes are the auth family's own.
const PUBLIC_AUTH: [&str; 7] = ["signup", "verify", "verifyLink", "resendVerification", "login", "refresh", "logout"];

/// Keeps, of its family's own codes, those operation `id` can produce.
pub(super) fn narrow(id: &str, problems: &mut Vec<(u16, Vec<(String, String)>)>) {
    let Some((_, family, keep)) = OWN_CODES.iter().find(|(op, _, _)| *op == id) else { return };
    let bearer_is_shared = !PUBLIC_AUTH.contains(&id);
    let own: HashSet<&str> = family()
        .into_iter()
        .map(|p| p.code)
        .filter(|code| !(SHARED.contains(code) || (bearer_is_shared && BEARER.contains(code))))
        .collect();
    for (_, listed) in problems.iter_mut() {
        listed.retain(|(code, _)| !own.contains(code.as_str()) || keep.contains(&code.as_str()));
    }
    problems.retain(|(_, listed)| !listed.is_empty());
}
