#![allow(clippy::unwrap_used)]

use chrono::TimeDelta;

use super::fakes::CountingHasher;
use super::*;
use crate::outbox::fakes::SentVerification;
use crate::testing::{Fakes, email, password, run};

const BASE_URL: &str = "https://coffee.example";
const PASSWORD: &str = "correct horse";

fn settings() -> AuthSettings {
    AuthSettings {
        access_ttl: TimeDelta::minutes(15),
        refresh_ttl: TimeDelta::days(30),
        code_ttl: TimeDelta::hours(24),
        resend_cooldown: TimeDelta::seconds(60),
        public_base_url: BASE_URL.to_owned(),
    }
}

fn setup() -> (Fakes, AuthService) {
    let fakes = Fakes::new();
    let auth = AuthService::new(fakes.auth_ports(), settings());
    (fakes, auth)
}

fn signup_request(address: &str) -> Signup {
    Signup {
        email: email(address),
        password: password(PASSWORD),
        first_name: Some(PersonName::parse("first_name", "Ann").unwrap()),
        last_name: None,
        phone: None,
    }
}

/// Signs `address` up and returns the user with the verification mail it got.
fn signed_up(fakes: &Fakes, auth: &AuthService, address: &str) -> (User, SentVerification) {
    let user = run(auth.signup(signup_request(address))).unwrap();
    (user, fakes.outbox.last_verification())
}

fn by_code(address: &str, code: &str) -> VerificationProof {
    VerificationProof::Code { email: email(address), code: code.to_owned() }
}

/// A signed-up, verified user.
fn verified(fakes: &Fakes, auth: &AuthService, address: &str) -> User {
    let (_, mail) = signed_up(fakes, auth, address);
    run(auth.verify(by_code(address, &mail.code))).unwrap()
}

/// A code the fake secrets never hand out.
const WRONG_CODE: &str = "999999";

mod sessions;
mod signup;

// ---------------------------------------------------------------- ensure_admin

#[test]
fn ensure_admin_creates_a_verified_admin_once() {
    let (fakes, auth) = setup();

    let created = run(auth.ensure_admin(email("boss@example.com"), password(PASSWORD))).unwrap();
    let again = run(auth.ensure_admin(email("Boss@Example.com"), password("another password"))).unwrap();

    assert!(created);
    assert!(!again);
    assert_eq!(fakes.users.count(), 1);
    assert_eq!(fakes.hasher.hashes(), 1, "an existing admin costs no hashing at start-up");
    assert_eq!(fakes.outbox.len(), 0, "an admin needs no verification mail");
    let admin = run(fakes.users.find_by_email(&email("boss@example.com"))).unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(admin.is_verified);
    assert_eq!(admin.verified_at, Some(fakes.now()));
    let pair = run(auth.login("boss@example.com", PASSWORD)).unwrap();
    assert_eq!(auth.authenticate(&pair.access_token).unwrap().role, Role::Admin);
}
