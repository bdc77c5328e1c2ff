//! The HTTP server of the Coffee Shop API: routes, extractors, problem+json
//! errors, the OpenAPI document and Swagger UI.

pub mod dto;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod responses;
pub mod routes;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, Data, PayloadConfig};
use actix_web::{App, HttpServer};
use coffee_app::Services;
use paperclip::actix::OpenApiExt;

use crate::extract::MAX_BODY_BYTES;
use crate::problem::ApiError;

/// Starts serving on `listener`; the returned server runs until stopped.
///
/// # Errors
/// The listener cannot be used.
pub fn serve(services: Data<Services>, listener: TcpListener) -> std::io::Result<Server> {
    let doc = Data::new(openapi::build());
    let server = HttpServer::new(move || {
        App::new()
            .wrap_api_with_spec(openapi::base_spec())
            .configure(routes::configure)
            .build()
            .app_data(services.clone())
            .app_data(doc.clone())
            .app_data(PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::malformed(format!("Invalid query string: {e}")).into()),
            )
            .configure(openapi::configure)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found()) }))
            .wrap(Compress::default())
            .wrap(from_fn(middleware::request_context))
    })
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}
