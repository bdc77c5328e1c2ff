//! `GET /support/console`: the support agents' web page (log in, open
//! conversations, history, live answers, closing, the live order board).
//!
//! Hand-written HTML, JavaScript and CSS in `assets/console/`, embedded in
//! the binary: no build step, nothing loaded from elsewhere. Its policy
//! allows only its own scripts, styles and connections (which in Chromium
//! and Firefox include same-origin `ws:`/`wss:` under `connect-src 'self'`);
//! like `/docs`, it stays outside the OpenAPI document.

use actix_web::guard;
use actix_web::http::header;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};

use crate::problem::ApiError;

const INDEX_HTML: &str = include_str!("../assets/console/index.html");
const APP_JS: &str = include_str!("../assets/console/app.js");
const APP_CSS: &str = include_str!("../assets/console/app.css");

/// Only the page's own files and its own origin; no inline code, no frames, no forms posted elsewhere.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                               connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The page must be fresh (it names the assets); the assets may be cached briefly.
const ASSET_CACHE: &str = "public, max-age=300";

async fn console_file(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let file = req.match_info().get("file").unwrap_or_default();
    let (body, content_type, cache) = match file {
        "" | "index.html" => (INDEX_HTML, "text/html; charset=utf-8", "no-cache"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8", ASSET_CACHE),
        "app.css" => (APP_CSS, "text/css; charset=utf-8", ASSET_CACHE),
        _ => return Err(ApiError::not_found()),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONSOLE_CSP))
        .body(body))
}

/// Mounts the console at `/support/console` (outside the OpenAPI document).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_head = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.service(
        web::resource(["/support/console", "/support/console/", "/support/console/{file}"])
            .route(get_or_head().to(console_file)),
    );
}
