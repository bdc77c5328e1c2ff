//! Liveness and readiness probes.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use coffee_app::Services;
use paperclip::actix::{api_v2_operation, web};

use crate::dto::health::HealthDto;

/// Liveness probe
///
/// Answers 200 while the process runs; it checks no dependency.
#[api_v2_operation(operation_id = "live", tags(Health))]
async fn live() -> web::Json<HealthDto> {
    web::Json(HealthDto { status: "ok".to_owned(), database: None, redis: None })
}

/// Readiness probe
///
/// Answers 200 when the database and, if configured, Redis are reachable, and 503 otherwise
/// (also, with `status: draining`, from the moment the process is asked to shut down).
#[api_v2_operation(operation_id = "ready", tags(Health))]
async fn ready(services: Data<Services>) -> actix_web::HttpResponse {
    if services.lifecycle.is_draining() {
        // Shutting down: the load balancer stops sending new work here.
        let body = HealthDto { status: "draining".to_owned(), database: None, redis: None };
        return actix_web::HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body);
    }
    let r = services.readiness().await;
    let ok = r.database && r.redis.unwrap_or(true);
    let body = HealthDto {
        status: if ok { "ok" } else { "unavailable" }.to_owned(),
        database: Some(r.database),
        redis: r.redis,
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    actix_web::HttpResponse::build(status).json(body)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(web::get().to(live)))
        .service(web::resource("/health/ready").route(web::get().to(ready)));
}
