//! An in-memory conversation store, and a fan-out that records what is published.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Appended, Closing, Conversation, ConversationField, ConversationRepository, ConversationStatus, History,
    HistoryWindow, Message, NewMessage, Thread,
};
use crate::error::{InfraError, RepoError};
use crate::query::{ListQuery, Page};
use crate::testing::lock;

#[derive(Debug, Default)]
struct Tables {
    conversations: Vec<Conversation>,
    messages: Vec<Message>,
}

/// A [`ConversationRepository`] in two lists behind one mutex (so each
/// append is atomic, as the real store's transaction is).
#[derive(Debug, Default)]
pub(crate) struct InMemoryConversations(Mutex<Tables>);

impl InMemoryConversations {
    /// Every stored message, in insertion order.
    pub(crate) fn messages(&self) -> Vec<Message> {
        lock(&self.0).messages.clone()
    }
}

/// The message `new` repeats: its sender's, in `conversation`, under the same `client_id`.
fn earlier(messages: &[Message], conversation: Uuid, new: &NewMessage) -> Option<Message> {
    let client_id = new.client_id.as_ref()?;
    messages
        .iter()
        .find(|m| {
            m.conversation_id == conversation
                && m.sender_id == Some(new.sender_id)
                && m.client_id.as_ref() == Some(client_id)
        })
        .cloned()
}

#[async_trait]
impl ConversationRepository for InMemoryConversations {
    async fn find(&self, id: Uuid) -> Result<Option<Conversation>, RepoError> {
        Ok(lock(&self.0).conversations.iter().find(|c| c.id == id).cloned())
    }

    async fn open_of(&self, customer: Uuid) -> Result<Option<Conversation>, RepoError> {
        let t = lock(&self.0);
        Ok(t.conversations.iter().find(|c| c.customer_id == customer && c.status == ConversationStatus::Open).cloned())
    }

    // SIMPLIFICATION: filters and sorts are the storage adapter's business
    // and are tested there; the fake keeps the customer rule and pages newest first.
    async fn list(
        &self,
        query: &ListQuery<ConversationField>,
        customer: Option<Uuid>,
    ) -> Result<Page<Conversation>, RepoError> {
        let t = lock(&self.0);
        let mut mine: Vec<Conversation> =
            t.conversations.iter().filter(|c| customer.is_none_or(|u| c.customer_id == u)).cloned().collect();
        mine.reverse();
        let total = mine.len() as u64;
        let skip = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let take = usize::try_from(query.page_size).unwrap_or(usize::MAX);
        let items = mine.into_iter().skip(skip).take(take).collect();
        Ok(query.page_of(items, total))
    }

    async fn append(&self, thread: Thread, new: &NewMessage) -> Result<Appended, RepoError> {
        let mut t = lock(&self.0);
        let (index, opened) = match thread {
            Thread::Existing(id) => match t.conversations.iter().position(|c| c.id == id) {
                Some(i) if t.conversations[i].status == ConversationStatus::Closed => {
                    let conversation = t.conversations[i].clone();
                    return Ok(match earlier(&t.messages, id, new) {
                        Some(message) => Appended::Duplicate { conversation, message },
                        None => Appended::Closed(conversation),
                    });
                }
                Some(i) => (i, false),
                None => return Ok(Appended::Missing),
            },
            Thread::OpenOf(customer) => {
                match t
                    .conversations
                    .iter()
                    .position(|c| c.customer_id == customer && c.status == ConversationStatus::Open)
                {
                    Some(i) => (i, false),
                    None => {
                        t.conversations.push(Conversation {
                            id: Uuid::now_v7(),
                            customer_id: customer,
                            status: ConversationStatus::Open,
                            created_at: new.created_at,
                            last_message_at: new.created_at,
                            last_seq: 0,
                        });
                        (t.conversations.len() - 1, true)
                    }
                }
            }
        };
        let conversation_id = t.conversations[index].id;
        if let Some(message) = earlier(&t.messages, conversation_id, new) {
            return Ok(Appended::Duplicate { conversation: t.conversations[index].clone(), message });
        }
        let conversation = &mut t.conversations[index];
        conversation.last_seq += 1;
        conversation.last_message_at = new.created_at;
        let conversation = conversation.clone();
        let message = Message {
            id: new.id,
            conversation_id,
            seq: conversation.last_seq,
            sender_id: Some(new.sender_id),
            sender_role: new.sender_role,
            body: new.body.clone(),
            client_id: new.client_id.clone(),
            created_at: new.created_at,
        };
        t.messages.push(message.clone());
        Ok(Appended::Stored { conversation, message, opened })
    }

    async fn history(&self, conversation: Uuid, window: &HistoryWindow) -> Result<History, RepoError> {
        let t = lock(&self.0);
        let limit = window.limit as usize;
        let mut inside: Vec<Message> = t
            .messages
            .iter()
            .filter(|m| m.conversation_id == conversation)
            .filter(|m| window.after_seq.is_none_or(|a| m.seq > a) && window.before_seq.is_none_or(|b| m.seq < b))
            .cloned()
            .collect();
        inside.sort_by_key(|m| m.seq);
        let has_more = inside.len() > limit;
        let items = if window.after_seq.is_some() {
            inside.into_iter().take(limit).collect()
        } else {
            let skip = inside.len().saturating_sub(limit);
            inside.into_iter().skip(skip).collect()
        };
        Ok(History { items, has_more })
    }

    async fn close(&self, id: Uuid, _now: DateTime<Utc>) -> Result<Closing, RepoError> {
        let mut t = lock(&self.0);
        let Some(conversation) = t.conversations.iter_mut().find(|c| c.id == id) else { return Ok(Closing::Missing) };
        if conversation.status == ConversationStatus::Closed {
            return Ok(Closing::AlreadyClosed(conversation.clone()));
        }
        conversation.status = ConversationStatus::Closed;
        Ok(Closing::Closed(conversation.clone()))
    }
}

/// Tickets in a map: redeeming removes them (no expiry: the service sets
/// none itself). Every ticket ever issued counts towards `per_user`.
#[derive(Debug, Default)]
pub(crate) struct InMemoryTickets(Mutex<(std::collections::HashMap<String, crate::realtime::TicketGrant>, Vec<Uuid>)>);

impl InMemoryTickets {
    pub(crate) fn digests(&self) -> Vec<String> {
        lock(&self.0).0.keys().cloned().collect()
    }
}

#[async_trait]
impl crate::realtime::TicketStore for InMemoryTickets {
    async fn issue(
        &self,
        digest: &str,
        grant: crate::realtime::TicketGrant,
        ttl: std::time::Duration,
        per_user: usize,
    ) -> Result<crate::realtime::Issued, InfraError> {
        let mut state = lock(&self.0);
        let (tickets, issued) = &mut *state;
        if issued.iter().filter(|u| **u == grant.user_id).count() >= per_user {
            return Ok(crate::realtime::Issued::Busy(ttl));
        }
        issued.push(grant.user_id);
        tickets.insert(digest.to_owned(), grant);
        Ok(crate::realtime::Issued::Stored)
    }

    async fn redeem(&self, digest: &str) -> Result<Option<crate::realtime::TicketGrant>, InfraError> {
        Ok(lock(&self.0).0.remove(digest))
    }

    async fn peek(&self, digest: &str) -> Result<Option<crate::realtime::TicketGrant>, InfraError> {
        Ok(lock(&self.0).0.get(digest).copied())
    }
}
