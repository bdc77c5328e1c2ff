//! Login, refresh-token rotation, logout, and the access tokens of a login.

use super::*;
use crate::error::InfraError;
use crate::user::UserChanges;

// ---------------------------------------------------------------- login

#[test]
fn login_returns_tokens_whose_access_part_expires_with_the_access_ttl() {
    let (fakes, auth) = setup();
    let user = verified(&fakes, &auth, "ann@example.com");

    let pair = run(auth.login("Ann@Example.com", PASSWORD)).unwrap();

    assert_eq!(pair.expires_in, 15 * 60);
    let claims = auth.authenticate(&pair.access_token).unwrap();
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.role, Role::User);
    assert_eq!(claims.exp, fakes.now() + settings().access_ttl);

    fakes.clock.advance(settings().access_ttl);
    let err = auth.authenticate(&pair.access_token).unwrap_err();
    assert!(matches!(err, AuthError::TokenExpired), "{err:?}");
}

#[test]
fn a_refresh_token_is_not_accepted_as_an_access_token() {
    let (fakes, auth) = setup();
    verified(&fakes, &auth, "ann@example.com");
    let pair = run(auth.login("ann@example.com", PASSWORD)).unwrap();

    let err = auth.authenticate(&pair.refresh_token).unwrap_err();

    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}

#[test]
fn login_with_a_wrong_password_is_invalid_credentials_after_one_verify() {
    let (fakes, auth) = setup();
    verified(&fakes, &auth, "ann@example.com");

    let err = run(auth.login("ann@example.com", "wrong password")).unwrap_err();

    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    assert_eq!(fakes.hasher.verifies(), 1);
}

#[test]
fn login_with_an_unknown_email_costs_one_verify_like_a_wrong_password() {
    let (fakes, auth) = setup();
    verified(&fakes, &auth, "ann@example.com");

    let err = run(auth.login("nobody@example.com", PASSWORD)).unwrap_err();

    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    assert_eq!(fakes.hasher.verifies(), 1);
}

#[test]
fn login_with_a_malformed_email_is_invalid_credentials_after_one_verify() {
    let (fakes, auth) = setup();

    let err = run(auth.login("not an address", PASSWORD)).unwrap_err();

    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");
    assert_eq!(fakes.hasher.verifies(), 1);
}

#[test]
fn login_refuses_unverified_users_only_after_a_correct_password() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");

    let wrong = run(auth.login("ann@example.com", "wrong password")).unwrap_err();
    let right = run(auth.login("ann@example.com", PASSWORD)).unwrap_err();

    assert!(matches!(wrong, AuthError::InvalidCredentials), "{wrong:?}");
    assert!(matches!(right, AuthError::EmailNotVerified), "{right:?}");
}

/// A hasher whose password check runs `meanwhile` first: what an admin
/// does while a login waits for a hashing slot.
struct ChangedDuringTheCheck {
    inner: CountingHasher,
    meanwhile: Box<dyn Fn() + Send + Sync>,
}

#[async_trait::async_trait]
impl PasswordHasher for ChangedDuringTheCheck {
    async fn hash(&self, password: &Password) -> Result<String, InfraError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, InfraError> {
        (self.meanwhile)();
        self.inner.verify(password, hash).await
    }
}

#[test]
fn a_login_racing_an_admin_who_ends_the_accounts_sessions_opens_none() {
    let changes = [
        ("un-verified", UserChanges { verified: Some((false, None)), ..UserChanges::default() }),
        ("new address", UserChanges { email: Some(email("ann@new.example")), ..UserChanges::default() }),
    ];
    for (what, change) in changes {
        let (fakes, auth) = setup();
        let ann = verified(&fakes, &auth, "ann@example.com");
        let (users, sessions, now) = (fakes.users.clone(), fakes.sessions.clone(), fakes.now());
        // As the admin's change does: the account first, then its sessions.
        let meanwhile = move || {
            run(users.update(ann.id, &change, now)).unwrap();
            run(sessions.revoke_all(ann.id, now)).unwrap();
        };
        let hasher =
            Arc::new(ChangedDuringTheCheck { inner: CountingHasher::default(), meanwhile: Box::new(meanwhile) });
        let racing = AuthService::new(AuthPorts { hasher, ..fakes.auth_ports() }, settings());

        let refused = run(racing.login("ann@example.com", PASSWORD)).unwrap_err();

        assert!(matches!(refused, AuthError::EmailNotVerified | AuthError::InvalidCredentials), "{what}: {refused:?}");
        assert_eq!(fakes.sessions.live_of(ann.id), 0, "{what}: no session outlives the change");
    }
}

// ---------------------------------------------------------------- refresh and logout

fn logged_in(fakes: &Fakes, auth: &AuthService) -> TokenPair {
    verified(fakes, auth, "ann@example.com");
    run(auth.login("ann@example.com", PASSWORD)).unwrap()
}

#[test]
fn refresh_returns_a_new_working_pair() {
    let (fakes, auth) = setup();
    let first = logged_in(&fakes, &auth);
    fakes.clock.advance(TimeDelta::minutes(20));

    let second = run(auth.refresh(&first.refresh_token)).unwrap();

    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.expires_in, 15 * 60);
    auth.authenticate(&second.access_token).unwrap();
    run(auth.refresh(&second.refresh_token)).unwrap();
}

#[test]
fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let (fakes, auth) = setup();
    let first = logged_in(&fakes, &auth);
    let second = run(auth.refresh(&first.refresh_token)).unwrap();

    let reused = run(auth.refresh(&first.refresh_token)).unwrap_err();
    let successor = run(auth.refresh(&second.refresh_token)).unwrap_err();

    assert!(matches!(reused, AuthError::RefreshTokenReused), "{reused:?}");
    assert!(matches!(successor, AuthError::InvalidToken), "{successor:?}");
}

#[test]
fn a_stolen_token_revokes_only_its_own_login_not_other_devices() {
    let (fakes, auth) = setup();
    let phone = logged_in(&fakes, &auth);
    let laptop = run(auth.login("ann@example.com", PASSWORD)).unwrap();
    run(auth.refresh(&phone.refresh_token)).unwrap();

    run(auth.refresh(&phone.refresh_token)).unwrap_err();

    run(auth.refresh(&laptop.refresh_token)).unwrap();
}

#[test]
fn refresh_refuses_an_access_token() {
    let (fakes, auth) = setup();
    let pair = logged_in(&fakes, &auth);

    let err = run(auth.refresh(&pair.access_token)).unwrap_err();

    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}

#[test]
fn refresh_after_logout_is_refused() {
    let (fakes, auth) = setup();
    let pair = logged_in(&fakes, &auth);

    run(auth.logout(&pair.refresh_token)).unwrap();
    let err = run(auth.refresh(&pair.refresh_token)).unwrap_err();

    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
    run(auth.logout(&pair.refresh_token)).unwrap();
}

#[test]
fn logout_with_a_rotated_refresh_token_ends_its_successor_too() {
    let (fakes, auth) = setup();
    let first = logged_in(&fakes, &auth);
    let second = run(auth.refresh(&first.refresh_token)).unwrap();

    run(auth.logout(&first.refresh_token)).unwrap();

    let err = run(auth.refresh(&second.refresh_token)).unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}

/// What the access check says of `access_token` now.
fn signed_in(fakes: &Fakes, auth: &AuthService, access_token: &str) -> Result<(), crate::access::AccessError> {
    let claims = auth.authenticate(access_token).unwrap();
    let actor = crate::access::Actor { id: claims.sub, role: claims.role, session: claims.sid };
    run(fakes.access().caller(actor)).map(drop)
}

#[test]
fn access_tokens_name_their_login_and_end_with_it_at_logout_and_theft_detection() {
    use crate::access::AccessError;
    use crate::live::LiveEvent;
    let (fakes, auth) = setup();
    let phone = logged_in(&fakes, &auth);
    let laptop = run(auth.login("ann@example.com", PASSWORD)).unwrap();
    let ann = auth.authenticate(&phone.access_token).unwrap().sub;
    let rotated = run(auth.refresh(&phone.refresh_token)).unwrap();
    signed_in(&fakes, &auth, &phone.access_token).expect("a rotation leaves the older access token working");

    run(auth.logout(&rotated.refresh_token)).unwrap();

    for token in [&phone.access_token, &rotated.access_token] {
        assert!(matches!(signed_in(&fakes, &auth, token), Err(AccessError::SessionEnded)));
    }
    signed_in(&fakes, &auth, &laptop.access_token).expect("the account's other login goes on");
    assert_eq!(fakes.live.events(), [LiveEvent::AccessChanged { user_id: ann }], "its sockets check again");

    run(auth.refresh(&laptop.refresh_token)).unwrap();
    run(auth.refresh(&laptop.refresh_token)).unwrap_err();
    assert!(matches!(signed_in(&fakes, &auth, &laptop.access_token), Err(AccessError::SessionEnded)));
    assert_eq!(fakes.live.events().len(), 2, "theft detection closes the family's sockets too");
}

#[test]
fn an_expired_refresh_token_is_refused() {
    let (fakes, auth) = setup();
    let pair = logged_in(&fakes, &auth);
    fakes.clock.advance(settings().refresh_ttl);

    let err = run(auth.refresh(&pair.refresh_token)).unwrap_err();

    assert!(matches!(err, AuthError::TokenExpired), "{err:?}");
}

#[test]
fn a_garbage_refresh_token_is_refused() {
    let (_, auth) = setup();

    let err = run(auth.refresh("not-a-token")).unwrap_err();

    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}

#[test]
fn refresh_for_a_deleted_account_is_refused() {
    let (fakes, auth) = setup();
    let pair = logged_in(&fakes, &auth);
    let user = run(fakes.users.find_by_email(&email("ann@example.com"))).unwrap().unwrap();
    run(fakes.users.delete(user.id)).unwrap();

    let err = run(auth.refresh(&pair.refresh_token)).unwrap_err();

    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}

#[test]
fn refresh_for_an_account_that_was_unverified_is_refused() {
    let (fakes, auth) = setup();
    let pair = logged_in(&fakes, &auth);
    let user = run(fakes.users.find_by_email(&email("ann@example.com"))).unwrap().unwrap();
    let unverify = crate::user::UserChanges { verified: Some((false, None)), ..Default::default() };
    run(fakes.users.update(user.id, &unverify, fakes.now())).unwrap();

    let err = run(auth.refresh(&pair.refresh_token)).unwrap_err();

    assert!(matches!(err, AuthError::InvalidToken), "{err:?}");
}
