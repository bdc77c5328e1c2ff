//! What the support use cases need from storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{Conversation, ConversationField, History, HistoryWindow, Message, NewMessage};
use crate::error::RepoError;
use crate::query::{ListQuery, Page};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    /// The customer's open conversation, opened by this message if there is none.
    OpenOf(Uuid),
    /// This conversation, which must be open.
    Existing(Uuid),
}

/// What became of a message handed to [`ConversationRepository::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored as the conversation's next message.
    Stored {
        /// The conversation after the message.
        conversation: Conversation,
        /// The message with its `seq`.
        message: Message,
        /// The message opened the conversation.
        opened: bool,
    },
    /// The conversation, open or closed since, already holds a message of
    /// this sender with this `client_id`, returned unchanged; nothing was
    /// stored.
    Duplicate {
        /// The conversation.
        conversation: Conversation,
        /// The message stored earlier.
        message: Message,
    },
    /// The conversation is closed; nothing was stored.
    Closed(Conversation),
    /// No such conversation.
    Missing,
}

/// What [`ConversationRepository::close`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// It was open and is closed now.
    Closed(Conversation),
    /// It was closed already.
    AlreadyClosed(Conversation),
    /// No such conversation.
    Missing,
}

/// Conversations and their messages.
#[async_trait]
pub trait ConversationRepository: Send + Sync {
    /// One conversation.
    async fn find(&self, id: Uuid) -> Result<Option<Conversation>, RepoError>;

    /// The customer's open conversation, if any.
    async fn open_of(&self, customer: Uuid) -> Result<Option<Conversation>, RepoError>;

    /// A page of conversations; only `customer`'s when given.
    async fn list(
        &self,
        query: &ListQuery<ConversationField>,
        customer: Option<Uuid>,
    ) -> Result<Page<Conversation>, RepoError>;

    /// Stores `message` as the next message of `thread`, atomically: the
    /// conversation (opened if `OpenOf` finds none), the next `seq` and the
    /// message commit together or not at all. Of concurrent appends to one
    /// conversation, on any replica, each gets its own `seq` and together
    /// they number 1, 2, 3 … without gaps; the store enforces uniqueness of
    /// `(conversation, seq)`, of `(conversation, sender, client_id)` and of
    /// one open conversation per customer.
    async fn append(&self, thread: Thread, message: &NewMessage) -> Result<Appended, RepoError>;

    /// A page of a conversation's messages.
    async fn history(&self, conversation: Uuid, window: &HistoryWindow) -> Result<History, RepoError>;

    /// Closes an open conversation (a conditional update: closing twice is harmless).
    async fn close(&self, id: Uuid, now: DateTime<Utc>) -> Result<Closing, RepoError>;
}
