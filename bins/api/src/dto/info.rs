//! The static shop information: `/info`.

use chrono::{NaiveTime, Timelike, Weekday};
use coffee_domain::shop::Shop;
use paperclip::actix::Apiv2Schema;
use serde::Serialize;

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
    /// The shop's information, with `is_open_now` judged now.
    pub fn new(shop: &Shop, is_open_now: bool) -> Self {
        let info = shop.info();
        Self {
            name: info.name.clone(),
            address: info.address.clone(),
            location: LocationDto { lat: info.location.lat, lng: info.location.lng },
            phone: info.phone.clone(),
            email: info.email.clone(),
            currency: info.currency.to_string(),
            timezone: info.timezone.clone(),
            opening_hours: info
                .opening_hours
                .iter()
                .map(|h| OpeningHoursDto { day: h.day.into(), open: hh_mm(h.open), close: hh_mm(h.close) })
                .collect(),
            is_open_now,
        }
    }
}
