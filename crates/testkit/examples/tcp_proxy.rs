//! The cuttable TCP proxy as a process, for `scripts/cluster.sh`: forwards
//! connections on a loopback port to `upstream` (PostgreSQL in the cluster),
//! so a fault test can take the database away from every replica and worker
//! without stopping a server others share. SIGUSR1 cuts (open connections
//! dropped, new ones closed at once), SIGUSR2 restores. The port it listens
//! on goes to `<port-file>`. Runs until killed.
//!
//! ```sh
//! cargo run -p coffee-testkit --example tcp_proxy -- 127.0.0.1:5432 /tmp/pg.port
//! kill -USR1 <pid>   # PostgreSQL "goes down"
//! kill -USR2 <pid>   # and comes back
//! ```

#![allow(clippy::print_stderr, reason = "a command-line tool reports on stderr")]

use std::path::PathBuf;

use coffee_testkit::TcpProxy;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(upstream), Some(port_file)) = (args.next(), args.next().map(PathBuf::from)) else {
        eprintln!("usage: tcp_proxy <upstream host:port> <port-file>");
        std::process::exit(2);
    };
    let mut cut = signal(SignalKind::user_defined1())?;
    let mut restore = signal(SignalKind::user_defined2())?;
    let proxy = TcpProxy::start(&upstream).await;
    let tmp = port_file.with_extension("tmp");
    std::fs::write(&tmp, proxy.addr().port().to_string())?;
    std::fs::rename(&tmp, &port_file)?;
    eprintln!("tcp_proxy: {} -> {upstream}", proxy.addr());
    loop {
        tokio::select! {
            _ = cut.recv() => {
                proxy.cut();
                eprintln!("tcp_proxy: cut");
            }
            _ = restore.recv() => {
                proxy.restore();
                eprintln!("tcp_proxy: restored");
            }
        }
    }
}
