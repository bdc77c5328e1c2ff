//! In-memory fakes of the user and session stores, honouring the ports'
//! documented semantics, for fast and deterministic unit tests.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    AttemptCount, AttemptLimits, Email, NewSession, NewUser, NewVerification, RemovedWith, Role, RotateOutcome,
    Session, SessionRepository, User, UserChanges, UserField, UserRepository, UserWriteError, Verification,
};
use crate::error::RepoError;
use crate::query::{ListQuery, Op, Page, Value};
use crate::testing::lock;

// ---------------------------------------------------------------- users

#[derive(Debug, Clone)]
struct StoredVerification {
    verification: Verification,
    token_hash: String,
    /// Attempts at every code the account had (a resend keeps them).
    account_attempts: i32,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct UserTables {
    users: BTreeMap<Uuid, (User, String)>,
    verifications: BTreeMap<Uuid, StoredVerification>,
}

impl UserTables {
    fn email_taken(&self, email: &Email, except: Option<Uuid>) -> bool {
        self.users.values().any(|(u, _)| Some(u.id) != except && u.email.as_str().eq_ignore_ascii_case(email.as_str()))
    }

    /// Admins who can log in (verified).
    fn admins(&self) -> usize {
        self.users.values().filter(|(u, _)| u.role == Role::Admin && u.is_verified).count()
    }
}

/// A [`UserRepository`] in a map, honouring the port's documented semantics.
/// It reads the sessions of the [`InMemorySessions`] it shares (as the
/// database's users and sessions are one store).
#[derive(Debug, Default)]
pub(crate) struct InMemoryUsers(Mutex<UserTables>, Arc<InMemorySessions>);

impl InMemoryUsers {
    /// Users whose sign-ins are checked against `sessions`.
    pub(crate) fn with_sessions(sessions: Arc<InMemorySessions>) -> Self {
        Self(Mutex::default(), sessions)
    }

    /// The sessions the access check reads.
    pub(crate) fn sessions(&self) -> &Arc<InMemorySessions> {
        &self.1
    }

    /// A copy of every table, for a unit of work to roll back to.
    pub(crate) fn snapshot(&self) -> UserTables {
        lock(&self.0).clone()
    }

    /// Puts back a [`Self::snapshot`].
    pub(crate) fn restore(&self, tables: UserTables) {
        *lock(&self.0) = tables;
    }

    /// Stores `user` directly, bypassing every rule (test set-up).
    pub(crate) fn insert(&self, user: User, password_hash: &str) {
        lock(&self.0).users.insert(user.id, (user, password_hash.to_owned()));
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<User> {
        lock(&self.0).users.get(&id).map(|(u, _)| u.clone())
    }

    pub(crate) fn password_hash_of(&self, id: Uuid) -> Option<String> {
        lock(&self.0).users.get(&id).map(|(_, h)| h.clone())
    }

    pub(crate) fn verification_of(&self, user_id: Uuid) -> Option<Verification> {
        lock(&self.0).verifications.get(&user_id).map(|v| v.verification.clone())
    }

    pub(crate) fn count(&self) -> usize {
        lock(&self.0).users.len()
    }
}

fn stored_verification(user_id: Uuid, v: &NewVerification) -> StoredVerification {
    StoredVerification {
        verification: Verification {
            user_id,
            code_hash: v.code_hash.clone(),
            attempts: 0,
            expires_at: v.expires_at,
            sent_at: v.sent_at,
        },
        token_hash: v.token_hash.clone(),
        account_attempts: 0,
    }
}

#[async_trait]
impl UserRepository for InMemoryUsers {
    async fn create(&self, new: &NewUser, verification: Option<&NewVerification>) -> Result<(), UserWriteError> {
        let mut t = lock(&self.0);
        if t.email_taken(&new.user.email, None) {
            return Err(UserWriteError::EmailTaken);
        }
        if t.users.contains_key(&new.user.id) {
            return Err(RepoError::Conflict("users_pkey".to_owned()).into());
        }
        t.users.insert(new.user.id, (new.user.clone(), new.password_hash.clone()));
        if let Some(v) = verification {
            t.verifications.insert(new.user.id, stored_verification(new.user.id, v));
        }
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        Ok(self.get(id))
    }

    async fn find_signed_in(&self, id: Uuid, session_id: Uuid) -> Result<Option<User>, RepoError> {
        Ok(self.get(id).filter(|_| self.1.is_live(session_id, id)))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        Ok(self.find_credentials(email).await?.map(|(u, _)| u))
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, String)>, RepoError> {
        let t = lock(&self.0);
        Ok(t.users.values().find(|(u, _)| u.email.as_str().eq_ignore_ascii_case(email.as_str())).cloned())
    }

    async fn admin_emails(&self) -> Result<Vec<Email>, RepoError> {
        let t = lock(&self.0);
        let mut emails: Vec<Email> = t
            .users
            .values()
            .filter(|(u, _)| u.role == Role::Admin && u.is_verified)
            .map(|(u, _)| u.email.clone())
            .collect();
        emails.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(emails)
    }

    // SIMPLIFICATION: filters, search, sort and paging are applied in memory
    // with the semantics of SPEC §3; text equality is case-sensitive.
    async fn list(&self, query: &ListQuery<UserField>) -> Result<Page<User>, RepoError> {
        let t = lock(&self.0);
        let mut matching: Vec<User> = t
            .users
            .values()
            .map(|(u, _)| u)
            .filter(|u| query.filters.iter().all(|f| f.values.iter().any(|v| matches(&cell(u, f.field), f.op, v))))
            .filter(|u| query.search.as_deref().is_none_or(|s| searched(u, s)))
            .cloned()
            .collect();
        matching.sort_by(|a, b| {
            query
                .sort
                .iter()
                .map(|s| {
                    let o = cell(a, s.field).partial_cmp(&cell(b, s.field)).unwrap_or(Ordering::Equal);
                    if s.descending { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.id.cmp(&b.id))
        });
        let total = matching.len() as u64;
        let skip = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let take = usize::try_from(query.page_size).unwrap_or(usize::MAX);
        let items = matching.into_iter().skip(skip).take(take).collect();
        Ok(query.page_of(items, total))
    }

    async fn update(&self, id: Uuid, changes: &UserChanges, now: DateTime<Utc>) -> Result<User, UserWriteError> {
        let mut t = lock(&self.0);
        let Some((current, _)) = t.users.get(&id) else { return Err(UserWriteError::NotFound) };
        if changes.email.as_ref().is_some_and(|e| t.email_taken(e, Some(id))) {
            return Err(UserWriteError::EmailTaken);
        }
        let removes = changes.role == Some(Role::User) || changes.verified.is_some_and(|(v, _)| !v);
        if current.role == Role::Admin && current.is_verified && removes && t.admins() == 1 {
            return Err(UserWriteError::LastAdmin);
        }
        let (user, _) = t.users.get_mut(&id).ok_or(UserWriteError::NotFound)?;
        let before = user.clone();
        if let Some(v) = &changes.first_name {
            user.first_name.clone_from(v);
        }
        if let Some(v) = &changes.last_name {
            user.last_name.clone_from(v);
        }
        if let Some(v) = &changes.phone {
            user.phone.clone_from(v);
        }
        let drops_verification = changes.email.as_ref().is_some_and(|e| *e != user.email)
            || changes.verified.is_some_and(|(verified, _)| !verified);
        if let Some(v) = &changes.email {
            user.email = v.clone();
        }
        if let Some(v) = changes.role {
            user.role = v;
        }
        if let Some((verified, at)) = changes.verified
            && verified != user.is_verified
        {
            user.is_verified = verified;
            user.verified_at = at;
        }
        // As the store: a change to nothing keeps `updated_at`.
        if *user != before {
            user.updated_at = now;
        }
        let user = user.clone();
        if drops_verification {
            t.verifications.remove(&id);
        }
        Ok(user)
    }

    async fn delete(&self, id: Uuid) -> Result<RemovedWith, UserWriteError> {
        let mut t = lock(&self.0);
        let Some((user, _)) = t.users.get(&id) else { return Err(UserWriteError::NotFound) };
        if user.role == Role::Admin && user.is_verified && t.admins() == 1 {
            return Err(UserWriteError::LastAdmin);
        }
        t.users.remove(&id);
        t.verifications.remove(&id);
        // This store keeps no orders or conversations.
        Ok(RemovedWith::default())
    }

    async fn find_verification(&self, user_id: Uuid) -> Result<Option<Verification>, RepoError> {
        Ok(self.verification_of(user_id))
    }

    async fn find_verification_by_token(&self, token_hash: &str) -> Result<Option<Verification>, RepoError> {
        let t = lock(&self.0);
        Ok(t.verifications.values().find(|v| v.token_hash == token_hash).map(|v| v.verification.clone()))
    }

    async fn replace_verification(
        &self,
        user_id: Uuid,
        verification: &NewVerification,
        sent_before: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut t = lock(&self.0);
        if !t.users.contains_key(&user_id) {
            return Ok(false);
        }
        if t.verifications.get(&user_id).is_some_and(|v| v.verification.sent_at > sent_before) {
            return Ok(false);
        }
        let account_attempts = t.verifications.get(&user_id).map_or(0, |v| v.account_attempts);
        t.verifications
            .insert(user_id, StoredVerification { account_attempts, ..stored_verification(user_id, verification) });
        Ok(true)
    }

    async fn count_attempt(&self, user_id: Uuid, limits: AttemptLimits) -> Result<AttemptCount, RepoError> {
        let mut t = lock(&self.0);
        // With no verification there is nothing left to try: same answer as an exhausted one.
        let Some(v) = t.verifications.get_mut(&user_id) else { return Ok(AttemptCount::CodeSpent) };
        if v.account_attempts >= limits.per_account {
            return Ok(AttemptCount::AccountSpent);
        }
        if v.verification.attempts >= limits.per_code {
            return Ok(AttemptCount::CodeSpent);
        }
        v.verification.attempts += 1;
        v.account_attempts += 1;
        Ok(AttemptCount::Counted { code: v.verification.attempts, account: v.account_attempts })
    }

    async fn mark_verified(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<User, UserWriteError> {
        let mut t = lock(&self.0);
        let (user, _) = t.users.get_mut(&user_id).ok_or(UserWriteError::NotFound)?;
        // Idempotent: a second call keeps the first verification time. The
        // verification row stays, so its link keeps answering with success.
        if !user.is_verified {
            user.is_verified = true;
            user.verified_at = Some(now);
            user.updated_at = now;
        }
        Ok(user.clone())
    }
}

#[derive(Debug, PartialEq, PartialOrd)]
enum Cell {
    Text(Option<String>),
    Bool(bool),
    Time(DateTime<Utc>),
}

fn cell(user: &User, field: UserField) -> Cell {
    match field {
        UserField::Email => Cell::Text(Some(user.email.as_str().to_owned())),
        UserField::FirstName => Cell::Text(user.first_name.clone()),
        UserField::LastName => Cell::Text(user.last_name.clone()),
        UserField::Role => Cell::Text(Some(user.role.as_str().to_owned())),
        UserField::IsVerified => Cell::Bool(user.is_verified),
        UserField::CreatedAt => Cell::Time(user.created_at),
    }
}

fn matches(cell: &Cell, op: Op, value: &Value) -> bool {
    match (cell, op, value) {
        (Cell::Text(Some(s)), Op::Eq | Op::In, Value::Text(v)) => s == v,
        (Cell::Text(Some(s)), Op::Eq | Op::In, Value::Enum(v)) => s == v,
        (Cell::Text(Some(s)), Op::Contains, Value::Text(v)) => s.to_lowercase().contains(&v.to_lowercase()),
        (Cell::Bool(b), Op::Eq, Value::Bool(v)) => b == v,
        (Cell::Time(t), op, Value::Timestamp(v)) => match op {
            Op::Eq | Op::In => t == v,
            Op::Gt => t > v,
            Op::Gte => t >= v,
            Op::Lt => t < v,
            Op::Lte => t <= v,
            Op::Contains => false,
        },
        _ => false,
    }
}

fn searched(user: &User, term: &str) -> bool {
    let term = term.to_lowercase();
    [Some(user.email.as_str()), user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .any(|text| text.to_lowercase().contains(&term))
}

// ---------------------------------------------------------------- sessions

/// A [`SessionRepository`] in a map.
#[derive(Debug, Default)]
pub(crate) struct InMemorySessions(Mutex<BTreeMap<Uuid, Session>>);

impl InMemorySessions {
    /// Whether session `id` belongs to `user_id` and is not revoked.
    fn is_live(&self, id: Uuid, user_id: Uuid) -> bool {
        lock(&self.0).get(&id).is_some_and(|s| s.user_id == user_id && s.revoked_at.is_none())
    }

    /// Opens a session for `user_id` directly (test set-up) and returns its id.
    pub(crate) fn sign_in(&self, user_id: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        let session = Session {
            id,
            user_id,
            family_id: id,
            expires_at: DateTime::<Utc>::MAX_UTC,
            revoked_at: None,
            rotated_at: None,
        };
        lock(&self.0).insert(id, session);
        id
    }

    /// The sessions of `user_id` that are neither revoked nor rotated.
    pub(crate) fn live_of(&self, user_id: Uuid) -> usize {
        lock(&self.0)
            .values()
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none() && s.rotated_at.is_none())
            .count()
    }
}

#[async_trait]
impl SessionRepository for InMemorySessions {
    async fn create(&self, s: &NewSession) -> Result<(), RepoError> {
        let session = Session {
            id: s.id,
            user_id: s.user_id,
            family_id: s.family_id,
            expires_at: s.expires_at,
            revoked_at: None,
            rotated_at: None,
        };
        lock(&self.0).insert(s.id, session);
        Ok(())
    }

    async fn rotate(
        &self,
        old: Uuid,
        new_id: Uuid,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, RepoError> {
        let mut sessions = lock(&self.0);
        let Some(current) = sessions.get_mut(&old) else { return Ok(RotateOutcome::Invalid) };
        // A revoked family is dead already; only a live-but-rotated token signals theft.
        if current.revoked_at.is_some() || current.expires_at <= now {
            return Ok(RotateOutcome::Invalid);
        }
        if current.rotated_at.is_some() {
            return Ok(RotateOutcome::Reused { family_id: current.family_id });
        }
        current.rotated_at = Some(now);
        let next = Session {
            id: new_id,
            user_id: current.user_id,
            family_id: current.family_id,
            expires_at,
            revoked_at: None,
            rotated_at: None,
        };
        sessions.insert(new_id, next);
        Ok(RotateOutcome::Rotated)
    }

    async fn revoke_family_of(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        let family = lock(&self.0).get(&id).map(|s| s.family_id);
        match family {
            Some(family_id) => self.revoke_family(family_id, now).await,
            None => Ok(()),
        }
    }

    async fn revoke_all(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        for s in lock(&self.0).values_mut().filter(|s| s.user_id == user_id) {
            s.revoked_at.get_or_insert(now);
        }
        Ok(())
    }

    async fn revoke_family(&self, family_id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        for s in lock(&self.0).values_mut().filter(|s| s.family_id == family_id) {
            s.revoked_at.get_or_insert(now);
        }
        Ok(())
    }
}
