//! `GET /media/{file}`: stored product images.

use std::io::ErrorKind;

use actix_files::NamedFile;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderValue};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use coffee_app::Services;
use coffee_domain::catalog::ImageKind;
use paperclip::actix::{api_v2_operation, web};
use serde_json::{Value, json};

use crate::problem::catalogue::{self as c, ProblemType};
use crate::problem::{ApiError, IntoProblem, Problem};

/// Why an image is not served.
#[derive(Debug)]
pub enum MediaError {
    /// No stored image has that name.
    NoSuchImage,
    /// An `If-Match` or `If-Unmodified-Since` that the file fails.
    PreconditionFailed,
    /// A `Range` outside the file.
    RangeNotSatisfiable,
    /// A `Range` header that is not visible ASCII.
    UnreadableRange,
    /// The file exists but cannot be read (permissions, I/O); logged.
    Unreadable(String),
}

impl IntoProblem for MediaError {
    fn problems() -> Vec<ProblemType> {
        vec![c::BAD_REQUEST, c::NOT_FOUND, c::IMAGE_PRECONDITION_FAILED, c::RANGE_NOT_SATISFIABLE, c::INTERNAL_ERROR]
    }

    fn into_problem(self) -> ApiError {
        match self {
            Self::NoSuchImage => ApiError::not_found(),
            Self::PreconditionFailed => c::IMAGE_PRECONDITION_FAILED.into(),
            Self::RangeNotSatisfiable => c::RANGE_NOT_SATISFIABLE.into(),
            Self::UnreadableRange => ApiError::with_detail(c::BAD_REQUEST, "The Range header is not readable text."),
            Self::Unreadable(cause) => ApiError::internal(&format_args!("cannot read a stored image: {cause}")),
        }
    }
}

/// A product image
///
/// The file a product's `image_url` points to, with its content type (PNG, JPEG or WebP), `ETag`
/// and `Last-Modified`. Files never change (a new image gets a new name), so they may be cached
/// for a year (`Cache-Control: public, max-age=31536000, immutable`). Only names the store
/// generates are served: no paths, no traversal. Conditional requests and ranges are honoured;
/// a failed `If-Match` is 412, a `Range` outside the file 416 (with `Content-Range`) and one
/// that is not readable text 400.
#[api_v2_operation(operation_id = "getMedia", tags(Menu))]
async fn media_file(
    req: HttpRequest,
    services: Data<Services>,
    file: web::Path<String>,
) -> Result<HttpResponse, Problem<MediaError>> {
    let Some((path, kind)) = services.catalog.image_file(&file) else {
        return Err(MediaError::NoSuchImage.into());
    };
    let mime = kind.mime().parse().map_err(|_| MediaError::NoSuchImage)?;
    // Opened on a blocking thread; a file deleted meanwhile is simply gone.
    let file = match web::block(move || NamedFile::open(path)).await {
        Ok(Ok(file)) => file,
        Ok(Err(e)) if e.kind() == ErrorKind::NotFound => return Err(MediaError::NoSuchImage.into()),
        Ok(Err(e)) => return Err(MediaError::Unreadable(e.to_string()).into()),
        Err(e) => return Err(MediaError::Unreadable(e.to_string()).into()),
    };
    let mut res = file.set_content_type(mime).use_last_modified(true).into_response(&req);
    // actix-files answers these with an empty body; the API's errors are problem+json.
    match res.status() {
        StatusCode::BAD_REQUEST => return Err(MediaError::UnreadableRange.into()),
        StatusCode::PRECONDITION_FAILED => return Err(MediaError::PreconditionFailed.into()),
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let mut problem = MediaError::RangeNotSatisfiable.into_problem().error_response();
            if let Some(range) = res.headers().get(header::CONTENT_RANGE) {
                problem.headers_mut().insert(header::CONTENT_RANGE, range.clone());
            }
            return Ok(problem);
        }
        _ => {}
    }
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
/// pattern, and the successful conditional and range answers of a static file.
pub(crate) fn document(op: &mut serde_json::Map<String, Value>) {
    let image = json!({"schema": {"type": "string", "format": "binary"}});
    let content: serde_json::Map<String, Value> =
        ImageKind::ALL.iter().map(|k| (k.mime().to_owned(), image.clone())).collect();
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    responses["200"] = json!({"description": "The image.", "content": content.clone()});
    responses["206"] = json!({"description": "The part a `Range` asked for.", "content": content});
    responses["304"] = json!({"description": "Not modified (`If-None-Match`, `If-Modified-Since`); no body."});
    for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
        // The names the store generates: 32 lower-case hex digits and the format's extension.
        let extensions: Vec<&str> = ImageKind::ALL.iter().map(|k| k.extension()).collect();
        p["schema"]["pattern"] = json!(format!(r"^[0-9a-f]{{32}}\.({})$", extensions.join("|")));
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/media/{file}").route(web::get().to(media_file)));
}
