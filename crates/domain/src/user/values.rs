//! Parsed value objects: once constructed, they are valid.

use std::fmt;

use serde::{Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

use crate::error::FieldError;
use crate::text::{Lines, is_invisible, plain_text};

/// A syntactically valid, normalised e-mail address: one spelling per
/// mailbox, so that look-alike spellings cannot open a second account.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Normalises and validates `raw`; `field` names the input in errors.
    ///
    /// The form: trimmed; the local part in Unicode NFKC (`é` written
    /// precomposed or with a combining accent, fullwidth `Ａ`, are one
    /// spelling) and lower case; the domain in its ASCII (IDNA) form, which
    /// lower-cases and maps it the same way (`exämple.com` is
    /// `xn--exmple-cua.com`). Invisible and formatting characters
    /// (zero-width spaces, bidi overrides) and dots at the start or end of
    /// the local part, or doubled, are refused.
    ///
    /// # Errors
    /// The address is empty, too long or not of the form `local@domain.tld`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new(field, "must be a valid e-mail address");
        let raw = raw.trim();
        if raw.chars().any(is_invisible) {
            return Err(FieldError::new(field, "must not contain invisible or formatting characters"));
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
        let local = local.nfkc().collect::<String>().to_lowercase();
        let domain = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
        let email = format!("{local}@{domain}");
        if local.is_empty() || domain.is_empty() || email.chars().count() > Self::MAX_LEN {
            return Err(FieldError::new(field, "must be a valid e-mail address of at most 254 characters"));
        }
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c);
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && !domain.chars().any(bad_char);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && !local.chars().any(bad_char);
        if domain_ok && local_ok { Ok(Self(email)) } else { Err(invalid()) }
    }

    /// Wraps a value read back from storage, which was validated when written.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A password that satisfies the policy (8–128 characters). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Shortest password accepted.
    pub const MIN_CHARS: usize = 8;
    /// Longest password accepted (bounds the hashing work an attacker can ask for).
    pub const MAX_CHARS: usize = 128;

    /// Checks the policy; the text is kept exactly as typed.
    ///
    /// # Errors
    /// Fewer than 8 or more than 128 characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let n = raw.chars().count();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&n) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, "must be 8 to 128 characters long"))
        }
    }

    /// The password itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A first or last name: 1–100 characters of plain text (see [`crate::text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Longest name accepted.
    pub const MAX_CHARS: usize = 100;

    /// Trims and validates `raw`.
    ///
    /// # Errors
    /// Empty after trimming, too long, or containing control or markup characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        plain_text(field, raw, 1, Self::MAX_CHARS, Lines::Single).map(Self)
    }

    /// The name as text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A phone number: an optional leading `+`, then 7–15 digits with optional
/// spaces, dashes and parentheses as separators. Stored as typed (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Trims and validates `raw`.
    ///
    /// # Errors
    /// Not a phone number of the accepted shape.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let phone = raw.trim();
        let body = phone.strip_prefix('+').unwrap_or(phone);
        let digits = body.chars().filter(char::is_ascii_digit).count();
        let shape_ok = body.chars().all(|c| c.is_ascii_digit() || " -()".contains(c));
        if shape_ok && (7..=15).contains(&digits) && phone.len() <= 32 {
            Ok(Self(phone.to_owned()))
        } else {
            Err(FieldError::new(field, "must be a phone number: optional '+', 7 to 15 digits"))
        }
    }

    /// The number as text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let e = Email::parse("email", "  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in ["", "plain", "@x.com", "a@", "a@b", "a b@c.com", "a@b..com", "a@.b.com", "a@b.com.", "<a>@b.com"] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse("email", &long).is_err());
        for bad in
            [".a@example.com", "a.@example.com", "a..b@example.com", "a\u{200b}@example.com", "a\u{202e}b@example.com"]
        {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn one_mailbox_has_one_spelling() {
        let same = |a: &str, b: &str| {
            assert_eq!(Email::parse("email", a).unwrap(), Email::parse("email", b).unwrap(), "{a:?} and {b:?}");
        };
        same("jos\u{e9}@example.com", "jose\u{301}@example.com");
        same("\u{ff21}\u{ff22}\u{ff23}@example.com", "abc@example.com");
        same("a@ex\u{e4}mple.com", "a@xn--exmple-cua.com");
        same("a@EX\u{c4}MPLE.com", "a@xn--exmple-cua.com");
        assert_eq!(Email::parse("email", "a@ex\u{e4}mple.com").unwrap().as_str(), "a@xn--exmple-cua.com");
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse("password", "1234567").is_err());
        assert!(Password::parse("password", "12345678").is_ok());
        assert!(Password::parse("password", &"é".repeat(128)).is_ok());
        assert!(Password::parse("password", &"é".repeat(129)).is_err());
    }

    #[test]
    fn passwords_never_appear_in_debug_output() {
        let p = Password::parse("password", "super-secret").unwrap();
        assert!(!format!("{p:?}").contains("super"));
    }

    #[test]
    fn names_refuse_markup_and_blank_values() {
        assert_eq!(PersonName::parse("n", "  Ann ").unwrap().into_inner(), "Ann");
        assert!(PersonName::parse("n", "   ").is_err());
        assert!(PersonName::parse("n", "<script>").is_err());
        assert!(PersonName::parse("n", &"x".repeat(101)).is_err());
    }

    #[test]
    fn phones_accept_common_notations_only() {
        assert!(Phone::parse("p", "+998 (90) 123-45-67").is_ok());
        assert!(Phone::parse("p", "12345").is_err());
        assert!(Phone::parse("p", "+1 555 CALL NOW").is_err());
    }
}
