//! The HTTP server of the Coffee Shop API: routes, extractors, problem+json
//! errors, the OpenAPI document and Swagger UI.

pub mod dto;
pub mod extract;
pub mod headers;
pub mod media;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod responses;
pub mod routes;
pub mod upload;

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::{RequestHead, Server};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, Data, PayloadConfig};
use actix_web::{App, HttpServer};
use coffee_app::Services;
use paperclip::actix::OpenApiExt;

use crate::dto::product::ProductView;
use crate::extract::MAX_BODY_BYTES;
use crate::openapi::OpenApiDoc;
use crate::problem::ApiError;

/// Starts serving on `listener` with the OpenAPI document `doc` (from
/// [`openapi::build`]); the returned server runs until stopped.
///
/// # Errors
/// The listener cannot be used.
pub fn serve(services: Data<Services>, doc: Data<OpenApiDoc>, listener: TcpListener) -> std::io::Result<Server> {
    let mut origins = services.config.cors_origins.clone();
    origins.push(services.config.public_base_url.clone());
    let product_view = Data::new(ProductView {
        currency: services.shop.currency(),
        base_url: services.config.public_base_url.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .wrap_api_with_spec(openapi::base_spec())
            .configure(routes::configure)
            .build()
            .app_data(services.clone())
            .app_data(doc.clone())
            .app_data(product_view.clone())
            .app_data(PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::malformed(format!("Invalid query string: {e}")).into()),
            )
            .configure(openapi::configure)
            .configure(media::configure)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found()) }))
            .wrap(Compress::default())
            .wrap(cors(&origins))
            .wrap(from_fn(middleware::request_context))
    })
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

/// Browsers may call from the API's own origin, `PUBLIC_BASE_URL` and
/// `CORS_ORIGINS`; a request from any other `Origin` is refused (400).
/// Clients that send no `Origin` (curl, servers, mobile apps) are unaffected.
fn cors(origins: &[String]) -> Cors {
    let allowed: Vec<String> = origins.to_vec();
    Cors::default()
        .allowed_origin_fn(move |origin: &HeaderValue, head: &RequestHead| {
            let origin = origin.to_str().unwrap_or_default();
            allowed.iter().any(|o| o == origin) || is_same_origin(origin, head)
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .allowed_header("x-request-id")
        .expose_headers([header::LOCATION, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
        .expose_headers(["x-request-id"])
        .max_age(600)
        .block_on_origin_mismatch(true)
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn is_same_origin(origin: &str, head: &RequestHead) -> bool {
    let host = head.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}
