//! A TCP proxy a test can cut, to make a dependency "go down" without
//! stopping a server other tests share (the CI machine's PostgreSQL).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards every connection on `127.0.0.1:<port>` to `upstream`.
///
/// [`TcpProxy::cut`] drops every open connection at once and, until
/// [`TcpProxy::restore`], closes new ones as soon as they are accepted: to a
/// client this is a database that went away (connection reset, then
/// refused handshakes). Dropping the proxy stops it.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    /// Bumped by every cut; each forwarding task ends when it changes.
    generation: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy to `upstream` (`host:port`).
    ///
    /// # Panics
    /// No loopback port can be bound.
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port for the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let down = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0_u64);
        let accept = tokio::spawn(accept_loop(listener, upstream.to_owned(), Arc::clone(&down), generation.clone()));
        TcpProxy { addr, down, generation, accept }
    }

    /// `127.0.0.1:<port>`, to put into the client's URL instead of upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dependency goes away: open connections are dropped, new ones closed.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// The dependency is back: new connections are forwarded again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, down: Arc<AtomicBool>, generation: watch::Sender<u64>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        if down.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let mut cut = generation.subscribe();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else { return };
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut.changed() => {}
            }
        });
    }
}
