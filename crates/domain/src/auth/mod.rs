//! Sign-up, e-mail verification, login and refresh-token rotation.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::Unexpected;
use crate::jobs::Job;
use crate::live::{LiveEvent, LiveFeed};
use crate::mail::Mail;
use crate::security::{AccessClaims, OneTimeSecrets, PasswordHasher, RefreshClaims, TokenCodec, TokenError};
use crate::uow::UnitOfWork;
use crate::user::{
    AttemptCount, AttemptLimits, Email, NewSession, NewUser, NewVerification, Password, PersonName, Phone, Role,
    RotateOutcome, SessionRepository, User, UserRepository, UserWriteError,
};

/// Wrong codes after which a verification code stops working.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// Code attempts an account may make over all its codes (a resend gives a
/// new code, not new attempts): past them only the mailed link verifies
/// it. Without this bound, five guesses per resend cooldown for the 48
/// hours an unverified account lives were 14 400 guesses at a 6-digit
/// code, a 1.4 % chance of proving an address one never received mail at.
pub const MAX_ACCOUNT_CODE_ATTEMPTS: i32 = 20;

const ATTEMPT_LIMITS: AttemptLimits =
    AttemptLimits { per_code: MAX_CODE_ATTEMPTS, per_account: MAX_ACCOUNT_CODE_ATTEMPTS };

/// Why an authentication use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An account with this e-mail exists.
    #[error("e-mail already registered")]
    EmailTaken,
    /// Unknown e-mail or wrong password (deliberately indistinguishable).
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// The account exists but its e-mail is not verified yet.
    #[error("e-mail not verified")]
    EmailNotVerified,
    /// Wrong, expired or unknown code or link.
    #[error("invalid or expired verification code")]
    InvalidVerificationCode,
    /// Too many wrong codes: this code is dead, ask for a new one.
    #[error("too many wrong codes")]
    TooManyAttempts {
        /// Seconds until a new code may be requested.
        retry_after_secs: i64,
    },
    /// Too many code attempts for the account: no code verifies it now,
    /// only the link.
    #[error("too many code attempts for this account")]
    CodesExhausted,
    /// The account is verified already.
    #[error("e-mail already verified")]
    AlreadyVerified,
    /// The token is malformed, forged, of the wrong type, revoked or unknown.
    #[error("invalid token")]
    InvalidToken,
    /// The token expired.
    #[error("token expired")]
    TokenExpired,
    /// A rotated refresh token was presented again; its family is now revoked.
    #[error("refresh token re-used")]
    RefreshTokenReused,
    /// Something failed that the client cannot fix.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(AuthError);

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => AuthError::TokenExpired,
            TokenError::Invalid => AuthError::InvalidToken,
        }
    }
}

impl From<UserWriteError> for AuthError {
    fn from(e: UserWriteError) -> Self {
        match e {
            UserWriteError::EmailTaken => AuthError::EmailTaken,
            UserWriteError::NotFound => AuthError::InvalidVerificationCode,
            UserWriteError::LastAdmin => {
                AuthError::Unexpected(Unexpected::Failed("last-admin guard hit by auth".into()))
            }
            UserWriteError::Repo(e) => e.into(),
        }
    }
}

/// Tunables of authentication.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of access tokens.
    pub access_ttl: TimeDelta,
    /// Lifetime of refresh tokens and their sessions.
    pub refresh_ttl: TimeDelta,
    /// Lifetime of verification codes and links.
    pub code_ttl: TimeDelta,
    /// Minimum time between two verification mails to one address.
    pub resend_cooldown: TimeDelta,
    /// Base of the verification link, e.g. `https://coffee.example`.
    pub public_base_url: String,
}

/// A validated sign-up request.
#[derive(Debug, Clone)]
pub struct Signup {
    /// Address to register.
    pub email: Email,
    /// Password.
    pub password: Password,
    /// Optional first name.
    pub first_name: Option<PersonName>,
    /// Optional last name.
    pub last_name: Option<PersonName>,
    /// Optional phone.
    pub phone: Option<Phone>,
}

/// How the client proves ownership of the address.
#[derive(Debug, Clone)]
pub enum VerificationProof {
    /// The 6-digit code from the mail, with the address.
    Code {
        /// Address.
        email: Email,
        /// Code as typed.
        code: String,
    },
    /// The token of the link from the mail.
    Token(String),
}

/// An access token with its refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Single-use token for `POST /auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// What opening a verification link did.
#[derive(Debug, Clone)]
pub struct LinkVerified {
    /// The account, verified.
    pub user: User,
    /// `true` when this opening verified it; `false` when it already was.
    pub newly: bool,
}

/// The authentication use cases.
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    uow: Arc<dyn UnitOfWork>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenCodec>,
    secrets: Arc<dyn OneTimeSecrets>,
    clock: Arc<dyn Clock>,
    live: LiveFeed,
    settings: AuthSettings,
}

/// The ports an [`AuthService`] needs.
pub struct AuthPorts {
    /// User store.
    pub users: Arc<dyn UserRepository>,
    /// Session store.
    pub sessions: Arc<dyn SessionRepository>,
    /// Transactions (user + verification + mail in one).
    pub uow: Arc<dyn UnitOfWork>,
    /// Password hasher.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Token codec.
    pub tokens: Arc<dyn TokenCodec>,
    /// One-time secrets.
    pub secrets: Arc<dyn OneTimeSecrets>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Live delivery: a revoked session's open sockets close.
    pub live: LiveFeed,
}

impl AuthService {
    /// Wires the service.
    pub fn new(ports: AuthPorts, settings: AuthSettings) -> Self {
        let AuthPorts { users, sessions, uow, hasher, tokens, secrets, clock, live } = ports;
        Self { users, sessions, uow, hasher, tokens, secrets, clock, live, settings }
    }

    /// Registers an unverified user. The verification mail is recorded in the
    /// outbox in the same transaction, so it is sent exactly when the user exists.
    ///
    /// # Errors
    /// `EmailTaken`; nothing is stored then.
    pub async fn signup(&self, input: Signup) -> Result<User, AuthError> {
        let password_hash = self.hasher.hash(&input.password).await?;
        let now = self.clock.now();
        let user = User {
            id: Uuid::now_v7(),
            email: input.email,
            first_name: input.first_name.map(PersonName::into_inner),
            last_name: input.last_name.map(PersonName::into_inner),
            phone: input.phone.map(Phone::into_inner),
            role: Role::User,
            is_verified: false,
            verified_at: None,
            created_at: now,
            updated_at: now,
        };
        let (verification, mail) = self.new_verification(&user.email, now);
        let tx = self.uow.begin().await?;
        tx.users().create(&NewUser { user: user.clone(), password_hash }, Some(&verification)).await?;
        tx.outbox().record(&Job::SendMail(mail), now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Creates a verified admin unless an account with this e-mail exists.
    /// Returns whether it created one.
    ///
    /// # Errors
    /// The store or hasher failed.
    pub async fn ensure_admin(&self, email: Email, password: Password) -> Result<bool, AuthError> {
        if self.users.find_by_email(&email).await?.is_some() {
            return Ok(false);
        }
        let password_hash = self.hasher.hash(&password).await?;
        let now = self.clock.now();
        let user = User {
            id: Uuid::now_v7(),
            email,
            first_name: None,
            last_name: None,
            phone: None,
            role: Role::Admin,
            is_verified: true,
            verified_at: Some(now),
            created_at: now,
            updated_at: now,
        };
        match self.users.create(&NewUser { user, password_hash }, None).await {
            Ok(()) => Ok(true),
            // Another replica created it at the same moment.
            Err(UserWriteError::EmailTaken) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Verifies an address with a code or a link token (`POST /auth/verify`).
    ///
    /// # Errors
    /// `InvalidVerificationCode`, `TooManyAttempts`, `CodesExhausted`,
    /// `AlreadyVerified`.
    pub async fn verify(&self, proof: VerificationProof) -> Result<User, AuthError> {
        let now = self.clock.now();
        match proof {
            VerificationProof::Code { email, code } => {
                let user = self.users.find_by_email(&email).await?.ok_or(AuthError::InvalidVerificationCode)?;
                if user.is_verified {
                    return Err(AuthError::AlreadyVerified);
                }
                let verification =
                    self.users.find_verification(user.id).await?.ok_or(AuthError::InvalidVerificationCode)?;
                if verification.expires_at <= now {
                    return Err(AuthError::InvalidVerificationCode);
                }
                let too_many =
                    || AuthError::TooManyAttempts { retry_after_secs: self.cooldown_left(verification.sent_at, now) };
                let (attempts, account) = match self.users.count_attempt(user.id, ATTEMPT_LIMITS).await? {
                    AttemptCount::Counted { code: at_code, account } => (at_code, account),
                    AttemptCount::CodeSpent => return Err(too_many()),
                    AttemptCount::AccountSpent => return Err(AuthError::CodesExhausted),
                };
                if self.secrets.digest(code.trim()) != verification.code_hash {
                    return Err(if account >= MAX_ACCOUNT_CODE_ATTEMPTS {
                        AuthError::CodesExhausted
                    } else if attempts >= MAX_CODE_ATTEMPTS {
                        too_many()
                    } else {
                        AuthError::InvalidVerificationCode
                    });
                }
                Ok(self.users.mark_verified(user.id, now).await?)
            }
            VerificationProof::Token(token) => match self.verify_token(&token).await? {
                (user, true) => Ok(user),
                (_, false) => Err(AuthError::AlreadyVerified),
            },
        }
    }

    /// Verifies by link token (`GET /auth/verify?token=`). Idempotent: a link
    /// that already verified its user still succeeds, so prefetching mail
    /// scanners do no harm.
    ///
    /// # Errors
    /// `InvalidVerificationCode` for unknown or expired tokens.
    pub async fn verify_link(&self, token: &str) -> Result<LinkVerified, AuthError> {
        let (user, newly) = self.verify_token(token).await?;
        Ok(LinkVerified { user, newly })
    }

    /// Verifies by link token; the flag tells whether this call verified the user.
    async fn verify_token(&self, token: &str) -> Result<(User, bool), AuthError> {
        let now = self.clock.now();
        let verification = self
            .users
            .find_verification_by_token(&self.secrets.digest(token.trim()))
            .await?
            .ok_or(AuthError::InvalidVerificationCode)?;
        let user = self.users.find(verification.user_id).await?.ok_or(AuthError::InvalidVerificationCode)?;
        if user.is_verified {
            return Ok((user, false));
        }
        if verification.expires_at <= now {
            return Err(AuthError::InvalidVerificationCode);
        }
        Ok((self.users.mark_verified(user.id, now).await?, true))
    }

    /// Sends a new code that replaces the old one, at most once per cooldown.
    /// Says nothing about whether the address exists.
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn resend(&self, email: Email) -> Result<(), AuthError> {
        let Some(user) = self.users.find_by_email(&email).await? else { return Ok(()) };
        if user.is_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let (verification, mail) = self.new_verification(&user.email, now);
        let cutoff = now - self.settings.resend_cooldown;
        // The new mail goes to the outbox together with the new code, or not at all.
        let tx = self.uow.begin().await?;
        if tx.users().replace_verification(user.id, &verification, cutoff).await? {
            tx.outbox().record(&Job::SendMail(mail), now).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Exchanges e-mail and password for a token pair, opening a new session family.
    ///
    /// # Errors
    /// `InvalidCredentials` (unknown e-mail and wrong password alike), `EmailNotVerified`.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair, AuthError> {
        let found = match Email::parse("email", email) {
            Ok(email) => self.users.find_credentials(&email).await?,
            Err(_) => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let password_ok = self.hasher.verify(password, hash.as_deref()).await?;
        let user = user.filter(|_| password_ok).ok_or(AuthError::InvalidCredentials)?;
        if !user.is_verified {
            return Err(AuthError::EmailNotVerified);
        }
        let now = self.clock.now();
        let id = Uuid::now_v7();
        let expires_at = now + self.settings.refresh_ttl;
        let session = NewSession { id, user_id: user.id, family_id: id, created_at: now, expires_at };
        self.sessions.create(&session).await?;
        // The account was read before the password check, which may wait
        // seconds for a hashing slot. An admin who changed its address or
        // un-verified it meanwhile ended its sessions before this one
        // existed: read it again, now that the session does, and end the
        // session if the account it was opened for is no longer there.
        let now_user = self.users.find(user.id).await?;
        let refused = match &now_user {
            None => Some(AuthError::InvalidCredentials),
            Some(u) if u.email != user.email => Some(AuthError::InvalidCredentials),
            Some(u) if !u.is_verified => Some(AuthError::EmailNotVerified),
            Some(_) => None,
        };
        if let Some(refused) = refused {
            self.sessions.revoke_family(id, now).await?;
            return Err(refused);
        }
        self.issue(&user, id, expires_at, now)
    }

    /// Rotates a refresh token: the presented one becomes unusable and a new
    /// pair is returned. Presenting an already rotated token revokes its family.
    ///
    /// # Errors
    /// `InvalidToken`, `TokenExpired`, `RefreshTokenReused`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let claims = self.tokens.decode_refresh(refresh_token)?;
        let now = self.clock.now();
        let user = self.users.find(claims.sub).await?.ok_or(AuthError::InvalidToken)?;
        // The account must still be able to log in (an admin may have un-verified it).
        if !user.is_verified {
            return Err(AuthError::InvalidToken);
        }
        let next_id = Uuid::now_v7();
        let expires_at = now + self.settings.refresh_ttl;
        match self.sessions.rotate(claims.jti, next_id, expires_at, now).await? {
            RotateOutcome::Rotated => self.issue(&user, next_id, expires_at, now),
            RotateOutcome::Reused { family_id } => {
                self.sessions.revoke_family(family_id, now).await?;
                tracing::warn!(user_id = %user.id, %family_id, "refresh token re-used; session family revoked");
                self.live.publish(LiveEvent::AccessChanged { user_id: user.id }).await;
                Err(AuthError::RefreshTokenReused)
            }
            RotateOutcome::Invalid => Err(AuthError::InvalidToken),
        }
    }

    /// Ends the login a refresh token belongs to: the token and every
    /// rotation of it, so a stale token (rotated since) still logs out the
    /// session its successor carries on (idempotent). The access tokens
    /// issued with them stop working at once, and the login's open sockets
    /// close; the account's other logins go on.
    ///
    /// # Errors
    /// `InvalidToken`, `TokenExpired`.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        let claims = self.tokens.decode_refresh(refresh_token)?;
        self.sessions.revoke_family_of(claims.jti, self.clock.now()).await?;
        self.live.publish(LiveEvent::AccessChanged { user_id: claims.sub }).await;
        Ok(())
    }

    /// Checks an access token and returns its claims.
    ///
    /// # Errors
    /// `InvalidToken`, `TokenExpired`.
    pub fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        Ok(self.tokens.decode_access(access_token)?)
    }

    /// A new code and link token: their digests to store, and the mail that
    /// carries them in clear text.
    fn new_verification(&self, email: &Email, now: DateTime<Utc>) -> (NewVerification, Mail) {
        let code = self.secrets.code();
        let token = self.secrets.token();
        let link = format!("{}/auth/verify?token={token}", self.settings.public_base_url.trim_end_matches('/'));
        let verification = NewVerification {
            code_hash: self.secrets.digest(&code),
            token_hash: self.secrets.digest(&token),
            expires_at: now + self.settings.code_ttl,
            sent_at: now,
        };
        let mail = Mail::Verification {
            to: email.as_str().to_owned(),
            code,
            link,
            valid_minutes: self.settings.code_ttl.num_minutes(),
        };
        (verification, mail)
    }

    fn cooldown_left(&self, sent_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
        (sent_at + self.settings.resend_cooldown - now).num_seconds().max(1)
    }

    fn issue(
        &self,
        user: &User,
        session_id: Uuid,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AuthError> {
        let access = AccessClaims {
            sub: user.id,
            role: user.role,
            sid: session_id,
            jti: Uuid::now_v7(),
            iat: now,
            exp: now + self.settings.access_ttl,
        };
        let refresh = RefreshClaims { sub: user.id, jti: session_id, iat: now, exp: expires_at };
        Ok(TokenPair {
            access_token: self.tokens.encode_access(&access)?,
            refresh_token: self.tokens.encode_refresh(&refresh)?,
            expires_in: self.settings.access_ttl.num_seconds(),
        })
    }
}

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod tests;
