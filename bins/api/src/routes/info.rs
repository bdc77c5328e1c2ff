//! `GET /info`: the static shop information (SPEC §8).

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, Responder};
use chrono::{NaiveTime, Timelike, Utc, Weekday};
use coffee_app::{Services, ShopConfig};
use paperclip::actix::{Apiv2Schema, OperationModifier, api_v2_operation, web};
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema as Schema;
use serde::Serialize;

/// How long clients and proxies may reuse the answer; `is_open_now` may lag by as much.
const CACHE_CONTROL: &str = "public, max-age=60";

/// The shop: contacts, location, currency and opening hours.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct InfoDto {
    /// Display name.
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Where the shop is.
    pub location: LocationDto,
    /// Phone number.
    pub phone: String,
    /// Contact e-mail address.
    pub email: String,
    /// ISO 4217 code of the currency every price is in (prices are integer minor units).
    pub currency: String,
    /// IANA time zone of the opening hours, e.g. `Asia/Tashkent`.
    pub timezone: String,
    /// Opening intervals in the shop's local time. A `close` at or before `open` is on the
    /// next day (`20:00`–`02:00` runs past midnight; `00:00`–`00:00` is open 24 hours). A day
    /// without an interval is closed.
    pub opening_hours: Vec<OpeningHoursDto>,
    /// Whether the shop is open at the time of the request, in its own time zone.
    pub is_open_now: bool,
}

/// Geographic position (WGS 84 degrees).
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct LocationDto {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lng: f64,
}

/// One opening interval.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct OpeningHoursDto {
    /// The weekday the interval starts on.
    pub day: DayDto,
    /// Opening time, `HH:MM` (`HH:MM:SS` when seconds matter), inclusive.
    pub open: String,
    /// Closing time, `HH:MM` (`HH:MM:SS` when seconds matter), exclusive; at or before
    /// `open` means on the next day.
    pub close: String,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, Serialize, Apiv2Schema)]
#[serde(rename_all = "lowercase")]
pub enum DayDto {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl From<Weekday> for DayDto {
    fn from(d: Weekday) -> Self {
        match d {
            Weekday::Mon => Self::Monday,
            Weekday::Tue => Self::Tuesday,
            Weekday::Wed => Self::Wednesday,
            Weekday::Thu => Self::Thursday,
            Weekday::Fri => Self::Friday,
            Weekday::Sat => Self::Saturday,
            Weekday::Sun => Self::Sunday,
        }
    }
}

fn hh_mm(t: NaiveTime) -> String {
    if t.second() == 0 { t.format("%H:%M").to_string() } else { t.format("%H:%M:%S").to_string() }
}

impl InfoDto {
    /// The configured information, with `is_open_now` judged at `now`.
    pub fn new(shop: &ShopConfig, now: chrono::DateTime<Utc>) -> Self {
        let info = &shop.info;
        Self {
            name: info.name.clone(),
            address: info.address.clone(),
            location: LocationDto { lat: info.location.lat, lng: info.location.lng },
            phone: info.phone.clone(),
            email: info.email.clone(),
            currency: info.currency.clone(),
            timezone: info.timezone.clone(),
            opening_hours: info
                .opening_hours
                .iter()
                .map(|h| OpeningHoursDto { day: h.day.into(), open: hh_mm(h.open), close: hh_mm(h.close) })
                .collect(),
            is_open_now: shop.is_open_at(now),
        }
    }
}

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
    CachedInfo(InfoDto::new(&services.config.shop, Utc::now()))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/info").route(web::get().to(get_info)));
}
