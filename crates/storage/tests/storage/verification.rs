//! E-mail verifications: resend cooldown, attempt counting, marking verified.

use coffee_domain::user::{AttemptCount, AttemptLimits, NewVerification, UserRepository, UserWriteError, Verification};
use uuid::Uuid;

use crate::support::{backends, hours, secs, t0, user, verification};

fn limits(per_code: i32, per_account: i32) -> AttemptLimits {
    AttemptLimits { per_code, per_account }
}

fn stored(user_id: Uuid, v: &NewVerification, attempts: i32) -> Verification {
    Verification { user_id, code_hash: v.code_hash.clone(), attempts, expires_at: v.expires_at, sent_at: v.sent_at }
}

#[tokio::test]
async fn replace_verification_inserts_one_when_there_is_none() {
    for env in backends().await {
        let ann = user("ann@example.com").create(&env.users).await;
        let v = verification("new", t0());

        assert!(env.users.replace_verification(ann.id, &v, t0() - secs(60)).await.unwrap());

        assert_eq!(env.users.find_verification(ann.id).await.unwrap(), Some(stored(ann.id, &v, 0)));
        assert_eq!(env.users.find_verification_by_token("token-new").await.unwrap(), Some(stored(ann.id, &v, 0)));
    }
}

#[tokio::test]
async fn replace_verification_within_the_cooldown_keeps_the_old_one() {
    for env in backends().await {
        let old = verification("old", t0());
        let ann = user("ann@example.com").with_verification(old.clone()).create(&env.users).await;
        env.users.count_attempt(ann.id, limits(5, 20)).await.unwrap();

        // A resend 30 s later with a 60 s cooldown: the old mail was sent after `sent_before`.
        let now = t0() + secs(30);
        let replaced = env.users.replace_verification(ann.id, &verification("new", now), now - secs(60)).await.unwrap();

        assert!(!replaced);
        assert_eq!(env.users.find_verification(ann.id).await.unwrap(), Some(stored(ann.id, &old, 1)));
        assert!(env.users.find_verification_by_token("token-old").await.unwrap().is_some());
        assert_eq!(env.users.find_verification_by_token("token-new").await.unwrap(), None);
    }
}

#[tokio::test]
async fn replace_verification_after_the_cooldown_replaces_and_resets_attempts() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("old", t0())).create(&env.users).await;
        env.users.count_attempt(ann.id, limits(5, 20)).await.unwrap();

        // Exactly at the end of the cooldown counts as over.
        let now = t0() + secs(60);
        let new = verification("new", now);
        assert!(env.users.replace_verification(ann.id, &new, now - secs(60)).await.unwrap());

        assert_eq!(env.users.find_verification(ann.id).await.unwrap(), Some(stored(ann.id, &new, 0)));
        assert_eq!(env.users.find_verification_by_token("token-old").await.unwrap(), None);
        assert!(env.users.find_verification_by_token("token-new").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn count_attempt_counts_up_to_the_limit_then_refuses() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        let bob = user("bob@example.com").create(&env.users).await;

        let mut counts = Vec::new();
        for _ in 0..5 {
            counts.push(env.users.count_attempt(ann.id, limits(3, 20)).await.unwrap());
        }

        let counted = |n| AttemptCount::Counted { code: n, account: n };
        assert_eq!(counts, [counted(1), counted(2), counted(3), AttemptCount::CodeSpent, AttemptCount::CodeSpent]);
        assert_eq!(env.users.find_verification(ann.id).await.unwrap().unwrap().attempts, 3);
        // No verification, nothing to count.
        assert_eq!(env.users.count_attempt(bob.id, limits(3, 20)).await.unwrap(), AttemptCount::CodeSpent);
    }
}

#[tokio::test]
async fn a_resend_gives_the_new_code_its_attempts_but_not_the_account() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("first", t0())).create(&env.users).await;
        let count = || env.users.count_attempt(ann.id, limits(3, 5));
        for _ in 0..3 {
            count().await.unwrap();
        }
        assert_eq!(count().await.unwrap(), AttemptCount::CodeSpent);

        let resend = |tag: &'static str, at| {
            let users = env.users.clone();
            async move { users.replace_verification(ann.id, &verification(tag, at), at - secs(60)).await.unwrap() }
        };
        assert!(resend("second", t0() + secs(60)).await);
        assert_eq!(count().await.unwrap(), AttemptCount::Counted { code: 1, account: 4 });
        assert_eq!(count().await.unwrap(), AttemptCount::Counted { code: 2, account: 5 });
        assert_eq!(count().await.unwrap(), AttemptCount::AccountSpent);
        // A further resend does not help either.
        assert!(resend("third", t0() + secs(120)).await);
        assert_eq!(count().await.unwrap(), AttemptCount::AccountSpent);
        assert_eq!(env.users.find_verification(ann.id).await.unwrap().unwrap().attempts, 0);
    }
}

#[tokio::test]
async fn find_verification_by_token_finds_the_owner_of_that_token_only() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        let bob = user("bob@example.com").with_verification(verification("bob", t0())).create(&env.users).await;

        let found = |token: &'static str| {
            let users = env.users.clone();
            async move { users.find_verification_by_token(token).await.unwrap().map(|v| v.user_id) }
        };
        assert_eq!(found("token-ann").await, Some(ann.id));
        assert_eq!(found("token-bob").await, Some(bob.id));
        assert_eq!(found("token-carol").await, None);
        assert_eq!(found("code-ann").await, None);
    }
}

#[tokio::test]
async fn mark_verified_sets_the_flag_and_the_time() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        let at = t0() + secs(90);

        let marked = env.users.mark_verified(ann.id, at).await.unwrap();

        assert!(marked.is_verified);
        assert_eq!(marked.verified_at, Some(at));
        assert_eq!(marked.updated_at, at);
        assert_eq!(env.users.find(ann.id).await.unwrap(), Some(marked));
    }
}

#[tokio::test]
async fn mark_verified_twice_keeps_the_first_verification_time() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        let first = t0() + secs(90);
        env.users.mark_verified(ann.id, first).await.unwrap();

        let again = env.users.mark_verified(ann.id, first + hours(1)).await.unwrap();

        assert!(again.is_verified);
        assert_eq!(again.verified_at, Some(first));
        assert_eq!(again.updated_at, first);
        assert_eq!(env.users.find(ann.id).await.unwrap(), Some(again));
    }
}

#[tokio::test]
async fn mark_verified_keeps_the_verification_so_the_link_keeps_working() {
    for env in backends().await {
        let v = verification("ann", t0());
        let ann = user("ann@example.com").with_verification(v.clone()).create(&env.users).await;

        env.users.mark_verified(ann.id, t0() + secs(90)).await.unwrap();

        assert_eq!(env.users.find_verification_by_token("token-ann").await.unwrap(), Some(stored(ann.id, &v, 0)));
    }
}

#[tokio::test]
async fn mark_verified_of_an_unknown_user_reports_not_found() {
    for env in backends().await {
        let result = env.users.mark_verified(Uuid::now_v7(), t0()).await;
        assert!(matches!(result, Err(UserWriteError::NotFound)), "got {result:?}");
    }
}
