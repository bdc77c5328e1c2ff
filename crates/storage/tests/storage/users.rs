//! Creating and finding users.

use coffee_domain::user::{Email, UserRepository, UserWriteError};
use uuid::Uuid;

use crate::support::{
    backends, insert_user_row, migrated, password_hash, query, rows_of_user, run, session, t0, user, verification,
    warm_pool,
};

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

#[tokio::test]
async fn a_created_user_reads_back_identically_by_id_email_and_credentials() {
    for env in backends().await {
        let created = user("ann@example.com")
            .named("Ann", "Lee")
            .phone("+998 90 123-45-67")
            .admin()
            .verified_at(t0() + chrono::TimeDelta::microseconds(1))
            .create(&env.users)
            .await;

        assert_eq!(env.users.find(created.id).await.unwrap(), Some(created.clone()));
        assert_eq!(env.users.find_by_email(&created.email).await.unwrap(), Some(created.clone()));
        let (found, hash) = env.users.find_credentials(&created.email).await.unwrap().unwrap();
        assert_eq!(found, created);
        assert_eq!(hash, password_hash("ann@example.com"));
        // Microseconds survive the round trip, not just seconds.
        assert_eq!(found.created_at.timestamp_subsec_micros(), 535_897);
        assert_eq!(found.verified_at.unwrap().timestamp_subsec_micros(), 535_898);
    }
}

#[tokio::test]
async fn the_admins_to_mail_are_the_verified_ones_sorted() {
    for env in backends().await {
        user("zoe@example.com").admin().verified_at(t0()).create(&env.users).await;
        user("amy@example.com").admin().verified_at(t0()).create(&env.users).await;
        user("unproven@example.com").admin().create(&env.users).await;
        user("ann@example.com").verified_at(t0()).create(&env.users).await;
        let emails = env.users.admin_emails().await.unwrap();
        assert_eq!(emails.iter().map(Email::as_str).collect::<Vec<_>>(), ["amy@example.com", "zoe@example.com"]);
    }
}

#[tokio::test]
async fn unknown_ids_and_addresses_find_nothing() {
    for env in backends().await {
        user("ann@example.com").create(&env.users).await;

        assert_eq!(env.users.find(Uuid::now_v7()).await.unwrap(), None);
        assert_eq!(env.users.find_by_email(&email("bob@example.com")).await.unwrap(), None);
        assert!(env.users.find_credentials(&email("bob@example.com")).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_duplicate_email_is_refused_and_its_verification_is_not_written() {
    for env in backends().await {
        let first = user("ann@example.com").with_verification(verification("first", t0())).create(&env.users).await;

        let second = user("ann@example.com").with_verification(verification("second", t0()));
        let second_id = second.build().user.id;
        assert!(matches!(second.try_create(&env.users).await, Err(UserWriteError::EmailTaken)));

        assert_eq!(env.users.find(second_id).await.unwrap(), None);
        assert_eq!(env.users.find_verification(second_id).await.unwrap(), None);
        assert_eq!(env.users.find_verification_by_token("token-second").await.unwrap(), None);
        // The first account is untouched.
        assert_eq!(env.users.find_by_email(&first.email).await.unwrap().map(|u| u.id), Some(first.id));
        assert_eq!(env.users.find_verification_by_token("token-first").await.unwrap().unwrap().user_id, first.id);
    }
}

#[tokio::test]
async fn a_failed_verification_insert_rolls_back_its_user() {
    for env in backends().await {
        user("ann@example.com").with_verification(verification("shared", t0())).create(&env.users).await;

        // The user row is fine; the verification collides on its token digest.
        let second = user("bob@example.com").with_verification(verification("shared", t0()));
        let second_id = second.build().user.id;
        assert!(second.try_create(&env.users).await.is_err());

        assert_eq!(env.users.find(second_id).await.unwrap(), None);
        assert_eq!(env.users.find_by_email(&email("bob@example.com")).await.unwrap(), None);
    }
}

#[tokio::test]
async fn the_database_itself_refuses_an_email_that_is_not_lower_case() {
    for env in backends().await {
        insert_user_row(&env.db, "ann@example.com").await.unwrap();

        // A different address in upper case, and the same address in another case.
        assert!(insert_user_row(&env.db, "Bob@Example.com").await.is_err());
        assert!(insert_user_row(&env.db, "ANN@example.com").await.is_err());
        // Through the repository, an unnormalised `Email` is refused as well.
        let mut sneaky = user("ann2@example.com").build();
        sneaky.user.email = Email::from_trusted("Ann@Example.com".to_owned());
        assert!(env.users.create(&sneaky, None).await.is_err());

        assert_eq!(env.users.list(&query(&[])).await.unwrap().total, 1);
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_address_let_exactly_one_through() {
    for env in backends().await {
        for round in 1..=3 {
            let address = format!("ann{round}@example.com");
            let (a, b) = (env.users.clone(), env.users.clone());
            let first = user(&address).with_verification(verification(&format!("{round}a"), t0()));
            let second = user(&address).with_verification(verification(&format!("{round}b"), t0()));
            warm_pool(&env).await;

            let (r1, r2) = tokio::join!(first.try_create(&a), second.try_create(&b));

            let winner = match (r1, r2) {
                (Ok(u), Err(UserWriteError::EmailTaken)) | (Err(UserWriteError::EmailTaken), Ok(u)) => u,
                other => panic!("round {round}: expected one success and one EmailTaken, got {other:?}"),
            };
            assert_eq!(env.users.list(&query(&[("email", &address)])).await.unwrap().total, 1);
            assert_eq!(env.users.find_by_email(&winner.email).await.unwrap().map(|u| u.id), Some(winner.id));
            // Only the winner's verification was written.
            assert_eq!(rows_of_user(&env.db, "email_verifications", winner.id).await, 1);
            let mut tokens = 0;
            for side in ["a", "b"] {
                let token = format!("token-{round}{side}");
                tokens += usize::from(env.users.find_verification_by_token(&token).await.unwrap().is_some());
            }
            assert_eq!(tokens, 1, "round {round}");
        }
    }
}

/// The reads that serve requests leave the password hash in the database:
/// the access check of a signed-in request, an account by id or address,
/// and a page of accounts work for a PostgreSQL role that may not read that
/// column, and the same role cannot read credentials (login's read).
#[tokio::test]
async fn accounts_are_read_without_the_password_hash_but_for_a_login() {
    use coffee_domain::user::SessionRepository;
    use coffee_storage::{Pools, SeaUserRepository};
    use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let Some(database) = coffee_testkit::TestDatabase::postgres().await else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL-only case skipped");
        return;
    };
    let url = database.url.clone();
    let env = migrated(database).await;
    let ann = user("ann@example.com").named("Ann", "Lee").create(&env.users).await;
    let signed_in = session(ann.id, t0());
    env.sessions.create(&signed_in).await.unwrap();

    let role = format!("coffee_no_hash_{}", Uuid::now_v7().simple());
    let columns = "id, email, first_name, last_name, phone, first_name_fold, last_name_fold, role, is_verified, \
                   verified_at, created_at, updated_at";
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT SELECT ({columns}) ON users TO {role}"),
        format!("GRANT SELECT ON sessions TO {role}"),
    ] {
        run(&env, &sql).await;
    }
    let options = url.parse::<PgConnectOptions>().unwrap().username(&role);
    let pool = PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
    let limited = SeaUserRepository::new(Pools::from(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool)));

    let found = limited.find_signed_in(ann.id, signed_in.id).await.unwrap();
    assert_eq!(found.as_ref(), Some(&ann), "the access check");
    assert_eq!(limited.find(ann.id).await.unwrap().as_ref(), Some(&ann));
    assert_eq!(limited.find_by_email(&ann.email).await.unwrap().as_ref(), Some(&ann));
    let page = limited.list(&query(&[("search", "lee"), ("sort", "-created_at")])).await.unwrap();
    assert_eq!((page.items, page.total), (vec![ann.clone()], 1), "a page of accounts");
    // The role is what keeps the hash from it: a password check fails.
    assert!(limited.find_credentials(&ann.email).await.is_err(), "credentials read without the hash column");

    drop(limited);
    for sql in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        run(&env, &sql).await;
    }
}
