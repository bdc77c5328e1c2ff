//! Sign-up, verification by code and by link, and resending.

use super::*;

// ---------------------------------------------------------------- signup

#[test]
fn signup_stores_an_unverified_user_and_queues_one_verification_mail() {
    let (fakes, auth) = setup();

    let user = run(auth.signup(signup_request("  Ann@Example.com "))).unwrap();

    assert_eq!(user.email.as_str(), "ann@example.com");
    assert_eq!(user.role, Role::User);
    assert!(!user.is_verified);
    assert_eq!(user.verified_at, None);
    assert_eq!(user.first_name.as_deref(), Some("Ann"));
    assert_eq!(fakes.users.get(user.id), Some(user.clone()));
    assert_eq!(fakes.users.password_hash_of(user.id), Some(CountingHasher::hash_of(PASSWORD)));

    let mails = fakes.outbox.verification_mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to, "ann@example.com");
    assert_eq!(mail.code.len(), 6);
    assert!(mail.code.chars().all(|c| c.is_ascii_digit()), "code {:?} is not 6 digits", mail.code);
    assert!(!mail.token.is_empty());
    assert_eq!(mail.link, format!("{BASE_URL}/auth/verify?token={}", mail.token));
    assert_eq!(mail.valid_minutes, 24 * 60);
}

#[test]
fn the_verification_link_has_a_single_slash_when_the_base_url_ends_with_one() {
    let fakes = Fakes::new();
    let auth =
        AuthService::new(fakes.auth_ports(), AuthSettings { public_base_url: format!("{BASE_URL}/"), ..settings() });

    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");

    assert_eq!(mail.link, format!("{BASE_URL}/auth/verify?token={}", mail.token));
}

#[test]
fn signup_with_a_registered_email_in_another_case_is_refused_without_a_second_mail() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");

    let err = run(auth.signup(signup_request("ANN@Example.COM"))).unwrap_err();

    assert!(matches!(err, AuthError::EmailTaken), "{err:?}");
    assert_eq!(fakes.users.count(), 1);
    assert_eq!(fakes.outbox.len(), 1);
}

#[test]
fn the_right_code_verifies_the_user_at_the_current_time() {
    let (fakes, auth) = setup();
    let (user, mail) = signed_up(&fakes, &auth, "ann@example.com");
    fakes.clock.advance(TimeDelta::minutes(5));

    let verified = run(auth.verify(by_code("ann@example.com", &mail.code))).unwrap();

    assert_eq!(verified.id, user.id);
    assert!(verified.is_verified);
    assert_eq!(verified.verified_at, Some(fakes.now()));
    assert_eq!(fakes.users.get(user.id), Some(verified));
}

#[test]
fn a_code_pasted_with_surrounding_spaces_is_accepted() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");

    let verified = run(auth.verify(by_code("ann@example.com", &format!(" {}\n", mail.code)))).unwrap();

    assert!(verified.is_verified);
}

#[test]
fn a_wrong_code_is_refused_and_leaves_the_user_unverified() {
    let (fakes, auth) = setup();
    let (user, _) = signed_up(&fakes, &auth, "ann@example.com");

    let err = run(auth.verify(by_code("ann@example.com", WRONG_CODE))).unwrap_err();

    assert!(matches!(err, AuthError::InvalidVerificationCode), "{err:?}");
    assert!(!fakes.users.get(user.id).unwrap().is_verified);
}

#[test]
fn the_right_code_still_works_after_four_wrong_ones() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");
    for _ in 0..MAX_CODE_ATTEMPTS - 1 {
        let err = run(auth.verify(by_code("ann@example.com", WRONG_CODE))).unwrap_err();
        assert!(matches!(err, AuthError::InvalidVerificationCode), "{err:?}");
    }

    let verified = run(auth.verify(by_code("ann@example.com", &mail.code))).unwrap();

    assert!(verified.is_verified);
}

#[test]
fn the_fifth_wrong_code_kills_the_code_so_even_the_right_one_is_refused() {
    let (fakes, auth) = setup();
    let (user, mail) = signed_up(&fakes, &auth, "ann@example.com");
    for _ in 0..MAX_CODE_ATTEMPTS - 1 {
        run(auth.verify(by_code("ann@example.com", WRONG_CODE))).unwrap_err();
    }
    fakes.clock.advance(TimeDelta::seconds(10));

    let fifth = run(auth.verify(by_code("ann@example.com", WRONG_CODE))).unwrap_err();
    let right = run(auth.verify(by_code("ann@example.com", &mail.code))).unwrap_err();

    assert!(matches!(fifth, AuthError::TooManyAttempts { retry_after_secs: 50 }), "{fifth:?}");
    assert!(matches!(right, AuthError::TooManyAttempts { retry_after_secs: 50 }), "{right:?}");
    assert!(!fakes.users.get(user.id).unwrap().is_verified);
}

#[test]
fn a_fresh_code_works_again_after_too_many_attempts() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");
    for _ in 0..MAX_CODE_ATTEMPTS {
        run(auth.verify(by_code("ann@example.com", WRONG_CODE))).unwrap_err();
    }
    fakes.clock.advance(settings().resend_cooldown);

    run(auth.resend(email("ann@example.com"))).unwrap();
    let fresh = fakes.outbox.last_verification();

    assert!(run(auth.verify(by_code("ann@example.com", &fresh.code))).unwrap().is_verified);
}

#[test]
fn resends_give_new_codes_but_no_new_attempts_past_the_accounts_limit() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");
    let mut last = None;
    for round in 0..MAX_ACCOUNT_CODE_ATTEMPTS / MAX_CODE_ATTEMPTS {
        if round > 0 {
            fakes.clock.advance(settings().resend_cooldown);
            run(auth.resend(email("ann@example.com"))).unwrap();
        }
        for _ in 0..MAX_CODE_ATTEMPTS {
            last = run(auth.verify(by_code("ann@example.com", WRONG_CODE))).err();
        }
    }
    assert!(matches!(last, Some(AuthError::CodesExhausted)), "the last guess says so: {last:?}");
    // A new code no longer verifies the account; its link still does.
    fakes.clock.advance(settings().resend_cooldown);
    run(auth.resend(email("ann@example.com"))).unwrap();
    let fresh = fakes.outbox.last_verification();
    let refused = run(auth.verify(by_code("ann@example.com", &fresh.code))).unwrap_err();
    assert!(matches!(refused, AuthError::CodesExhausted), "{refused:?}");
    assert!(run(auth.verify(VerificationProof::Token(fresh.token))).unwrap().is_verified);
}

#[test]
fn a_code_works_until_it_expires() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");
    signed_up(&fakes, &auth, "bob@example.com");
    let ann = fakes.outbox.verification_mails()[0].clone();
    let bob = fakes.outbox.last_verification();

    fakes.clock.advance(settings().code_ttl - TimeDelta::seconds(1));
    assert!(run(auth.verify(by_code("ann@example.com", &ann.code))).unwrap().is_verified);

    fakes.clock.advance(TimeDelta::seconds(1));
    let err = run(auth.verify(by_code("bob@example.com", &bob.code))).unwrap_err();
    assert!(matches!(err, AuthError::InvalidVerificationCode), "{err:?}");
}

#[test]
fn verifying_an_already_verified_address_is_a_conflict() {
    let (fakes, auth) = setup();
    verified(&fakes, &auth, "ann@example.com");

    let err = run(auth.verify(by_code("ann@example.com", WRONG_CODE))).unwrap_err();

    assert!(matches!(err, AuthError::AlreadyVerified), "{err:?}");
}

#[test]
fn verifying_an_unknown_address_is_an_invalid_code() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");

    let err = run(auth.verify(by_code("nobody@example.com", &mail.code))).unwrap_err();

    assert!(matches!(err, AuthError::InvalidVerificationCode), "{err:?}");
}

// ---------------------------------------------------------------- verify by link token

#[test]
fn the_link_token_verifies_the_user() {
    let (fakes, auth) = setup();
    let (user, mail) = signed_up(&fakes, &auth, "ann@example.com");

    let verified = run(auth.verify(VerificationProof::Token(mail.token))).unwrap();

    assert_eq!(verified.id, user.id);
    assert!(verified.is_verified);
    assert_eq!(verified.verified_at, Some(fakes.now()));
}

#[test]
fn posting_a_used_link_token_is_a_conflict() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");
    run(auth.verify(VerificationProof::Token(mail.token.clone()))).unwrap();

    let err = run(auth.verify(VerificationProof::Token(mail.token))).unwrap_err();

    assert!(matches!(err, AuthError::AlreadyVerified), "{err:?}");
}

#[test]
fn opening_the_link_again_still_succeeds_and_keeps_the_first_verification_time() {
    let (fakes, auth) = setup();
    let (user, mail) = signed_up(&fakes, &auth, "ann@example.com");
    let first = run(auth.verify_link(&mail.token)).unwrap();
    assert!(first.newly);
    let first = first.user;
    fakes.clock.advance(TimeDelta::minutes(1));

    let again = run(auth.verify_link(&mail.token)).unwrap();
    assert!(!again.newly, "the second opening finds the account verified");
    let again = again.user;

    assert_eq!(again.id, user.id);
    assert!(again.is_verified);
    assert_eq!(again.verified_at, first.verified_at);
}

#[test]
fn opening_the_link_of_an_address_verified_by_code_succeeds() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");
    run(auth.verify(by_code("ann@example.com", &mail.code))).unwrap();

    assert!(run(auth.verify_link(&mail.token)).unwrap().user.is_verified);
}

#[test]
fn opening_the_link_after_it_expired_still_succeeds_once_the_user_is_verified() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");
    run(auth.verify_link(&mail.token)).unwrap();
    fakes.clock.advance(settings().code_ttl + TimeDelta::days(1));

    assert!(run(auth.verify_link(&mail.token)).unwrap().user.is_verified);
}

#[test]
fn an_expired_link_is_refused() {
    let (fakes, auth) = setup();
    let (user, mail) = signed_up(&fakes, &auth, "ann@example.com");
    fakes.clock.advance(settings().code_ttl);

    let get = run(auth.verify_link(&mail.token)).unwrap_err();
    let post = run(auth.verify(VerificationProof::Token(mail.token))).unwrap_err();

    assert!(matches!(get, AuthError::InvalidVerificationCode), "{get:?}");
    assert!(matches!(post, AuthError::InvalidVerificationCode), "{post:?}");
    assert!(!fakes.users.get(user.id).unwrap().is_verified);
}

#[test]
fn an_unknown_link_token_is_refused() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");

    let get = run(auth.verify_link("token-that-was-never-sent")).unwrap_err();
    let post = run(auth.verify(VerificationProof::Token("token-that-was-never-sent".to_owned()))).unwrap_err();

    assert!(matches!(get, AuthError::InvalidVerificationCode), "{get:?}");
    assert!(matches!(post, AuthError::InvalidVerificationCode), "{post:?}");
}

// ---------------------------------------------------------------- resend

#[test]
fn resend_replaces_the_code_and_the_link() {
    let (fakes, auth) = setup();
    let (_, old) = signed_up(&fakes, &auth, "ann@example.com");
    fakes.clock.advance(settings().resend_cooldown);

    run(auth.resend(email("ann@example.com"))).unwrap();
    let new = fakes.outbox.last_verification();

    assert_ne!(new.code, old.code);
    let err = run(auth.verify(by_code("ann@example.com", &old.code))).unwrap_err();
    assert!(matches!(err, AuthError::InvalidVerificationCode), "{err:?}");
    let err = run(auth.verify_link(&old.token)).unwrap_err();
    assert!(matches!(err, AuthError::InvalidVerificationCode), "{err:?}");
    assert!(run(auth.verify(by_code("ann@example.com", &new.code))).unwrap().is_verified);
}

#[test]
fn resend_within_the_cooldown_sends_nothing_and_keeps_the_code() {
    let (fakes, auth) = setup();
    let (_, mail) = signed_up(&fakes, &auth, "ann@example.com");
    fakes.clock.advance(settings().resend_cooldown - TimeDelta::seconds(1));

    run(auth.resend(email("ann@example.com"))).unwrap();

    assert_eq!(fakes.outbox.len(), 1);
    assert!(run(auth.verify(by_code("ann@example.com", &mail.code))).unwrap().is_verified);
}

#[test]
fn resend_once_the_cooldown_has_passed_sends_a_new_mail() {
    let (fakes, auth) = setup();
    signed_up(&fakes, &auth, "ann@example.com");
    fakes.clock.advance(settings().resend_cooldown);

    run(auth.resend(email("Ann@Example.com"))).unwrap();

    let mails = fakes.outbox.verification_mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].to, "ann@example.com");

    run(auth.resend(email("ann@example.com"))).unwrap();
    assert_eq!(fakes.outbox.len(), 2, "the cooldown restarts with every mail");
}

#[test]
fn resend_to_an_unknown_or_verified_address_answers_ok_and_sends_nothing() {
    let (fakes, auth) = setup();
    verified(&fakes, &auth, "ann@example.com");
    fakes.clock.advance(TimeDelta::hours(1));

    run(auth.resend(email("ann@example.com"))).unwrap();
    run(auth.resend(email("nobody@example.com"))).unwrap();

    assert_eq!(fakes.outbox.len(), 1);
}
