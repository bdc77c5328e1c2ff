//! Reading a request body: its media type, its content coding, and the
//! limits on its size and on the time it may take to arrive. The body
//! extractors (`extract`), the image upload and the auth rate limiter all
//! read bodies through here.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::{Decompress, Payload};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::problem::ApiError;
use crate::problem::catalogue as c;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body's media type, lower-cased, when the request states one we can
/// read: one `Content-Type` line (with two, which one a proxy read is
/// unknowable) whose charset, if any, is UTF-8 (a body in another charset
/// would be read wrongly). `None` is answered with 415.
pub(crate) fn media_type(req: &HttpRequest) -> Option<String> {
    let mut lines = req.headers().get_all(header::CONTENT_TYPE);
    let raw = lines.next()?.to_str().ok()?;
    if lines.next().is_some() {
        return None;
    }
    let mut parts = raw.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset_ok = parts.filter_map(|p| p.split_once('=')).all(|(name, value)| {
        !name.trim().eq_ignore_ascii_case("charset") || value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    });
    charset_ok.then_some(media)
}

/// The content codings a body is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codings {
    /// As sent, or compressed with gzip or deflate, which [`decoded`]
    /// inflates for a body read whole.
    Decoded,
    /// Only as sent: a multipart upload is parsed from the raw stream.
    AsSent,
}

/// 415 with `Accept-Encoding` (RFC 7694) unless the body's
/// `Content-Encoding` is one the server reads: none, `identity`, or (for
/// [`Codings::Decoded`]) exactly one `gzip` or `deflate`. actix-web decodes
/// only those, from the header's first line, and reads any other coding
/// (`br`, `zstd`, `gzip, br`, a second line) as if it were none; such a
/// body was misread, not refused.
pub(crate) fn content_coding(req: &HttpRequest, codings: Codings) -> Result<(), ApiError> {
    let mut lines = req.headers().get_all(header::CONTENT_ENCODING);
    let Some(first) = lines.next() else { return Ok(()) };
    let value = first.to_str().map(str::trim).unwrap_or("?");
    let is = |name: &str| value.eq_ignore_ascii_case(name);
    let readable = value.is_empty() || is("identity") || (codings == Codings::Decoded && (is("gzip") || is("deflate")));
    if readable && lines.next().is_none() {
        return Ok(());
    }
    let (accepted, detail) = match codings {
        Codings::Decoded => (
            "gzip, deflate",
            "The body's Content-Encoding is not one this server reads: send it uncompressed, or as gzip or deflate (one coding).",
        ),
        Codings::AsSent => ("identity", "Send this body uncompressed, without a Content-Encoding."),
    };
    Err(ApiError::with_detail(c::UNSUPPORTED_MEDIA_TYPE, detail)
        .with_header(header::ACCEPT_ENCODING, header::HeaderValue::from_static(accepted)))
}

/// The body's length as its `Content-Length` declares it, to refuse a body
/// too large before a byte of it is read.
pub(crate) fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// How long a client may take to send a JSON body once its headers are in
/// (actix times the headers, 5 s, but not the body): 64 KiB in 10 s is
/// 6.4 KB/s, far below any real client, and a connection that trickles its
/// body no longer stays open for ever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The 408 for a body that did not arrive within [`BODY_TIMEOUT`].
pub fn body_timed_out() -> ApiError {
    let detail = format!("The request body did not arrive within {} s.", BODY_TIMEOUT.as_secs());
    ApiError::with_detail(c::REQUEST_TIMEOUT, detail)
}

/// Reads the body within [`MAX_BODY_BYTES`] and [`BODY_TIMEOUT`], decoded
/// from its content coding by [`decoded`] (413 past the limit, before or
/// after decoding; 400 when it cannot be read or decoded).
pub(crate) async fn read_body(req: HttpRequest, mut payload: Payload) -> Result<Bytes, ApiError> {
    content_coding(&req, Codings::Decoded)?;
    let too_large =
        || ApiError::with_detail(c::PAYLOAD_TOO_LARGE, format!("The request body exceeds {MAX_BODY_BYTES} bytes."));
    if declared_length(&req).is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let read = async {
        let mut raw = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            raw.extend_from_slice(&chunk.map_err(|_| ApiError::malformed("The request body could not be read."))?);
            if raw.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
        }
        Ok(raw.freeze())
    };
    let raw = actix_web::rt::time::timeout(BODY_TIMEOUT, read).await.map_err(|_| body_timed_out())??;
    match decoded(&raw, req.headers()).await {
        Ok(body) => Ok(body),
        Err(Undecodable::TooLarge) => Err(too_large()),
        Err(Undecodable::Corrupt) => Err(ApiError::malformed("The request body could not be decoded.")),
    }
}

/// Why [`decoded`] gave no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// It decodes to more than [`MAX_BODY_BYTES`].
    TooLarge,
    /// It is not what its `Content-Encoding` says.
    Corrupt,
}

/// `raw` decoded from its `Content-Encoding` as actix-web decodes it (gzip
/// or deflate; anything else as it is: [`content_coding`] refuses those),
/// to at most [`MAX_BODY_BYTES`].
///
/// actix-web's own body extractors inflate each chunk that arrives whole
/// before they compare the result with their limit: a 58 KB gzip body of
/// zeros became tens of MiB, and 20 at once took the server to 779 MB of
/// RSS (`bench/README.md`, "Compressed bodies"). Here the decoder is given
/// 256 bytes at a time (at most ~260 KB out, gzip's ratio being about
/// 1000:1) and stops once the output passes the limit.
pub(crate) async fn decoded(raw: &Bytes, headers: &header::HeaderMap) -> Result<Bytes, Undecodable> {
    let pieces: Vec<Result<Bytes, PayloadError>> = raw.chunks(256).map(|c| Ok(raw.slice_ref(c))).collect();
    let mut stream = std::pin::pin!(Decompress::from_headers(futures_util::stream::iter(pieces), headers));
    let mut out = BytesMut::new();
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.map_err(|_| Undecodable::Corrupt)?);
        if out.len() > MAX_BODY_BYTES {
            return Err(Undecodable::TooLarge);
        }
    }
    Ok(out.freeze())
}
