//! `GET /info`: the static shop information (SPEC §8).

use actix_web::body::BoxBody;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, Responder};
use coffee_app::Services;
use paperclip::actix::{OperationModifier, api_v2_operation, web};
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema as Schema;

use crate::dto::info::InfoDto;

/// How long clients and proxies may reuse the answer, at most; less when the
/// shop opens or closes sooner, so `is_open_now` is never stale.
const MAX_AGE_SECS: u32 = 60;

/// `200` JSON with `Cache-Control: public, max-age=N`, N ≤ 60 seconds.
#[derive(Debug)]
pub struct CachedInfo {
    body: InfoDto,
    max_age: u32,
}

impl Responder for CachedInfo {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let cache = CacheControl(vec![CacheDirective::Public, CacheDirective::MaxAge(self.max_age)]);
        HttpResponse::Ok().insert_header((header::CACHE_CONTROL, cache)).json(self.body)
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
/// local time, and whether it is open right now. Public; may be cached for 60 seconds, or until
/// the shop next opens or closes if that is sooner (`Cache-Control: max-age`).
#[api_v2_operation(operation_id = "getInfo", tags(Shop))]
async fn get_info(services: Data<Services>) -> CachedInfo {
    let (open, max_age) = services.shop.open_state_at(services.shop.now(), MAX_AGE_SECS);
    CachedInfo { body: InfoDto::new(&services.shop, open), max_age }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/info").route(web::get().to(get_info)));
}
