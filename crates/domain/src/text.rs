//! The free-text policy, applied wherever free text enters the system
//! (names, descriptions; later chat messages).
//!
//! Free text is plain text. It is trimmed, bounded in length, and may not
//! contain `<` or `>` or control characters (multi-line fields allow
//! newlines and tabs). Without `<` no HTML element — and so no `<script>`,
//! no `<img onerror=…>` — can be formed, so no stored value can carry
//! working markup however a client renders it; values are returned exactly
//! as stored. Rejecting (422) rather than silently rewriting keeps what the
//! client sent and what it gets back identical.

use crate::error::FieldError;

/// Whether a field may span several lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control characters at all.
    Single,
    /// Newlines and tabs allowed.
    Multi,
}

/// Trims `raw` and checks it against the policy: `min..=max` characters.
///
/// # Errors
/// Too short or long, or containing `<`, `>` or a forbidden control character.
pub fn plain_text(field: &str, raw: &str, min: usize, max: usize, lines: Lines) -> Result<String, FieldError> {
    let text = raw.trim();
    let n = text.chars().count();
    if n < min || n > max {
        return Err(FieldError::new(field, format!("must be {min} to {max} characters long")));
    }
    let bad = |c: char| match lines {
        Lines::Single => c.is_control(),
        Lines::Multi => c.is_control() && c != '\n' && c != '\t' && c != '\r',
    };
    if text.chars().any(|c| c == '<' || c == '>' || bad(c)) {
        return Err(FieldError::new(field, "must be plain text: no '<', '>' or control characters"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn markup_can_never_be_stored() {
        for raw in ["<script>alert(1)</script>", "a<img src=x onerror=alert(1)>", "x > y", "</b>"] {
            assert!(plain_text("f", raw, 0, 100, Lines::Multi).is_err(), "{raw}");
        }
    }

    #[test]
    fn plain_text_is_trimmed_and_kept_as_typed() {
        assert_eq!(
            plain_text("f", "  Tom & Jerry's \"latte\" ", 1, 100, Lines::Single).unwrap(),
            "Tom & Jerry's \"latte\""
        );
        assert_eq!(plain_text("f", "line 1\nline 2", 1, 100, Lines::Multi).unwrap(), "line 1\nline 2");
        assert!(plain_text("f", "line 1\nline 2", 1, 100, Lines::Single).is_err());
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(plain_text("f", "", 1, 3, Lines::Single).is_err());
        assert!(plain_text("f", "ééé", 1, 3, Lines::Single).is_ok());
        assert!(plain_text("f", "éééé", 1, 3, Lines::Single).is_err());
    }
}
