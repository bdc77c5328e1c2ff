//! Settings of the API's listening socket that its accepted connections inherit.

use std::net::TcpListener;
use std::time::Duration;

/// Bounds how long a client may leave what the API sent unacknowledged
/// (`SEND_TIMEOUT`): past that the kernel aborts the connection. Without it
/// a client that stops reading a response (its receive window stays at
/// zero) keeps the connection, the rest of the response and a place in the
/// server's connection limit for as long as it likes, and one that vanishes
/// mid-response keeps them through some 15 minutes of retransmissions. A
/// client that reads what arrives, even with pauses, is not cut; one that
/// keeps its receive window almost shut for the whole timeout (a tiny buffer
/// read a few KiB at a time) may be, since the kernel counts from when the
/// window closed until it opens wide enough for the next queued segment.
///
/// `TCP_USER_TIMEOUT` is set on the listener, and every accepted socket
/// inherits it. `None` leaves the kernel's default.
///
/// # Errors
/// The kernel refused the option.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set_send_timeout(listener: &TcpListener, timeout: Option<Duration>) -> std::io::Result<()> {
    socket2::SockRef::from(listener).set_tcp_user_timeout(timeout)
}

/// SIMPLIFICATION: `TCP_USER_TIMEOUT` is Linux's (the containers this runs
/// in); elsewhere (a developer's macOS) the kernel's default stays, and a
/// client that stops reading keeps its connection.
///
/// # Errors
/// Never.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn set_send_timeout(_listener: &TcpListener, _timeout: Option<Duration>) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn accepted_connections_inherit_the_send_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        set_send_timeout(&listener, Some(Duration::from_secs(7))).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(socket2::SockRef::from(&accepted).tcp_user_timeout().unwrap(), Some(Duration::from_secs(7)));
    }
}
