//! Fakes of the password, token and secret ports: no Argon2 cost, readable
//! tokens checked against the fake clock, predictable codes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as AtomicOrdering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::InfraError;
use crate::security::{AccessClaims, OneTimeSecrets, PasswordHasher, RefreshClaims, TokenCodec, TokenError};
use crate::testing::FixedClock;
use crate::user::{Password, Role};

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

/// Tokens as plain strings: `access|sub|role|sid|jti|iat|exp` and
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
        Ok(format!("access|{}|{}|{}|{}|{iat}|{exp}", c.sub, c.role.as_str(), c.sid, c.jti))
    }

    fn encode_refresh(&self, c: &RefreshClaims) -> Result<String, InfraError> {
        let (iat, exp) = (c.iat.timestamp_micros(), c.exp.timestamp_micros());
        Ok(format!("refresh|{}|{}|{iat}|{exp}", c.sub, c.jti))
    }

    fn decode_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let f = self.fields(token, "access", 7)?;
        let role = Role::parse(f[1]).ok_or(TokenError::Invalid)?;
        let (sub, sid, jti) = (uuid(f[0])?, uuid(f[2])?, uuid(f[3])?);
        let claims = AccessClaims { sub, role, sid, jti, iat: time(f[4])?, exp: time(f[5])? };
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
