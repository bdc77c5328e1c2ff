//! `coffee-api`: the HTTP and WebSocket server.

use std::io::Write as _;
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::web::Data;
use coffee_app::{Config, Process, Services, Signals, init_logging};

const USAGE: &str = "usage: coffee-api    run the HTTP and WebSocket server
It takes no arguments: every setting is an environment variable (or a line of
a .env file); README.md, \"Configuration\", lists them.";

#[actix_web::main]
async fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if !args.is_empty() {
        // Before anything is read or written: `--help` must not start a server.
        if args.len() == 1 && (args[0] == "--help" || args[0] == "-h") {
            // Not `println!`, which panics when the reader has gone (`| head -1`).
            let _ = writeln!(std::io::stdout().lock(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coffee-api: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log_filter, config.log_format);
    if let Some(warning) = config.public_base_url_warning() {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = config.jwt_secret_warning() {
        tracing::warn!("{warning}");
    }
    // An IPv6 address goes in brackets, in the bind address and the log's URL.
    let addr = if config.host.contains(':') {
        format!("[{}]:{}", config.host, config.port)
    } else {
        format!("{}:{}", config.host, config.port)
    };
    let services = match Services::start(config, Process::Api).await {
        Ok(s) => Data::new(s),
        Err(e) => {
            tracing::error!("coffee-api cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("coffee-api cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    services.spawn_api_background().await;
    tracing::info!("listening on http://{addr} (Swagger UI at /docs)");
    let doc = Data::new(coffee_api::openapi::build());
    let server = match coffee_api::serve(services.clone(), doc, listener) {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("server error: {e}");
            return ExitCode::from(1);
        }
    };
    let handle = server.handle();
    // The server runs as its own task: stopping it needs its loop polled.
    let mut server = actix_web::rt::spawn(server);
    let signals = Signals::listen();
    let result = tokio::select! {
        result = &mut server => result,
        () = signals.wait() => {
            // SPEC §2: readiness 503 at once, keep serving (Connection: close)
            // for SHUTDOWN_DRAIN, then close sockets (1001), stop accepting and
            // let in-flight requests finish.
            let drain = services.config.shutdown_drain;
            tracing::info!(?drain, "shutdown requested: readiness answers 503 while draining");
            services.lifecycle.drain();
            tokio::time::sleep(drain).await;
            tracing::info!("closing sockets and stopping");
            services.lifecycle.close_sockets();
            handle.stop(true).await;
            server.await
        }
    }
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    services.shutdown(Duration::from_secs(10)).await;
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::from(1)
        }
    }
}
