//! Managing users: the caller's own profile and the admin's user management.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{Role, User, UserChanges, UserField};
use super::ports::{SessionRepository, UserRepository, UserWriteError};
use super::values::{Email, PersonName, Phone};
use crate::access::{AccessError, Admin, Caller};
use crate::clock::Clock;
use crate::error::Unexpected;
use crate::live::{LiveEvent, LiveFeed, OrderUpdate};
use crate::query::{ListQuery, Page};
use crate::support::{Conversation, ConversationStatus};

/// Why a user-management use case failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Refused: unknown caller, not allowed, or no such user (for this caller).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Another account has this e-mail.
    #[error("e-mail already registered")]
    EmailTaken,
    /// The change would leave the system without an admin.
    #[error("the last admin cannot be deleted or demoted")]
    LastAdmin,
    /// Something failed that the client cannot fix.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(UserError);

impl From<UserWriteError> for UserError {
    fn from(e: UserWriteError) -> Self {
        match e {
            UserWriteError::NotFound => AccessError::NotFound.into(),
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
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    live: LiveFeed,
}

impl UserService {
    /// Wires the service; `live` tells open sockets when an account's access changes.
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionRepository>,
        clock: Arc<dyn Clock>,
        live: LiveFeed,
    ) -> Self {
        Self { users, sessions, clock, live }
    }

    /// One page of users.
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn list(&self, _admin: Admin, query: &ListQuery<UserField>) -> Result<Page<User>, UserError> {
        Ok(self.users.list(query).await?)
    }

    /// One user: any, for an admin; themselves, for anyone else.
    ///
    /// # Errors
    /// `NotFound` (also for other users, unless the caller is an admin).
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<User, UserError> {
        caller.may_see(id)?;
        if id == caller.id() {
            return Ok(caller.user().clone());
        }
        Ok(self.users.find(id).await?.ok_or(AccessError::NotFound)?)
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
    pub async fn update(&self, caller: &Caller, id: Uuid, patch: UserPatch) -> Result<User, UserError> {
        caller.may_see(id)?;
        let is_admin = caller.admin().is_some();
        let target = if caller.id() == id {
            caller.user().clone()
        } else {
            self.users.find(id).await?.ok_or(AccessError::NotFound)?
        };
        let email = patch.email.filter(|e| *e != target.email);
        let role = patch.role.filter(|r| *r != target.role);
        let verified = patch.is_verified.filter(|v| *v != target.is_verified);
        if !is_admin && (email.is_some() || role.is_some() || verified.is_some()) {
            return Err(AccessError::Forbidden.into());
        }
        // Not even an admin changes their own verification state: un-verifying
        // yourself would lock you out of login.
        if id == caller.id() && verified.is_some() {
            return Err(AccessError::Forbidden.into());
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
        let account_changed = changes.email.is_some() || changes.role.is_some() || changes.verified.is_some();
        let updated = self.users.update(id, &changes, now).await?;
        if account_changed {
            // The logins of the old account end: its refresh tokens stop
            // working and its sockets close.
            self.sessions.revoke_all(id, now).await?;
            self.live.publish(LiveEvent::AccessChanged { user_id: id }).await;
        }
        Ok(updated)
    }

    /// Deletes a user and everything that belongs to them. Their sockets
    /// close; every admin's live screens hear that their orders are gone and
    /// their open conversation is closed, as if each had been deleted or
    /// closed by hand.
    ///
    /// # Errors
    /// `NotFound`, `LastAdmin`.
    pub async fn delete(&self, _admin: Admin, id: Uuid) -> Result<(), UserError> {
        let removed = self.users.delete(id).await?;
        let now = self.clock.now();
        let orders = removed.orders.into_iter().map(|(order, number, status)| {
            let update =
                OrderUpdate { id: order, user_id: id, number, status, updated_at: now, version: 0, deleted: true };
            LiveEvent::Order(update)
        });
        let conversation = removed
            .open_conversation
            .map(|c| LiveEvent::Conversation(Conversation { status: ConversationStatus::Closed, ..c }));
        let events = std::iter::once(LiveEvent::AccessChanged { user_id: id }).chain(orders).chain(conversation);
        self.live.publish_all(events).await;
        Ok(())
    }
}
