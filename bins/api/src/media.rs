//! `GET /media/{file}`: stored product images.

use actix_files::NamedFile;
use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderValue};
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse, guard};
use coffee_app::Services;

use crate::problem::ApiError;

/// Serves a stored image. Only names the store generates are accepted (no
/// paths, no traversal); files never change, so they are cached for a year.
async fn media_file(req: HttpRequest, services: Data<Services>) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("file").unwrap_or_default();
    let Some((path, kind)) = services.catalog.image_file(name) else {
        return Err(ApiError::not_found());
    };
    let mime = kind.mime();
    let file = web::block(move || NamedFile::open(path))
        .await
        .map_err(|_| ApiError::not_found())?
        .map_err(|_| ApiError::not_found())?;
    let mut res = file
        .set_content_type(mime.parse().map_err(|_| ApiError::not_found())?)
        .use_last_modified(true)
        .into_response(&req);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(
            &CacheControl(vec![
                CacheDirective::Public,
                CacheDirective::MaxAge(31_536_000),
                CacheDirective::Extension("immutable".into(), None),
            ])
            .to_string(),
        )
        .unwrap_or(HeaderValue::from_static("public, max-age=31536000")),
    );
    Ok(res)
}

/// Mounts `/media/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/media/{file}")
            .route(web::route().guard(guard::Any(guard::Get()).or(guard::Head())).to(media_file)),
    );
}
