//! `coffee-worker`: consumes the Redis job queue (e-mails), runs the cleanup
//! schedule and relays the outbox. Scale it independently of `coffee-api`.
//!
//! `coffee-worker dead list | retry ID | retry-all` shows and re-queues the
//! jobs it gave up on (see [`dead`]).

mod dead;
mod metrics;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use coffee_app::{Config, Process, Services, Signals, StartError, init_logging};
use tokio_util::sync::CancellationToken;

/// Longest pause between two attempts to reach the database at start.
const MAX_START_BACKOFF: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match dead::Command::parse(&args) {
        Ok(command) => command,
        Err(dead::Usage::Asked) => {
            dead::say!("{}", dead::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(dead::Usage::Wrong) => {
            eprintln!("{}", dead::USAGE);
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("coffee-worker: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(command) = command {
        return dead::run(command, &config).await;
    }
    init_logging(&config.log_filter, config.log_format);
    if config.redis_url.is_none() {
        tracing::error!("coffee-worker: REDIS_URL: is required (without Redis, coffee-api runs the jobs itself)");
        return ExitCode::from(2);
    }
    // Listening from here on, through the start and until the end: a
    // signal that came while the worker started is not lost.
    let stop_requested = CancellationToken::new();
    let signals = Signals::listen();
    tokio::spawn({
        let stop_requested = stop_requested.clone();
        async move {
            signals.wait().await;
            stop_requested.cancel();
        }
    });
    let services = match start_with_retry(config, &stop_requested).await {
        Ok(Some(services)) => Arc::new(services),
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("coffee-worker cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let token = services.shutdown_token();
    if let Some(port) = services.config.metrics_port
        && let Err(e) = metrics::serve(services.clone(), port, token.clone())
    {
        tracing::error!("coffee-worker cannot serve metrics on METRICS_PORT={port}: {e}");
        services.shutdown(Duration::from_secs(5)).await;
        return ExitCode::from(1);
    }
    tokio::spawn(async move {
        stop_requested.cancelled().await;
        tracing::info!("shutdown requested: no new jobs are taken; finishing the ones in flight");
        token.cancel();
    });
    tracing::info!("coffee-worker running");
    let result = services.run_worker().await;
    // The consumer has drained (up to 30 s); background work was cancelled
    // with it and has had as long.
    services.shutdown(Duration::from_secs(5)).await;
    match result {
        Ok(()) => {
            tracing::info!("coffee-worker stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("coffee-worker: {e}");
            ExitCode::from(2)
        }
    }
}

/// Builds the services, retrying with backoff while the database is down
/// (a worker that crash-loops helps nobody). Other errors are returned; a
/// signal during the wait (a connection attempt takes up to 5 s) ends it
/// quietly (`Ok(None)`).
async fn start_with_retry(config: Config, stop_requested: &CancellationToken) -> Result<Option<Services>, StartError> {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::select! {
            () = stop_requested.cancelled() => return Ok(None),
            started = Services::start(config.clone(), Process::Worker) => started,
        };
        match started {
            Ok(services) => return Ok(Some(services)),
            Err(StartError::Database(e)) => {
                tracing::warn!(retry_in = ?backoff, "coffee-worker cannot start yet: database: {e}");
            }
            Err(e) => return Err(e),
        }
        tokio::select! {
            () = stop_requested.cancelled() => return Ok(None),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_START_BACKOFF);
    }
}
