//! Rate limits as a port: how many requests one key (a client IP, an
//! e-mail address) may make in a period, and whether this one may proceed.
//!
//! The policy is a budget of `limit` requests that refills evenly over
//! `period` (one request every `period / limit`), so a client that used its
//! whole budget gets one more request each interval, never `2 × limit` at
//! the edge of a window. The adapters decide where the budgets live: in
//! the process, or in Redis, shared by every replica.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// `limit` requests per `period`, refilled evenly. Only [`RatePolicy::new`]
/// and [`RatePolicy::parse`] make one, so the limit is at least 1 and the
/// period from 1 second to [`RatePolicy::MAX_PERIOD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RatePolicy {
    limit: u32,
    period: Duration,
}

/// Why a rate-limit setting was refused. The text is one line meant to follow
/// the name of the setting (`AUTH_RATE_LIMIT: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatePolicyError {
    /// Not of the shape `<count>/<unit>` nor `off`.
    #[error("expected `<count>/<unit>` such as `10/min` (units: s, min, h, day) or `off`, got {0:?}")]
    Syntax(String),
    /// The count is not a whole number from 1 to 4294967295.
    #[error("the count must be a whole number from 1 to {max} (use `off` to disable), got {0:?}", max = u32::MAX)]
    Count(String),
    /// The unit is unknown.
    #[error("unknown unit {0:?}: use s, min, h or day")]
    Unit(String),
    /// The period is shorter than a second or longer than [`RatePolicy::MAX_PERIOD`].
    #[error("the period must be from 1 second to 365 days")]
    Period,
}

/// The units of the setting, with their lengths in seconds.
const UNITS: [(&[&str], u64); 4] =
    [(&["s", "sec", "second"], 1), (&["min", "minute"], 60), (&["h", "hour"], 3600), (&["d", "day"], 86_400)];

impl RatePolicy {
    /// The longest period a policy may have.
    pub const MAX_PERIOD: Duration = Duration::from_secs(365 * 86_400);

    /// `limit` requests per `period`.
    ///
    /// # Errors
    /// `Count` for a limit of 0, `Period` for a period shorter than a second
    /// or longer than [`RatePolicy::MAX_PERIOD`].
    pub fn new(limit: u32, period: Duration) -> Result<Self, RatePolicyError> {
        if limit == 0 {
            return Err(RatePolicyError::Count("0".to_owned()));
        }
        if period < Duration::from_secs(1) || period > Self::MAX_PERIOD {
            return Err(RatePolicyError::Period);
        }
        Ok(Self { limit, period })
    }

    /// Parses a setting such as `AUTH_RATE_LIMIT`: `<count>/<unit>` with the
    /// unit `s` (`sec`, `second`), `min` (`minute`), `h` (`hour`) or `d`
    /// (`day`), e.g. `10/min`, `5/s`, `1000/day`; or `off`, which gives `None`
    /// (no limit). Case and surrounding spaces do not matter.
    ///
    /// # Errors
    /// Anything else, with a message naming what is wrong.
    pub fn parse(text: &str) -> Result<Option<Self>, RatePolicyError> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let Some((count, unit)) = trimmed.split_once('/') else {
            return Err(RatePolicyError::Syntax(text.to_owned()));
        };
        let (count, unit) = (count.trim(), unit.trim().to_ascii_lowercase());
        if count.is_empty() || unit.is_empty() {
            return Err(RatePolicyError::Syntax(text.to_owned()));
        }
        let limit = match count.parse::<u32>() {
            Ok(n) if n > 0 && count.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(RatePolicyError::Count(count.to_owned())),
        };
        let seconds = UNITS
            .iter()
            .find(|(names, _)| names.contains(&unit.as_str()))
            .map(|(_, seconds)| *seconds)
            .ok_or_else(|| RatePolicyError::Unit(unit.clone()))?;
        Self::new(limit, Duration::from_secs(seconds)).map(Some)
    }

    /// How many requests the full budget holds.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The time in which an empty budget refills completely.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl fmt::Display for RatePolicy {
    /// `10/min` when the period is one unit, else `10 per 90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        let unit = UNITS.iter().find(|(_, s)| self.period == Duration::from_secs(*s)).map(|(names, _)| names[0]);
        match unit {
            Some(unit) => write!(f, "{}/{unit}", self.limit),
            None if u128::from(secs) * 1_000_000_000 == self.period.as_nanos() => {
                write!(f, "{} per {secs}s", self.limit)
            }
            None => write!(f, "{} per {:?}", self.limit, self.period),
        }
    }
}

/// The answer to one [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may proceed (it was counted against the budget).
    pub allowed: bool,
    /// The full budget: the policy's limit.
    pub limit: u32,
    /// Requests left in the budget right now, after this one.
    pub remaining: u32,
    /// Time until the budget is full again if no further request comes.
    pub reset_after: Duration,
    /// When refused: time until one request will be allowed again. `None` when allowed.
    pub retry_after: Option<Duration>,
}

/// Counts requests per key against a [`RatePolicy`].
///
/// Implementations share one budget per key among everything that uses the
/// same backend (one process, or every replica on one Redis). Keys are the
/// caller's business: it namespaces them (`auth:ip:203.0.113.7`) and keeps
/// them short.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request by `key` under `policy` and says whether it may
    /// proceed, with what is left of the budget.
    ///
    /// # Errors
    /// None, by contract. A rate limit guards other work (logins, sign-ups),
    /// so its own failure must neither fail that work nor let it through
    /// unlimited: an adapter whose backend is unavailable keeps limiting
    /// with a local fallback and logs the problem itself.
    async fn check(&self, key: &str, policy: &RatePolicy) -> RateDecision;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parsed(text: &str) -> (u32, u64) {
        let policy = RatePolicy::parse(text).unwrap().unwrap();
        (policy.limit(), policy.period().as_secs())
    }

    #[test]
    fn the_documented_forms_parse() {
        assert_eq!(parsed("10/min"), (10, 60));
        assert_eq!(parsed("5/s"), (5, 1));
        assert_eq!(parsed("5/sec"), (5, 1));
        assert_eq!(parsed("100/h"), (100, 3600));
        assert_eq!(parsed("1000/day"), (1000, 86_400));
    }

    #[test]
    fn long_unit_names_case_and_spaces_are_accepted() {
        assert_eq!(parsed(" 10 / Minute "), (10, 60));
        assert_eq!(parsed("3/HOUR"), (3, 3600));
        assert_eq!(parsed("7/d"), (7, 86_400));
        assert_eq!(parsed("1/second"), (1, 1));
        assert_eq!(parsed(&format!("{}/s", u32::MAX)), (u32::MAX, 1));
    }

    #[test]
    fn off_disables_the_limit() {
        assert_eq!(RatePolicy::parse("off"), Ok(None));
        assert_eq!(RatePolicy::parse(" OFF "), Ok(None));
    }

    #[test]
    fn malformed_settings_are_refused_with_a_reason() {
        for text in ["", "10", "min", "/min", "10/", "10/min/s", "on"] {
            let err = RatePolicy::parse(text).unwrap_err();
            assert!(matches!(err, RatePolicyError::Syntax(_) | RatePolicyError::Unit(_)), "{text:?}: {err:?}");
        }
        assert_eq!(RatePolicy::parse("10/fortnight"), Err(RatePolicyError::Unit("fortnight".into())));
        assert_eq!(RatePolicy::parse("10/m"), Err(RatePolicyError::Unit("m".into())));
    }

    #[test]
    fn counts_must_be_positive_whole_numbers_that_fit() {
        for count in ["0", "-1", "+5", "1.5", "ten", "4294967296", "1e3"] {
            let err = RatePolicy::parse(&format!("{count}/min")).unwrap_err();
            assert_eq!(err, RatePolicyError::Count(count.to_owned()), "{count}");
        }
    }

    #[test]
    fn error_messages_are_one_line_and_name_the_input() {
        let err = RatePolicy::parse("10/min\nX").unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains(r#""min\nx""#), "{err}");
        let err = RatePolicy::parse("lots").unwrap_err().to_string();
        assert_eq!(err, r#"expected `<count>/<unit>` such as `10/min` (units: s, min, h, day) or `off`, got "lots""#);
        let err = RatePolicy::parse("0/min").unwrap_err().to_string();
        assert_eq!(err, r#"the count must be a whole number from 1 to 4294967295 (use `off` to disable), got "0""#);
    }

    #[test]
    fn new_rejects_empty_budgets_and_odd_periods() {
        assert!(RatePolicy::new(0, Duration::from_secs(60)).is_err());
        assert_eq!(RatePolicy::new(1, Duration::from_millis(999)), Err(RatePolicyError::Period));
        assert_eq!(RatePolicy::new(1, RatePolicy::MAX_PERIOD + Duration::from_secs(1)), Err(RatePolicyError::Period));
        assert!(RatePolicy::new(1, RatePolicy::MAX_PERIOD).is_ok());
    }

    #[test]
    fn a_policy_displays_as_it_is_written() {
        assert_eq!(RatePolicy::parse("10/minute").unwrap().unwrap().to_string(), "10/min");
        assert_eq!(RatePolicy::parse("5/sec").unwrap().unwrap().to_string(), "5/s");
        assert_eq!(RatePolicy::new(3, Duration::from_secs(90)).unwrap().to_string(), "3 per 90s");
        assert_eq!(RatePolicy::new(3, Duration::from_millis(1500)).unwrap().to_string(), "3 per 1.5s");
    }
}
