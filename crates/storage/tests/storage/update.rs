//! Updating and deleting users, and the last-admin rule.

use std::fmt::Debug;

use coffee_domain::user::{Email, Role, SessionRepository, UserChanges, UserRepository, UserWriteError};
use uuid::Uuid;

use crate::support::{backends, hours, query, rows_of_user, session, t0, user, verification, warm_pool};

fn demote() -> UserChanges {
    UserChanges { role: Some(Role::User), ..UserChanges::default() }
}

#[tokio::test]
async fn an_update_sets_and_clears_profile_fields() {
    for env in backends().await {
        let before = user("ann@example.com").named("Ann", "Lee").phone("+1 555 0100").create(&env.users).await;
        let later = t0() + hours(2);

        let changes = UserChanges {
            first_name: Some(Some("Anna".to_owned())),
            last_name: Some(None),
            phone: Some(None),
            ..UserChanges::default()
        };
        let after = env.users.update(before.id, &changes, later).await.unwrap();

        assert_eq!(after.first_name.as_deref(), Some("Anna"));
        assert_eq!(after.last_name, None);
        assert_eq!(after.phone, None);
        assert_eq!((after.email.clone(), after.role, after.created_at), (before.email, before.role, before.created_at));
        assert_eq!(after.updated_at, later);
        assert_eq!(env.users.find(before.id).await.unwrap(), Some(after));
    }
}

#[tokio::test]
async fn an_email_change_to_a_free_address_moves_the_account() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        let new = Email::parse("email", "anna@example.com").unwrap();
        // The same address again is no change: the pending code stays.
        let same = UserChanges { email: Some(ann.email.clone()), ..UserChanges::default() };
        env.users.update(ann.id, &same, t0()).await.unwrap();
        assert!(env.users.find_verification(ann.id).await.unwrap().is_some());

        let changes = UserChanges { email: Some(new.clone()), ..UserChanges::default() };
        env.users.update(ann.id, &changes, t0()).await.unwrap();

        assert_eq!(env.users.find_by_email(&new).await.unwrap().map(|u| u.id), Some(ann.id));
        assert_eq!(env.users.find_by_email(&ann.email).await.unwrap(), None);
        // The code and link went to the old address: they verify nothing now.
        assert_eq!(env.users.find_verification(ann.id).await.unwrap(), None, "{:?}", env.backend);
        assert_eq!(env.users.find_verification_by_token("token-ann").await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_email_change_to_a_taken_address_is_refused() {
    for env in backends().await {
        let ann = user("ann@example.com").create(&env.users).await;
        let bob = user("bob@example.com").named("Bob", "Stone").create(&env.users).await;

        let changes = UserChanges {
            email: Some(ann.email.clone()),
            first_name: Some(Some("Robert".to_owned())),
            ..UserChanges::default()
        };
        let result = env.users.update(bob.id, &changes, t0() + hours(1)).await;

        assert!(matches!(result, Err(UserWriteError::EmailTaken)), "got {result:?}");
        // Nothing of the refused change was applied.
        assert_eq!(env.users.find(bob.id).await.unwrap(), Some(bob));
    }
}

#[tokio::test]
async fn updating_an_unknown_user_reports_not_found() {
    for env in backends().await {
        let changes = UserChanges { first_name: Some(Some("X".to_owned())), ..UserChanges::default() };
        let result = env.users.update(Uuid::now_v7(), &changes, t0()).await;
        assert!(matches!(result, Err(UserWriteError::NotFound)), "got {result:?}");
    }
}

#[tokio::test]
async fn role_changes_promote_and_demote() {
    for env in backends().await {
        user("boss@example.com").admin().verified_at(t0()).create(&env.users).await;
        let ann = user("ann@example.com").create(&env.users).await;

        let promote = UserChanges { role: Some(Role::Admin), ..UserChanges::default() };
        assert_eq!(env.users.update(ann.id, &promote, t0()).await.unwrap().role, Role::Admin);
        assert_eq!(env.users.find(ann.id).await.unwrap().unwrap().role, Role::Admin);

        assert_eq!(env.users.update(ann.id, &demote(), t0()).await.unwrap().role, Role::User);
        assert_eq!(env.users.find(ann.id).await.unwrap().unwrap().role, Role::User);
    }
}

#[tokio::test]
async fn demoting_the_last_admin_is_refused() {
    for env in backends().await {
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await;
        user("ann@example.com").create(&env.users).await;

        let result = env.users.update(boss.id, &demote(), t0()).await;

        assert!(matches!(result, Err(UserWriteError::LastAdmin)), "got {result:?}");
        assert_eq!(env.users.find(boss.id).await.unwrap().unwrap().role, Role::Admin);
        // Other changes to the last admin still work.
        let rename = UserChanges { first_name: Some(Some("Boss".to_owned())), ..UserChanges::default() };
        assert_eq!(env.users.update(boss.id, &rename, t0()).await.unwrap().role, Role::Admin);
    }
}

#[tokio::test]
async fn the_last_verified_admin_can_be_neither_unverified_nor_deleted() {
    for env in backends().await {
        let boss = user("boss@example.com").admin().verified_at(t0()).create(&env.users).await;
        // An admin who never verified cannot log in: no stand-in.
        let ghost = user("ghost@example.com").admin().create(&env.users).await;
        let unverify = UserChanges { verified: Some((false, None)), ..UserChanges::default() };
        let result = env.users.update(boss.id, &unverify, t0()).await;
        assert!(matches!(result, Err(UserWriteError::LastAdmin)), "{:?}: {result:?}", env.backend);
        let result = env.users.delete(boss.id).await;
        assert!(matches!(result, Err(UserWriteError::LastAdmin)), "{:?}: {result:?}", env.backend);
        // The unverified one may go; once verified, it is a stand-in.
        let verify = UserChanges { verified: Some((true, Some(t0()))), ..UserChanges::default() };
        env.users.update(ghost.id, &verify, t0()).await.unwrap();
        env.users.update(boss.id, &unverify, t0()).await.unwrap();
        assert!(matches!(env.users.delete(ghost.id).await, Err(UserWriteError::LastAdmin)));
    }
}

/// Exactly one of two racing writes succeeds and the other is told
/// `LastAdmin` (not a deadlock or other store error).
fn assert_one_wins<A: Debug, B: Debug>(ra: &Result<A, UserWriteError>, rb: &Result<B, UserWriteError>) {
    let ok = usize::from(ra.is_ok()) + usize::from(rb.is_ok());
    let last_admin = usize::from(matches!(ra, Err(UserWriteError::LastAdmin)))
        + usize::from(matches!(rb, Err(UserWriteError::LastAdmin)));
    assert_eq!((ok, last_admin), (1, 1), "expected one success and one LastAdmin, got {ra:?} and {rb:?}");
}

#[tokio::test]
async fn concurrent_demotions_of_the_only_two_admins_leave_one_admin() {
    for env in backends().await {
        user("customer@example.com").create(&env.users).await;
        let mut survivor = user("admin0@example.com").admin().verified_at(t0()).create(&env.users).await.id;
        // A race is not won the same way every time: run several rounds, each
        // between the previous round's survivor and a fresh admin.
        for round in 1..=5 {
            let fresh =
                user(&format!("admin{round}@example.com")).admin().verified_at(t0()).create(&env.users).await.id;
            let (repo_a, repo_b) = (env.users.clone(), env.users.clone());
            let changes = demote();
            warm_pool(&env).await;

            let (ra, rb) = tokio::join!(repo_a.update(survivor, &changes, t0()), repo_b.update(fresh, &changes, t0()));

            assert_one_wins(&ra, &rb);
            survivor = if ra.is_ok() { fresh } else { survivor };
            let admins = env.users.list(&query(&[("role", "admin")])).await.unwrap();
            assert_eq!(admins.items.iter().map(|u| u.id).collect::<Vec<_>>(), [survivor], "round {round}");
        }
    }
}

#[tokio::test]
async fn a_concurrent_delete_and_demotion_of_the_only_two_admins_leaves_one_admin() {
    for env in backends().await {
        let a = user("a@example.com").admin().verified_at(t0()).create(&env.users).await;
        let b = user("b@example.com").admin().verified_at(t0()).create(&env.users).await;
        let (repo_a, repo_b) = (env.users.clone(), env.users.clone());
        let changes = demote();
        warm_pool(&env).await;

        let (ra, rb) = tokio::join!(repo_a.delete(a.id), repo_b.update(b.id, &changes, t0()));

        assert_one_wins(&ra, &rb);
        assert_eq!(env.users.list(&query(&[("role", "admin")])).await.unwrap().total, 1);
    }
}

#[tokio::test]
async fn deleting_an_unknown_user_reports_not_found() {
    for env in backends().await {
        let result = env.users.delete(Uuid::now_v7()).await;
        assert!(matches!(result, Err(UserWriteError::NotFound)), "got {result:?}");
    }
}

#[tokio::test]
async fn deleting_the_last_admin_is_refused_but_one_of_two_may_go() {
    for env in backends().await {
        let a = user("a@example.com").admin().verified_at(t0()).create(&env.users).await;
        let b = user("b@example.com").admin().verified_at(t0()).create(&env.users).await;

        env.users.delete(a.id).await.unwrap();
        assert_eq!(env.users.find(a.id).await.unwrap(), None);

        let result = env.users.delete(b.id).await;
        assert!(matches!(result, Err(UserWriteError::LastAdmin)), "got {result:?}");
        assert!(env.users.find(b.id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn deleting_a_user_removes_their_verification_and_sessions_only() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        let bob = user("bob@example.com").with_verification(verification("bob", t0())).create(&env.users).await;
        for u in [&ann, &bob] {
            env.sessions.create(&session(u.id, t0())).await.unwrap();
            env.sessions.create(&session(u.id, t0())).await.unwrap();
        }
        assert_eq!(rows_of_user(&env.db, "sessions", ann.id).await, 2);

        env.users.delete(ann.id).await.unwrap();

        assert_eq!(env.users.find(ann.id).await.unwrap(), None);
        assert_eq!(env.users.find_verification(ann.id).await.unwrap(), None);
        assert_eq!(env.users.find_verification_by_token("token-ann").await.unwrap(), None);
        assert_eq!(rows_of_user(&env.db, "email_verifications", ann.id).await, 0);
        assert_eq!(rows_of_user(&env.db, "sessions", ann.id).await, 0);
        // Bob keeps everything.
        assert!(env.users.find_verification(bob.id).await.unwrap().is_some());
        assert_eq!(rows_of_user(&env.db, "sessions", bob.id).await, 2);
    }
}
