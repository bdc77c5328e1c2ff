//! The image upload of `POST /products/{id}/image`: a multipart part named
//! `file`, at most 5 MiB, read only when the handler asks for it (after the
//! caller's rights are settled).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::{Stream, StreamExt};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::DefaultOperationRaw;
use paperclip::v2::schema::Apiv2Schema;

use crate::body::{BODY_TIMEOUT, Codings, content_coding, declared_length, media_type};
use crate::openapi::document_problems;
use crate::problem::{ApiError, catalogue};

/// Largest accepted image.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Room for the multipart envelope around the file.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// A multipart body holding an image in its part `file`, not read yet.
pub struct ImageUpload {
    req: HttpRequest,
    payload: Payload,
}

impl std::fmt::Debug for ImageUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageUpload").finish_non_exhaustive()
    }
}

impl ImageUpload {
    /// Reads the `file` part, refusing (413) as soon as it passes
    /// [`MAX_IMAGE_BYTES`].
    ///
    /// # Errors
    /// 415 not multipart, 413 too large, 400 malformed, 422 no `file` part
    /// or another part beside it (named), 408 stalled.
    pub async fn read(self) -> Result<Vec<u8>, ApiError> {
        read_file_part(&self.req, self.payload).await
    }
}

impl FromRequest for ImageUpload {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Ok(Self { req: req.clone(), payload: payload.take() }))
    }
}

impl Apiv2Schema for ImageUpload {}

impl OperationModifier for ImageUpload {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        document_problems(
            op,
            &[
                catalogue::MALFORMED_REQUEST,
                catalogue::REQUEST_TIMEOUT,
                catalogue::PAYLOAD_TOO_LARGE,
                catalogue::UNSUPPORTED_MEDIA_TYPE,
                catalogue::VALIDATION_FAILED,
            ],
        );
    }
}

fn too_large() -> ApiError {
    ApiError::with_detail(catalogue::PAYLOAD_TOO_LARGE, "The image is larger than 5 MiB.")
}

/// The next item of an upload's stream, or 408 when nothing arrives for
/// [`BODY_TIMEOUT`]: an upload may take as long as it keeps sending (5 MiB
/// over a slow phone link takes minutes), but one that stalls does not hold
/// its connection for ever.
async fn next_in_time<S: Stream + Unpin>(stream: &mut S) -> Result<Option<S::Item>, ApiError> {
    actix_web::rt::time::timeout(BODY_TIMEOUT, stream.next()).await.map_err(|_| {
        let detail = format!("The upload stalled: nothing arrived for {} s.", BODY_TIMEOUT.as_secs());
        ApiError::with_detail(catalogue::REQUEST_TIMEOUT, detail)
    })
}

/// Reads the one part of a multipart body, `file`, refusing (413) as soon
/// as it passes [`MAX_IMAGE_BYTES`] and (422) any other part.
async fn read_file_part(req: &HttpRequest, payload: Payload) -> Result<Vec<u8>, ApiError> {
    if media_type(req).as_deref() != Some("multipart/form-data") {
        return Err(ApiError::with_detail(
            catalogue::UNSUPPORTED_MEDIA_TYPE,
            "Send the image as multipart/form-data with a part named `file`.",
        ));
    }
    content_coding(req, Codings::AsSent)?;
    if declared_length(req).is_some_and(|n| n > MAX_IMAGE_BYTES + MULTIPART_OVERHEAD) {
        // Judged before a byte is read: it may be the image or another part.
        let detail = "The request is larger than one image of at most 5 MiB and its form.";
        return Err(ApiError::with_detail(catalogue::PAYLOAD_TOO_LARGE, detail));
    }
    let malformed = |e: actix_multipart::MultipartError| ApiError::malformed(format!("Malformed multipart body: {e}"));
    let refused =
        |field: &str, message: &str| ApiError::validation(vec![coffee_domain::FieldError::new(field, message)]);
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut file: Option<Vec<u8>> = None;
    // Every part is judged, to the closing boundary: another part is
    // refused, not skipped (nothing a client sends is silently ignored).
    while let Some(field) = next_in_time(&mut multipart).await? {
        let mut field = field.map_err(malformed)?;
        match field.name() {
            Some("file") if file.is_none() => {}
            Some("file") => return Err(refused("file", "must be sent once: one image per request")),
            Some(other) if !other.is_empty() => {
                return Err(refused(other, "is not accepted: the only part is `file`"));
            }
            _ => return Err(refused("file", "must be the only part, with that name")),
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = next_in_time(&mut field).await? {
            let chunk = chunk.map_err(malformed)?;
            if bytes.len() + chunk.len() > MAX_IMAGE_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some(bytes);
    }
    file.ok_or_else(|| refused("file", "is required (a PNG, JPEG or WebP image)"))
}
