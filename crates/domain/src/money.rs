//! Money: amounts in minor units of the shop's single currency, with
//! checked arithmetic, and the ISO 4217 currency they are in.
//!
//! Prices, line totals and order totals are [`Money`] from the request body
//! to the database column; arithmetic never wraps: an overflow is an error
//! the caller must handle, not a negative total.

use std::fmt;

use crate::error::FieldError;

/// A non-negative amount in minor units (`350` = 3.50 in a currency with
/// two decimals) of the shop's currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// An arithmetic result that does not fit [`Money`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range")]
pub struct MoneyOverflow;

impl Money {
    /// Nothing.
    pub const ZERO: Money = Money(0);
    /// The highest price a product may have (1 000 000.00 with two decimals).
    pub const MAX_PRICE: Money = Money(100_000_000);

    /// An amount read back from storage or computed by the system.
    ///
    /// # Errors
    /// A negative amount.
    pub fn from_minor(minor: i64) -> Result<Self, MoneyOverflow> {
        if minor >= 0 { Ok(Self(minor)) } else { Err(MoneyOverflow) }
    }

    /// A product price sent by a client: an integer from 0 to [`Money::MAX_PRICE`].
    ///
    /// # Errors
    /// Negative or too large, named after `field`.
    pub fn price(field: &str, minor: i64) -> Result<Self, FieldError> {
        if (0..=Self::MAX_PRICE.0).contains(&minor) {
            Ok(Self(minor))
        } else {
            Err(FieldError::new(
                field,
                format!("must be an integer number of minor units from 0 to {}", Self::MAX_PRICE.0),
            ))
        }
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// `self + other`.
    ///
    /// # Errors
    /// The sum does not fit.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyOverflow> {
        self.0.checked_add(other.0).map(Money).ok_or(MoneyOverflow)
    }

    /// `self × quantity`, e.g. a line total.
    ///
    /// # Errors
    /// The product does not fit.
    pub fn times(self, quantity: u32) -> Result<Money, MoneyOverflow> {
        self.0.checked_mul(i64::from(quantity)).map(Money).ok_or(MoneyOverflow)
    }

    /// The sum of `amounts`.
    ///
    /// # Errors
    /// The sum does not fit.
    pub fn sum(amounts: impl IntoIterator<Item = Money>) -> Result<Money, MoneyOverflow> {
        amounts.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An ISO 4217 currency with minor units (`UZS`, `EUR`, `JPY`): the code a
/// shop is configured with, and how many decimals its minor unit has.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// `XXX`, ISO 4217's code for "no currency" (a placeholder, never a shop's currency).
    pub const NONE: Currency = Currency(iso_currency::Currency::XXX);

    /// Parses a code such as `UZS`.
    ///
    /// # Errors
    /// Not an ISO 4217 code, or the code of something without minor units
    /// (gold `XAU`, `XXX`): prices could not be written in it.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match iso_currency::Currency::from_code(raw) {
            Some(c) if c.exponent().is_some() => Ok(Self(c)),
            Some(_) => Err(FieldError::new(field, format!("{raw:?} has no minor unit to count prices in"))),
            None => Err(FieldError::new(field, format!("{raw:?} is not an ISO 4217 currency code (e.g. UZS, EUR)"))),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &'static str {
        self.0.code()
    }

    /// Decimals of the minor unit: 2 for `UZS` and `EUR`, 0 for `JPY`, 3 for `KWD`.
    pub fn decimals(&self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }

    /// `minor` units written for people: `3.50 UZS`, `350 JPY`, `3.500 KWD`.
    pub fn format(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let code = self.as_str();
        match self.decimals() {
            0 => format!("{sign}{abs} {code}"),
            d => {
                let unit = 10u64.pow(d);
                format!("{sign}{}.{:0width$} {code}", abs / unit, abs % unit, width = d as usize)
            }
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prices_are_bounded_integers_of_minor_units() {
        assert_eq!(Money::price("price", 0).unwrap(), Money::ZERO);
        assert_eq!(Money::price("price", 100_000_000).unwrap().minor(), 100_000_000);
        for bad in [-1, 100_000_001, i64::MIN, i64::MAX] {
            assert_eq!(Money::price("price", bad).unwrap_err().field, "price", "{bad}");
        }
        assert!(Money::from_minor(-1).is_err());
    }

    #[test]
    fn line_and_order_totals_are_exact() {
        let latte = Money::price("p", 350).unwrap();
        let cake = Money::price("p", 1_299).unwrap();
        let lines = [latte.times(3).unwrap(), cake.times(2).unwrap()];
        assert_eq!(lines[0].minor(), 1_050);
        assert_eq!(Money::sum(lines).unwrap().minor(), 3_648);
        assert_eq!(Money::sum([]).unwrap(), Money::ZERO);
        assert_eq!(latte.times(0).unwrap(), Money::ZERO);
    }

    #[test]
    fn arithmetic_that_would_overflow_is_an_error_not_a_wrapped_amount() {
        let big = Money::from_minor(i64::MAX / 2 + 1).unwrap();
        assert_eq!(big.checked_add(big), Err(MoneyOverflow));
        assert_eq!(big.times(2), Err(MoneyOverflow));
        assert_eq!(Money::from_minor(i64::MAX).unwrap().times(u32::MAX), Err(MoneyOverflow));
        assert_eq!(Money::sum([big, big, Money::ZERO]), Err(MoneyOverflow));
        // The largest order the API accepts stays far from the limit.
        assert!(Money::MAX_PRICE.times(99).unwrap().times(50).is_ok());
    }

    #[test]
    fn currencies_are_iso_4217_codes_with_minor_units() {
        assert_eq!(Currency::parse("currency", "UZS").unwrap().to_string(), "UZS");
        assert_eq!(Currency::parse("currency", "EUR").unwrap().as_str(), "EUR");
        // Well-formed but not a currency (a typo), or a currency without minor units.
        for bad in ["uzs", "US", "EURO", "U$S", "ÜZS", "", "UZD", "XAU", "XXX"] {
            let err = Currency::parse("currency", bad).unwrap_err();
            assert_eq!(err.field, "currency", "{bad}");
        }
    }

    #[test]
    fn amounts_are_written_with_the_currency_s_own_decimals() {
        let cur = |code| Currency::parse("currency", code).unwrap();
        assert_eq!(cur("UZS").format(350), "3.50 UZS");
        assert_eq!(cur("EUR").format(5), "0.05 EUR");
        assert_eq!(cur("JPY").format(350), "350 JPY");
        assert_eq!(cur("KWD").format(3_500), "3.500 KWD");
        assert_eq!(cur("EUR").format(-1_299), "-12.99 EUR");
        assert_eq!(cur("EUR").format(i64::MIN), "-92233720368547758.08 EUR");
    }
}
