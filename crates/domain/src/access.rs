//! Who may do what: one mechanism for every resource.
//!
//! An access token names an [`Actor`], whose role may be stale (it is the
//! role the token was issued with; a role change also ends the account's
//! logins, but the role is never trusted from the token). [`Access`] re-reads the
//! account and the session the token was issued with, and hands out
//! capabilities that only a successful check can produce:
//!
//! * [`Caller`]: the account exists now, with its current role, and the
//!   token's session was not revoked (logout, theft detection, an admin
//!   changing the account);
//! * [`Admin`]: the caller is an admin now.
//!
//! A use case that needs an admin takes an `Admin` parameter, so it cannot
//! be called without the check having happened; one that depends on who the
//! caller is (their own orders, their own profile) takes a `Caller`. There
//! is one error for refusals, [`AccessError`], embedded by every use-case
//! error and mapped to 401/403/404 in one place.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::Unexpected;
use crate::user::{Role, User, UserRepository};

/// The caller as the access token describes it. Proves only that the token
/// was valid; [`Access`] turns it into a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The caller's user id.
    pub id: Uuid,
    /// The role the token was issued with (may be stale).
    pub role: Role,
    /// The refresh session the token was issued with (its `sid`).
    pub session: Uuid,
}

/// Why a caller was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The account behind the token no longer exists.
    #[error("the authenticated account no longer exists")]
    Unauthenticated,
    /// The session the token was issued with was revoked (logout, theft
    /// detection, an admin changing the account) or purged.
    #[error("the token's session has ended")]
    SessionEnded,
    /// The caller is known but not allowed to do this.
    #[error("not allowed")]
    Forbidden,
    /// No such resource, or one the caller may not see (the two are not told apart).
    #[error("not found")]
    NotFound,
    /// The check itself failed.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(AccessError);

/// Capability: the caller's account exists, as it is now, and is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    user: User,
    session: Uuid,
}

impl Caller {
    /// The session the caller signed in with: what a credential derived
    /// from this one (a WebSocket ticket, an open socket) is checked against.
    pub fn session(&self) -> Uuid {
        self.session
    }

    /// The [`Actor`] to check this caller again later (an open socket does).
    pub fn actor(&self) -> Actor {
        Actor { id: self.user.id, role: self.user.role, session: self.session }
    }

    /// The caller's id.
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    /// The caller's account as it is now.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The account, consuming the capability.
    pub fn into_user(self) -> User {
        self.user
    }

    /// The admin capability, if the caller is an admin now.
    pub fn admin(&self) -> Option<Admin> {
        (self.user.role == Role::Admin).then_some(Admin { id: self.user.id })
    }

    /// The admin capability.
    ///
    /// # Errors
    /// `Forbidden` when the caller is not an admin.
    pub fn require_admin(&self) -> Result<Admin, AccessError> {
        self.admin().ok_or(AccessError::Forbidden)
    }

    /// Whether the caller may see a resource owned by `owner`: its owner, or any admin.
    ///
    /// # Errors
    /// `NotFound` otherwise: a resource the caller may not see does not exist for them.
    pub fn may_see(&self, owner: Uuid) -> Result<(), AccessError> {
        if owner == self.user.id || self.admin().is_some() { Ok(()) } else { Err(AccessError::NotFound) }
    }
}

/// Capability: the caller is an admin now. Only [`Access`] (through
/// [`Caller::admin`]) makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin {
    id: Uuid,
}

impl Admin {
    /// The admin's user id.
    pub fn id(self) -> Uuid {
        self.id
    }
}

/// Checks callers against the current state of their accounts.
pub struct Access {
    users: Arc<dyn UserRepository>,
}

impl Access {
    /// Checks against `users`.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users }
    }

    /// Re-reads the caller and their session, so that a deleted account or
    /// a revoked session loses access at once, not when its token expires.
    /// One read when the check passes; a second, to say why, when it fails.
    ///
    /// # Errors
    /// `Unauthenticated` when the account no longer exists, `SessionEnded`
    /// when the token's session was revoked.
    pub async fn caller(&self, actor: Actor) -> Result<Caller, AccessError> {
        if let Some(user) = self.users.find_signed_in(actor.id, actor.session).await? {
            return Ok(Caller { user, session: actor.session });
        }
        match self.users.find(actor.id).await? {
            Some(_) => Err(AccessError::SessionEnded),
            None => Err(AccessError::Unauthenticated),
        }
    }

    /// Re-reads the caller and requires them to be an admin now: a demoted
    /// admin loses admin rights at once.
    ///
    /// # Errors
    /// `Unauthenticated`, `Forbidden`.
    pub async fn admin(&self, actor: Actor) -> Result<Admin, AccessError> {
        self.caller(actor).await?.require_admin()
    }
}

/// Test support: capabilities without a store, for the domain's own unit tests.
#[cfg(test)]
impl Caller {
    pub(crate) fn for_tests(user: User) -> Self {
        Self { user, session: Uuid::nil() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{run, verified_user};
    use crate::user::SessionRepository;
    use crate::user::fakes::InMemoryUsers;

    fn setup() -> (Arc<InMemoryUsers>, Access) {
        let users = Arc::new(InMemoryUsers::default());
        (users.clone(), Access::new(users))
    }

    /// A token of `user`'s, signed in now.
    fn actor(users: &InMemoryUsers, user: &User) -> Actor {
        Actor { id: user.id, role: user.role, session: users.sessions().sign_in(user.id) }
    }

    #[test]
    fn an_admin_gets_the_admin_capability() {
        let (users, access) = setup();
        let boss = verified_user("boss@example.com", Role::Admin, chrono::Utc::now());
        users.insert(boss.clone(), "x");
        assert_eq!(run(access.admin(actor(&users, &boss))).unwrap().id(), boss.id);
    }

    #[test]
    fn a_token_that_still_says_admin_gives_no_admin_capability_after_a_demotion() {
        let (users, access) = setup();
        let former = verified_user("former@example.com", Role::User, chrono::Utc::now());
        users.insert(former.clone(), "x");
        let stale = Actor { role: Role::Admin, ..actor(&users, &former) };
        assert!(matches!(run(access.admin(stale)), Err(AccessError::Forbidden)));
        assert_eq!(run(access.caller(stale)).unwrap().user(), &former);
    }

    #[test]
    fn a_deleted_account_is_unauthenticated() {
        let (_, access) = setup();
        let ghost = Actor { id: Uuid::now_v7(), role: Role::Admin, session: Uuid::now_v7() };
        assert!(matches!(run(access.caller(ghost)), Err(AccessError::Unauthenticated)));
        assert!(matches!(run(access.admin(ghost)), Err(AccessError::Unauthenticated)));
    }

    #[test]
    fn a_revoked_session_ends_its_tokens_and_not_the_accounts_other_sessions() {
        let (users, access) = setup();
        let ann = verified_user("ann@example.com", Role::User, chrono::Utc::now());
        users.insert(ann.clone(), "x");
        let (phone, laptop) = (actor(&users, &ann), actor(&users, &ann));
        run(users.sessions().revoke_family_of(phone.session, chrono::Utc::now())).unwrap();
        assert!(matches!(run(access.caller(phone)), Err(AccessError::SessionEnded)));
        assert_eq!(run(access.caller(laptop)).unwrap().session(), laptop.session);
    }

    #[test]
    fn a_session_of_another_account_signs_nobody_in() {
        let (users, access) = setup();
        let now = chrono::Utc::now();
        let (ann, bob) =
            (verified_user("ann@example.com", Role::User, now), verified_user("bob@example.com", Role::User, now));
        users.insert(ann.clone(), "x");
        users.insert(bob.clone(), "x");
        let forged = Actor { session: actor(&users, &bob).session, ..actor(&users, &ann) };
        assert!(matches!(run(access.caller(forged)), Err(AccessError::SessionEnded)));
    }

    #[test]
    fn owners_and_admins_may_see_a_resource_and_others_find_nothing() {
        let now = chrono::Utc::now();
        let ann = Caller::for_tests(verified_user("ann@example.com", Role::User, now));
        let boss = Caller::for_tests(verified_user("boss@example.com", Role::Admin, now));
        assert!(ann.may_see(ann.id()).is_ok());
        assert!(boss.may_see(ann.id()).is_ok());
        assert!(matches!(ann.may_see(boss.id()), Err(AccessError::NotFound)));
        assert!(matches!(ann.require_admin(), Err(AccessError::Forbidden)));
    }
}
