//! The sockets of this replica, and the sink that hands them live events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use coffee_domain::live::LiveEvent;
use coffee_domain::realtime::LiveSink;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::frames::{FrameError, ServerFrame};

/// Deliveries a socket may have queued before it counts as too slow and is
/// closed (it reconnects and resumes from the database).
const QUEUE: usize = 256;

/// One event for one socket: the event (for the socket's own filtering)
/// and its frame, serialised once for every socket of the replica.
#[derive(Debug)]
pub struct Delivery {
    /// The event; `None` for the `resync` notice after live delivery was
    /// interrupted (events, an access change among them, may have been missed).
    pub event: Option<LiveEvent>,
    /// The text frame.
    pub text: String,
}

/// Why the server closes a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// WebSocket close code.
    pub code: u16,
    /// Short reason (≤ 123 bytes).
    pub reason: &'static str,
}

/// The socket's credential expired, or the account's access changed: authenticate again.
pub const CREDENTIAL_EXPIRED: Close = Close { code: 4001, reason: "credential expired or access changed" };
/// The socket could not keep up with its deliveries.
pub const TOO_SLOW: Close = Close { code: 1013, reason: "too slow: reconnect and resume" };
/// The server is going away.
pub const GOING_AWAY: Close = Close { code: 1001, reason: "server shutting down" };

/// A registered socket, as the hub sees it.
#[derive(Debug)]
struct Entry {
    id: u64,
    user_id: Uuid,
    tx: mpsc::Sender<Arc<Delivery>>,
    closing: Arc<Closing>,
}

/// How a socket is told to close.
#[derive(Debug, Default)]
pub struct Closing {
    reason: OnceLock<Close>,
    token: CancellationToken,
}

impl Closing {
    fn close(&self, close: Close) {
        // The first reason wins.
        let _ = self.reason.set(close);
        self.token.cancel();
    }

    /// Whether the socket is to be closed.
    pub fn is_closing(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Waits until the socket is to be closed, and says why.
    pub async fn closed(&self) -> Close {
        self.token.cancelled().await;
        self.reason.get().copied().unwrap_or(GOING_AWAY)
    }
}

/// The registered sockets: by user, and the admins' again on their own
/// (every admin receives every event but access changes).
#[derive(Debug, Default)]
struct Registry {
    by_user: HashMap<Uuid, Vec<Arc<Entry>>>,
    admins: Vec<Arc<Entry>>,
    /// Set by [`Hub::close_all`]: from then on no socket registers.
    closed: bool,
}

/// Why the hub refused a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user already holds the most sockets allowed on this replica.
    Full,
    /// The hub closed every socket (server shutdown) and takes no more.
    Closed,
}

/// Every socket of this replica, and the events' way to them.
#[derive(Debug, Default)]
pub struct Hub {
    sockets: RwLock<Registry>,
    next_id: AtomicU64,
    open: AtomicU64,
}

/// A socket's place in the hub; leaving it (drop) unregisters the socket.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<Hub>,
    id: u64,
    user_id: Uuid,
    /// Deliveries for this socket.
    pub rx: mpsc::Receiver<Arc<Delivery>>,
    /// Set when the hub wants the socket closed.
    pub closing: Arc<Closing>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut sockets = self.hub.sockets.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entries) = sockets.by_user.get_mut(&self.user_id) {
            entries.retain(|e| e.id != self.id);
            if entries.is_empty() {
                sockets.by_user.remove(&self.user_id);
            }
        }
        sockets.admins.retain(|e| e.id != self.id);
        self.hub.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers a socket of `user_id`, unless the user already holds
    /// `max_per_user` sockets on this replica or the hub has closed them all.
    ///
    /// # Errors
    /// Why the socket was refused.
    pub fn register(
        self: &Arc<Self>,
        user_id: Uuid,
        is_admin: bool,
        max_per_user: usize,
    ) -> Result<Registration, Refused> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let closing = Arc::new(Closing::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry { id, user_id, tx, closing: closing.clone() });
        let mut sockets = self.sockets.write().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock `close_all` takes: a socket is either among
        // those it closes or refused here, never missed in between.
        if sockets.closed {
            return Err(Refused::Closed);
        }
        let entries = sockets.by_user.entry(user_id).or_default();
        if entries.len() >= max_per_user {
            return Err(Refused::Full);
        }
        entries.push(entry.clone());
        if is_admin {
            sockets.admins.push(entry);
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Registration { hub: self.clone(), id, user_id, rx, closing })
    }

    /// Open sockets on this replica.
    pub fn open_sockets(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Asks every socket to close with `close` (server shutdown), and
    /// refuses every socket that tries to register from now on.
    pub fn close_all(&self, close: Close) {
        let mut sockets = self.sockets.write().unwrap_or_else(PoisonError::into_inner);
        sockets.closed = true;
        for entry in sockets.by_user.values().flatten() {
            entry.closing.close(close);
        }
    }

    fn send(entry: &Entry, delivery: &Arc<Delivery>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = entry.tx.try_send(delivery.clone()) {
            tracing::info!(user_id = %entry.user_id, "a socket fell behind its deliveries; closing it");
            entry.closing.close(TOO_SLOW);
        }
    }
}

impl LiveSink<LiveEvent> for Hub {
    fn deliver(&self, event: LiveEvent) {
        let sockets = self.sockets.read().unwrap_or_else(PoisonError::into_inner);
        let owner = event.concerns();
        let concerned = sockets.by_user.get(&owner);
        let Some(frame) = ServerFrame::of_event(&event) else {
            // Access changed: the account's sockets check it again (a logout
            // ends the sockets of one login, not the account's others).
            let delivery = Arc::new(Delivery { text: String::new(), event: Some(event) });
            for entry in concerned.into_iter().flatten() {
                Self::send(entry, &delivery);
            }
            return;
        };
        let for_admins = event.for_admins();
        let delivery = Arc::new(Delivery { text: frame.text(), event: Some(event) });
        for entry in concerned.into_iter().flatten() {
            Self::send(entry, &delivery);
        }
        if for_admins {
            // An admin's own sockets were served above.
            for entry in sockets.admins.iter().filter(|e| e.user_id != owner) {
                Self::send(entry, &delivery);
            }
        }
    }

    fn gap(&self) {
        let notice = ServerFrame::error(FrameError {
            code: "resync",
            detail: "Live delivery was interrupted; send `resume` for your conversations and reload orders.".to_owned(),
            client_id: None,
        });
        let delivery = Arc::new(Delivery { event: None, text: notice.text() });
        for entry in self.sockets.read().unwrap_or_else(PoisonError::into_inner).by_user.values().flatten() {
            Self::send(entry, &delivery);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_socket_registers_before_close_all_and_is_closed_or_after_it_and_is_refused() {
        let hub = Hub::new();
        let user = Uuid::now_v7();
        let before = hub.register(user, false, 5).unwrap();
        hub.close_all(GOING_AWAY);
        assert_eq!(before.closing.closed().await, GOING_AWAY);
        assert_eq!(hub.register(user, true, 5).err(), Some(Refused::Closed), "no socket misses the shutdown");
        assert_eq!(hub.open_sockets(), 1);
    }

    #[test]
    fn a_user_registers_at_most_the_bound() {
        let hub = Hub::new();
        let user = Uuid::now_v7();
        let held: Vec<_> = (0..2).map(|_| hub.register(user, false, 2).unwrap()).collect();
        assert_eq!(hub.register(user, false, 2).err(), Some(Refused::Full));
        drop(held);
        assert!(hub.register(user, false, 2).is_ok(), "leaving frees the place");
    }
}
