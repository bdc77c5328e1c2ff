//! Ports of live delivery: fan-out of events to every API replica, and the
//! single-use tickets that let browsers open a WebSocket.
//!
//! The event type is chosen by whoever publishes (chat messages, order
//! updates), so [`FanOut`] and [`LiveSink`] are generic over it; each
//! instantiation is object-safe and is held as `Arc<dyn FanOut<MyEvent>>`.
//!
//! Live delivery is a shortcut, never the record: a message is stored before
//! it is published, and a client that may have missed something `resume`s
//! from the database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::InfraError;

/// Carries events to every subscriber on every replica.
///
/// * [`FanOut::publish`] delivers `event` to every sink subscribed on every
///   replica, this one included, **at most once**: a replica whose link to
///   the broker is down misses what is published meanwhile, and tells its
///   sinks so with [`LiveSink::gap`] once the link is back. A publish that
///   fails ends, once the broker is reachable again, in a `gap` on every
///   replica, whose links may all have stayed up.
/// * Events published one after the other (each `publish` awaited before the
///   next) by one process reach each sink in that order. Concurrent
///   publishes have no defined order.
/// * The expected use is one [`FanOut::subscribe`] per process, by the
///   WebSocket hub, which then routes each event to its connections.
#[async_trait]
pub trait FanOut<E>: Send + Sync
where
    E: Send + Sync + 'static,
{
    /// Hands `event` to the transport; returns once it is on its way to every
    /// replica (not once it was delivered).
    ///
    /// # Errors
    /// The event could not be encoded, or the transport is unreachable or
    /// did not answer in time (the event may then have been delivered all
    /// the same). The caller has already stored what the event announces, so
    /// the usual answer is to log the error: clients catch up with `resume`.
    async fn publish(&self, event: &E) -> Result<(), InfraError>;

    /// Registers `sink` for every event published from now on, on any
    /// replica. A transport that connects in the background may miss events
    /// until its subscription is in place; it calls [`LiveSink::gap`] then.
    fn subscribe(&self, sink: Arc<dyn LiveSink<E>>);
}

/// Receives the events of a [`FanOut`] in one process.
///
/// Both methods are called from the transport's own task and must return
/// quickly: push into a channel, never wait on a client.
pub trait LiveSink<E>: Send + Sync {
    /// One event, as published (on this replica or another one).
    fn deliver(&self, event: E);

    /// Events may have been lost before this call (the subscription was
    /// established or re-established, or a publish failed somewhere);
    /// events after it arrive again. A hub
    /// tells its clients to `resume` from the database. The default ignores
    /// it.
    fn gap(&self) {}
}

/// What a WebSocket ticket stands for: a user, and when the credential
/// that asked for the ticket expires (a socket opened with the ticket is
/// closed then, as if it had been opened with that credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketGrant {
    /// Who the ticket logs in.
    pub user_id: Uuid,
    /// The session of the access token behind the ticket: the ticket dies
    /// with it.
    pub session_id: Uuid,
    /// When the access token behind the ticket expires.
    pub expires_at: DateTime<Utc>,
}

/// What [`TicketStore::issue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// The ticket is stored.
    Stored,
    /// Not stored: the user was issued `per_user` tickets within the last
    /// ticket lifetime; the oldest of them lapses after this long.
    Busy(Duration),
}

/// Single-use login tickets for browser WebSockets (which cannot send an
/// `Authorization` header): issued over an authenticated request, redeemed
/// once, on any replica, within their lifetime.
///
/// The store only ever sees a digest of the ticket (the caller hashes it), so
/// reading the store does not yield usable tickets.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Remembers that `ticket_digest` stands for `grant` until `ttl` has
    /// passed, unless `grant`'s user was issued `per_user` tickets within
    /// the last `ttl` (redeemed or not: a bound on how fast one account can
    /// fill the store, on every replica).
    ///
    /// # Errors
    /// The store is unreachable or full, `ttl` is zero, or the digest is
    /// already in use (a caller bug: tickets are random).
    async fn issue(
        &self,
        ticket_digest: &str,
        grant: TicketGrant,
        ttl: Duration,
        per_user: usize,
    ) -> Result<Issued, InfraError>;

    /// Consumes the ticket: `Some(grant)` the first time within its lifetime,
    /// `None` afterwards, after expiry, or for a digest never issued. Atomic:
    /// of concurrent redeems of one ticket (on any replicas) exactly one gets
    /// the grant.
    ///
    /// # Errors
    /// The store is unreachable. The ticket may then be consumed or not; the
    /// client asks for a new one.
    async fn redeem(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError>;

    /// What the ticket stands for, without consuming it: `Some(grant)`
    /// while [`TicketStore::redeem`] would give it. Lets a caller refuse
    /// for its own reasons (the user's socket bound) before spending it.
    ///
    /// # Errors
    /// The store is unreachable.
    async fn peek(&self, ticket_digest: &str) -> Result<Option<TicketGrant>, InfraError>;
}

/// Bounds how many live sockets one user holds across every replica.
///
/// A socket holds a slot under a lease that its replica renews while the
/// socket lives and releases when it closes; a replica that dies without
/// releasing loses its slots when their leases run out.
#[async_trait]
pub trait SocketSlots: Send + Sync {
    /// Takes one of `user`'s `max` slots for `socket` until `lease` has
    /// passed; `false` when all `max` are held by live leases.
    ///
    /// # Errors
    /// The store is unreachable (the caller decides whether to admit).
    async fn acquire(&self, user: Uuid, socket: Uuid, max: usize, lease: Duration) -> Result<bool, InfraError>;

    /// Extends the lease of `socket`'s slot, taking it again if the store
    /// lost it (a live socket always counts, even past `max`).
    ///
    /// # Errors
    /// The store is unreachable.
    async fn renew(&self, user: Uuid, socket: Uuid, lease: Duration) -> Result<(), InfraError>;

    /// Gives the slot of `socket` back.
    ///
    /// # Errors
    /// The store is unreachable (the lease then runs out by itself).
    async fn release(&self, user: Uuid, socket: Uuid) -> Result<(), InfraError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl LiveSink<String> for Recorder {
        fn deliver(&self, event: String) {
            self.0.lock().expect("not poisoned").push(event);
        }
    }

    /// Delivers synchronously to its sinks, like an in-process transport.
    #[derive(Default)]
    struct Direct(Mutex<Vec<Arc<dyn LiveSink<String>>>>);

    #[async_trait]
    impl FanOut<String> for Direct {
        async fn publish(&self, event: &String) -> Result<(), InfraError> {
            for sink in self.0.lock().expect("not poisoned").iter() {
                sink.deliver(event.clone());
            }
            Ok(())
        }

        fn subscribe(&self, sink: Arc<dyn LiveSink<String>>) {
            self.0.lock().expect("not poisoned").push(sink);
        }
    }

    #[test]
    fn the_ports_are_usable_as_trait_objects() {
        let fan_out: Arc<dyn FanOut<String>> = Arc::new(Direct::default());
        let recorder = Arc::new(Recorder::default());
        fan_out.subscribe(recorder.clone());
        let event = "hello".to_owned();
        let mut publish = fan_out.publish(&event);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // `Direct` never waits, so one poll finishes the publish.
        assert!(matches!(publish.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(()))));
        recorder.gap();
        assert_eq!(*recorder.0.lock().expect("not poisoned"), ["hello"]);
    }
}
