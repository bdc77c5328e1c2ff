//! Managing users: the caller's own profile and the admin's user management.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{Role, User, UserChanges, UserField};
use super::ports::{UserRepository, UserWriteError};
use super::values::{Email, PersonName, Phone};
use crate::clock::Clock;
use crate::error::RepoError;
use crate::query::{ListQuery, Page};

/// The authenticated caller, as its access token describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The caller's user id.
    pub id: Uuid,
    /// The role the token was issued with (re-checked against storage for admin work).
    pub role: Role,
}

/// Why a user-management use case failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The caller's account no longer exists.
    #[error("the authenticated user no longer exists")]
    Unauthenticated,
    /// The caller may not do this.
    #[error("not allowed")]
    Forbidden,
    /// No such user (or one the caller may not see).
    #[error("user not found")]
    NotFound,
    /// Another account has this e-mail.
    #[error("e-mail already registered")]
    EmailTaken,
    /// The change would leave the system without an admin.
    #[error("the last admin cannot be deleted or demoted")]
    LastAdmin,
    /// Something failed that the client cannot fix.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl From<RepoError> for UserError {
    fn from(e: RepoError) -> Self {
        UserError::Unexpected(e.to_string())
    }
}

impl From<UserWriteError> for UserError {
    fn from(e: UserWriteError) -> Self {
        match e {
            UserWriteError::NotFound => UserError::NotFound,
            UserWriteError::EmailTaken => UserError::EmailTaken,
            UserWriteError::LastAdmin => UserError::LastAdmin,
            UserWriteError::Repo(e) => e.into(),
        }
    }
}

/// A validated change to a user. `None` leaves a field alone; for the
/// optional profile fields `Some(None)` clears them. `email`, `role` and
/// `is_verified` are admin-only.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New first name.
    pub first_name: Option<Option<PersonName>>,
    /// New last name.
    pub last_name: Option<Option<PersonName>>,
    /// New phone.
    pub phone: Option<Option<Phone>>,
    /// New e-mail (admin only).
    pub email: Option<Email>,
    /// New role (admin only).
    pub role: Option<Role>,
    /// New verification state (admin only).
    pub is_verified: Option<bool>,
}

/// The user-management use cases.
pub struct UserService {
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl UserService {
    /// Wires the service.
    pub fn new(users: Arc<dyn UserRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { users, clock }
    }

    /// The caller's own account.
    ///
    /// # Errors
    /// `Unauthenticated` when the account was deleted since the token was issued.
    pub async fn me(&self, actor: Actor) -> Result<User, UserError> {
        self.users.find(actor.id).await?.ok_or(UserError::Unauthenticated)
    }

    /// One page of users (admin).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn list(&self, actor: Actor, query: &ListQuery<UserField>) -> Result<Page<User>, UserError> {
        self.require_admin(actor).await?;
        Ok(self.users.list(query).await?)
    }

    /// One user (admin).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`.
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<User, UserError> {
        self.require_admin(actor).await?;
        self.users.find(id).await?.ok_or(UserError::NotFound)
    }

    /// Changes a user. Anyone may change their own profile fields; only an
    /// admin may change other users or `email`, `role`, `is_verified`
    /// (sending the current value of those is not a change and is allowed).
    ///
    /// # Errors
    /// `NotFound` for other users' ids when the caller is not an admin,
    /// `Forbidden` for a non-admin changing an admin-only field or anyone
    /// changing their own verification state,
    /// `EmailTaken`, `LastAdmin`.
    pub async fn update(&self, actor: Actor, id: Uuid, patch: UserPatch) -> Result<User, UserError> {
        let caller = self.me(actor).await?;
        let is_admin = caller.role == Role::Admin;
        if !is_admin && caller.id != id {
            return Err(UserError::NotFound);
        }
        let target = if caller.id == id { caller } else { self.users.find(id).await?.ok_or(UserError::NotFound)? };
        let email = patch.email.filter(|e| *e != target.email);
        let role = patch.role.filter(|r| *r != target.role);
        let verified = patch.is_verified.filter(|v| *v != target.is_verified);
        if !is_admin && (email.is_some() || role.is_some() || verified.is_some()) {
            return Err(UserError::Forbidden);
        }
        // Not even an admin changes their own verification state: un-verifying
        // yourself would lock you out of login.
        if id == actor.id && verified.is_some() {
            return Err(UserError::Forbidden);
        }
        let now = self.clock.now();
        let changes = UserChanges {
            first_name: patch.first_name.map(|n| n.map(PersonName::into_inner)),
            last_name: patch.last_name.map(|n| n.map(PersonName::into_inner)),
            phone: patch.phone.map(|p| p.map(Phone::into_inner)),
            email,
            role,
            verified: verified.map(|v| (v, v.then_some(now))),
        };
        Ok(self.users.update(id, &changes, now).await?)
    }

    /// Deletes a user and everything that belongs to them (admin).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`, `LastAdmin`.
    pub async fn delete(&self, actor: Actor, id: Uuid) -> Result<(), UserError> {
        self.require_admin(actor).await?;
        Ok(self.users.delete(id).await?)
    }

    async fn require_admin(&self, actor: Actor) -> Result<User, UserError> {
        require_admin(self.users.as_ref(), actor).await.map_err(|e| match e {
            AccessDenied::Unauthenticated => UserError::Unauthenticated,
            AccessDenied::Forbidden => UserError::Forbidden,
            AccessDenied::Repo(e) => e.into(),
        })
    }
}

/// Why an admin-only action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessDenied {
    /// The caller's account no longer exists.
    #[error("the authenticated user no longer exists")]
    Unauthenticated,
    /// The caller is not an admin (any more).
    #[error("admins only")]
    Forbidden,
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Re-reads the caller so that a demoted or deleted admin loses access at
/// once, not when their access token expires.
///
/// # Errors
/// `Unauthenticated`, `Forbidden`, or a store failure.
pub async fn require_admin(users: &dyn UserRepository, actor: Actor) -> Result<User, AccessDenied> {
    let caller = users.find(actor.id).await?.ok_or(AccessDenied::Unauthenticated)?;
    if caller.role == Role::Admin { Ok(caller) } else { Err(AccessDenied::Forbidden) }
}
