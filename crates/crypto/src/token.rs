//! HS256 JSON Web Tokens for access and refresh.

use chrono::{DateTime, Utc};
use coffee_domain::error::InfraError;
use coffee_domain::security::{AccessClaims, RefreshClaims, TokenCodec, TokenError};
use coffee_domain::user::Role;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `typ` claim of an access token; any other value fails to deserialise.
#[derive(Debug, Serialize, Deserialize)]
enum AccessTyp {
    #[serde(rename = "access")]
    Access,
}

/// The `typ` claim of a refresh token; any other value fails to deserialise.
#[derive(Debug, Serialize, Deserialize)]
enum RefreshTyp {
    #[serde(rename = "refresh")]
    Refresh,
}

/// Access token claims as signed; every field is required.
#[derive(Debug, Serialize, Deserialize)]
struct AccessWire {
    sub: Uuid,
    role: Role,
    sid: Uuid,
    exp: i64,
    iat: i64,
    jti: Uuid,
    typ: AccessTyp,
}

/// Refresh token claims as signed; every field is required.
#[derive(Debug, Serialize, Deserialize)]
struct RefreshWire {
    sub: Uuid,
    exp: i64,
    iat: i64,
    jti: Uuid,
    typ: RefreshTyp,
}

/// [`TokenCodec`] signing with HMAC-SHA-256 under one shared secret.
///
/// * Only HS256 is accepted: `alg: none`, other HMAC sizes and public-key
///   algorithms are refused before any claim is read.
/// * The `typ` claim (`"access"` / `"refresh"`) is checked while the claims
///   are parsed, so a token of the wrong kind is `Invalid` (never `Expired`).
/// * `exp` is checked with **no leeway** (a token is expired from the
///   second `exp` names, RFC 7519 §4.1.4): tokens are issued and checked by
///   the same service, and since neither `iat` nor `nbf` is checked against
///   the clock, skew between replicas can only move an expiry by the skew,
///   never reject a fresh token.
/// * Times are unix seconds; sub-second parts of the claims are dropped.
pub struct JwtCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec").field("algorithm", &Algorithm::HS256).finish_non_exhaustive()
    }
}

impl JwtCodec {
    /// A codec signing with `secret`, which should hold at least 32 random bytes.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    fn encode<T: Serialize>(&self, claims: &T) -> Result<String, InfraError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| InfraError::caused_by("token signing failed", e))
    }

    fn decode<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        jsonwebtoken::decode::<T>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| match e
            .kind()
        {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
    }
}

/// RFC 7519 §4.1.4: valid only *before* `exp`. jsonwebtoken accepts the
/// whole second `exp` names (it compares whole seconds with `<`), while the
/// refresh token's session ends within that second: without this check a
/// refresh in that moment was refused as revoked instead of expired.
fn unexpired(exp: DateTime<Utc>) -> Result<DateTime<Utc>, TokenError> {
    if exp <= Utc::now() { Err(TokenError::Expired) } else { Ok(exp) }
}

fn time(secs: i64) -> Result<DateTime<Utc>, TokenError> {
    DateTime::from_timestamp(secs, 0).ok_or(TokenError::Invalid)
}

impl TokenCodec for JwtCodec {
    fn encode_access(&self, c: &AccessClaims) -> Result<String, InfraError> {
        self.encode(&AccessWire {
            sub: c.sub,
            role: c.role,
            sid: c.sid,
            exp: c.exp.timestamp(),
            iat: c.iat.timestamp(),
            jti: c.jti,
            typ: AccessTyp::Access,
        })
    }

    fn encode_refresh(&self, c: &RefreshClaims) -> Result<String, InfraError> {
        self.encode(&RefreshWire {
            sub: c.sub,
            exp: c.exp.timestamp(),
            iat: c.iat.timestamp(),
            jti: c.jti,
            typ: RefreshTyp::Refresh,
        })
    }

    fn decode_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let w: AccessWire = self.decode(token)?;
        let exp = unexpired(time(w.exp)?)?;
        Ok(AccessClaims { sub: w.sub, role: w.role, sid: w.sid, jti: w.jti, iat: time(w.iat)?, exp })
    }

    fn decode_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let w: RefreshWire = self.decode(token)?;
        let exp = unexpired(time(w.exp)?)?;
        Ok(RefreshClaims { sub: w.sub, jti: w.jti, iat: time(w.iat)?, exp })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{Duration, SubsecRound};

    use super::*;

    const SECRET: &[u8] = b"an HS256 test secret of 32 bytes";

    fn codec() -> JwtCodec {
        JwtCodec::new(SECRET)
    }

    fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(0)
    }

    fn access(role: Role, exp_in: Duration) -> AccessClaims {
        let iat = now();
        AccessClaims { sub: Uuid::now_v7(), role, sid: Uuid::now_v7(), jti: Uuid::new_v4(), iat, exp: iat + exp_in }
    }

    fn refresh(exp_in: Duration) -> RefreshClaims {
        let iat = now();
        RefreshClaims { sub: Uuid::now_v7(), jti: Uuid::new_v4(), iat, exp: iat + exp_in }
    }

    /// The three dot-separated parts of a token.
    fn parts(token: &str) -> Vec<&str> {
        token.split('.').collect()
    }

    #[test]
    fn access_tokens_round_trip() {
        let claims = access(Role::Admin, Duration::minutes(15));
        let token = codec().encode_access(&claims).unwrap();
        assert_eq!(codec().decode_access(&token).unwrap(), claims);
    }

    #[test]
    fn refresh_tokens_round_trip() {
        let claims = refresh(Duration::days(30));
        let token = codec().encode_refresh(&claims).unwrap();
        assert_eq!(codec().decode_refresh(&token).unwrap(), claims);
    }

    #[test]
    fn access_tokens_are_refused_as_refresh_tokens() {
        let token = codec().encode_access(&access(Role::User, Duration::minutes(15))).unwrap();
        assert_eq!(codec().decode_refresh(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn refresh_tokens_are_refused_as_access_tokens() {
        let token = codec().encode_refresh(&refresh(Duration::days(30))).unwrap();
        assert_eq!(codec().decode_access(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_tokens_of_the_wrong_kind_are_invalid_not_expired() {
        let token = codec().encode_access(&access(Role::User, Duration::minutes(-5))).unwrap();
        assert_eq!(codec().decode_refresh(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_signed_with_another_secret_are_refused() {
        let other = JwtCodec::new(b"another secret, also of 32 bytes");
        let token = other.encode_access(&access(Role::User, Duration::minutes(15))).unwrap();
        assert_eq!(codec().decode_access(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn unsigned_alg_none_tokens_are_refused() {
        let token = codec().encode_access(&access(Role::Admin, Duration::minutes(15))).unwrap();
        // base64url of {"alg":"none","typ":"JWT"}
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let forged = format!("{none_header}.{}.", parts(&token)[1]);
        assert_eq!(codec().decode_access(&forged), Err(TokenError::Invalid));
    }

    #[test]
    fn hs384_tokens_signed_with_the_same_secret_are_refused() {
        let c = access(Role::User, Duration::minutes(15));
        let wire = AccessWire {
            sub: c.sub,
            role: c.role,
            sid: c.sid,
            exp: c.exp.timestamp(),
            iat: c.iat.timestamp(),
            jti: c.jti,
            typ: AccessTyp::Access,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS384), &wire, &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(codec().decode_access(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_access_tokens_are_reported_as_expired() {
        let token = codec().encode_access(&access(Role::User, Duration::seconds(-2))).unwrap();
        assert_eq!(codec().decode_access(&token), Err(TokenError::Expired));
    }

    #[test]
    fn expired_refresh_tokens_are_reported_as_expired() {
        let token = codec().encode_refresh(&refresh(Duration::seconds(-2))).unwrap();
        assert_eq!(codec().decode_refresh(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_is_expired_from_the_second_its_exp_names() {
        // RFC 7519: valid only before `exp` (jsonwebtoken alone accepts that whole second).
        let token = codec().encode_refresh(&refresh(Duration::zero())).unwrap();
        assert_eq!(codec().decode_refresh(&token), Err(TokenError::Expired));
        let token = codec().encode_access(&access(Role::User, Duration::zero())).unwrap();
        assert_eq!(codec().decode_access(&token), Err(TokenError::Expired));
        let token = codec().encode_refresh(&refresh(Duration::seconds(5))).unwrap();
        assert!(codec().decode_refresh(&token).is_ok());
    }

    #[test]
    fn a_payload_swapped_under_a_valid_signature_is_refused() {
        let user = codec().encode_access(&access(Role::User, Duration::minutes(15))).unwrap();
        let admin = codec().encode_access(&access(Role::Admin, Duration::minutes(15))).unwrap();
        let (u, a) = (parts(&user), parts(&admin));
        let forged = format!("{}.{}.{}", u[0], a[1], u[2]);
        assert_eq!(codec().decode_access(&forged), Err(TokenError::Invalid));
    }

    #[test]
    fn an_access_token_without_a_session_is_refused() {
        // The shape tokens had before `sid`: they stop working at the
        // upgrade (the client refreshes), never pass without a session check.
        #[derive(Serialize)]
        struct Before {
            sub: Uuid,
            role: Role,
            exp: i64,
            iat: i64,
            jti: Uuid,
            typ: AccessTyp,
        }
        let c = access(Role::User, Duration::minutes(15));
        let before = Before {
            sub: c.sub,
            role: c.role,
            exp: c.exp.timestamp(),
            iat: c.iat.timestamp(),
            jti: c.jti,
            typ: AccessTyp::Access,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &before, &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(codec().decode_access(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn garbage_is_invalid() {
        for bad in ["", "a.b.c", "not-a-jwt", "..."] {
            assert_eq!(codec().decode_access(bad), Err(TokenError::Invalid), "{bad:?}");
        }
    }
}
