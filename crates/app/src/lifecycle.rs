//! The API process's way down: draining, then closing sockets, then
//! stopping (SPEC §2 "Shutdown").

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

/// Where the process is in its shutdown. Shared by the readiness probe, the
/// middleware (which asks clients to close connections while draining) and
/// the WebSocket hub (which closes every socket with 1001).
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    sockets_closing: CancellationToken,
}

impl Lifecycle {
    /// From now on readiness answers 503 and responses carry `Connection: close`.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the process is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Asks every live socket to close (with 1001, "going away").
    pub fn close_sockets(&self) {
        self.sockets_closing.cancel();
    }

    /// Cancelled when the sockets are to close.
    pub fn sockets_closing(&self) -> CancellationToken {
        self.sockets_closing.clone()
    }
}
