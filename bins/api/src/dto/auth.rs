//! Sign-up, verification, login and tokens: `/auth/*`.

use coffee_domain::FieldError;
use coffee_domain::auth::{Signup, TokenPair, VerificationProof};
use coffee_domain::error::Validator;
use coffee_domain::user::{Email, Password, PersonName, Phone};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

use super::not_null;
use crate::problem::ApiError;

/// `POST /auth/signup`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// E-mail address; stored trimmed and lower-cased.
    #[openapi(example = "ann@example.com")]
    pub email: String,
    /// 8 to 128 characters.
    #[openapi(example = "correct horse battery")]
    pub password: String,
    /// First name (1–100 characters).
    #[serde(default, deserialize_with = "not_null")]
    pub first_name: Option<String>,
    /// Last name (1–100 characters).
    #[serde(default, deserialize_with = "not_null")]
    pub last_name: Option<String>,
    /// Phone number: optional `+`, 7 to 15 digits.
    #[serde(default, deserialize_with = "not_null")]
    pub phone: Option<String>,
}

impl SignupRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<Signup, ApiError> {
        let mut v = Validator::new();
        let email = v.check(Email::parse("email", &self.email));
        let password = v.check(Password::parse("password", &self.password));
        let first_name = self.first_name.and_then(|n| v.check(PersonName::parse("first_name", &n)));
        let last_name = self.last_name.and_then(|n| v.check(PersonName::parse("last_name", &n)));
        let phone = self.phone.and_then(|p| v.check(Phone::parse("phone", &p)));
        let parsed =
            email.zip(password).map(|(email, password)| Signup { email, password, first_name, last_name, phone });
        v.finish_with(parsed).map_err(ApiError::validation)
    }
}

/// `POST /auth/verify`: either `email` + `code`, or `token` (from the link).
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The address the code was sent to (with `code`).
    #[serde(default, deserialize_with = "not_null")]
    pub email: Option<String>,
    /// The 6-digit code from the mail (with `email`).
    #[openapi(example = "042917")]
    #[serde(default, deserialize_with = "not_null")]
    pub code: Option<String>,
    /// The token of the verification link (instead of `email` + `code`).
    #[serde(default, deserialize_with = "not_null")]
    pub token: Option<String>,
}

impl VerifyRequest {
    /// Validates the proof.
    ///
    /// # Errors
    /// 422 naming what is missing or invalid.
    pub fn parse(self) -> Result<VerificationProof, ApiError> {
        let mut v = Validator::new();
        let proof = match (self.email, self.code, self.token) {
            (Some(email), Some(code), None) => {
                let email = v.check(Email::parse("email", &email));
                let code = code.trim().to_owned();
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    v.push(FieldError::new("code", "must be 6 digits"));
                }
                email.map(|email| VerificationProof::Code { email, code })
            }
            (None, None, Some(token)) if !token.trim().is_empty() => Some(VerificationProof::Token(token)),
            _ => {
                v.push(FieldError::new("body", "send either email and code, or token"));
                None
            }
        };
        v.finish_with(proof).map_err(ApiError::validation)
    }
}

/// `POST /auth/verify/resend`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// The address to send a new code to.
    pub email: String,
}

/// `POST /auth/login`: JSON `{email,password}` or an OAuth2 password-grant
/// form (`username`, `password`, `grant_type=password`).
#[derive(Debug, Deserialize, Apiv2Schema)]
pub struct LoginRequest {
    /// E-mail address (`username` in the form variant).
    #[serde(alias = "username")]
    pub email: String,
    /// Password.
    pub password: String,
    /// OAuth2 clients send `password`, the only grant served here; another
    /// grant is refused (422). May be left out.
    pub grant_type: Option<GrantType>,
}

/// The OAuth2 grant `POST /auth/login` serves.
#[derive(Debug, Clone, Copy, Deserialize, Apiv2Schema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Resource owner password credentials (RFC 6749 §4.3).
    Password,
}

/// A refresh token, for `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from login or the last refresh.
    pub refresh_token: String,
}

/// `GET /auth/verify?token=…`.
#[derive(Debug, Deserialize, Apiv2Schema)]
pub struct VerifyLinkQuery {
    /// The token from the verification link (a link without one is invalid).
    pub token: Option<String>,
}

/// An access token and its refresh token.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct TokenDto {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Single-use JWT for `POST /auth/refresh`.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl From<TokenPair> for TokenDto {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "bearer".to_owned(),
            expires_in: p.expires_in,
        }
    }
}
