//! Support chat: `/support/…` and the frames of `/ws`.

use chrono::{DateTime, Utc};
use coffee_domain::query::Page;
use coffee_domain::support::{Conversation, ConversationStatus, History, Message, Ticket};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::page_dto;
use super::user::RoleDto;

/// Whether a conversation still takes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatusDto {
    /// Takes messages; a customer has at most one.
    Open,
    /// Closed by staff; the customer's next message opens a new conversation.
    Closed,
}

impl From<ConversationStatus> for ConversationStatusDto {
    fn from(s: ConversationStatus) -> Self {
        match s {
            ConversationStatus::Open => Self::Open,
            ConversationStatus::Closed => Self::Closed,
        }
    }
}

impl From<ConversationStatusDto> for ConversationStatus {
    fn from(s: ConversationStatusDto) -> Self {
        match s {
            ConversationStatusDto::Open => Self::Open,
            ConversationStatusDto::Closed => Self::Closed,
        }
    }
}

/// A customer's conversation with support.
#[derive(Debug, Clone, Serialize, Apiv2Schema)]
pub struct ConversationDto {
    /// Identifier.
    pub id: Uuid,
    /// The customer.
    pub customer_id: Uuid,
    /// Open or closed.
    pub status: ConversationStatusDto,
    /// When the first message opened it.
    pub created_at: DateTime<Utc>,
    /// When the latest message was sent.
    pub last_message_at: DateTime<Utc>,
    /// `seq` of the latest message (messages are numbered 1, 2, 3 … without gaps).
    pub last_seq: i64,
}

impl From<Conversation> for ConversationDto {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id,
            customer_id: c.customer_id,
            status: c.status.into(),
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_seq: c.last_seq,
        }
    }
}

page_dto! {
    /// One page of conversations.
    ConversationPage of ConversationDto
}

impl From<Page<Conversation>> for ConversationPage {
    fn from(page: Page<Conversation>) -> Self {
        Self::from_page(page, ConversationDto::from)
    }
}

/// One chat message, exactly as typed.
#[derive(Debug, Clone, Serialize, Apiv2Schema)]
pub struct ChatMessageDto {
    /// Identifier.
    pub id: Uuid,
    /// Its conversation.
    pub conversation_id: Uuid,
    /// Position in the conversation: 1, 2, 3 … without gaps.
    pub seq: i64,
    /// The author; `null` once their account was deleted.
    pub sender_id: Option<Uuid>,
    /// The author's role when they wrote it.
    pub sender_role: RoleDto,
    /// Plain text, 1–2000 characters; never markup.
    pub body: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// The sender's own id for the message, if they gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl From<Message> for ChatMessageDto {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            seq: m.seq,
            sender_id: m.sender_id,
            sender_role: m.sender_role.into(),
            body: m.body,
            created_at: m.created_at,
            client_id: m.client_id,
        }
    }
}

/// A page of a conversation's messages, ascending by `seq`.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct MessagePage {
    /// The messages.
    pub items: Vec<ChatMessageDto>,
    /// More messages lie beyond this page: after the last item when reading
    /// with `after_seq`, before the first otherwise.
    pub has_more: bool,
}

impl From<History> for MessagePage {
    fn from(h: History) -> Self {
        Self { items: h.items.into_iter().map(ChatMessageDto::from).collect(), has_more: h.has_more }
    }
}

/// `GET /support/conversations/{id}/messages`.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only messages after this `seq`, the first `limit` of them (read forward).
    pub after_seq: Option<i64>,
    /// Only messages before this `seq`.
    pub before_seq: Option<i64>,
    /// At most this many, 1–100 (default 50). Without `after_seq` the latest ones.
    pub limit: Option<u32>,
}

/// `PATCH /support/conversations/{id}`: staff close a conversation.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct PatchConversationRequest {
    /// `closed` (a closed conversation is not reopened; the customer's next message opens a new one).
    pub status: ConversationStatusDto,
}

/// A single-use ticket for opening `GET /ws?ticket=…` from a browser.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct TicketDto {
    /// The ticket; works once, on any replica.
    pub ticket: String,
    /// When it stops working if unused (30 s).
    pub expires_at: DateTime<Utc>,
}

impl From<Ticket> for TicketDto {
    fn from(t: Ticket) -> Self {
        Self { ticket: t.ticket, expires_at: t.expires_at }
    }
}
