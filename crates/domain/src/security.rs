//! Ports for passwords, tokens and one-time secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::InfraError;
use crate::user::{Password, Role};

/// Hashes and verifies passwords. Implementations must not block the async executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A salted PHC string for `password`.
    ///
    /// # Errors
    /// The hashing backend failed (never because of the password itself).
    async fn hash(&self, password: &Password) -> Result<String, InfraError>;

    /// Whether `password` matches `hash`. With `hash = None` the same work is
    /// done against a dummy hash and `false` returned, so that an unknown
    /// account costs as much as a wrong password.
    ///
    /// # Errors
    /// The hashing backend failed or the stored hash is unreadable.
    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, InfraError>;
}

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// The refresh session the token was issued with: revoking that session
    /// (logout, theft detection, an admin changing the account) ends the
    /// access token too.
    pub sid: Uuid,
    /// Token id.
    pub jti: Uuid,
    /// Issued at.
    pub iat: DateTime<Utc>,
    /// Expires at.
    pub exp: DateTime<Utc>,
}

/// Claims of a refresh token; `jti` is the server-side session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
    /// The user.
    pub sub: Uuid,
    /// The session this token belongs to.
    pub jti: Uuid,
    /// Issued at.
    pub iat: DateTime<Utc>,
    /// Expires at.
    pub exp: DateTime<Utc>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is past its `exp`.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong algorithm, wrong `typ`, malformed.
    #[error("token invalid")]
    Invalid,
}

/// Signs and verifies access and refresh tokens. An access token is never
/// accepted as a refresh token, nor the other way round.
pub trait TokenCodec: Send + Sync {
    /// Signs an access token.
    ///
    /// # Errors
    /// Signing failed.
    fn encode_access(&self, claims: &AccessClaims) -> Result<String, InfraError>;
    /// Signs a refresh token.
    ///
    /// # Errors
    /// Signing failed.
    fn encode_refresh(&self, claims: &RefreshClaims) -> Result<String, InfraError>;
    /// Verifies an access token.
    ///
    /// # Errors
    /// The token is expired or not a valid access token.
    fn decode_access(&self, token: &str) -> Result<AccessClaims, TokenError>;
    /// Verifies a refresh token.
    ///
    /// # Errors
    /// The token is expired or not a valid refresh token.
    fn decode_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError>;
}

/// Random one-time secrets and their stored digests.
pub trait OneTimeSecrets: Send + Sync {
    /// A uniformly random 6-digit code, e.g. `"042917"`.
    fn code(&self) -> String;
    /// A random URL-safe token with at least 256 bits of entropy.
    fn token(&self) -> String;
    /// The digest that is stored instead of a code or token.
    fn digest(&self, secret: &str) -> String;
}
