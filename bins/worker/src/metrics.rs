//! `/metrics` of `coffee-worker` on `METRICS_PORT` (SPEC §2, §3): the same
//! rendering as `coffee-api`'s (`coffee_app::Metrics`), with the worker's
//! own states — pool, outbox backlog, queue depth — and the same
//! `METRICS_TOKEN` rule.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use coffee_app::{METRICS_CONTENT_TYPE, Services};
use tokio_util::sync::CancellationToken;

async fn metrics(req: HttpRequest, services: Data<Services>) -> HttpResponse {
    let authorization = req.headers().get(header::AUTHORIZATION).map(header::HeaderValue::as_bytes);
    if !services.metrics.authorized(authorization) {
        // SIMPLIFICATION: a bare 401 without a problem+json body; this port
        // serves Prometheus only, and the problem catalogue lives in coffee-api.
        return HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, "Bearer")).finish();
    }
    let sample = services.sample().await;
    HttpResponse::Ok()
        .content_type(METRICS_CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(services.metrics.render(&sample))
}

/// Serves `GET /metrics` on `HOST:port` (one thread) until `stop` is cancelled.
///
/// # Errors
/// The port cannot be bound.
pub fn serve(services: Arc<Services>, port: u16, stop: CancellationToken) -> std::io::Result<()> {
    let services = Data::from(services);
    let host = services.config.host.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(services.clone())
            .service(web::resource("/metrics").route(web::get().to(metrics)))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .bind((host.as_str(), port))?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        stop.cancelled().await;
        handle.stop(true).await;
    });
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    tracing::info!("metrics at http://{host}:{port}/metrics");
    Ok(())
}
