//! Conversations, their messages, and the values a message is made of.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldError;
use crate::query::{FieldKind, FieldSpec, Resource};
use crate::text::chat_text;
use crate::user::Role;

/// Longest message, in characters.
pub const BODY_MAX_CHARS: usize = 2000;
/// Longest `client_id`, in characters.
pub const CLIENT_ID_MAX_CHARS: usize = 64;
/// Most messages one history page holds.
pub const HISTORY_MAX_LIMIT: u32 = 100;
/// Messages in a history page when the client names no limit.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;

/// Whether a conversation still takes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// Takes messages; a customer has at most one.
    Open,
    /// Closed by an admin (final); the customer's next message opens a new one.
    Closed,
}

impl ConversationStatus {
    /// The stored and serialised names.
    pub const NAMES: &'static [&'static str] = &["open", "closed"];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Closed => "closed",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "open" => Some(ConversationStatus::Open),
            "closed" => Some(ConversationStatus::Closed),
            _ => None,
        }
    }
}

/// A customer's conversation with support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Id (v7).
    pub id: Uuid,
    /// The customer who opened it.
    pub customer_id: Uuid,
    /// Open or closed.
    pub status: ConversationStatus,
    /// When the first message opened it.
    pub created_at: DateTime<Utc>,
    /// When the latest message was stored.
    pub last_message_at: DateTime<Utc>,
    /// `seq` of the latest message (messages are numbered 1, 2, 3 …).
    pub last_seq: i64,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Id (v7).
    pub id: Uuid,
    /// Its conversation.
    pub conversation_id: Uuid,
    /// Position in the conversation: 1, 2, 3 … without gaps.
    pub seq: i64,
    /// The author; `None` once their account was deleted.
    pub sender_id: Option<Uuid>,
    /// The author's role when they wrote it.
    pub sender_role: Role,
    /// The text, exactly as typed (see [`crate::text::chat_text`]).
    pub body: String,
    /// The sender's own id for the message, which makes sending it again harmless.
    pub client_id: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A validated message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks `raw` against the chat text policy, 1–2000 characters.
    ///
    /// # Errors
    /// See [`chat_text`].
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        chat_text("body", raw, 1, BODY_MAX_CHARS).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated `client_id`: 1–64 ASCII letters, digits, `-`, `_`, `.` or
/// `:` — enough for UUIDs, ULIDs and counters, and nothing that could be
/// markup when it is echoed to every agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// Checks `raw`.
    ///
    /// # Errors
    /// Empty, too long, or another character.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_.:".contains(&b);
        if raw.is_empty() || raw.len() > CLIENT_ID_MAX_CHARS || !raw.bytes().all(allowed) {
            return Err(FieldError::new(
                "client_id",
                format!("must be 1 to {CLIENT_ID_MAX_CHARS} ASCII letters, digits, '-', '_', '.' or ':'"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Id (v7) for the message, if it is stored.
    pub id: Uuid,
    /// The author.
    pub sender_id: Uuid,
    /// The author's role now.
    pub sender_role: Role,
    /// The text.
    pub body: String,
    /// The sender's own id for it.
    pub client_id: Option<String>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// Which messages of a conversation a history page holds, ascending by
/// `seq`: the first `limit` after `after_seq` when it is given, otherwise
/// the last `limit` before `before_seq` (or the latest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    /// Only messages with a greater `seq`.
    pub after_seq: Option<i64>,
    /// Only messages with a smaller `seq`.
    pub before_seq: Option<i64>,
    /// At most this many (1–100).
    pub limit: u32,
}

impl HistoryWindow {
    /// Checks the bounds.
    ///
    /// # Errors
    /// A negative `seq`, or a limit outside 1–100, named by parameter.
    pub fn new(after_seq: Option<i64>, before_seq: Option<i64>, limit: Option<u32>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (name, value) in [("after_seq", after_seq), ("before_seq", before_seq)] {
            if value.is_some_and(|v| v < 0) {
                errors.push(FieldError::new(name, "must be 0 or greater"));
            }
        }
        let limit = limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
        if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", format!("must be from 1 to {HISTORY_MAX_LIMIT}")));
        }
        if errors.is_empty() { Ok(Self { after_seq, before_seq, limit }) } else { Err(errors) }
    }
}

/// One page of history: the messages, and whether more lie in the direction read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// Ascending by `seq`.
    pub items: Vec<Message>,
    /// More messages exist beyond this page in the direction of the window
    /// (after the last item when reading forward, before the first otherwise).
    pub has_more: bool,
}

/// Fields of a conversation that the list query language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationField {
    /// `status`
    Status,
    /// `customer_id`
    CustomerId,
    /// `last_message_at`
    LastMessageAt,
    /// `created_at`
    CreatedAt,
}

/// `GET /support/conversations`.
#[derive(Debug)]
pub struct ConversationResource;

impl Resource for ConversationResource {
    type Field = ConversationField;
    const CREATED_AT: ConversationField = ConversationField::CreatedAt;
    const FIELDS: &'static [FieldSpec<ConversationField>] = &[
        FieldSpec {
            name: "status",
            field: ConversationField::Status,
            kind: FieldKind::Enum(ConversationStatus::NAMES),
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "customer_id",
            field: ConversationField::CustomerId,
            kind: FieldKind::Uuid,
            filterable: true,
            sortable: false,
            searchable: false,
        },
        FieldSpec {
            name: "last_message_at",
            field: ConversationField::LastMessageAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "created_at",
            field: ConversationField::CreatedAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
    ];
}
