//! `GET /media/{file}`: stored product images.

use actix_files::NamedFile;
use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderValue};
use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::catalog::ImageKind;
use paperclip::actix::{api_v2_operation, web};
use serde_json::{Value, json};

use crate::problem::catalogue::{self as c, ProblemType};
use crate::problem::{ApiError, IntoProblem, Problem};

/// No stored image has that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoSuchImage;

impl IntoProblem for NoSuchImage {
    fn problems() -> Vec<ProblemType> {
        vec![c::NOT_FOUND]
    }

    fn into_problem(self) -> ApiError {
        ApiError::not_found()
    }
}

/// A product image
///
/// The file a product's `image_url` points to, with its content type (PNG, JPEG or WebP), `ETag`
/// and `Last-Modified`. Files never change (a new image gets a new name), so they may be cached
/// for a year (`Cache-Control: public, max-age=31536000, immutable`). Only names the store
/// generates are served: no paths, no traversal.
#[api_v2_operation(operation_id = "getMedia", tags(Menu))]
async fn media_file(
    req: HttpRequest,
    services: Data<Services>,
    file: web::Path<String>,
) -> Result<HttpResponse, Problem<NoSuchImage>> {
    let Some((path, kind)) = services.catalog.image_file(&file) else {
        return Err(NoSuchImage.into());
    };
    let mime = kind.mime().parse().map_err(|_| NoSuchImage)?;
    // Opened on a blocking thread; a file deleted meanwhile is simply gone.
    let file = web::block(move || NamedFile::open(path)).await.map_err(|_| NoSuchImage)?.map_err(|_| NoSuchImage)?;
    let mut res = file.set_content_type(mime).use_last_modified(true).into_response(&req);
    let immutable = CacheControl(vec![
        CacheDirective::Public,
        CacheDirective::MaxAge(31_536_000),
        CacheDirective::Extension("immutable".into(), None),
    ]);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&immutable.to_string()).unwrap_or(HeaderValue::from_static("public, max-age=31536000")),
    );
    Ok(res)
}

/// What paperclip cannot derive for `getMedia`: the image types, the name
/// pattern, and the conditional and range answers of a static file.
pub(crate) fn document(op: &mut serde_json::Map<String, Value>) {
    let image = json!({"schema": {"type": "string", "format": "binary"}});
    let content: serde_json::Map<String, Value> =
        ImageKind::ALL.iter().map(|k| (k.mime().to_owned(), image.clone())).collect();
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    responses["200"] = json!({"description": "The image.", "content": content.clone()});
    responses["206"] = json!({"description": "The part a `Range` asked for.", "content": content});
    responses["304"] = json!({"description": "Not modified (`If-None-Match`, `If-Modified-Since`); no body."});
    responses["412"] = json!({"description": "An `If-Match` or `If-Unmodified-Since` that fails; no body."});
    responses["416"] = json!({"description": "A `Range` outside the file; no body."});
    for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
        // The names the store generates: 32 lower-case hex digits and the format's extension.
        let extensions: Vec<&str> = ImageKind::ALL.iter().map(|k| k.extension()).collect();
        p["schema"]["pattern"] = json!(format!(r"^[0-9a-f]{{32}}\.({})$", extensions.join("|")));
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/media/{file}").route(web::get().to(media_file)));
}
