//! In-memory fakes of every domain port, for fast and deterministic unit tests
//! (no Argon2 cost, no wall clock, no database).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::auth::AuthPorts;
use crate::clock::Clock;
use crate::error::{InfraError, RepoError};
use crate::jobs::{Job, JobQueue};
use crate::mail::Mail;
use crate::maintenance::MaintenanceRepository;
use crate::outbox::{OutboxEntry, OutboxRepository};
use crate::query::{ListQuery, Op, Page, Value};
use crate::security::{AccessClaims, OneTimeSecrets, PasswordHasher, RefreshClaims, TokenCodec, TokenError};
use crate::user::{
    Email, NewSession, NewUser, NewVerification, Password, Role, RotateOutcome, Session, SessionRepository, User,
    UserChanges, UserField, UserRepository, UserService, UserWriteError, Verification,
};

/// Drives a future to completion on the current thread. The fakes never
/// wait on anything, so this needs no runtime.
pub(crate) fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An e-mail address known to be valid.
pub(crate) fn email(raw: &str) -> Email {
    Email::parse("email", raw).expect("test e-mail must be valid")
}

/// A password known to satisfy the policy.
pub(crate) fn password(raw: &str) -> Password {
    Password::parse("password", raw).expect("test password must be valid")
}

/// A verified user without profile fields, created at `at`.
pub(crate) fn verified_user(address: &str, role: Role, at: DateTime<Utc>) -> User {
    User {
        id: Uuid::now_v7(),
        email: email(address),
        first_name: None,
        last_name: None,
        phone: None,
        role,
        is_verified: true,
        verified_at: Some(at),
        created_at: at,
        updated_at: at,
    }
}

// ---------------------------------------------------------------- clock

/// A clock that only moves when told to.
#[derive(Debug)]
pub(crate) struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    pub(crate) fn advance(&self, by: TimeDelta) {
        *lock(&self.0) += by;
    }
}

impl Default for FixedClock {
    fn default() -> Self {
        Self::new("2026-01-05T09:00:00Z".parse().expect("valid timestamp"))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

// ---------------------------------------------------------------- users

#[derive(Debug, Clone)]
struct StoredVerification {
    verification: Verification,
    token_hash: String,
}

#[derive(Debug, Default)]
struct UserTables {
    users: BTreeMap<Uuid, (User, String)>,
    verifications: BTreeMap<Uuid, StoredVerification>,
    /// Jobs recorded in the outbox with the writes that caused them.
    outbox: Vec<Job>,
}

impl UserTables {
    fn email_taken(&self, email: &Email, except: Option<Uuid>) -> bool {
        self.users.values().any(|(u, _)| Some(u.id) != except && u.email.as_str().eq_ignore_ascii_case(email.as_str()))
    }

    fn admins(&self) -> usize {
        self.users.values().filter(|(u, _)| u.role == Role::Admin).count()
    }
}

/// A [`UserRepository`] in a map, honouring the port's documented semantics.
#[derive(Debug, Default)]
pub(crate) struct InMemoryUsers(Mutex<UserTables>);

impl InMemoryUsers {
    /// A snapshot of the jobs recorded in the outbox so far.
    pub(crate) fn outbox(&self) -> RecordingJobs {
        RecordingJobs(Mutex::new(lock(&self.0).outbox.clone()))
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
            t.outbox.push(Job::SendMail(v.mail.clone()));
        }
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<User>, RepoError> {
        Ok(self.get(id))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        Ok(self.find_credentials(email).await?.map(|(u, _)| u))
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, String)>, RepoError> {
        let t = lock(&self.0);
        Ok(t.users.values().find(|(u, _)| u.email.as_str().eq_ignore_ascii_case(email.as_str())).cloned())
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
        Ok(Page { items, total, page: query.page, page_size: query.page_size })
    }

    async fn update(&self, id: Uuid, changes: &UserChanges, now: DateTime<Utc>) -> Result<User, UserWriteError> {
        let mut t = lock(&self.0);
        let Some((current, _)) = t.users.get(&id) else { return Err(UserWriteError::NotFound) };
        if changes.email.as_ref().is_some_and(|e| t.email_taken(e, Some(id))) {
            return Err(UserWriteError::EmailTaken);
        }
        if current.role == Role::Admin && changes.role == Some(Role::User) && t.admins() == 1 {
            return Err(UserWriteError::LastAdmin);
        }
        let (user, _) = t.users.get_mut(&id).ok_or(UserWriteError::NotFound)?;
        if let Some(v) = &changes.first_name {
            user.first_name.clone_from(v);
        }
        if let Some(v) = &changes.last_name {
            user.last_name.clone_from(v);
        }
        if let Some(v) = &changes.phone {
            user.phone.clone_from(v);
        }
        if let Some(v) = &changes.email {
            user.email = v.clone();
        }
        if let Some(v) = changes.role {
            user.role = v;
        }
        if let Some((verified, at)) = changes.verified {
            user.is_verified = verified;
            user.verified_at = at;
        }
        user.updated_at = now;
        Ok(user.clone())
    }

    async fn delete(&self, id: Uuid) -> Result<(), UserWriteError> {
        let mut t = lock(&self.0);
        let Some((user, _)) = t.users.get(&id) else { return Err(UserWriteError::NotFound) };
        if user.role == Role::Admin && t.admins() == 1 {
            return Err(UserWriteError::LastAdmin);
        }
        t.users.remove(&id);
        t.verifications.remove(&id);
        Ok(())
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
        t.verifications.insert(user_id, stored_verification(user_id, verification));
        t.outbox.push(Job::SendMail(verification.mail.clone()));
        Ok(true)
    }

    async fn count_attempt(&self, user_id: Uuid, max: i32) -> Result<Option<i32>, RepoError> {
        let mut t = lock(&self.0);
        // With no verification there is nothing left to try: same answer as an exhausted one.
        let Some(v) = t.verifications.get_mut(&user_id) else { return Ok(None) };
        if v.verification.attempts >= max {
            return Ok(None);
        }
        v.verification.attempts += 1;
        Ok(Some(v.verification.attempts))
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

    async fn revoke(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        if let Some(s) = lock(&self.0).get_mut(&id) {
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

// ---------------------------------------------------------------- security

/// `hash = "hashed:" + password`; counts calls so tests can check the work done.
#[derive(Debug, Default)]
pub(crate) struct CountingHasher {
    hashes: AtomicUsize,
    verifies: AtomicUsize,
}

impl CountingHasher {
    pub(crate) fn hash_of(password: &str) -> String {
        format!("hashed:{password}")
    }

    pub(crate) fn hashes(&self) -> usize {
        self.hashes.load(AtomicOrdering::SeqCst)
    }

    pub(crate) fn verifies(&self) -> usize {
        self.verifies.load(AtomicOrdering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &Password) -> Result<String, InfraError> {
        self.hashes.fetch_add(1, AtomicOrdering::SeqCst);
        Ok(Self::hash_of(password.expose()))
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, InfraError> {
        self.verifies.fetch_add(1, AtomicOrdering::SeqCst);
        Ok(hash.is_some_and(|h| h == Self::hash_of(password)))
    }
}

/// Tokens as plain strings: `access|sub|role|jti|iat|exp` and
/// `refresh|sub|jti|iat|exp` (times in Unix microseconds), checked against the fake clock.
#[derive(Debug)]
pub(crate) struct PlainTokens {
    clock: Arc<FixedClock>,
}

impl PlainTokens {
    pub(crate) fn new(clock: Arc<FixedClock>) -> Self {
        Self { clock }
    }

    fn fields<'a>(&self, token: &'a str, typ: &str, count: usize) -> Result<Vec<&'a str>, TokenError> {
        let parts: Vec<&str> = token.split('|').collect();
        if parts.len() != count || parts[0] != typ {
            return Err(TokenError::Invalid);
        }
        Ok(parts[1..].to_vec())
    }

    fn check_exp(&self, exp: DateTime<Utc>) -> Result<(), TokenError> {
        if exp <= self.clock.now() { Err(TokenError::Expired) } else { Ok(()) }
    }
}

fn uuid(s: &str) -> Result<Uuid, TokenError> {
    Uuid::parse_str(s).map_err(|_| TokenError::Invalid)
}

fn time(s: &str) -> Result<DateTime<Utc>, TokenError> {
    s.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or(TokenError::Invalid)
}

impl TokenCodec for PlainTokens {
    fn encode_access(&self, c: &AccessClaims) -> Result<String, InfraError> {
        let (iat, exp) = (c.iat.timestamp_micros(), c.exp.timestamp_micros());
        Ok(format!("access|{}|{}|{}|{iat}|{exp}", c.sub, c.role.as_str(), c.jti))
    }

    fn encode_refresh(&self, c: &RefreshClaims) -> Result<String, InfraError> {
        let (iat, exp) = (c.iat.timestamp_micros(), c.exp.timestamp_micros());
        Ok(format!("refresh|{}|{}|{iat}|{exp}", c.sub, c.jti))
    }

    fn decode_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let f = self.fields(token, "access", 6)?;
        let role = Role::parse(f[1]).ok_or(TokenError::Invalid)?;
        let claims = AccessClaims { sub: uuid(f[0])?, role, jti: uuid(f[2])?, iat: time(f[3])?, exp: time(f[4])? };
        self.check_exp(claims.exp)?;
        Ok(claims)
    }

    fn decode_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let f = self.fields(token, "refresh", 5)?;
        let claims = RefreshClaims { sub: uuid(f[0])?, jti: uuid(f[1])?, iat: time(f[2])?, exp: time(f[3])? };
        self.check_exp(claims.exp)?;
        Ok(claims)
    }
}

/// Deterministic secrets: codes `000001`, `000002`, …, tokens `token-1`, …;
/// `digest = "d:" + secret`.
#[derive(Debug, Default)]
pub(crate) struct SequentialSecrets(AtomicU32);

impl SequentialSecrets {
    fn next(&self) -> u32 {
        self.0.fetch_add(1, AtomicOrdering::SeqCst) + 1
    }
}

impl OneTimeSecrets for SequentialSecrets {
    fn code(&self) -> String {
        format!("{:06}", self.next() % 1_000_000)
    }

    fn token(&self) -> String {
        format!("token-{}", self.next())
    }

    fn digest(&self, secret: &str) -> String {
        format!("d:{secret}")
    }
}

// ---------------------------------------------------------------- jobs

/// A verification mail as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentVerification {
    pub(crate) to: String,
    pub(crate) code: String,
    pub(crate) link: String,
    /// The link's `token` parameter.
    pub(crate) token: String,
    pub(crate) valid_minutes: i64,
}

/// A [`JobQueue`] that keeps every job it accepts.
#[derive(Debug, Default)]
pub(crate) struct RecordingJobs(Mutex<Vec<Job>>);

impl RecordingJobs {
    pub(crate) fn verification_mails(&self) -> Vec<SentVerification> {
        lock(&self.0)
            .iter()
            .map(|Job::SendMail(mail)| match mail {
                Mail::Verification { to, code, link, valid_minutes } => SentVerification {
                    to: to.clone(),
                    code: code.clone(),
                    link: link.clone(),
                    token: link.rsplit_once("token=").map(|(_, t)| t.to_owned()).unwrap_or_default(),
                    valid_minutes: *valid_minutes,
                },
            })
            .collect()
    }

    /// The most recent verification mail.
    pub(crate) fn last_verification(&self) -> SentVerification {
        self.verification_mails().pop().expect("a verification mail was queued")
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Every job accepted so far, in the order it was enqueued.
    pub(crate) fn jobs(&self) -> Vec<Job> {
        lock(&self.0).clone()
    }
}

#[async_trait]
impl JobQueue for RecordingJobs {
    async fn enqueue(&self, job: Job) -> Result<(), InfraError> {
        lock(&self.0).push(job);
        Ok(())
    }
}

/// A [`JobQueue`] that is down.
#[derive(Debug, Default)]
pub(crate) struct FailingJobs;

#[async_trait]
impl JobQueue for FailingJobs {
    async fn enqueue(&self, _job: Job) -> Result<(), InfraError> {
        Err(InfraError("queue unavailable".to_owned()))
    }
}

// ---------------------------------------------------------------- outbox

/// One outbox row as the fake stores it (the columns of the real table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxRow {
    pub(crate) id: Uuid,
    pub(crate) job: Job,
    pub(crate) available_at: DateTime<Utc>,
    pub(crate) claimed_until: Option<DateTime<Utc>>,
    pub(crate) attempts: i32,
    pub(crate) last_error: Option<String>,
    pub(crate) relayed_at: Option<DateTime<Utc>>,
    pub(crate) parked_at: Option<DateTime<Utc>>,
}

impl OutboxRow {
    /// Not relayed, not parked, available at `now`, not claimed by a live lease.
    fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.relayed_at.is_none()
            && self.parked_at.is_none()
            && self.available_at <= now
            && self.claimed_until.is_none_or(|until| until <= now)
    }
}

/// An [`OutboxRepository`] in a list (insertion order breaks ties between
/// entries available at the same instant), honouring the port's semantics.
/// Updates of unknown ids do nothing, like an `UPDATE` that matches no row.
#[derive(Debug, Default)]
pub(crate) struct InMemoryOutbox(Mutex<Vec<OutboxRow>>);

impl InMemoryOutbox {
    /// Records `job`, available from `available_at` (test set-up).
    pub(crate) fn push(&self, job: Job, available_at: DateTime<Utc>) -> Uuid {
        let id = Uuid::now_v7();
        lock(&self.0).push(OutboxRow {
            id,
            job,
            available_at,
            claimed_until: None,
            attempts: 0,
            last_error: None,
            relayed_at: None,
            parked_at: None,
        });
        id
    }

    /// A snapshot of the row `id`.
    pub(crate) fn row(&self, id: Uuid) -> OutboxRow {
        lock(&self.0).iter().find(|r| r.id == id).cloned().expect("the outbox row exists")
    }

    fn update(&self, id: Uuid, change: impl FnOnce(&mut OutboxRow)) {
        if let Some(row) = lock(&self.0).iter_mut().find(|r| r.id == id) {
            change(row);
        }
    }
}

#[async_trait]
impl OutboxRepository for InMemoryOutbox {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxEntry>, RepoError> {
        let mut rows = lock(&self.0);
        let mut due: Vec<&mut OutboxRow> = rows.iter_mut().filter(|r| r.is_due(now)).collect();
        // Stable: entries available at the same instant keep insertion order.
        due.sort_by_key(|r| r.available_at);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(due
            .into_iter()
            .take(take)
            .map(|row| {
                row.claimed_until = Some(lease_until);
                OutboxEntry { id: row.id, job: row.job.clone(), attempts: row.attempts }
            })
            .collect())
    }

    async fn mark_relayed(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), RepoError> {
        self.update(id, |row| {
            row.relayed_at = Some(now);
            row.claimed_until = None;
        });
        Ok(())
    }

    async fn reschedule(&self, id: Uuid, retry_at: DateTime<Utc>, error: &str) -> Result<(), RepoError> {
        self.update(id, |row| {
            row.attempts += 1;
            row.available_at = retry_at;
            row.claimed_until = None;
            row.last_error = Some(error.to_owned());
        });
        Ok(())
    }

    async fn park(&self, id: Uuid, now: DateTime<Utc>, error: &str) -> Result<(), RepoError> {
        // Like the SQL adapter, the failed hand-over that parks an entry counts.
        self.update(id, |row| {
            row.attempts += 1;
            row.parked_at = Some(now);
            row.claimed_until = None;
            row.last_error = Some(error.to_owned());
        });
        Ok(())
    }
}

// ---------------------------------------------------------------- maintenance

/// What a [`MaintenanceRepository`] purges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PurgeKind {
    UnverifiedUsers,
    ExpiredSessions,
    ExpiredVerifications,
    RelayedOutbox,
}

/// One call of a purge method: the cutoff (or `now`) and limit it got, and
/// how many rows it reported deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PurgeCall {
    pub(crate) kind: PurgeKind,
    pub(crate) cutoff: DateTime<Utc>,
    pub(crate) limit: u64,
    pub(crate) deleted: u64,
}

/// Calls after which the fake assumes the caller never stops.
const RUNAWAY_PURGE_CALLS: usize = 10_000;

#[derive(Debug, Default)]
struct MaintenanceScript {
    purgeable: BTreeMap<PurgeKind, u64>,
    failing: Option<PurgeKind>,
    calls: Vec<PurgeCall>,
}

/// A [`MaintenanceRepository`] that holds a count of purgeable rows per kind
/// (each call deletes at most `limit` of them) and records every call. It
/// can be told to fail one kind, and panics on a `limit` of 0 or on a
/// runaway loop rather than letting a test hang.
#[derive(Debug, Default)]
pub(crate) struct ScriptedMaintenance(Mutex<MaintenanceScript>);

impl ScriptedMaintenance {
    /// Makes `rows` more rows of `kind` purgeable.
    pub(crate) fn with(self, kind: PurgeKind, rows: u64) -> Self {
        *lock(&self.0).purgeable.entry(kind).or_default() += rows;
        self
    }

    /// Makes every purge of `kind` fail with [`RepoError::Unavailable`].
    pub(crate) fn failing(self, kind: PurgeKind) -> Self {
        lock(&self.0).failing = Some(kind);
        self
    }

    /// Every call so far, in order.
    pub(crate) fn calls(&self) -> Vec<PurgeCall> {
        lock(&self.0).calls.clone()
    }

    /// The calls of one kind, in order.
    pub(crate) fn calls_of(&self, kind: PurgeKind) -> Vec<PurgeCall> {
        self.calls().into_iter().filter(|c| c.kind == kind).collect()
    }

    /// Rows of `kind` still purgeable.
    pub(crate) fn remaining(&self, kind: PurgeKind) -> u64 {
        lock(&self.0).purgeable.get(&kind).copied().unwrap_or(0)
    }

    fn purge(&self, kind: PurgeKind, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        assert!(limit > 0, "{kind:?} purged with a limit of 0: a caller looping until a short batch never stops");
        let mut script = lock(&self.0);
        assert!(script.calls.len() < RUNAWAY_PURGE_CALLS, "{kind:?} purged {RUNAWAY_PURGE_CALLS} times: runaway loop");
        if script.failing == Some(kind) {
            return Err(RepoError::Unavailable(format!("{kind:?}: connection refused")));
        }
        let left = script.purgeable.entry(kind).or_default();
        let deleted = (*left).min(limit);
        *left -= deleted;
        script.calls.push(PurgeCall { kind, cutoff, limit, deleted });
        Ok(deleted)
    }
}

#[async_trait]
impl MaintenanceRepository for ScriptedMaintenance {
    async fn purge_unverified_users(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::UnverifiedUsers, cutoff, limit)
    }

    async fn purge_expired_sessions(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::ExpiredSessions, now, limit)
    }

    async fn purge_expired_verifications(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::ExpiredVerifications, now, limit)
    }

    async fn purge_relayed_outbox(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, RepoError> {
        self.purge(PurgeKind::RelayedOutbox, cutoff, limit)
    }
}

// ---------------------------------------------------------------- wiring

/// One set of fakes, shared by the services a test wires.
#[derive(Debug)]
pub(crate) struct Fakes {
    pub(crate) clock: Arc<FixedClock>,
    pub(crate) users: Arc<InMemoryUsers>,
    pub(crate) sessions: Arc<InMemorySessions>,
    pub(crate) hasher: Arc<CountingHasher>,
    pub(crate) tokens: Arc<PlainTokens>,
    pub(crate) secrets: Arc<SequentialSecrets>,
}

impl Fakes {
    pub(crate) fn new() -> Self {
        let clock = Arc::new(FixedClock::default());
        Self {
            tokens: Arc::new(PlainTokens::new(Arc::clone(&clock))),
            clock,
            users: Arc::default(),
            sessions: Arc::default(),
            hasher: Arc::default(),
            secrets: Arc::default(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn auth_ports(&self) -> AuthPorts {
        AuthPorts {
            users: self.users.clone(),
            sessions: self.sessions.clone(),
            hasher: self.hasher.clone(),
            tokens: self.tokens.clone(),
            secrets: self.secrets.clone(),
            clock: self.clock.clone(),
        }
    }

    pub(crate) fn user_service(&self) -> UserService {
        UserService::new(self.users.clone(), self.clock.clone())
    }
}
