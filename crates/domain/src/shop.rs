//! The static shop information (SPEC §8): who the shop is, where, and when
//! it is open.
//!
//! Opening hours are intervals on a weekday in the shop's local time:
//!
//! * a day may have several intervals (e.g. a lunch break);
//! * an interval whose `close` is earlier than its `open` runs past midnight
//!   into the next day: Fri 20:00–02:00 means open on Saturday at 01:00
//!   (and Sun 22:00–02:00 runs into Monday);
//! * **`close == open` means 24 hours**: open from `open` on `day` until the
//!   same time on the next day, so `00:00–00:00` is the whole day. (An empty
//!   interval would be pointless, so this is the only useful reading.)
//! * `open` is inclusive, `close` exclusive: at exactly `open` the shop is
//!   open, at exactly `close` it is closed;
//! * a weekday without intervals is a closed day; no intervals at all means
//!   always closed.
//!
//! The time zone is kept as its IANA name; the domain has no time-zone
//! database, so [`Shop`] asks a [`ShopTimeZone`] port (implemented by the
//! application with the tz database) for the shop's local time, and the
//! [`Clock`] port for "now". Orders ask [`Shop::is_open_at`] whether a
//! pickup time is inside the opening hours; `GET /info` asks
//! [`Shop::is_open_now`].

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc, Weekday};

use crate::clock::Clock;
use crate::error::{FieldError, Validator};
use crate::money::Currency;
use crate::text::{Lines, plain_text};
use crate::user::{Email, Phone};

const DAY_SECS: u32 = 24 * 60 * 60;
const WEEK_SECS: u32 = 7 * DAY_SECS;

/// Geographic position (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lng: f64,
}

/// One opening interval, in the shop's local time (see the module docs for
/// intervals past midnight and 24-hour days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpeningHours {
    /// The weekday the interval starts on.
    pub day: Weekday,
    /// Opening time (inclusive).
    pub open: NaiveTime,
    /// Closing time (exclusive); at or before `open` = on the next day.
    pub close: NaiveTime,
}

impl OpeningHours {
    /// Whether the interval runs past midnight (including the 24-hour case).
    pub fn crosses_midnight(&self) -> bool {
        self.close <= self.open
    }

    /// Whether the shop is open at `local` because of this interval.
    pub fn contains(&self, local: NaiveDateTime) -> bool {
        let (day, time) = (local.weekday(), local.time());
        if self.crosses_midnight() {
            (day == self.day && time >= self.open) || (day == self.day.succ() && time < self.close)
        } else {
            day == self.day && time >= self.open && time < self.close
        }
    }

    /// `[start, start + len)` in seconds from Monday 00:00, cyclic over the week.
    fn week_range(&self) -> (u32, u32) {
        let open = self.open.num_seconds_from_midnight();
        let close = self.close.num_seconds_from_midnight();
        let start = self.day.num_days_from_monday() * DAY_SECS + open;
        let len = if close > open { close - open } else { DAY_SECS - open + close };
        (start, len)
    }

    fn overlaps(&self, other: &Self) -> bool {
        let ((s1, l1), (s2, l2)) = (self.week_range(), other.week_range());
        (s2 + WEEK_SECS - s1) % WEEK_SECS < l1 || (s1 + WEEK_SECS - s2) % WEEK_SECS < l2
    }
}

/// The shop's static information.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopInfo {
    /// Display name.
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Where the shop is.
    pub location: Location,
    /// Phone number.
    pub phone: String,
    /// Contact e-mail address.
    pub email: String,
    /// The currency every price is in.
    pub currency: Currency,
    /// IANA time-zone name (`Asia/Tashkent`); resolved by the application layer.
    pub timezone: String,
    /// When the shop is open, in its local time.
    pub opening_hours: Vec<OpeningHours>,
}

impl ShopInfo {
    /// Whether the shop is open at `local`, a date and time in the shop's time zone.
    pub fn is_open_at(&self, local: NaiveDateTime) -> bool {
        self.opening_hours.iter().any(|h| h.contains(local))
    }

    /// Checks every field and reports every problem at once. Fields are
    /// named as in the configuration file (`location.lat`, `opening_hours[2]`).
    ///
    /// # Errors
    /// Each invalid field: empty or markup-carrying text (see [`crate::text`]),
    /// a malformed phone or e-mail, coordinates out of range, an empty time
    /// zone, or opening intervals that overlap (duplicates included).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Validator::new();
        v.check(plain_text("name", &self.name, 1, 200, Lines::Single));
        v.check(plain_text("address", &self.address, 1, 500, Lines::Multi));
        v.check(Phone::parse("phone", &self.phone));
        v.check(Email::parse("email", &self.email));
        let Location { lat, lng } = self.location;
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            v.push(FieldError::new("location.lat", format!("{lat} is not a latitude from -90 to 90")));
        }
        if !(lng.is_finite() && (-180.0..=180.0).contains(&lng)) {
            v.push(FieldError::new("location.lng", format!("{lng} is not a longitude from -180 to 180")));
        }
        if self.timezone.trim().is_empty() {
            v.push(FieldError::new("timezone", "must be an IANA time-zone name, e.g. Asia/Tashkent"));
        }
        for (i, a) in self.opening_hours.iter().enumerate() {
            if let Some(j) = self.opening_hours[..i].iter().position(|b| a.overlaps(b)) {
                v.push(FieldError::new(
                    format!("opening_hours[{i}]"),
                    format!("overlaps opening_hours[{j}] (intervals must not overlap)"),
                ));
            }
        }
        v.finish()
    }
}

/// Converts instants to the shop's local time (the tz database lives in an adapter).
pub trait ShopTimeZone: Send + Sync {
    /// The shop's local date and time at `at`.
    fn local(&self, at: DateTime<Utc>) -> NaiveDateTime;

    /// The first instant whose local time is `local`: `None` in the hour
    /// skipped when clocks go forward; in the hour repeated when they go
    /// back, its first pass.
    ///
    /// Worked out from [`Self::local`]: the offsets a day before and a day
    /// after bracket any change near `local` (a zone changes its offset at
    /// most once in two days), so one of them, or both in a repeated hour,
    /// leads back to it.
    fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let naive = local.and_utc();
        let offset = |at: DateTime<Utc>| self.local(at) - at.naive_utc();
        let day = TimeDelta::days(1);
        [naive - offset(naive - day), naive - offset(naive + day)]
            .into_iter()
            .filter(|at| self.local(*at) == local)
            .min()
    }
}

/// The shop: its static information, and its calendar judged in its own
/// time zone at instants from the [`Clock`].
pub struct Shop {
    info: ShopInfo,
    tz: Arc<dyn ShopTimeZone>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop").field("name", &self.info.name).finish_non_exhaustive()
    }
}

impl Shop {
    /// The shop described by `info`, whose hours are local time in `tz`.
    pub fn new(info: ShopInfo, tz: Arc<dyn ShopTimeZone>, clock: Arc<dyn Clock>) -> Self {
        Self { info, tz, clock }
    }

    /// The static information.
    pub fn info(&self) -> &ShopInfo {
        &self.info
    }

    /// The currency of every price.
    pub fn currency(&self) -> Currency {
        self.info.currency
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether the shop is open at `at`, judged by its local time there
    /// (daylight-saving changes included).
    ///
    /// An interval is the span from the first instant the shop's clock reads
    /// its `open` to the first one after it that reads its `close`. That is
    /// what the clock's reading at `at` says, but in the second pass of the
    /// hour repeated when clocks go back: a close (or an open) inside that
    /// hour has already happened once, and must not open (or close) the shop
    /// again. There the spans themselves are judged.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        let local = self.tz.local(at);
        let second_pass = self.tz.earliest(local).is_some_and(|first| first < at);
        if !second_pass {
            return self.info.is_open_at(local);
        }
        let date = local.date();
        self.info.opening_hours.iter().any(|h| {
            [date.pred_opt(), Some(date)].into_iter().flatten().filter(|d| d.weekday() == h.day).any(|day| {
                let close_day = if h.crosses_midnight() { day.succ_opt() } else { Some(day) };
                let start = self.first_reading(day.and_time(h.open));
                let end = close_day.and_then(|d| self.first_reading(d.and_time(h.close)));
                start.zip(end).is_some_and(|(start, end)| start <= at && at < end)
            })
        })
    }

    /// The first instant the shop's clock reads `local` or, when it skips
    /// it (clocks going forward), the first one after the skip.
    fn first_reading(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        // A skipped hour ends on a whole minute in every zone in use.
        (0..=24 * 60).find_map(|minutes| self.tz.earliest(local + TimeDelta::minutes(minutes)))
    }

    /// The shop's local date and time at `at`.
    pub fn local_time(&self, at: DateTime<Utc>) -> NaiveDateTime {
        self.tz.local(at)
    }

    /// Whether the shop is open now.
    pub fn is_open_now(&self) -> bool {
        self.is_open_at(self.clock.now())
    }

    /// Whether the shop is open at `at`, and for how many whole seconds
    /// after `at` that answer stays true, at most `limit`: how long a client
    /// may reuse it (0 when the shop opens or closes within the next second).
    pub fn open_state_at(&self, at: DateTime<Utc>, limit: u32) -> (bool, u32) {
        let open = self.is_open_at(at);
        // Hours have a resolution of one second, so probing each second finds
        // any change, an interval shorter than `limit` included.
        let lasts = (1..=limit)
            .find(|s| self.is_open_at(at + chrono::TimeDelta::seconds(i64::from(*s))) != open)
            .map_or(limit, |changes_by| changes_by - 1);
        (open, lasts)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::NaiveDate;

    use super::*;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn h(day: Weekday, open: &str, close: &str) -> OpeningHours {
        OpeningHours { day, open: t(open), close: t(close) }
    }

    /// 2026-03-02 is a Monday; `at(Weekday::Fri, "20:00")` is that week's Friday.
    fn at(day: Weekday, time: &str) -> NaiveDateTime {
        let monday = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let date = monday + chrono::Days::new(u64::from(day.num_days_from_monday()));
        assert_eq!(date.weekday(), day);
        let time = NaiveTime::parse_from_str(time, "%H:%M:%S").unwrap_or_else(|_| t(time));
        date.and_time(time)
    }

    fn shop(hours: Vec<OpeningHours>) -> ShopInfo {
        ShopInfo {
            name: "Coffee".to_owned(),
            address: "1 Main St".to_owned(),
            location: Location { lat: 41.3, lng: 69.28 },
            phone: "+998 71 200 00 00".to_owned(),
            email: "hello@coffee.example".to_owned(),
            currency: Currency::parse("currency", "UZS").unwrap(),
            timezone: "Asia/Tashkent".to_owned(),
            opening_hours: hours,
        }
    }

    #[test]
    fn open_is_inclusive_and_close_exclusive() {
        let s = shop(vec![h(Weekday::Mon, "08:00", "20:00")]);
        assert!(!s.is_open_at(at(Weekday::Mon, "07:59:59")));
        assert!(s.is_open_at(at(Weekday::Mon, "08:00")));
        assert!(s.is_open_at(at(Weekday::Mon, "19:59:59")));
        assert!(!s.is_open_at(at(Weekday::Mon, "20:00")));
    }

    #[test]
    fn an_interval_past_midnight_runs_into_the_next_day() {
        let s = shop(vec![h(Weekday::Fri, "20:00", "02:00")]);
        assert!(!s.is_open_at(at(Weekday::Fri, "19:59")));
        assert!(s.is_open_at(at(Weekday::Fri, "20:00")));
        assert!(s.is_open_at(at(Weekday::Fri, "23:59:59")));
        assert!(s.is_open_at(at(Weekday::Sat, "00:00")));
        assert!(s.is_open_at(at(Weekday::Sat, "01:00")));
        assert!(!s.is_open_at(at(Weekday::Sat, "02:00")));
        assert!(!s.is_open_at(at(Weekday::Sat, "21:00")), "Saturday has no evening interval");
        assert!(!s.is_open_at(at(Weekday::Fri, "01:00")), "Thursday night is not Friday night");
    }

    #[test]
    fn sunday_night_runs_into_monday() {
        let s = shop(vec![h(Weekday::Sun, "22:00", "03:00")]);
        assert!(s.is_open_at(at(Weekday::Mon, "02:59")));
        assert!(!s.is_open_at(at(Weekday::Mon, "03:00")));
        assert!(!s.is_open_at(at(Weekday::Tue, "01:00")));
    }

    #[test]
    fn open_equal_to_close_means_24_hours() {
        let s = shop(vec![h(Weekday::Wed, "00:00", "00:00")]);
        assert!(!s.is_open_at(at(Weekday::Tue, "23:59:59")));
        assert!(s.is_open_at(at(Weekday::Wed, "00:00")));
        assert!(s.is_open_at(at(Weekday::Wed, "23:59:59")));
        assert!(!s.is_open_at(at(Weekday::Thu, "00:00")));
        let s = shop(vec![h(Weekday::Wed, "06:00", "06:00")]);
        assert!(s.is_open_at(at(Weekday::Thu, "05:59")));
        assert!(!s.is_open_at(at(Weekday::Thu, "06:00")));
    }

    #[test]
    fn several_intervals_a_day_and_closed_days() {
        let s = shop(vec![h(Weekday::Tue, "08:00", "12:00"), h(Weekday::Tue, "13:00", "18:00")]);
        assert!(s.is_open_at(at(Weekday::Tue, "11:00")));
        assert!(!s.is_open_at(at(Weekday::Tue, "12:30")), "lunch break");
        assert!(s.is_open_at(at(Weekday::Tue, "13:00")));
        for day in [Weekday::Mon, Weekday::Wed, Weekday::Sun] {
            assert!(!s.is_open_at(at(day, "11:00")), "{day} is closed");
        }
        assert!(!shop(vec![]).is_open_at(at(Weekday::Tue, "11:00")), "no hours = always closed");
    }

    #[test]
    fn a_sound_shop_validates() {
        let week = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
        assert_eq!(shop(week.map(|d| h(d, "00:00", "00:00")).to_vec()).validate(), Ok(()));
        assert_eq!(shop(vec![h(Weekday::Fri, "20:00", "02:00"), h(Weekday::Sat, "02:00", "04:00")]).validate(), Ok(()));
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s = shop(vec![
            h(Weekday::Mon, "08:00", "12:00"),
            h(Weekday::Mon, "08:00", "12:00"),
            h(Weekday::Sun, "22:00", "02:00"),
            h(Weekday::Mon, "01:00", "03:00"),
        ]);
        s.name = "  ".to_owned();
        s.email = "nope".to_owned();
        s.phone = "call us".to_owned();
        s.address = "<b>here</b>".to_owned();
        s.location = Location { lat: 91.0, lng: f64::NAN };
        s.timezone = String::new();
        let fields: Vec<String> = s.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "name",
                "address",
                "phone",
                "email",
                "location.lat",
                "location.lng",
                "timezone",
                "opening_hours[1]",
                "opening_hours[3]"
            ]
        );
    }

    /// A zone five hours ahead of UTC all year (like Asia/Tashkent).
    struct PlusFive;
    impl ShopTimeZone for PlusFive {
        fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
            at.naive_utc() + chrono::TimeDelta::hours(5)
        }
    }

    #[test]
    fn the_shop_judges_instants_in_its_own_time_zone() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 3, 6, 15, 0, 0).unwrap(); // Friday 20:00 in the shop
        let clock = Arc::new(crate::testing::FixedClock::new(now));
        let s = Shop::new(shop(vec![h(Weekday::Fri, "20:00", "02:00")]), Arc::new(PlusFive), clock.clone());
        assert!(s.is_open_now());
        assert!(!s.is_open_at(now - chrono::TimeDelta::seconds(1)));
        assert!(s.is_open_at(now + chrono::TimeDelta::hours(5)), "Saturday 01:00 local");
        assert!(!s.is_open_at(now + chrono::TimeDelta::hours(6)), "Saturday 02:00 local");
        clock.advance(chrono::TimeDelta::hours(6));
        assert!(!s.is_open_now());
        assert_eq!(s.currency().as_str(), "UZS");
    }

    #[test]
    fn the_open_state_lasts_until_the_next_opening_or_closing() {
        use chrono::TimeZone;
        let s = Shop::new(
            shop(vec![h(Weekday::Fri, "20:00", "02:00")]),
            Arc::new(PlusFive),
            Arc::new(crate::testing::FixedClock::default()),
        );
        let friday_20 = Utc.with_ymd_and_hms(2026, 3, 6, 15, 0, 0).unwrap();
        let secs = chrono::TimeDelta::seconds;
        assert_eq!(s.open_state_at(friday_20 - secs(30), 60), (false, 29), "opens in 30 s");
        assert_eq!(s.open_state_at(friday_20 - chrono::TimeDelta::milliseconds(500), 60), (false, 0));
        assert_eq!(s.open_state_at(friday_20, 60), (true, 60));
        assert_eq!(s.open_state_at(friday_20 + chrono::TimeDelta::hours(6) - secs(5), 60), (true, 4), "closes in 5 s");
        assert_eq!(s.open_state_at(friday_20 - chrono::TimeDelta::hours(1), 60), (false, 60));
    }
}
