//! `GET /info`: the static shop information (SPEC §8).

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, Responder};
use coffee_app::Services;
use paperclip::actix::{OperationModifier, api_v2_operation, web};
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema as Schema;

use crate::dto::info::InfoDto;

/// How long clients and proxies may reuse the answer; `is_open_now` may lag by as much.
const CACHE_CONTROL: &str = "public, max-age=60";

/// `200` JSON with `Cache-Control: public, max-age=60`.
#[derive(Debug)]
pub struct CachedInfo(InfoDto);

impl Responder for CachedInfo {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok().insert_header((header::CACHE_CONTROL, CACHE_CONTROL)).json(self.0)
    }
}

impl Schema for CachedInfo {
    fn name() -> Option<String> {
        <InfoDto as Schema>::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        <InfoDto as Schema>::raw_schema()
    }
}

impl OperationModifier for CachedInfo {
    fn update_response(op: &mut DefaultOperationRaw) {
        web::Json::<InfoDto>::update_response(op);
    }
}

/// Shop information
///
/// The shop's name, address, location, phone, e-mail, the currency of every price
/// (ISO 4217; prices are integer minor units), its time zone and weekly opening hours in
/// local time, and whether it is open right now. Public; may be cached for 60 seconds.
#[api_v2_operation(operation_id = "getInfo", tags(Shop))]
async fn get_info(services: Data<Services>) -> CachedInfo {
    CachedInfo(InfoDto::new(&services.shop))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/info").route(web::get().to(get_info)));
}
