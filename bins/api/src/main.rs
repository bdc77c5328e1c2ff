//! `coffee-api`: the HTTP and WebSocket server.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::web::Data;
use coffee_app::{Config, Process, Services, init_logging};

#[actix_web::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coffee-api: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log_filter, config.log_format);
    let addr = format!("{}:{}", config.host, config.port);
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
    let result = match coffee_api::serve(services.clone(), doc, listener) {
        Ok(server) => server.await,
        Err(e) => Err(e),
    };
    // actix-web stops on SIGTERM/SIGINT after draining requests; then background work finishes.
    services.shutdown(Duration::from_secs(20)).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server error: {e}");
            ExitCode::from(1)
        }
    }
}
