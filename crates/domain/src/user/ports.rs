//! Ports of the user and session stores.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{NewUser, User, UserChanges, UserField};
use super::values::Email;
use crate::error::RepoError;
use crate::query::{ListQuery, Page};

/// A verification code and link token, stored as digests. The mail that
/// carries them in clear text goes to the outbox in the same
/// [`crate::uow::Transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVerification {
    /// Digest of the 6-digit code.
    pub code_hash: String,
    /// Digest of the link token.
    pub token_hash: String,
    /// When both stop working.
    pub expires_at: DateTime<Utc>,
    /// When the mail was (about to be) sent; drives the resend cooldown.
    pub sent_at: DateTime<Utc>,
}

/// The stored verification state of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The user it belongs to.
    pub user_id: Uuid,
    /// Digest of the 6-digit code.
    pub code_hash: String,
    /// Wrong or right code attempts so far.
    pub attempts: i32,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When its mail was sent.
    pub sent_at: DateTime<Utc>,
}

/// How many code attempts a verification allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Attempts at one code.
    pub per_code: i32,
    /// Attempts at all the account's codes together.
    pub per_account: i32,
}

/// What counting a code attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptCount {
    /// Counted: the attempts at this code and at all the account's codes,
    /// this one included.
    Counted {
        /// At this code.
        code: i32,
        /// At all the account's codes.
        account: i32,
    },
    /// This code has had its attempts (or there is no code).
    CodeSpent,
    /// The account has had its attempts: no code will verify it.
    AccountSpent,
}

/// Why a user write was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserWriteError {
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// Another account has this e-mail.
    #[error("e-mail already registered")]
    EmailTaken,
    /// The change would leave the system without a verified admin (one who
    /// can log in).
    #[error("the last admin cannot be removed or demoted")]
    LastAdmin,
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// What went with a deleted account, so that live screens (the order board,
/// the support console) can drop it too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedWith {
    /// Its orders: id, number and last status.
    pub orders: Vec<(Uuid, i64, crate::order::OrderStatus)>,
    /// Its open conversation.
    pub open_conversation: Option<crate::support::Conversation>,
}

/// Stores users and their verification codes.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user and its first verification, atomically.
    ///
    /// # Errors
    /// `EmailTaken` when the address exists (case-insensitively); nothing is written then.
    async fn create(&self, user: &NewUser, verification: Option<&NewVerification>) -> Result<(), UserWriteError>;

    /// The user with this id.
    ///
    /// # Errors
    /// The store failed.
    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError>;

    /// The user with this id, provided refresh session `session_id` is
    /// theirs and not revoked: the check behind every authenticated request,
    /// in one read. `None` for a missing account and for an ended session
    /// alike ([`UserRepository::find`] tells them apart).
    ///
    /// # Errors
    /// The store failed.
    async fn find_signed_in(&self, id: Uuid, session_id: Uuid) -> Result<Option<User>, RepoError>;

    /// The user with this (normalised) e-mail.
    ///
    /// # Errors
    /// The store failed.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// The user with this e-mail and their password hash.
    ///
    /// # Errors
    /// The store failed.
    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, String)>, RepoError>;

    /// The addresses of every verified admin, sorted (an address nobody
    /// proved, e.g. an admin an admin un-verified, gets no staff mail).
    ///
    /// # Errors
    /// The store failed.
    async fn admin_emails(&self) -> Result<Vec<Email>, RepoError>;

    /// One page of users matching `query`.
    ///
    /// # Errors
    /// The store failed.
    async fn list(&self, query: &ListQuery<UserField>) -> Result<Page<User>, RepoError>;

    /// Applies `changes` at `now` and returns the result. Demoting or
    /// un-verifying the last verified admin is refused atomically. A new
    /// e-mail address drops the pending verification (its code and link
    /// went to the old address), and so does un-verifying (the address must
    /// be proven again, with a new code).
    ///
    /// # Errors
    /// `NotFound`, `EmailTaken`, `LastAdmin`, or a store failure.
    async fn update(&self, id: Uuid, changes: &UserChanges, now: DateTime<Utc>) -> Result<User, UserWriteError>;

    /// Deletes a user with everything that belongs to them, and says which
    /// orders and open conversation went with them. Deleting the last admin
    /// is refused atomically.
    ///
    /// # Errors
    /// `NotFound`, `LastAdmin`, or a store failure.
    async fn delete(&self, id: Uuid) -> Result<RemovedWith, UserWriteError>;

    /// The current verification of a user.
    ///
    /// # Errors
    /// The store failed.
    async fn find_verification(&self, user_id: Uuid) -> Result<Option<Verification>, RepoError>;

    /// The verification whose link token has this digest.
    ///
    /// # Errors
    /// The store failed.
    async fn find_verification_by_token(&self, token_hash: &str) -> Result<Option<Verification>, RepoError>;

    /// Replaces the user's verification unless one was sent after `sent_before`
    /// (the resend cooldown, enforced atomically). Returns whether it replaced.
    ///
    /// # Errors
    /// The store failed.
    async fn replace_verification(
        &self,
        user_id: Uuid,
        verification: &NewVerification,
        sent_before: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Counts one code attempt, if the current code has had fewer than
    /// `limits.per_code` and the account fewer than `limits.per_account`
    /// (over all its codes: a resend does not reset that count).
    ///
    /// # Errors
    /// The store failed.
    async fn count_attempt(&self, user_id: Uuid, limits: AttemptLimits) -> Result<AttemptCount, RepoError>;

    /// Marks the user verified at `now` (idempotent) and returns them.
    ///
    /// # Errors
    /// `NotFound`, or a store failure.
    async fn mark_verified(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<User, UserWriteError>;
}

/// A refresh session to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Session id, the refresh token's `jti`.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The rotation family (the id of the first session of a login).
    pub family_id: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A stored refresh session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Rotation family.
    pub family_id: Uuid,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Set once the session was logged out or its family revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set once its refresh token was exchanged for a new one.
    pub rotated_at: Option<DateTime<Utc>>,
}

/// What happened to a rotation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The old session is now rotated and the new one stored.
    Rotated,
    /// The old session had already been rotated: the token is being re-used.
    Reused {
        /// Its family, to revoke.
        family_id: Uuid,
    },
    /// Unknown, revoked or expired.
    Invalid,
}

/// Stores refresh sessions.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session.
    ///
    /// # Errors
    /// The store failed.
    async fn create(&self, session: &NewSession) -> Result<(), RepoError>;

    /// Atomically marks session `old` rotated at `now` and stores its
    /// successor `new_id` in the same family, provided `old` is live (not
    /// rotated, revoked or expired).
    ///
    /// # Errors
    /// The store failed.
    async fn rotate(
        &self,
        old: Uuid,
        new_id: Uuid,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, RepoError>;

    /// Revokes the family of session `id`: the login it came from and every
    /// rotation of it, so a logout with a token that was rotated meanwhile
    /// still ends the session its newer tokens carry on (idempotent; an
    /// unknown id revokes nothing).
    ///
    /// # Errors
    /// The store failed.
    async fn revoke_family_of(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError>;

    /// Revokes every session of a user (after an admin changed their
    /// e-mail, role or verification: the old logins end).
    ///
    /// # Errors
    /// The store failed.
    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError>;

    /// Revokes every session of a family.
    ///
    /// # Errors
    /// The store failed.
    async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError>;
}
