//! Which auth codes each auth operation documents (see [`AUTH_CODES`]).

use std::collections::HashSet;

use crate::problem::IntoProblem as _;

/// The auth use cases share one error type, so each auth handler's
/// `Problem<AuthError>` names every auth code. These are the ones each
/// operation can produce; the others are left out of its documentation
/// (codes from other sources — the body extractor, CSRF, rate limits, a
/// dependency that is down — stay). The runtime conformance check
/// ([`super::Conformance`]) fails any test in which an operation answers with a code
/// its documentation lacks, so a wrong entry here cannot go unnoticed where
/// tests reach.
const AUTH_CODES: [(&str, &[&str]); 7] = [
    ("signup", &["email_taken", "busy"]),
    ("verify", &["invalid_verification_code", "already_verified", "too_many_attempts"]),
    ("verifyLink", &["invalid_verification_code"]),
    ("resendVerification", &[]),
    ("login", &["invalid_credentials", "email_not_verified", "busy"]),
    ("refresh", &["invalid_token", "token_expired", "refresh_token_reused"]),
    ("logout", &["invalid_token", "token_expired"]),
];

/// Keeps, of the auth codes, those operation `id` can produce (see [`AUTH_CODES`]).
pub(super) fn narrow(id: &str, problems: &mut Vec<(u16, Vec<(String, String)>)>) {
    let Some((_, keep)) = AUTH_CODES.iter().find(|(op, _)| *op == id) else { return };
    let own: HashSet<&str> = coffee_domain::auth::AuthError::problems()
        .into_iter()
        .map(|p| p.code)
        .filter(|code| !matches!(*code, "internal_error" | "service_unavailable"))
        .collect();
    for (_, listed) in problems.iter_mut() {
        listed.retain(|(code, _)| !own.contains(code.as_str()) || keep.contains(&code.as_str()));
    }
    problems.retain(|(_, listed)| !listed.is_empty());
}
