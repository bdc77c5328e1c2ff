//! When an order can be picked up (SPEC §6).
//!
//! * No `pickup_at`: as soon as possible — only while the shop is open.
//! * A scheduled `pickup_at`: at least `min_lead` from now, at most
//!   `max_ahead` from now, and inside the opening hours (judged in the
//!   shop's time zone, so past-midnight intervals and daylight-saving
//!   changes are handled by the calendar).

use chrono::{DateTime, SubsecRound, TimeDelta, Timelike, Utc};

use crate::error::FieldError;
use crate::shop::Shop;

/// Tunables of the pickup rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickupSettings {
    /// `ORDER_MIN_LEAD_TIME`: how far ahead a scheduled pickup must be.
    pub min_lead: TimeDelta,
    /// How far ahead a pickup may be scheduled (7 days).
    pub max_ahead: TimeDelta,
}

impl Default for PickupSettings {
    fn default() -> Self {
        Self { min_lead: TimeDelta::minutes(10), max_ahead: TimeDelta::days(7) }
    }
}

/// Why a pickup time was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickupError {
    /// "As soon as possible" while the shop is closed.
    ShopClosed,
    /// A scheduled time breaks a rule; the error names `pickup_at`.
    Invalid(FieldError),
}

/// The rules, for one shop.
#[derive(Debug)]
pub struct PickupRules<'a> {
    shop: &'a Shop,
    settings: PickupSettings,
}

impl<'a> PickupRules<'a> {
    /// The rules of `shop`.
    pub fn new(shop: &'a Shop, settings: PickupSettings) -> Self {
        Self { shop, settings }
    }

    /// Checks a requested pickup time at `now`; returns it as it is stored
    /// (to the microsecond).
    ///
    /// # Errors
    /// `ShopClosed` for "as soon as possible" while closed; `Invalid` for a
    /// leap second, or a scheduled time too soon, too far ahead or outside
    /// the opening hours.
    pub fn check(
        &self,
        requested: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, PickupError> {
        let Some(at) = requested else {
            return if self.shop.is_open_at(now) { Ok(None) } else { Err(PickupError::ShopClosed) };
        };
        let invalid = |message: String| Err(PickupError::Invalid(FieldError::new("pickup_at", message)));
        // chrono reads `:60` as a leap second (nanoseconds past 1e9); the
        // databases store it as the next minute, or as text no client parses.
        if at.nanosecond() >= 1_000_000_000 {
            return invalid("has second 60: give a time with seconds 00–59".to_owned());
        }
        let at = stored(at);
        let earliest = now + self.settings.min_lead;
        if at < earliest {
            let lead = spoken(self.settings.min_lead);
            return invalid(format!("must be at least {lead} from now (not before {})", earliest.to_rfc3339()));
        }
        if at > now + self.settings.max_ahead {
            return invalid(format!("must be within {} days from now", self.settings.max_ahead.num_days()));
        }
        if !self.shop.is_open_at(at) {
            return invalid("is outside the opening hours (see GET /info)".to_owned());
        }
        Ok(Some(at))
    }
}

/// A pickup time as it is stored: to the microsecond, as both databases
/// keep times. The same instant sent with more digits is the same time.
pub(crate) fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A lead time as a person says it: `10 minutes`, `1 minute`, `90 seconds`.
fn spoken(lead: TimeDelta) -> String {
    let seconds = lead.num_seconds();
    let (n, unit) = if seconds % 60 == 0 { (seconds / 60, "minute") } else { (seconds, "second") };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use chrono::{NaiveDateTime, NaiveTime, TimeZone, Weekday};

    use super::*;
    use crate::money::Currency;
    use crate::shop::{Location, OpeningHours, ShopInfo, ShopTimeZone};
    use crate::testing::FixedClock;

    /// Central European time: UTC+1, and UTC+2 from 2026-03-29 01:00 UTC
    /// (the last Sunday of March) to 2026-10-25 01:00 UTC (the last Sunday
    /// of October) — both daylight-saving changes inside the tests.
    struct Berlin;
    impl ShopTimeZone for Berlin {
        fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
            let summer = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap();
            let winter = Utc.with_ymd_and_hms(2026, 10, 25, 1, 0, 0).unwrap();
            at.naive_utc() + TimeDelta::hours(if at >= summer && at < winter { 2 } else { 1 })
        }
    }

    fn hours(day: Weekday, open: &str, close: &str) -> OpeningHours {
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        OpeningHours { day, open: t(open), close: t(close) }
    }

    fn shop(opening_hours: Vec<OpeningHours>) -> Shop {
        let info = ShopInfo {
            name: "Coffee".to_owned(),
            address: "1 Main St".to_owned(),
            location: Location { lat: 52.5, lng: 13.4 },
            phone: "+49 30 000000".to_owned(),
            email: "hello@coffee.example".to_owned(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            timezone: "Europe/Berlin".to_owned(),
            opening_hours,
        };
        Shop::new(info, Arc::new(Berlin), Arc::new(FixedClock::default()))
    }

    fn every_day(open: &str, close: &str) -> Vec<OpeningHours> {
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
            .map(|d| hours(d, open, close))
            .to_vec()
    }

    fn utc(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    fn field_error(r: Result<Option<DateTime<Utc>>, PickupError>) -> String {
        match r {
            Err(PickupError::Invalid(e)) => {
                assert_eq!(e.field, "pickup_at");
                e.message
            }
            other => panic!("expected a pickup_at error, got {other:?}"),
        }
    }

    #[test]
    fn as_soon_as_possible_only_while_open() {
        let s = shop(every_day("08:00", "20:00"));
        let rules = PickupRules::new(&s, PickupSettings::default());
        // Wed 4 Mar 2026: 09:00 UTC = 10:00 local.
        assert_eq!(rules.check(None, utc(4, 9, 0)), Ok(None));
        assert_eq!(rules.check(None, utc(4, 19, 0)), Err(PickupError::ShopClosed), "20:00 local: just closed");
        assert_eq!(rules.check(None, utc(4, 6, 59)), Err(PickupError::ShopClosed), "07:59 local");
    }

    #[test]
    fn a_leap_second_is_refused_and_a_time_is_kept_to_the_microsecond() {
        let s = shop(every_day("08:00", "20:00"));
        let rules = PickupRules::new(&s, PickupSettings::default());
        let now = utc(4, 9, 0);
        // 18:59:60 UTC = 19:59:60 local: read as 20:00, when the shop closes.
        let leap = DateTime::parse_from_rfc3339("2026-03-04T18:59:60Z").unwrap().to_utc();
        assert!(field_error(rules.check(Some(leap), now)).contains("second 60"));
        let precise = DateTime::parse_from_rfc3339("2026-03-04T12:00:00.123456789Z").unwrap().to_utc();
        let kept = rules.check(Some(precise), now).unwrap().unwrap();
        assert_eq!(kept.to_rfc3339(), "2026-03-04T12:00:00.123456+00:00");
    }

    #[test]
    fn a_scheduled_pickup_needs_the_lead_time_and_at_most_seven_days() {
        let s = shop(every_day("00:00", "00:00"));
        let rules = PickupRules::new(&s, PickupSettings::default());
        let now = utc(4, 9, 0);
        let ok = now + TimeDelta::minutes(10);
        assert_eq!(rules.check(Some(ok), now), Ok(Some(ok)));
        assert!(field_error(rules.check(Some(ok - TimeDelta::seconds(1)), now)).contains("at least 10 minutes"));
        assert!(field_error(rules.check(Some(now - TimeDelta::hours(1)), now)).contains("at least"), "the past");
        assert_eq!(rules.check(Some(now + TimeDelta::days(7)), now), Ok(Some(now + TimeDelta::days(7))));
        let too_far = now + TimeDelta::days(7) + TimeDelta::seconds(1);
        assert!(field_error(rules.check(Some(too_far), now)).contains("within 7 days"));
    }

    #[test]
    fn the_lead_time_is_named_as_configured() {
        let s = shop(every_day("00:00", "00:00"));
        let now = utc(4, 9, 0);
        for (lead, said) in [
            (TimeDelta::minutes(1), "at least 1 minute from"),
            (TimeDelta::seconds(90), "at least 90 seconds from"),
            (TimeDelta::hours(2), "at least 120 minutes from"),
        ] {
            let rules = PickupRules::new(&s, PickupSettings { min_lead: lead, ..PickupSettings::default() });
            let message = field_error(rules.check(Some(now), now));
            assert!(message.contains(said), "{lead}: {message}");
        }
    }

    #[test]
    fn a_scheduled_pickup_must_be_inside_the_opening_hours_even_when_the_shop_is_closed_now() {
        let s = shop(every_day("08:00", "20:00"));
        let rules = PickupRules::new(&s, PickupSettings::default());
        let night = utc(4, 23, 0); // 00:00 local: closed now
        assert_eq!(rules.check(Some(utc(5, 7, 30)), night), Ok(Some(utc(5, 7, 30))), "08:30 local tomorrow");
        assert!(field_error(rules.check(Some(utc(5, 6, 30)), night)).contains("opening hours"), "07:30 local");
    }

    #[test]
    fn intervals_past_midnight_count_for_the_next_morning() {
        // Friday 6 Mar 20:00 – Saturday 02:00 local.
        let s = shop(vec![hours(Weekday::Fri, "20:00", "02:00")]);
        let rules = PickupRules::new(&s, PickupSettings::default());
        let now = utc(6, 12, 0);
        assert!(rules.check(Some(utc(7, 0, 30)), now).is_ok(), "Saturday 01:30 local");
        assert!(rules.check(Some(utc(7, 1, 0)), now).is_err(), "Saturday 02:00 local: closed");
        assert!(rules.check(Some(utc(6, 18, 59)), now).is_err(), "Friday 19:59 local");
    }

    /// When clocks go back, 02:00–03:00 comes twice (00:00–01:00 UTC in
    /// summer time, then 01:00–02:00 UTC in winter time). A close inside it
    /// happens on its first pass and does not come undone on the second; an
    /// open inside it likewise.
    #[test]
    fn the_hour_repeated_when_clocks_go_back_neither_reopens_nor_closes_the_shop_again() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 10, 25, h, m, 0).unwrap();
        let late = shop(vec![hours(Weekday::Sat, "20:00", "02:30")]);
        assert!(late.is_open_at(at(0, 15)), "02:15 summer time");
        assert!(!late.is_open_at(at(0, 30)), "02:30 summer time: closed");
        for (h, m) in [(1, 0), (1, 15), (1, 29), (1, 30)] {
            assert!(!late.is_open_at(at(h, m)), "{h:02}:{m:02} UTC, the clock's second pass: still closed");
        }
        let early = shop(vec![hours(Weekday::Sun, "02:15", "05:00")]);
        assert!(!early.is_open_at(at(0, 14)), "02:14 summer time");
        assert!(early.is_open_at(at(0, 15)), "02:15 summer time: open");
        for (h, m) in [(1, 0), (1, 14), (1, 15), (3, 59)] {
            assert!(early.is_open_at(at(h, m)), "{h:02}:{m:02} UTC, after the first 02:15: open");
        }
        assert!(!early.is_open_at(at(4, 0)), "05:00 winter time: closed");
        // Times that come once are judged by the clock, as on any other day.
        let day = shop(every_day("08:00", "20:00"));
        assert!(!day.is_open_at(at(6, 59)) && day.is_open_at(at(7, 0)), "08:00 winter time");
        assert!(day.is_open_at(Utc.with_ymd_and_hms(2026, 10, 24, 6, 0, 0).unwrap()), "08:00 summer time");
    }

    #[test]
    fn opening_hours_follow_the_daylight_saving_change() {
        let s = shop(every_day("08:00", "20:00"));
        let rules = PickupRules::new(&s, PickupSettings::default());
        let now = utc(27, 12, 0);
        // 06:30 UTC is 07:30 local in winter (closed) but 08:30 local in summer (open).
        assert!(rules.check(Some(utc(28, 6, 30)), now).is_err(), "Saturday 28 March, winter time");
        assert!(rules.check(Some(utc(29, 6, 30)), now).is_ok(), "Sunday 29 March, summer time");
        // And 18:30 UTC: 19:30 local in winter (open), 20:30 in summer (closed).
        assert!(rules.check(Some(utc(28, 18, 30)), now).is_ok());
        assert!(rules.check(Some(utc(29, 18, 30)), now).is_err());
    }
}
