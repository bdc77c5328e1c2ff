//! The support use cases: sending, typing, closing, history, and the
//! tickets that let browsers open a socket.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::model::{
    ClientId, Conversation, ConversationField, ConversationStatus, History, HistoryWindow, Message, MessageBody,
    NewMessage,
};
use super::ports::{Appended, Closing, ConversationRepository, Thread};
use crate::access::{AccessError, Admin, Caller};
use crate::clock::Clock;
use crate::error::{InfraError, Unexpected};
use crate::live::{LiveEvent, LiveFeed};
use crate::query::{ListQuery, Page};
use crate::realtime::{Issued, TicketGrant, TicketStore};
use crate::security::OneTimeSecrets;

/// How long a WebSocket ticket may be redeemed.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// Tickets one user may be issued within [`TICKET_TTL`]: twice the sockets
/// they may hold, so reconnecting never meets it, while one account cannot
/// fill the ticket store for everyone.
pub const TICKETS_PER_USER: usize = 10;

/// Why a support use case failed.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// Unknown conversation (for this caller), or not allowed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// An admin's message or typing names no conversation.
    #[error("name the conversation (conversation_id)")]
    ConversationRequired,
    /// The conversation is closed.
    #[error("the conversation is closed")]
    ConversationClosed,
    /// Only closing is a valid change of a conversation.
    #[error("a conversation can only be closed")]
    CannotReopen,
    /// The caller asked for [`TICKETS_PER_USER`] tickets within a ticket's
    /// lifetime; the next one may be asked for after `retry_after`.
    #[error("too many tickets; retry after {retry_after:?}")]
    TooManyTickets {
        /// When the oldest of them lapses.
        retry_after: Duration,
    },
    /// Something failed that the client cannot fix.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(SupportError);

/// A message as sent by a client, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The text.
    pub body: MessageBody,
    /// The conversation; required of admins, optional for customers (their open one).
    pub conversation_id: Option<Uuid>,
    /// The sender's own id for the message, so that sending it again is harmless.
    pub client_id: Option<ClientId>,
}

/// A message and its conversation, as [`SupportService::send`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The conversation after the message.
    pub conversation: Conversation,
    /// The message.
    pub message: Message,
    /// It was stored earlier under the same `client_id`; nothing new was stored.
    pub duplicate: bool,
    /// The message opened the conversation.
    pub opened: bool,
}

/// A WebSocket ticket in clear text, to hand to the client once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The ticket.
    pub ticket: String,
    /// When it stops working if unused.
    pub expires_at: DateTime<Utc>,
}

/// The ports of the support use cases.
pub struct SupportPorts {
    /// Conversations and messages.
    pub conversations: Arc<dyn ConversationRepository>,
    /// Live delivery.
    pub live: LiveFeed,
    /// WebSocket tickets.
    pub tickets: Arc<dyn TicketStore>,
    /// Ticket generation and digests.
    pub secrets: Arc<dyn OneTimeSecrets>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

/// Support chat: customers talk to admins, one open conversation per customer.
pub struct SupportService {
    conversations: Arc<dyn ConversationRepository>,
    live: LiveFeed,
    tickets: Arc<dyn TicketStore>,
    secrets: Arc<dyn OneTimeSecrets>,
    clock: Arc<dyn Clock>,
}

impl SupportService {
    /// The service over `ports`.
    pub fn new(ports: SupportPorts) -> Self {
        let SupportPorts { conversations, live, tickets, secrets, clock } = ports;
        Self { conversations, live, tickets, secrets, clock }
    }

    /// Stores a message, then publishes it. A customer writes to their open
    /// conversation (opened by their first message) or names one of their
    /// own that is open; an admin names any open conversation. A repeated
    /// `client_id` returns the message stored the first time.
    ///
    /// # Errors
    /// `ConversationRequired` (admin without a conversation), `NotFound` (a
    /// conversation the caller may not see), `ConversationClosed`.
    pub async fn send(&self, caller: &Caller, outgoing: OutgoingMessage) -> Result<Posted, SupportError> {
        let thread = self.thread(caller, outgoing.conversation_id).await?;
        let message = NewMessage {
            id: Uuid::now_v7(),
            sender_id: caller.id(),
            sender_role: caller.user().role,
            body: outgoing.body.as_str().to_owned(),
            client_id: outgoing.client_id.map(|c| c.as_str().to_owned()),
            created_at: self.clock.now(),
        };
        match self.conversations.append(thread, &message).await? {
            Appended::Stored { conversation, message, opened } => {
                if opened {
                    self.live.publish(LiveEvent::Conversation(conversation.clone())).await;
                }
                let customer_id = conversation.customer_id;
                self.live.publish(LiveEvent::Message { customer_id, message: message.clone() }).await;
                Ok(Posted { conversation, message, duplicate: false, opened })
            }
            Appended::Duplicate { conversation, message } => {
                Ok(Posted { conversation, message, duplicate: true, opened: false })
            }
            Appended::Closed(_) => Err(SupportError::ConversationClosed),
            Appended::Missing => Err(AccessError::NotFound.into()),
        }
    }

    /// Tells the other side that the caller is typing. A customer without
    /// an open conversation has no one to tell (nothing happens).
    ///
    /// # Errors
    /// As [`Self::send`].
    pub async fn typing(&self, caller: &Caller, conversation_id: Option<Uuid>) -> Result<(), SupportError> {
        let conversation = match self.thread(caller, conversation_id).await? {
            Thread::Existing(id) => self.conversations.find(id).await?.ok_or(AccessError::NotFound)?,
            Thread::OpenOf(customer) => match self.conversations.open_of(customer).await? {
                Some(open) => open,
                None => return Ok(()),
            },
        };
        if conversation.status == ConversationStatus::Closed {
            return Err(SupportError::ConversationClosed);
        }
        self.live
            .publish(LiveEvent::Typing {
                customer_id: conversation.customer_id,
                conversation_id: conversation.id,
                sender_id: caller.id(),
                sender_role: caller.user().role,
            })
            .await;
        Ok(())
    }

    /// Where the caller's message goes, checking that they may write there.
    async fn thread(&self, caller: &Caller, conversation_id: Option<Uuid>) -> Result<Thread, SupportError> {
        match (conversation_id, caller.admin()) {
            (None, Some(_)) => Err(SupportError::ConversationRequired),
            (None, None) => Ok(Thread::OpenOf(caller.id())),
            (Some(id), admin) => {
                if admin.is_none() {
                    // A customer may name only their own conversation.
                    let conversation = self.conversations.find(id).await?.ok_or(AccessError::NotFound)?;
                    caller.may_see(conversation.customer_id)?;
                }
                Ok(Thread::Existing(id))
            }
        }
    }

    /// Closes a conversation (closing a closed one changes nothing) and
    /// tells its customer and the admins.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn close(&self, _admin: Admin, id: Uuid) -> Result<Conversation, SupportError> {
        match self.conversations.close(id, self.clock.now()).await? {
            Closing::Closed(conversation) => {
                self.live.publish(LiveEvent::Conversation(conversation.clone())).await;
                Ok(conversation)
            }
            Closing::AlreadyClosed(conversation) => Ok(conversation),
            Closing::Missing => Err(AccessError::NotFound.into()),
        }
    }

    /// Changes a conversation's status: only to `closed` (admins).
    ///
    /// # Errors
    /// `Forbidden` for customers, `CannotReopen`, `NotFound`.
    pub async fn set_status(
        &self,
        caller: &Caller,
        id: Uuid,
        status: ConversationStatus,
    ) -> Result<Conversation, SupportError> {
        let conversation = self.get(caller, id).await?;
        let admin = caller.require_admin()?;
        match status {
            ConversationStatus::Closed => self.close(admin, conversation.id).await,
            ConversationStatus::Open if conversation.status == ConversationStatus::Open => Ok(conversation),
            ConversationStatus::Open => Err(SupportError::CannotReopen),
        }
    }

    /// One conversation: its customer's or any for an admin.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<Conversation, SupportError> {
        let conversation = self.conversations.find(id).await?.ok_or(AccessError::NotFound)?;
        caller.may_see(conversation.customer_id)?;
        Ok(conversation)
    }

    /// Conversations: the caller's own, or all for an admin.
    ///
    /// # Errors
    /// The store failed.
    pub async fn list(
        &self,
        caller: &Caller,
        query: &ListQuery<ConversationField>,
    ) -> Result<Page<Conversation>, SupportError> {
        let customer = if caller.admin().is_some() { None } else { Some(caller.id()) };
        Ok(self.conversations.list(query, customer).await?)
    }

    /// A page of a conversation's messages.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn history(&self, caller: &Caller, id: Uuid, window: HistoryWindow) -> Result<History, SupportError> {
        let conversation = self.get(caller, id).await?;
        Ok(self.conversations.history(conversation.id, &window).await?)
    }

    /// A single-use ticket for opening a socket as the caller, valid for
    /// [`TICKET_TTL`]; a socket opened with it closes when `credential_expires_at`
    /// (the expiry of the caller's access token) passes.
    ///
    /// # Errors
    /// `TooManyTickets` past [`TICKETS_PER_USER`]; the ticket store is
    /// unreachable (`Unavailable`).
    pub async fn issue_ticket(
        &self,
        caller: &Caller,
        credential_expires_at: DateTime<Utc>,
    ) -> Result<Ticket, SupportError> {
        let ticket = self.secrets.token();
        let grant =
            TicketGrant { user_id: caller.id(), session_id: caller.session(), expires_at: credential_expires_at };
        let digest = self.secrets.digest(&ticket);
        match self.tickets.issue(&digest, grant, TICKET_TTL, TICKETS_PER_USER).await.map_err(unavailable)? {
            Issued::Stored => {}
            Issued::Busy(retry_after) => return Err(SupportError::TooManyTickets { retry_after }),
        }
        let ttl = TimeDelta::from_std(TICKET_TTL).unwrap_or(TimeDelta::MAX);
        Ok(Ticket { ticket, expires_at: self.clock.now() + ttl })
    }

    /// Consumes a ticket: who it logs in, the first time within its lifetime.
    ///
    /// # Errors
    /// The ticket store is unreachable (`Unavailable`).
    pub async fn redeem_ticket(&self, ticket: &str) -> Result<Option<TicketGrant>, SupportError> {
        self.tickets.redeem(&self.secrets.digest(ticket)).await.map_err(unavailable)
    }

    /// Who a ticket would log in, without consuming it (see
    /// [`TicketStore::peek`]): the socket upgrade spends it only once the
    /// socket has a place.
    ///
    /// # Errors
    /// The ticket store is unreachable (`Unavailable`).
    pub async fn peek_ticket(&self, ticket: &str) -> Result<Option<TicketGrant>, SupportError> {
        self.tickets.peek(&self.secrets.digest(ticket)).await.map_err(unavailable)
    }
}

/// Tickets live in Redis in the distributed profile: its failure is a
/// dependency being down (503), not a bug.
fn unavailable(e: InfraError) -> SupportError {
    Unexpected::Unavailable(Box::new(e)).into()
}
