//! The user model.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::Email;
use crate::query::{FieldKind, FieldSpec, Resource};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A customer.
    User,
    /// Staff: manages users, the menu and orders.
    Admin,
}

impl Role {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or client-supplied name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identifier (UUID v7).
    pub id: Uuid,
    /// Normalised e-mail address, unique.
    pub email: Email,
    /// Optional first name.
    pub first_name: Option<String>,
    /// Optional last name.
    pub last_name: Option<String>,
    /// Optional phone number.
    pub phone: Option<String>,
    /// Role.
    pub role: Role,
    /// Whether the address was confirmed.
    pub is_verified: bool,
    /// When it was confirmed.
    pub verified_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A user to insert, with its password hash.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The user as it will be stored.
    pub user: User,
    /// PHC string of the password.
    pub password_hash: String,
}

/// Changes to apply to a user; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// New first name.
    pub first_name: Option<Option<String>>,
    /// New last name.
    pub last_name: Option<Option<String>>,
    /// New phone.
    pub phone: Option<Option<String>>,
    /// New e-mail.
    pub email: Option<Email>,
    /// New role.
    pub role: Option<Role>,
    /// New verification state and time.
    pub verified: Option<(bool, Option<DateTime<Utc>>)>,
}

/// Fields of a user that the list query language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    /// `email`
    Email,
    /// `first_name`
    FirstName,
    /// `last_name`
    LastName,
    /// `role`
    Role,
    /// `is_verified`
    IsVerified,
    /// `created_at`
    CreatedAt,
}

/// The user resource as listed by `GET /users`.
#[derive(Debug)]
pub struct UserResource;

impl Resource for UserResource {
    type Field = UserField;
    const CREATED_AT: UserField = UserField::CreatedAt;
    const FIELDS: &'static [FieldSpec<UserField>] = &[
        FieldSpec {
            name: "email",
            field: UserField::Email,
            kind: FieldKind::Text,
            filterable: true,
            sortable: true,
            searchable: true,
        },
        FieldSpec {
            name: "first_name",
            field: UserField::FirstName,
            kind: FieldKind::Text,
            filterable: true,
            sortable: true,
            searchable: true,
        },
        FieldSpec {
            name: "last_name",
            field: UserField::LastName,
            kind: FieldKind::Text,
            filterable: true,
            sortable: true,
            searchable: true,
        },
        FieldSpec {
            name: "role",
            field: UserField::Role,
            kind: FieldKind::Enum(&["user", "admin"]),
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "is_verified",
            field: UserField::IsVerified,
            kind: FieldKind::Bool,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "created_at",
            field: UserField::CreatedAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
    ];
}
