//! Refresh sessions: rotation, reuse detection, revocation.

use coffee_domain::user::{NewSession, RotateOutcome, SessionRepository};
use uuid::Uuid;

use crate::support::{Env, backends, hours, rows_of_user, secs, session, t0, user, wait_for_lock_waiters, warm_pool};

/// A user with one fresh session created at [`t0`].
async fn logged_in(env: &Env) -> NewSession {
    let ann = user("ann@example.com").create(&env.users).await;
    let s = session(ann.id, t0());
    env.sessions.create(&s).await.unwrap();
    s
}

fn expiry() -> chrono::DateTime<chrono::Utc> {
    t0() + hours(24 * 30)
}

#[tokio::test]
async fn rotating_a_live_session_stores_its_successor_in_the_same_family() {
    for env in backends().await {
        let first = logged_in(&env).await;
        let (second, third) = (Uuid::now_v7(), Uuid::now_v7());

        let outcome = env.sessions.rotate(first.id, second, expiry(), t0() + secs(10)).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Rotated);
        assert_eq!(rows_of_user(&env.db, "sessions", first.user_id).await, 2);

        // The successor is live, and belongs to the first session's family.
        assert_eq!(
            env.sessions.rotate(second, third, expiry(), t0() + secs(20)).await.unwrap(),
            RotateOutcome::Rotated
        );
        let reuse = env.sessions.rotate(second, Uuid::now_v7(), expiry(), t0() + secs(30)).await.unwrap();
        assert_eq!(reuse, RotateOutcome::Reused { family_id: first.family_id });
    }
}

#[tokio::test]
async fn rotating_an_already_rotated_session_reports_reuse_of_its_family() {
    for env in backends().await {
        let first = logged_in(&env).await;
        env.sessions.rotate(first.id, Uuid::now_v7(), expiry(), t0() + secs(10)).await.unwrap();

        let replay = Uuid::now_v7();
        let outcome = env.sessions.rotate(first.id, replay, expiry(), t0() + secs(20)).await.unwrap();

        assert_eq!(outcome, RotateOutcome::Reused { family_id: first.family_id });
        // The replay did not mint a session.
        assert_eq!(rows_of_user(&env.db, "sessions", first.user_id).await, 2);
        assert_eq!(
            env.sessions.rotate(replay, Uuid::now_v7(), expiry(), t0() + secs(30)).await.unwrap(),
            RotateOutcome::Invalid
        );
    }
}

#[tokio::test]
async fn after_revoke_family_the_newest_session_is_invalid() {
    for env in backends().await {
        let first = logged_in(&env).await;
        let second = Uuid::now_v7();
        env.sessions.rotate(first.id, second, expiry(), t0() + secs(10)).await.unwrap();

        env.sessions.revoke_family(first.family_id, t0() + secs(20)).await.unwrap();

        let outcome = env.sessions.rotate(second, Uuid::now_v7(), expiry(), t0() + secs(30)).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Invalid);
    }
}

#[tokio::test]
async fn revoke_family_leaves_other_families_alone() {
    for env in backends().await {
        let first = logged_in(&env).await;
        let other = session(first.user_id, t0());
        env.sessions.create(&other).await.unwrap();

        env.sessions.revoke_family(first.family_id, t0() + secs(20)).await.unwrap();

        let outcome = env.sessions.rotate(other.id, Uuid::now_v7(), expiry(), t0() + secs(30)).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Rotated);
    }
}

#[tokio::test]
async fn an_expired_session_cannot_be_rotated() {
    for env in backends().await {
        let s = logged_in(&env).await;

        // At the expiry instant it is already over.
        let outcome = env.sessions.rotate(s.id, Uuid::now_v7(), expiry(), s.expires_at).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Invalid);
        // ...and it was not consumed by the failed attempt: a microsecond earlier it still works.
        let just_before = s.expires_at - chrono::TimeDelta::microseconds(1);
        assert_eq!(
            env.sessions.rotate(s.id, Uuid::now_v7(), expiry(), just_before).await.unwrap(),
            RotateOutcome::Rotated
        );
    }
}

#[tokio::test]
async fn revoking_is_idempotent_and_ends_the_session() {
    for env in backends().await {
        let s = logged_in(&env).await;

        env.sessions.revoke_family_of(s.id, t0() + secs(10)).await.unwrap();
        env.sessions.revoke_family_of(s.id, t0() + secs(20)).await.unwrap();
        env.sessions.revoke_family_of(Uuid::now_v7(), t0() + secs(20)).await.unwrap();

        let outcome = env.sessions.rotate(s.id, Uuid::now_v7(), expiry(), t0() + secs(30)).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Invalid);
    }
}

#[tokio::test]
async fn revoking_through_a_rotated_session_ends_its_successors_and_no_other_login() {
    for env in backends().await {
        let s = logged_in(&env).await;
        let other = session(s.user_id, t0());
        env.sessions.create(&other).await.unwrap();
        let next = Uuid::now_v7();
        assert_eq!(env.sessions.rotate(s.id, next, expiry(), t0() + secs(1)).await.unwrap(), RotateOutcome::Rotated);

        env.sessions.revoke_family_of(s.id, t0() + secs(2)).await.unwrap();

        let successor = env.sessions.rotate(next, Uuid::now_v7(), expiry(), t0() + secs(3)).await.unwrap();
        assert_eq!(successor, RotateOutcome::Invalid, "the rotated token's successor is revoked too");
        let unrelated = env.sessions.rotate(other.id, Uuid::now_v7(), expiry(), t0() + secs(3)).await.unwrap();
        assert_eq!(unrelated, RotateOutcome::Rotated, "another login of the same user lives on");
    }
}

/// A revocation that starts while a rotation of the same family is under
/// way ends the rotation's successor too: a logout answered 204 (or a
/// family revoked for a replayed token) while its refresh ran once left the
/// new refresh token working. The rotation is held between its claim and
/// its commit by a lock on the user row, which its successor's foreign key
/// needs. PostgreSQL only: SQLite runs one writer at a time.
#[tokio::test]
async fn a_revocation_racing_a_rotation_ends_the_rotations_successor() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    for env in backends().await {
        if env.backend != coffee_testkit::Backend::Postgres {
            continue;
        }
        for revoke in ["family_of", "family", "all"] {
            let first = logged_in(&env).await;
            let (second, third) = (Uuid::now_v7(), Uuid::now_v7());
            env.sessions.rotate(first.id, second, expiry(), t0() + secs(1)).await.unwrap();
            warm_pool(&env).await;
            let holder = env.db.begin().await.unwrap();
            let lock = format!("SELECT 1 FROM users WHERE id = '{}' FOR UPDATE", first.user_id);
            holder.execute_unprepared(&lock).await.unwrap();

            let sessions = env.sessions.clone();
            let rotation = tokio::spawn(async move { sessions.rotate(second, third, expiry(), t0() + secs(2)).await });
            wait_for_lock_waiters(&env, 1).await;
            assert!(!rotation.is_finished(), "{revoke}: the rotation waits for the user row");
            let sessions = env.sessions.clone();
            let (user, family) = (first.user_id, first.family_id);
            let revocation = tokio::spawn(async move {
                let now = t0() + secs(3);
                match revoke {
                    "family_of" => sessions.revoke_family_of(second, now).await,
                    "family" => sessions.revoke_family(family, now).await,
                    _ => sessions.revoke_all(user, now).await,
                }
            });
            wait_for_lock_waiters(&env, 2).await;
            assert!(!revocation.is_finished(), "{revoke}: the revocation waits for the rotation");
            holder.commit().await.unwrap();

            assert_eq!(rotation.await.unwrap().unwrap(), RotateOutcome::Rotated, "{revoke}");
            revocation.await.unwrap().unwrap();
            let after = env.sessions.rotate(third, Uuid::now_v7(), expiry(), t0() + secs(4)).await.unwrap();
            assert_eq!(after, RotateOutcome::Invalid, "{revoke}: the successor is revoked too");
            env.db.execute_unprepared(&format!("DELETE FROM users WHERE id = '{user}'")).await.unwrap();
        }
    }
}

#[tokio::test]
async fn an_unknown_session_is_invalid() {
    for env in backends().await {
        logged_in(&env).await;
        let outcome = env.sessions.rotate(Uuid::now_v7(), Uuid::now_v7(), expiry(), t0()).await.unwrap();
        assert_eq!(outcome, RotateOutcome::Invalid);
    }
}

#[tokio::test]
async fn concurrent_rotations_of_one_session_let_exactly_one_through() {
    for env in backends().await {
        let ann = user("ann@example.com").create(&env.users).await;
        for round in 1..=3 {
            let s = session(ann.id, t0());
            env.sessions.create(&s).await.unwrap();
            let (a, b) = (env.sessions.clone(), env.sessions.clone());
            let (new_a, new_b) = (Uuid::now_v7(), Uuid::now_v7());
            let now = t0() + secs(10);
            warm_pool(&env).await;

            let (ra, rb) = tokio::join!(a.rotate(s.id, new_a, expiry(), now), b.rotate(s.id, new_b, expiry(), now));

            let reused = RotateOutcome::Reused { family_id: s.family_id };
            let (winner, loser) = match (ra.unwrap(), rb.unwrap()) {
                (RotateOutcome::Rotated, r) if r == reused => (new_a, new_b),
                (r, RotateOutcome::Rotated) if r == reused => (new_b, new_a),
                other => panic!("round {round}: expected one Rotated and one Reused, got {other:?}"),
            };
            // Only the winner's successor was stored.
            let later = t0() + secs(20);
            assert_eq!(
                env.sessions.rotate(loser, Uuid::now_v7(), expiry(), later).await.unwrap(),
                RotateOutcome::Invalid
            );
            assert_eq!(
                env.sessions.rotate(winner, Uuid::now_v7(), expiry(), later).await.unwrap(),
                RotateOutcome::Rotated
            );
        }
        // Per round: the session, the winner's successor and its successor.
        assert_eq!(rows_of_user(&env.db, "sessions", ann.id).await, 9);
    }
}

#[tokio::test]
async fn an_access_check_finds_the_user_only_in_a_live_session_of_theirs() {
    use coffee_domain::user::UserRepository;
    for env in backends().await {
        let first = logged_in(&env).await;
        let ann = first.user_id;
        let bob = user("bob@example.com").create(&env.users).await;
        let second = Uuid::now_v7();
        env.sessions.rotate(first.id, second, expiry(), t0() + secs(10)).await.unwrap();

        let found = env.users.find_signed_in(ann, first.id).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(ann), "a rotated session still signs its access tokens in");
        assert!(env.users.find_signed_in(bob.id, first.id).await.unwrap().is_none(), "not someone else's session");
        assert!(env.users.find_signed_in(ann, Uuid::now_v7()).await.unwrap().is_none(), "not an unknown one");

        env.sessions.revoke_family_of(second, t0() + secs(20)).await.unwrap();
        for ended in [first.id, second] {
            assert!(env.users.find_signed_in(ann, ended).await.unwrap().is_none(), "{:?}: revoked", env.backend);
        }
        assert!(env.users.find(ann).await.unwrap().is_some(), "the account itself is there");
    }
}
