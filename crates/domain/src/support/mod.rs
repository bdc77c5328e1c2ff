//! Support chat: one open conversation per customer, created by their first
//! message and closed by an admin; messages numbered 1, 2, 3 … per
//! conversation, stored before they are published live; history over REST;
//! single-use tickets for browser sockets.

mod model;
mod ports;
mod service;

pub use model::{
    BODY_MAX_CHARS, CLIENT_ID_MAX_CHARS, ClientId, Conversation, ConversationField, ConversationResource,
    ConversationStatus, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, History, HistoryWindow, Message, MessageBody,
    NewMessage,
};
pub use ports::{Appended, Closing, ConversationRepository, Thread};
pub use service::{
    OutgoingMessage, Posted, SupportError, SupportPorts, SupportService, TICKET_TTL, TICKETS_PER_USER, Ticket,
};

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod tests;
