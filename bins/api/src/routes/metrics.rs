//! `GET /metrics`: Prometheus text format (SPEC §3).

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use coffee_app::{METRICS_CONTENT_TYPE, Services};
use paperclip::actix::{api_v2_operation, web};

use crate::live::hub::Hub;
use crate::problem::catalogue::{self as c, ProblemType};
use crate::problem::{ApiError, IntoProblem, Problem};
use crate::rendered::RenderedPages;

/// Why a scrape was refused (only when `METRICS_TOKEN` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsDenied {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <METRICS_TOKEN>`.
    Wrong,
}

impl IntoProblem for MetricsDenied {
    fn problems() -> Vec<ProblemType> {
        vec![c::MISSING_TOKEN, c::INVALID_TOKEN]
    }

    fn into_problem(self) -> ApiError {
        match self {
            Self::Missing => {
                ApiError::with_detail(c::MISSING_TOKEN, "Send the metrics token: Authorization: Bearer <token>.")
            }
            Self::Wrong => ApiError::with_detail(c::INVALID_TOKEN, "The metrics token is wrong."),
        }
    }
}

/// Metrics
///
/// Prometheus text exposition format: requests by route template, method and status; request
/// latency histograms; the database pool (in use, idle, max); the outbox backlog; the job queue's
/// depth (queued and dead, when Redis is configured); WebSockets open on this replica; menu list
/// pages and totals answered from memory or read and counted, and their JSON remembered or made. Public
/// unless `METRICS_TOKEN` is set; then it requires `Authorization: Bearer <METRICS_TOKEN>`.
#[api_v2_operation(operation_id = "metrics", tags(Health))]
async fn metrics(
    req: HttpRequest,
    services: Data<Services>,
    hub: Data<Hub>,
    rendered: Data<RenderedPages>,
) -> Result<HttpResponse, Problem<MetricsDenied>> {
    let authorization = req.headers().get(header::AUTHORIZATION).map(header::HeaderValue::as_bytes);
    if !services.metrics.authorized(authorization) {
        return Err(if authorization.is_some() { MetricsDenied::Wrong } else { MetricsDenied::Missing }.into());
    }
    let mut sample = services.sample().await;
    sample.open_websockets = Some(hub.open_sockets());
    sample.list_totals = Some(services.list_totals());
    sample.page_json = Some(rendered.stats());
    Ok(HttpResponse::Ok()
        .content_type(METRICS_CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(services.metrics.render(&sample)))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_documented_exactly() {
        let produced: Vec<_> =
            [MetricsDenied::Missing, MetricsDenied::Wrong].map(|d| d.into_problem().problem()).into();
        assert_eq!(produced, MetricsDenied::problems());
        assert!(produced.iter().all(|p| p.status == 401));
    }
}
