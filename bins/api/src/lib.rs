//! The HTTP server of the Coffee Shop API: routes, extractors, problem+json
//! errors, the OpenAPI document and Swagger UI.

pub mod body;
pub mod console;
pub mod csrf;
pub mod dto;
pub mod extract;
pub mod headers;
pub mod live;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod rendered;
pub mod responses;
pub mod routes;
pub mod strict_json;
pub mod unread_body;
pub mod upload;
pub mod verify_page;

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::{RequestHead, Server};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use coffee_app::Services;
use paperclip::actix::OpenApiExt;

use crate::csrf::AllowedOrigins;
use crate::dto::product::ProductView;
use crate::openapi::OpenApiDoc;
use crate::problem::ApiError;

/// Starts serving on `listener` with the OpenAPI document `doc` (from
/// [`openapi::build`]); the returned server runs until stopped.
///
/// # Errors
/// The listener cannot be used (or refuses `SEND_TIMEOUT`).
pub fn serve(services: Data<Services>, doc: Data<OpenApiDoc>, listener: TcpListener) -> std::io::Result<Server> {
    coffee_app::set_send_timeout(&listener, services.config.send_timeout)?;
    let origins = Data::new(allowed_origins(&services.config));
    let hub = live::hub::Hub::new();
    services.live.fan_out.subscribe(hub.clone());
    let (closing, closer) = (services.lifecycle.sockets_closing(), hub.clone());
    tokio::spawn(async move {
        closing.cancelled().await;
        closer.close_all(live::hub::GOING_AWAY);
    });
    let hub = Data::from(hub);
    let product_view = Data::new(ProductView {
        currency: services.shop.currency(),
        base_url: services.config.public_base_url.clone(),
    });
    let rendered = Data::new(rendered::RenderedPages::new(rendered::CAPACITY_BYTES));
    let base_path = Data::new(responses::BasePath::of(&services.config.public_base_url));
    let workers = services.http_workers;
    let server = HttpServer::new(move || {
        App::new()
            .wrap_api_with_spec(openapi::base_spec())
            .configure(routes::configure)
            .build()
            .app_data(services.clone())
            .app_data(doc.clone())
            .app_data(product_view.clone())
            .app_data(rendered.clone())
            .app_data(origins.clone())
            .app_data(hub.clone())
            .app_data(base_path.clone())
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .configure(openapi::configure)
            .configure(console::configure)
            .configure(live::configure)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found()) }))
            .wrap(Compress::default())
            .wrap(from_fn(ratelimit::auth_rate_limit))
            .wrap(from_fn(csrf::csrf_guard))
            // Outside the guards, so that their 429 and 403 carry the CORS
            // headers a browser app needs to read them (and `Retry-After`).
            .wrap(cors(&origins))
            .wrap(from_fn(middleware::request_context))
    })
    // One database pool per worker thread (coffee_storage::Pools).
    .workers(workers)
    .listen(listener)?
    // The binary handles SIGTERM/SIGINT itself (drain first; see main.rs).
    .disable_signals()
    // In-flight requests get 10 s after the drain (README, `SHUTDOWN_DRAIN`).
    .shutdown_timeout(10)
    .run();
    Ok(server)
}

/// The browser origins that may call the API: its own (`PUBLIC_BASE_URL`)
/// and `CORS_ORIGINS`. Never derived from the request's `Host`, which the
/// client chooses. When the API's own origin is `http://localhost:PORT`, the
/// same port on 127.0.0.1 and [::1] is the same machine and allowed too.
fn allowed_origins(config: &coffee_app::Config) -> AllowedOrigins {
    let mut origins = config.cors_origins.clone();
    let own = config.public_base_url.trim_end_matches('/').to_owned();
    if let Ok(url) = url::Url::parse(&own)
        && url.host_str() == Some("localhost")
        && let Some(port) = url.port_or_known_default()
    {
        origins.push(format!("{}://127.0.0.1:{port}", url.scheme()));
        origins.push(format!("{}://[::1]:{port}", url.scheme()));
    }
    origins.push(url::Url::parse(&own).map_or(own, |u| u.origin().ascii_serialization()));
    AllowedOrigins::new(origins)
}

/// Browsers may read answers from the allowed origins only: a request from
/// any other `Origin` is answered without CORS headers, which the browser
/// then hides from the page (a preflight from it is 400), and a
/// state-changing one is refused with 403 by [`csrf::csrf_guard`]. Clients
/// that send no `Origin` (curl, servers, mobile apps) are unaffected.
fn cors(origins: &AllowedOrigins) -> Cors {
    let allowed = origins.clone();
    Cors::default()
        .allowed_origin_fn(move |origin: &HeaderValue, head: &RequestHead| {
            // The socket routes judge `Origin` themselves (403, SPEC §7).
            matches!(head.uri.path(), "/ws" | "/ws/support") || origin.to_str().is_ok_and(|o| allowed.contains(o))
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .allowed_header("x-request-id")
        .allowed_header("idempotency-key")
        .allowed_header("x-csrf-token")
        .expose_headers([header::LOCATION, header::RETRY_AFTER, header::WWW_AUTHENTICATE, header::ETAG])
        .expose_headers(["x-request-id", "idempotent-replayed", "ratelimit", "ratelimit-policy"])
        .max_age(600)
        .block_on_origin_mismatch(false)
}
