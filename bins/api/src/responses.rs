//! Success responses that paperclip has no ready-made type for.

use actix_web::body::BoxBody;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder};
use coffee_domain::order::Placed;
use paperclip::actix::{CreatedJson, OperationModifier};
use paperclip::v2::models::DefaultOperationRaw;
use paperclip::v2::schema::Apiv2Schema;
use serde::Serialize;

use crate::problem::PROBLEM_JSON;

/// Each answer below documents its body's schema: `T`'s name and schema.
macro_rules! body_schema {
    ($($answer:ident),+) => {$(
        impl<T: Apiv2Schema> Apiv2Schema for $answer<T> {
            fn name() -> Option<String> {
                T::name()
            }

            fn raw_schema() -> paperclip::v2::models::DefaultSchemaRaw {
                T::raw_schema()
            }
        }
    )+};
}

body_schema!(Created, CreatedOrMerged, Tagged, Revalidated, PlacedOrder, PageJson);

/// The path of `PUBLIC_BASE_URL` (`/api` for `https://shop.example/api`,
/// empty when the API is at the root). A proxy that serves the API under a
/// path removes it before a request arrives here, so a path this API names
/// in a `Location` header needs it back, as image URLs and mailed links
/// already have it.
#[derive(Debug, Clone, Default)]
pub struct BasePath(String);

impl BasePath {
    /// The path of `public_base_url`, without its trailing slash.
    pub fn of(public_base_url: &str) -> Self {
        let path = url::Url::parse(public_base_url).map(|u| u.path().trim_end_matches('/').to_owned());
        Self(path.unwrap_or_default())
    }
}

/// `path` (from the API's root) as a client must ask for it.
fn located(req: &HttpRequest, path: &str) -> String {
    let base = req.app_data::<actix_web::web::Data<BasePath>>().map_or("", |b| b.0.as_str());
    format!("{base}{path}")
}

/// `201 Created` with a `Location` header and the new resource as JSON.
#[derive(Debug)]
pub struct Created<T> {
    /// Path of the new resource, from the API's root (the header adds the
    /// path of `PUBLIC_BASE_URL`, see [`BasePath`]).
    pub location: String,
    /// The new resource.
    pub body: T,
}

impl<T: Serialize> Responder for Created<T> {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        HttpResponse::Created().insert_header((header::LOCATION, located(req, &self.location))).json(self.body)
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for Created<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        // The Location header is added to the v3 document in `openapi.rs`.
        CreatedJson::<T>::update_response(op);
    }
}

/// `201 Created` when the request made a new resource, `200 OK` when it
/// changed the one that was there (`POST /cart` merging into a line);
/// `Location` names the resource either way, and the body is JSON.
#[derive(Debug)]
pub struct CreatedOrMerged<T> {
    /// Whether an existing resource took the request.
    pub merged: bool,
    /// The new or existing resource, its answer's `Created` part.
    pub created: Created<T>,
}

impl<T: Serialize> Responder for CreatedOrMerged<T> {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        let mut res = self.created.respond_to(req);
        if self.merged {
            *res.status_mut() = StatusCode::OK;
        }
        res
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for CreatedOrMerged<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        paperclip::actix::web::Json::<T>::update_response(op);
        Created::<T>::update_response(op);
        crate::openapi::document_header(op, "200", "Location", "Path of the existing resource that took the request.");
    }
}

/// `200 OK` with a body already serialized as JSON: a page of a list, made
/// now or remembered as made before (`rendered.rs`). `T` is its schema.
#[derive(Debug)]
pub struct PageJson<T> {
    /// `T` as JSON.
    pub body: actix_web::web::Bytes,
    /// The body's type, for the document.
    pub schema: std::marker::PhantomData<T>,
}

impl<T> Responder for PageJson<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok().content_type(mime::APPLICATION_JSON).body(self.body)
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for PageJson<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        paperclip::actix::web::Json::<T>::update_response(op);
    }
}

/// A version as a strong entity tag: `"3"` (what `headers` reads back).
fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `200 OK` with the resource as JSON and its version as a strong `ETag`
/// (`"3"`), for clients to send back in `If-Match`.
#[derive(Debug)]
pub struct Tagged<T> {
    /// The resource's version.
    pub version: i64,
    /// The resource.
    pub body: T,
}

impl<T: Serialize> Responder for Tagged<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok().insert_header((header::ETAG, etag(self.version))).json(self.body)
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for Tagged<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        paperclip::actix::web::Json::<T>::update_response(op);
        crate::openapi::document_header(op, "200", "ETag", "The resource's version, quoted; send it back in If-Match.");
    }
}

/// A read of a [`Tagged`] resource that honours `If-None-Match` (RFC 9110
/// §13.1.2): while the client's copy is current the answer is `304 Not
/// Modified` with the `ETag` and no body, so a client polling an order
/// pays for the body only when it changed.
#[derive(Debug)]
pub struct Revalidated<T>(pub Tagged<T>);

impl<T: Serialize> Responder for Revalidated<T> {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        // Only a read is answered from the client's copy (a `HEAD` is routed
        // as `GET`); the headers are those the 200 would carry (§15.4.5).
        if req.method() == actix_web::http::Method::GET && crate::headers::none_match(req, self.0.version) {
            return HttpResponse::NotModified()
                .insert_header((header::ETAG, etag(self.0.version)))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        self.0.respond_to(req)
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for Revalidated<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        Tagged::<T>::update_response(op);
        crate::headers::document_if_none_match(op);
        let not_modified = paperclip::v2::models::DefaultResponseRaw {
            description: Some("Not modified: the `If-None-Match` copy is current; no body.".to_owned()),
            ..Default::default()
        };
        op.responses.insert("304".to_owned(), paperclip::v2::models::Either::Right(not_modified));
        crate::openapi::document_header(op, "304", "ETag", "The resource's version, quoted.");
    }
}

/// The answer to `POST /orders`: `201 Created` with `Location` and the order
/// as JSON and, when it is the stored answer of an earlier request with the
/// same `Idempotency-Key`, `Idempotent-Replayed: true`. A stored answer may
/// also be the refusal of that earlier request (a problem document).
#[derive(Debug)]
pub struct PlacedOrder<T> {
    /// The answer, as stored for the key.
    pub placed: Placed,
    /// The body's type, for the document.
    pub schema: std::marker::PhantomData<T>,
}

impl<T> Responder for PlacedOrder<T> {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        let Placed { response, replayed } = self.placed;
        let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::CREATED);
        let mut res = HttpResponse::build(status);
        match response.order_id {
            Some(id) if status == StatusCode::CREATED => res
                .insert_header((header::LOCATION, located(req, &format!("/orders/{id}"))))
                .content_type(mime::APPLICATION_JSON),
            _ => res.content_type(PROBLEM_JSON),
        };
        if replayed {
            res.insert_header(("idempotent-replayed", "true"));
        }
        res.body(response.body)
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for PlacedOrder<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        CreatedJson::<T>::update_response(op);
        crate::openapi::document_header(
            op,
            "201",
            "Idempotent-Replayed",
            "`true` when this is the stored answer of an earlier request with the same Idempotency-Key.",
        );
    }
}
