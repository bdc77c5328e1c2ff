//! The shop information file (`SHOP_INFO_FILE`, SPEC §8): reads the TOML,
//! resolves the time zone and validates everything at start, so that a bad
//! file stops the process with one line instead of failing a request later.
//!
//! The format is documented by the built-in sample, `deploy/shop-info.toml`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use coffee_domain::money::Currency;
use coffee_domain::shop::{Location, OpeningHours, ShopInfo, ShopTimeZone};
use serde::Deserialize;

use crate::config::ConfigError;

/// The sample used when `SHOP_INFO_FILE` is not set (`deploy/shop-info.toml`).
pub const SAMPLE_SHOP_INFO: &str = include_str!("../../../deploy/shop-info.toml");

/// How the sample is named in messages.
const SAMPLE_SOURCE: &str = "built-in sample (deploy/shop-info.toml)";

/// The validated shop information with its resolved time zone.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// What `GET /info` shows; `info.currency` is the currency of every price.
    pub info: ShopInfo,
    /// `info.timezone`, resolved.
    pub tz: Tz,
    /// Where it was read from: the path, or the built-in sample.
    pub source: String,
}

/// The domain's [`ShopTimeZone`] port over the tz database.
#[derive(Debug, Clone, Copy)]
pub struct TzDatabase(pub Tz);

impl ShopTimeZone for TzDatabase {
    fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.0).naive_local()
    }
}

impl ShopConfig {
    /// Reads and validates the file at `path`, or the built-in sample when `None`.
    ///
    /// # Errors
    /// `SHOP_INFO_FILE: <path>: <problem>` when the file cannot be read, is
    /// not valid TOML, misses a field or has an invalid value (every problem
    /// is listed, separated by `; `).
    pub fn load(path: Option<&str>) -> Result<Self, ConfigError> {
        let fail = |source: &str, message: String| ConfigError {
            variable: "SHOP_INFO_FILE",
            message: format!("{source}: {message}"),
        };
        match path {
            None => Self::parse(SAMPLE_SOURCE, SAMPLE_SHOP_INFO).map_err(|m| fail(SAMPLE_SOURCE, m)),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| fail(path, format!("cannot be read: {e}")))?;
                Self::parse(path, &text).map_err(|m| fail(path, m))
            }
        }
    }

    /// Parses and validates TOML `text`; `source` is kept for logs.
    ///
    /// # Errors
    /// One line describing every problem found.
    pub fn parse(source: &str, text: &str) -> Result<Self, String> {
        let raw: RawShop = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut problems = Vec::new();
        let mut hours = Vec::with_capacity(raw.opening_hours.len());
        for (i, h) in raw.opening_hours.iter().enumerate() {
            let day = weekday(&h.day).ok_or_else(|| {
                format!("opening_hours[{i}].day: {:?} is not a weekday (mon … sun or monday … sunday)", h.day)
            });
            let open = time(&h.open, false).ok_or_else(|| {
                format!("opening_hours[{i}].open: {:?} is not a time of day (HH:MM, 00:00 to 23:59)", h.open)
            });
            let close = time(&h.close, true).ok_or_else(|| {
                format!("opening_hours[{i}].close: {:?} is not a time of day (HH:MM, 00:00 to 24:00)", h.close)
            });
            match (day, open, close) {
                (Ok(day), Ok(open), Ok(close)) => hours.push(OpeningHours { day, open, close }),
                (day, open, close) => problems.extend([day.err(), open.err(), close.err()].into_iter().flatten()),
            }
        }
        // Overlaps are only meaningful (and their indices only right) once every interval parsed.
        let all_hours_parsed = problems.is_empty();
        let currency = Currency::parse("currency", raw.currency.trim()).map_err(|e| problems.push(e.to_string())).ok();
        let info = ShopInfo {
            name: raw.name.trim().to_owned(),
            address: raw.address.trim().to_owned(),
            location: Location { lat: raw.location.lat, lng: raw.location.lng },
            phone: raw.phone.trim().to_owned(),
            email: raw.email.trim().to_lowercase(),
            currency: currency.unwrap_or(Currency::NONE),
            timezone: raw.timezone.trim().to_owned(),
            opening_hours: if all_hours_parsed { hours } else { Vec::new() },
        };
        let tz = if info.timezone.is_empty() {
            None // reported by `validate`
        } else {
            let tz = info.timezone.parse::<Tz>().ok();
            if tz.is_none() {
                problems.push(format!(
                    "timezone: {:?} is not an IANA time-zone name (e.g. Asia/Tashkent, Europe/Berlin)",
                    info.timezone
                ));
            }
            tz
        };
        if let Err(errors) = info.validate() {
            problems.extend(errors.into_iter().map(|e| e.to_string()));
        }
        match tz {
            Some(tz) if problems.is_empty() => Ok(Self { info, tz, source: source.to_owned() }),
            _ => Err(problems.join("; ")),
        }
    }

    /// The time zone as the domain's port.
    pub fn time_zone(&self) -> Arc<dyn ShopTimeZone> {
        Arc::new(TzDatabase(self.tz))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShop {
    name: String,
    address: String,
    location: RawLocation,
    phone: String,
    email: String,
    currency: String,
    timezone: String,
    opening_hours: Vec<RawHours>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocation {
    lat: f64,
    lng: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    day: String,
    open: String,
    close: String,
}

/// A TOML or shape error as one line with its position.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

fn weekday(raw: &str) -> Option<Weekday> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// `HH:MM` or `HH:MM:SS`; a closing time may be `24:00` (midnight, the end of the day).
fn time(raw: &str, is_close: bool) -> Option<NaiveTime> {
    let raw = raw.trim();
    if is_close && (raw == "24:00" || raw == "24:00:00") {
        return Some(NaiveTime::MIN);
    }
    let well_formed = matches!(raw.len(), 5 | 8) && raw.bytes().all(|b| b.is_ascii_digit() || b == b':');
    let parsed = NaiveTime::parse_from_str(raw, "%H:%M:%S").or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M"));
    // `nanosecond() >= 1e9` is chrono's leap second (`23:59:60`): not a time a shop opens.
    parsed.ok().filter(|t| well_formed && t.nanosecond() < 1_000_000_000)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    const HEAD: &str = r#"
name = "Test Coffee"
address = "1 Test St"
phone = "+998 71 000 00 00"
email = "test@coffee.example"
currency = "EUR"
timezone = "Asia/Tashkent"
location = { lat = 41, lng = 69.5 }
"#;

    fn with_hours(hours: &str) -> String {
        format!("{HEAD}{hours}")
    }

    /// The first instant of a local time, worked out from `local` alone,
    /// against the tz database's own answer around both of Berlin's changes.
    #[test]
    fn the_first_instant_of_a_local_time_follows_the_tz_database() {
        let tz = TzDatabase(chrono_tz::Europe::Berlin);
        let local = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let utc = |s: &str| local(s).and_utc();
        // Repeated (clocks go back): the first pass, in summer time.
        assert_eq!(tz.earliest(local("2026-10-25 02:15")), Some(utc("2026-10-25 00:15")));
        // Skipped (clocks go forward): no instant.
        assert_eq!(tz.earliest(local("2026-03-29 02:30")), None);
        for s in ["2026-03-29 01:59", "2026-03-29 03:00", "2026-10-25 01:59", "2026-10-25 03:00", "2026-07-01 12:00"] {
            let want = chrono_tz::Europe::Berlin.from_local_datetime(&local(s)).earliest().map(|t| t.to_utc());
            assert_eq!(tz.earliest(local(s)), want, "{s}");
        }
    }

    fn one_interval(day: &str, open: &str, close: &str) -> String {
        with_hours(&format!("[[opening_hours]]\nday = {day:?}\nopen = {open:?}\nclose = {close:?}\n"))
    }

    fn err(text: &str) -> String {
        ShopConfig::parse("test.toml", text).unwrap_err()
    }

    #[test]
    fn the_built_in_sample_loads() {
        let shop = ShopConfig::load(None).unwrap();
        assert_eq!(shop.info.currency.as_str(), "UZS");
        assert_eq!(shop.tz, chrono_tz::Asia::Tashkent);
        assert_eq!(shop.info.opening_hours.len(), 7);
        assert!(shop.source.contains("built-in"));
    }

    #[test]
    fn integers_and_full_day_names_are_accepted() {
        let shop = ShopConfig::parse(
            "t",
            &with_hours(
                "[[opening_hours]]\nday = \"Monday\"\nopen = \"07:30\"\nclose = \"24:00\"\n\
                 [[opening_hours]]\nday = \"SUN\"\nopen = \"09:00:30\"\nclose = \"17:00\"\n",
            ),
        )
        .unwrap();
        assert_eq!(shop.info.location, Location { lat: 41.0, lng: 69.5 });
        let monday = &shop.info.opening_hours[0];
        assert_eq!((monday.day, monday.close), (Weekday::Mon, NaiveTime::MIN));
        assert_eq!(shop.info.opening_hours[1].open, NaiveTime::from_hms_opt(9, 0, 30).unwrap());
    }

    #[test]
    fn open_is_judged_in_the_shops_time_zone() {
        let config = ShopConfig::parse("t", &one_interval("fri", "20:00", "02:00")).unwrap();
        let clock = Arc::new(coffee_domain::clock::SystemClock);
        let shop = coffee_domain::shop::Shop::new(config.info.clone(), config.time_zone(), clock);
        // Asia/Tashkent is UTC+5: Friday 20:00 local is Friday 15:00 UTC.
        let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        assert!(!shop.is_open_at(utc(6, 14, 59)));
        assert!(shop.is_open_at(utc(6, 15, 0)));
        assert!(shop.is_open_at(utc(6, 20, 0)), "Saturday 01:00 local");
        assert!(!shop.is_open_at(utc(6, 21, 0)), "Saturday 02:00 local");
    }

    #[test]
    fn each_problem_is_named_on_one_line() {
        let cases = [
            (with_hours("opening_hours = []\n").replace("Asia/Tashkent", "Mars/Olympus"), "timezone: \"Mars/Olympus\""),
            (one_interval("funday", "07:00", "08:00"), "opening_hours[0].day"),
            (one_interval("mon", "25:00", "08:00"), "opening_hours[0].open: \"25:00\""),
            (one_interval("mon", "07:00", "8:00"), "opening_hours[0].close"),
            (with_hours("opening_hours = []\n").replace("EUR", "euro"), "currency"),
            (with_hours("opening_hours = []\n").replace("EUR", "EUD"), "currency: \"EUD\" is not an ISO 4217"),
            (with_hours("opening_hours = []\n").replace("lat = 41", "lat = 141"), "location.lat"),
            (HEAD.to_owned(), "missing field `opening_hours`"),
            (with_hours("opening_hours = []\n").replace("name = \"Test Coffee\"", ""), "missing field `name`"),
            (with_hours("opening_hours = []\nwebsite = \"x\"\n"), "unknown field `website`"),
            (with_hours("opening_hours = []\n").replace("lat = 41", "lat = \"north\""), "line 8"),
            ("name = \n".to_owned(), "line 1"),
        ];
        for (text, expected) in cases {
            let e = err(&text);
            assert!(e.contains(expected), "{expected:?} not in {e:?}");
            assert!(!e.contains('\n'), "not one line: {e:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = with_hours(
            "[[opening_hours]]\nday = \"mon\"\nopen = \"25:00\"\nclose = \"08:00\"\n\
             [[opening_hours]]\nday = \"xyz\"\nopen = \"07:00\"\nclose = \"08:00\"\n",
        )
        .replace("EUR", "eur")
        .replace("Asia/Tashkent", "Nowhere");
        let e = err(&text);
        for expected in ["opening_hours[0].open", "opening_hours[1].day", "timezone", "currency"] {
            assert!(e.contains(expected), "{expected:?} not in {e:?}");
        }
    }

    #[test]
    fn overlapping_intervals_are_refused() {
        let e = err(&with_hours(
            "[[opening_hours]]\nday = \"mon\"\nopen = \"07:00\"\nclose = \"12:00\"\n\
             [[opening_hours]]\nday = \"mon\"\nopen = \"11:00\"\nclose = \"13:00\"\n",
        ));
        assert!(e.contains("opening_hours[1]: overlaps opening_hours[0]"), "{e}");
    }

    #[test]
    fn a_missing_file_names_the_variable_and_path() {
        let e = ShopConfig::load(Some("/nonexistent/shop.toml")).unwrap_err();
        assert_eq!(e.variable, "SHOP_INFO_FILE");
        assert!(e.to_string().starts_with("SHOP_INFO_FILE: /nonexistent/shop.toml: cannot be read"), "{e}");
    }
}
