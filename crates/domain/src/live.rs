//! What is delivered live, and to whom: the events the use cases publish
//! through the [`FanOut`] port once their change is stored.
//!
//! An event names the customer it concerns; the WebSocket hub of every
//! replica hands it to that customer's sockets and to every admin socket
//! (admins see every conversation and run the live order board).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::error_chain;
use crate::order::{Order, OrderStatus};
use crate::realtime::FanOut;
use crate::support::{Conversation, Message};
use crate::user::Role;

/// One live event. Serialised between replicas, so changing a variant's
/// shape needs the fan-out envelope's version bumped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A message was stored.
    Message {
        /// The conversation's customer.
        customer_id: Uuid,
        /// The stored message.
        message: Message,
    },
    /// Someone is typing in a conversation.
    Typing {
        /// The conversation's customer.
        customer_id: Uuid,
        /// The conversation.
        conversation_id: Uuid,
        /// Who types.
        sender_id: Uuid,
        /// Their role.
        sender_role: Role,
    },
    /// A conversation was opened or closed.
    Conversation(Conversation),
    /// An order was placed or changed status.
    Order(OrderUpdate),
    /// An account's access changed (role, verification, e-mail, deletion)
    /// or one of its logins ended (logout, a re-used refresh token): each of
    /// its sockets checks its account and session again, and closes if they
    /// no longer hold.
    AccessChanged {
        /// The account.
        user_id: Uuid,
    },
}

/// What the live order board shows of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdate {
    /// The order.
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// Its number.
    pub number: i64,
    /// Its status now.
    pub status: OrderStatus,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its version after the change (its `ETag`), which grows with every
    /// change: of two updates of one order, which may arrive in either
    /// order (published after commit, from any replica), the higher is the
    /// later. 0 when unknown: a deletion along with its account, or an event
    /// from a replica that predates it.
    #[serde(default)]
    pub version: i64,
    /// The order is gone (deleted at `updated_at`; `status` was its last).
    /// Defaults to `false` for events from replicas that predate it.
    #[serde(default)]
    pub deleted: bool,
}

impl From<&Order> for OrderUpdate {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            number: order.number,
            status: order.status,
            updated_at: order.updated_at,
            version: order.version,
            deleted: false,
        }
    }
}

impl OrderUpdate {
    /// `order` deleted at `at`.
    pub fn deleted(order: &Order, at: DateTime<Utc>) -> Self {
        Self { updated_at: at, deleted: true, ..Self::from(order) }
    }
}

impl LiveEvent {
    /// The customer (or account) the event concerns; admins receive every
    /// event but [`LiveEvent::AccessChanged`], which concerns only its account.
    pub fn concerns(&self) -> Uuid {
        match self {
            LiveEvent::Message { customer_id, .. } | LiveEvent::Typing { customer_id, .. } => *customer_id,
            LiveEvent::Conversation(c) => c.customer_id,
            LiveEvent::Order(o) => o.user_id,
            LiveEvent::AccessChanged { user_id } => *user_id,
        }
    }

    /// Whether every admin socket receives it too.
    pub fn for_admins(&self) -> bool {
        !matches!(self, LiveEvent::AccessChanged { .. })
    }
}

/// The publishing side of live delivery, shared by the use cases.
///
/// Publishing happens after the change is stored and never fails the use
/// case: live delivery is a shortcut and clients catch up from the store
/// (`resume`, REST history, `GET /orders`). A failed publish is logged,
/// and the transport tells every replica's sockets to resync once it can
/// ([`FanOut::publish`]).
#[derive(Clone)]
pub struct LiveFeed {
    fan_out: Arc<dyn FanOut<LiveEvent>>,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed").finish_non_exhaustive()
    }
}

impl LiveFeed {
    /// Publishes through `fan_out`.
    pub fn new(fan_out: Arc<dyn FanOut<LiveEvent>>) -> Self {
        Self { fan_out }
    }

    /// A feed that delivers nothing (processes without sockets: the worker, tests).
    pub fn none() -> Self {
        Self::new(Arc::new(Nowhere))
    }

    /// Publishes `event`; logs a failure.
    pub async fn publish(&self, event: LiveEvent) {
        if let Err(e) = self.fan_out.publish(&event).await {
            tracing::warn!(error = %error_chain(&e), "live event not published; clients catch up from the store");
        }
    }

    /// Publishes `events` in order, stopping at the first that fails: the
    /// transport is away, so each of the rest would wait for it in vain (a
    /// deleted account's hundred orders, a hundred timeouts), and clients
    /// catch up from the store when live delivery resumes. Logs the failure
    /// once, with how many were left out.
    pub async fn publish_all(&self, events: impl IntoIterator<Item = LiveEvent>) {
        let mut events = events.into_iter();
        while let Some(event) = events.next() {
            if let Err(e) = self.fan_out.publish(&event).await {
                let left_out = events.count();
                tracing::warn!(
                    error = %error_chain(&e), left_out,
                    "live events not published; clients catch up from the store"
                );
                return;
            }
        }
    }
}

/// A fan-out without subscribers.
struct Nowhere;

#[async_trait::async_trait]
impl FanOut<LiveEvent> for Nowhere {
    async fn publish(&self, _: &LiveEvent) -> Result<(), crate::error::InfraError> {
        Ok(())
    }

    fn subscribe(&self, _: Arc<dyn crate::realtime::LiveSink<LiveEvent>>) {}
}

/// Test support: a fan-out that records what is published.
#[cfg(test)]
pub(crate) mod fakes {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;

    use super::LiveEvent;
    use crate::error::InfraError;
    use crate::realtime::{FanOut, LiveSink};
    use crate::testing::lock;

    /// A fan-out that keeps every published event (and can be told to fail).
    #[derive(Debug, Default)]
    pub(crate) struct RecordingFanOut {
        events: Mutex<Vec<LiveEvent>>,
        failing: Mutex<bool>,
        attempts: Mutex<usize>,
    }

    impl RecordingFanOut {
        pub(crate) fn events(&self) -> Vec<LiveEvent> {
            lock(&self.events).clone()
        }

        /// Publications tried, failed ones included.
        pub(crate) fn attempts(&self) -> usize {
            *lock(&self.attempts)
        }

        pub(crate) fn fail(&self) {
            *lock(&self.failing) = true;
        }
    }

    #[async_trait]
    impl FanOut<LiveEvent> for RecordingFanOut {
        async fn publish(&self, event: &LiveEvent) -> Result<(), InfraError> {
            *lock(&self.attempts) += 1;
            if *lock(&self.failing) {
                return Err(InfraError::new("the broker is down"));
            }
            lock(&self.events).push(event.clone());
            Ok(())
        }

        fn subscribe(&self, _: Arc<dyn LiveSink<LiveEvent>>) {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::fakes::RecordingFanOut;
    use super::*;
    use crate::testing::run;

    fn changed() -> LiveEvent {
        LiveEvent::AccessChanged { user_id: Uuid::now_v7() }
    }

    #[test]
    fn publish_all_sends_every_event_in_order_and_stops_at_the_first_failure() {
        let fan_out = Arc::new(RecordingFanOut::default());
        let feed = LiveFeed::new(fan_out.clone());
        let events = vec![changed(), changed(), changed()];
        run(feed.publish_all(events.clone()));
        assert_eq!(fan_out.events(), events);

        // With the transport away, one try, not one wait per event.
        fan_out.fail();
        run(feed.publish_all(vec![changed(), changed(), changed()]));
        assert_eq!(fan_out.attempts(), 3 + 1);
    }
}
