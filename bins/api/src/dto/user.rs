//! Users: `/me` and `/users`.

use chrono::{DateTime, Utc};
use coffee_domain::error::Validator;
use coffee_domain::query::Page;
use coffee_domain::user::{Email, PersonName, Phone, Role, User, UserPatch};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{double_option, not_null, page_dto};
use crate::problem::ApiError;

/// A user account.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct UserDto {
    /// Identifier (UUID v7).
    pub id: Uuid,
    /// Normalised e-mail address.
    pub email: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// `user` or `admin`.
    pub role: RoleDto,
    /// Whether the e-mail address was confirmed.
    pub is_verified: bool,
    /// When it was confirmed.
    pub verified_at: Option<DateTime<Utc>>,
    /// Creation time (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    /// A customer.
    User,
    /// Staff.
    Admin,
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::User => RoleDto::User,
            Role::Admin => RoleDto::Admin,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::User => Role::User,
            RoleDto::Admin => Role::Admin,
        }
    }
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email.as_str().to_owned(),
            first_name: u.first_name,
            last_name: u.last_name,
            phone: u.phone,
            role: u.role.into(),
            is_verified: u.is_verified,
            verified_at: u.verified_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

page_dto! {
    /// One page of users.
    UserPage of UserDto
}

impl From<Page<User>> for UserPage {
    fn from(p: Page<User>) -> Self {
        Self::from_page(p, UserDto::from)
    }
}

/// Profile fields shared by the update requests.
fn profile(
    v: &mut Validator,
    first_name: Option<Option<String>>,
    last_name: Option<Option<String>>,
    phone: Option<Option<String>>,
) -> UserPatch {
    let name = |v: &mut Validator, field: &str, value: Option<Option<String>>| {
        value.map(|o| o.and_then(|s| v.check(PersonName::parse(field, &s))))
    };
    UserPatch {
        first_name: name(v, "first_name", first_name),
        last_name: name(v, "last_name", last_name),
        phone: phone.map(|o| o.and_then(|s| v.check(Phone::parse("phone", &s)))),
        ..UserPatch::default()
    }
}

/// `PATCH /me`: change your own profile. Absent fields stay; `null` clears.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// First name (1–100 characters) or `null`.
    #[serde(default, deserialize_with = "double_option")]
    pub first_name: Option<Option<String>>,
    /// Last name (1–100 characters) or `null`.
    #[serde(default, deserialize_with = "double_option")]
    pub last_name: Option<Option<String>>,
    /// Phone number or `null`.
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
}

impl UpdateMeRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn into_patch(self) -> Result<UserPatch, ApiError> {
        let mut v = Validator::new();
        let patch = profile(&mut v, self.first_name, self.last_name, self.phone);
        v.finish().map_err(ApiError::validation)?;
        Ok(patch)
    }
}

/// `PATCH /users/{id}`: partial update. `email`, `role` and `is_verified`
/// are admin-only (a user sending a different value gets 403).
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    /// First name or `null`.
    #[serde(default, deserialize_with = "double_option")]
    pub first_name: Option<Option<String>>,
    /// Last name or `null`.
    #[serde(default, deserialize_with = "double_option")]
    pub last_name: Option<Option<String>>,
    /// Phone number or `null`.
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    /// New e-mail address (admin only).
    #[serde(default, deserialize_with = "not_null")]
    pub email: Option<String>,
    /// New role (admin only).
    #[serde(default, deserialize_with = "not_null")]
    pub role: Option<RoleDto>,
    /// Verification state (admin only).
    #[serde(default, deserialize_with = "not_null")]
    pub is_verified: Option<bool>,
}

/// `PUT /users/{id}`: replaces the profile fields (absent = cleared);
/// `email`, `role` and `is_verified` are admin-only and unchanged when absent.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct PutUserRequest {
    /// First name; absent or `null` clears it.
    pub first_name: Option<String>,
    /// Last name; absent or `null` clears it.
    pub last_name: Option<String>,
    /// Phone number; absent or `null` clears it.
    pub phone: Option<String>,
    /// E-mail address (admin only).
    pub email: Option<String>,
    /// Role (admin only).
    pub role: Option<RoleDto>,
    /// Verification state (admin only).
    pub is_verified: Option<bool>,
}

impl PatchUserRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn into_patch(self) -> Result<UserPatch, ApiError> {
        let mut v = Validator::new();
        let mut patch = profile(&mut v, self.first_name, self.last_name, self.phone);
        patch.email = self.email.and_then(|e| v.check(Email::parse("email", &e)));
        patch.role = self.role.map(Role::from);
        patch.is_verified = self.is_verified;
        v.finish().map_err(ApiError::validation)?;
        Ok(patch)
    }
}

impl From<PutUserRequest> for PatchUserRequest {
    fn from(p: PutUserRequest) -> Self {
        Self {
            first_name: Some(p.first_name),
            last_name: Some(p.last_name),
            phone: Some(p.phone),
            email: p.email,
            role: p.role,
            is_verified: p.is_verified,
        }
    }
}
