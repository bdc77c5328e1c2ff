//! Ends the connection of a chunked request whose body was not read to its
//! end.
//!
//! actix-http 3.20 drains a chunked body the handler dropped (to reuse the
//! connection) with no deadline: a client that answers an early 401, 413 or
//! a GET that ignores bodies with a chunk that never ends holds the
//! connection, and its file descriptor, for ever. While the body's receiving
//! end is alive, actix-http instead closes the connection after the answer
//! (after lingering for `client_disconnect_timeout`). So a chunked request's
//! payload is shared here between the handler and the response body, which
//! keeps it alive until the answer is written.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use futures_util::Stream;

/// The receiving end of a request body, shared.
type Shared = Rc<RefCell<Payload>>;

/// For a request with `Transfer-Encoding`: hands the handler a stream over
/// the body and returns what keeps the body alive (see [`KeptWith`]).
pub fn share_if_chunked(req: &mut ServiceRequest) -> Option<Shared> {
    if !req.headers().contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    let shared = Rc::new(RefCell::new(req.take_payload()));
    req.set_payload(Payload::Stream { payload: Box::pin(SharedPayload(shared.clone())) });
    Some(shared)
}

struct SharedPayload(Shared);

impl Stream for SharedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.0.borrow_mut()).poll_next(cx)
    }
}

/// A response body that keeps the request's body alive until it is sent.
pub struct KeptWith {
    body: BoxBody,
    _payload: Shared,
}

impl KeptWith {
    /// `body`, keeping `payload` alive as long as it lives.
    pub fn body(body: BoxBody, payload: Shared) -> BoxBody {
        BoxBody::new(KeptWith { body, _payload: payload })
    }
}

impl MessageBody for KeptWith {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
