//! Success responses that paperclip has no ready-made type for.

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Responder};
use paperclip::actix::{CreatedJson, OperationModifier};
use paperclip::v2::models::DefaultOperationRaw;
use paperclip::v2::schema::Apiv2Schema;
use serde::Serialize;

/// `201 Created` with a `Location` header and the new resource as JSON.
#[derive(Debug)]
pub struct Created<T> {
    /// Path of the new resource.
    pub location: String,
    /// The new resource.
    pub body: T,
}

impl<T: Serialize> Responder for Created<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Created().insert_header((header::LOCATION, self.location)).json(self.body)
    }
}

impl<T: Apiv2Schema> Apiv2Schema for Created<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> paperclip::v2::models::DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema + Serialize> OperationModifier for Created<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        // The Location header is added to the v3 document in `openapi.rs`.
        CreatedJson::<T>::update_response(op);
    }
}
