#![allow(clippy::unwrap_used)]

use chrono::TimeDelta;
use uuid::Uuid;

use super::{PersonName, Phone, Role, User, UserError, UserPatch, UserResource, UserService};
use crate::access::{AccessError, Actor, Admin};
use crate::live::LiveEvent;
use crate::query::{ListQuery, parse_list_query};
use crate::testing::{Fakes, email, run, verified_user};

fn setup() -> (Fakes, UserService) {
    let fakes = Fakes::new();
    let service = fakes.user_service();
    (fakes, service)
}

fn add(fakes: &Fakes, address: &str, role: Role) -> User {
    let user = verified_user(address, role, fakes.now());
    fakes.users.insert(user.clone(), "hashed:password");
    user
}

/// The admin capability of `user`, who must be an admin.
fn admin(fakes: &Fakes, user: &User) -> Admin {
    fakes.caller(user).require_admin().expect("an admin")
}

fn name(raw: &str) -> PersonName {
    PersonName::parse("name", raw).unwrap()
}

fn query(params: &[(&str, &str)]) -> ListQuery<super::UserField> {
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    parse_list_query::<UserResource>(&params).unwrap()
}

// ---------------------------------------------------------------- me

#[test]
fn the_caller_capability_carries_the_current_account() {
    let (fakes, _) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    add(&fakes, "bob@example.com", Role::User);
    assert_eq!(fakes.caller(&ann).into_user(), ann);
}

#[test]
fn a_deleted_caller_is_unauthenticated() {
    let (fakes, _) = setup();
    add(&fakes, "boss@example.com", Role::Admin);
    let ghost = verified_user("ghost@example.com", Role::Admin, fakes.now());
    let ghost = Actor { id: ghost.id, role: ghost.role, session: fakes.sessions.sign_in(ghost.id) };
    assert!(matches!(run(fakes.access().caller(ghost)), Err(AccessError::Unauthenticated)));
    assert!(matches!(run(fakes.access().admin(ghost)), Err(AccessError::Unauthenticated)));
}

#[test]
fn a_user_updates_their_own_names_and_phone() {
    let (fakes, users) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    fakes.clock.advance(TimeDelta::minutes(3));
    let patch = UserPatch {
        first_name: Some(Some(name("Ann"))),
        last_name: Some(Some(name("Smith"))),
        phone: Some(Some(Phone::parse("phone", "+998 90 123 45 67").unwrap())),
        ..UserPatch::default()
    };

    let updated = run(users.update(&fakes.caller(&ann), ann.id, patch)).unwrap();

    assert_eq!(updated.first_name.as_deref(), Some("Ann"));
    assert_eq!(updated.last_name.as_deref(), Some("Smith"));
    assert_eq!(updated.phone.as_deref(), Some("+998 90 123 45 67"));
    assert_eq!(updated.updated_at, fakes.now());
    assert_eq!(updated.email, ann.email);
    assert_eq!(fakes.users.get(ann.id), Some(updated));
}

#[test]
fn clearing_a_profile_field_removes_it_and_leaves_the_others_alone() {
    let (fakes, users) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    let filled = UserPatch {
        first_name: Some(Some(name("Ann"))),
        phone: Some(Some(Phone::parse("phone", "+1 555 123 4567").unwrap())),
        ..UserPatch::default()
    };
    run(users.update(&fakes.caller(&ann), ann.id, filled)).unwrap();

    let cleared = UserPatch { phone: Some(None), ..UserPatch::default() };
    let updated = run(users.update(&fakes.caller(&ann), ann.id, cleared)).unwrap();

    assert_eq!(updated.phone, None);
    assert_eq!(updated.first_name.as_deref(), Some("Ann"));
}

#[test]
fn a_user_cannot_change_their_own_role_verification_or_email() {
    let (fakes, users) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    let escalations = [
        UserPatch { role: Some(Role::Admin), ..UserPatch::default() },
        UserPatch { is_verified: Some(false), ..UserPatch::default() },
        UserPatch { email: Some(email("new@example.com")), ..UserPatch::default() },
        UserPatch { first_name: Some(Some(name("Ann"))), role: Some(Role::Admin), ..UserPatch::default() },
    ];

    for patch in escalations {
        let result = run(users.update(&fakes.caller(&ann), ann.id, patch.clone()));
        assert!(matches!(result, Err(UserError::Access(AccessError::Forbidden))), "{patch:?} gave {result:?}");
    }
    assert_eq!(fakes.users.get(ann.id), Some(ann), "nothing may change on a refused update");
}

#[test]
fn a_user_may_send_the_current_values_of_admin_only_fields() {
    let (fakes, users) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    let patch = UserPatch {
        first_name: Some(Some(name("Ann"))),
        email: Some(email("ANN@example.com")),
        role: Some(Role::User),
        is_verified: Some(true),
        ..UserPatch::default()
    };

    let updated = run(users.update(&fakes.caller(&ann), ann.id, patch)).unwrap();

    assert_eq!(updated.first_name.as_deref(), Some("Ann"));
    assert_eq!((updated.email, updated.role, updated.is_verified), (ann.email, Role::User, true));
    assert_eq!(updated.verified_at, ann.verified_at, "re-sending is_verified must not move verified_at");
}

#[test]
fn a_user_updating_another_user_gets_not_found() {
    let (fakes, users) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    let bob = add(&fakes, "bob@example.com", Role::User);
    let patch = UserPatch { first_name: Some(Some(name("Hacked"))), ..UserPatch::default() };

    let result = run(users.update(&fakes.caller(&ann), bob.id, patch));

    assert!(matches!(result, Err(UserError::Access(AccessError::NotFound))), "{result:?}");
    assert_eq!(fakes.users.get(bob.id), Some(bob));
}

// ---------------------------------------------------------------- admin

#[test]
fn an_admin_changes_role_email_and_verification_of_a_user() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let ann = add(&fakes, "ann@example.com", Role::User);
    fakes.clock.advance(TimeDelta::hours(1));

    let unverify = UserPatch {
        email: Some(email("ann.smith@example.com")),
        role: Some(Role::Admin),
        is_verified: Some(false),
        ..UserPatch::default()
    };
    let updated = run(users.update(&fakes.caller(&boss), ann.id, unverify)).unwrap();
    assert_eq!(updated.email.as_str(), "ann.smith@example.com");
    assert_eq!(updated.role, Role::Admin);
    assert!(!updated.is_verified);
    assert_eq!(updated.verified_at, None);

    fakes.clock.advance(TimeDelta::hours(1));
    let verify = UserPatch { is_verified: Some(true), ..UserPatch::default() };
    let updated = run(users.update(&fakes.caller(&boss), ann.id, verify)).unwrap();
    assert!(updated.is_verified);
    assert_eq!(updated.verified_at, Some(fakes.now()));
    assert_eq!(fakes.users.get(ann.id), Some(updated));
}

#[test]
fn an_admin_cannot_unverify_themselves_and_get_locked_out() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let _other = add(&fakes, "other@example.com", Role::Admin);
    let unverify = UserPatch { is_verified: Some(false), ..UserPatch::default() };
    assert!(matches!(
        run(users.update(&fakes.caller(&boss), boss.id, unverify)),
        Err(UserError::Access(AccessError::Forbidden))
    ));
    assert_eq!(fakes.users.get(boss.id), Some(boss));
}

#[test]
fn an_admin_cannot_give_a_user_an_email_that_is_taken() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let ann = add(&fakes, "ann@example.com", Role::User);
    add(&fakes, "bob@example.com", Role::User);
    let patch = UserPatch { email: Some(email("Bob@Example.com")), ..UserPatch::default() };

    let result = run(users.update(&fakes.caller(&boss), ann.id, patch));

    assert!(matches!(result, Err(UserError::EmailTaken)), "{result:?}");
    assert_eq!(fakes.users.get(ann.id), Some(ann));
}

#[test]
fn an_admin_updating_an_unknown_id_gets_not_found() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);

    let result = run(users.update(&fakes.caller(&boss), Uuid::now_v7(), UserPatch::default()));

    assert!(matches!(result, Err(UserError::Access(AccessError::NotFound))), "{result:?}");
}

#[test]
fn an_admin_lists_users_page_by_page() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    for address in ["ann@example.com", "bob@example.com", "cid@example.com", "dan@example.com"] {
        fakes.clock.advance(TimeDelta::seconds(1));
        add(&fakes, address, Role::User);
    }

    let first = run(users.list(admin(&fakes, &boss), &query(&[("page_size", "2")]))).unwrap();
    let last = run(users.list(admin(&fakes, &boss), &query(&[("page_size", "2"), ("page", "3")]))).unwrap();
    let found = run(users.list(admin(&fakes, &boss), &query(&[("search", "BO"), ("role", "user")]))).unwrap();

    assert_eq!((first.total, first.pages(), first.items.len()), (5, 3, 2));
    let newest: Vec<&str> = first.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(newest, ["dan@example.com", "cid@example.com"], "newest first by default");
    assert_eq!(last.items, vec![boss]);
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].email.as_str(), "bob@example.com");
}

#[test]
fn an_admin_gets_a_user_and_unknown_ids_are_not_found() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let ann = add(&fakes, "ann@example.com", Role::User);

    assert_eq!(run(users.get(&fakes.caller(&boss), ann.id)).unwrap(), ann);
    assert!(matches!(
        run(users.get(&fakes.caller(&boss), Uuid::now_v7())),
        Err(UserError::Access(AccessError::NotFound))
    ));
}

#[test]
fn an_admin_deletes_a_user() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let ann = add(&fakes, "ann@example.com", Role::User);

    run(users.delete(admin(&fakes, &boss), ann.id)).unwrap();

    assert!(matches!(run(users.get(&fakes.caller(&boss), ann.id)), Err(UserError::Access(AccessError::NotFound))));
    assert!(matches!(run(users.delete(admin(&fakes, &boss), ann.id)), Err(UserError::Access(AccessError::NotFound))));
}

#[test]
fn listing_getting_and_deleting_users_needs_an_admin_capability_which_non_admins_do_not_get() {
    let (fakes, _) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    let bob = add(&fakes, "bob@example.com", Role::User);
    let token_of_ann = Actor { id: ann.id, role: ann.role, session: fakes.sessions.sign_in(ann.id) };
    assert!(matches!(run(fakes.access().admin(token_of_ann)), Err(AccessError::Forbidden)));
    assert!(fakes.caller(&ann).admin().is_none());
    assert_eq!(fakes.users.get(bob.id), Some(bob));
}

#[test]
fn a_demoted_admins_token_ends_and_signed_in_again_they_have_no_admin_rights() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let former = add(&fakes, "former@example.com", Role::Admin);
    let ann = add(&fakes, "ann@example.com", Role::User);
    let token_of_former = Actor { id: former.id, role: former.role, session: fakes.sessions.sign_in(former.id) };
    let demote = UserPatch { role: Some(Role::User), ..UserPatch::default() };
    run(users.update(&fakes.caller(&boss), former.id, demote)).unwrap();

    // The demotion revoked the old sessions: the token that says admin is dead.
    assert_eq!(token_of_former.role, Role::Admin);
    assert!(matches!(run(fakes.access().admin(token_of_former)), Err(AccessError::SessionEnded)));
    assert!(matches!(run(fakes.access().caller(token_of_former)), Err(AccessError::SessionEnded)));
    // Signed in again, the former admin is a user.
    let former_now = fakes.caller(&fakes.users.get(former.id).unwrap());
    let rename = UserPatch { first_name: Some(Some(name("Hacked"))), ..UserPatch::default() };
    let renamed = run(users.update(&former_now, ann.id, rename));
    assert!(matches!(renamed, Err(UserError::Access(AccessError::NotFound))), "{renamed:?}");
    assert_eq!(fakes.users.get(ann.id), Some(ann));
}

#[test]
fn a_user_sees_themselves_and_no_one_else() {
    let (fakes, users) = setup();
    let ann = add(&fakes, "ann@example.com", Role::User);
    let bob = add(&fakes, "bob@example.com", Role::User);
    assert_eq!(run(users.get(&fakes.caller(&ann), ann.id)).unwrap(), ann);
    assert!(matches!(run(users.get(&fakes.caller(&ann), bob.id)), Err(UserError::Access(AccessError::NotFound))));
}

#[test]
fn an_admin_changing_email_role_or_verification_ends_the_users_sessions() {
    use crate::user::{NewSession, SessionRepository};
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let ann = add(&fakes, "ann@example.com", Role::User);
    let login = |user: &User| {
        let id = Uuid::now_v7();
        let session = NewSession {
            id,
            user_id: user.id,
            family_id: id,
            created_at: fakes.now(),
            expires_at: fakes.now() + TimeDelta::days(30),
        };
        run(fakes.sessions.create(&session)).unwrap();
    };
    login(&ann);
    let rename = UserPatch { first_name: Some(Some(name("Ann"))), ..UserPatch::default() };
    run(users.update(&fakes.caller(&boss), ann.id, rename)).unwrap();
    assert_eq!(fakes.sessions.live_of(ann.id), 1, "a profile change keeps the sessions");
    for patch in [
        UserPatch { is_verified: Some(false), ..UserPatch::default() },
        UserPatch { role: Some(Role::Admin), ..UserPatch::default() },
        UserPatch { email: Some(email("ann.new@example.com")), ..UserPatch::default() },
    ] {
        login(&ann);
        run(users.update(&fakes.caller(&boss), ann.id, patch.clone())).unwrap();
        assert_eq!(fakes.sessions.live_of(ann.id), 0, "{patch:?} ends every session");
    }
    let closed = LiveEvent::AccessChanged { user_id: ann.id };
    assert_eq!(fakes.live.events(), [closed.clone(), closed.clone(), closed.clone()], "and closes its sockets");
    run(users.delete(boss_admin(&fakes, &boss), ann.id)).unwrap();
    assert_eq!(fakes.live.events().len(), 4, "so does deleting the account");
}

fn boss_admin(fakes: &Fakes, boss: &User) -> Admin {
    fakes.caller(boss).require_admin().unwrap()
}

#[test]
fn the_last_admin_can_be_neither_deleted_nor_demoted() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let demote = UserPatch { role: Some(Role::User), ..UserPatch::default() };

    let deleted = run(users.delete(admin(&fakes, &boss), boss.id));
    let demoted = run(users.update(&fakes.caller(&boss), boss.id, demote));

    assert!(matches!(deleted, Err(UserError::LastAdmin)), "{deleted:?}");
    assert!(matches!(demoted, Err(UserError::LastAdmin)), "{demoted:?}");
    assert_eq!(fakes.users.get(boss.id), Some(boss));
}

#[test]
fn an_admin_can_be_demoted_or_deleted_while_another_admin_remains() {
    let (fakes, users) = setup();
    let boss = add(&fakes, "boss@example.com", Role::Admin);
    let deputy = add(&fakes, "deputy@example.com", Role::Admin);
    let demote = UserPatch { role: Some(Role::User), ..UserPatch::default() };

    let demoted = run(users.update(&fakes.caller(&boss), boss.id, demote)).unwrap();
    assert_eq!(demoted.role, Role::User);

    let deleted = run(users.delete(admin(&fakes, &deputy), deputy.id));
    assert!(matches!(deleted, Err(UserError::LastAdmin)), "the deputy is now the last admin: {deleted:?}");
    run(users.delete(admin(&fakes, &deputy), boss.id)).unwrap();
}
