//! The free-text policies, applied wherever free text enters the system.
//!
//! **Names and descriptions** ([`plain_text`]) are plain text. It is trimmed, bounded in length, and may not
//! contain `<` or `>` or control characters (multi-line fields allow
//! newlines and tabs). Without `<` no HTML element — and so no `<script>`,
//! no `<img onerror=…>` — can be formed, so no stored value can carry
//! working markup however a client renders it; values are returned exactly
//! as stored. Rejecting (422) rather than silently rewriting keeps what the
//! client sent and what it gets back identical.

use crate::error::FieldError;

/// **Chat messages** ([`chat_text`]) are conversation, where `<3`, `2 > 1`
/// or `a < b` are ordinary text, so `<` and `>` are allowed — except where
/// an HTML parser would start markup. By the HTML tokenizer's rules, `<`
/// opens a tag, an end tag, a comment or a processing instruction only when
/// the next character is an ASCII letter, `/`, `!` or `?`; anything else
/// after `<` is emitted as a literal `<`. A message containing such an
/// opening (`<b>`, `</p`, `<!--`, `<?xml`) is refused, so even a client that
/// wrongly inserted a message as HTML could not create an element from it;
/// every accepted message is delivered and stored exactly as typed. A chat
/// message may span lines (newlines, tabs) but holds no other control
/// characters, and is not blank.
///
/// Whether a field may span several lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control characters at all.
    Single,
    /// Newlines and tabs allowed.
    Multi,
}

/// Characters that change how text around them is shown without being seen:
/// bidi embeddings, overrides and isolates (which can make `abc` read as
/// `cba`), zero-width spaces, the word joiner and the BOM. No name or
/// description needs one. (The zero-width joiner and non-joiner, which
/// emoji and several scripts do need, are not among them.)
pub fn is_spoofing(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{2060}' | '\u{feff}')
}

/// [`is_spoofing`], and every other character that takes no room: marks
/// and joiners, soft hyphens. Nothing an e-mail address holds.
pub fn is_invisible(c: char) -> bool {
    is_spoofing(c) || matches!(c, '\u{00ad}' | '\u{180e}' | '\u{200c}'..='\u{200f}' | '\u{2061}'..='\u{2064}')
}

/// Trims `raw` and checks it against the policy: `min..=max` characters.
///
/// # Errors
/// Too short or long, or containing `<`, `>` or a forbidden control character.
pub fn plain_text(field: &str, raw: &str, min: usize, max: usize, lines: Lines) -> Result<String, FieldError> {
    let text = raw.trim();
    bounded(field, text, min, max)?;
    if text.chars().any(|c| c == '<' || c == '>' || forbidden_control(c, lines)) {
        return Err(FieldError::new(field, "must be plain text: no '<', '>' or control characters"));
    }
    no_spoofing(field, text)?;
    Ok(text.to_owned())
}

/// **Notes** (an order's comment) are a few words to the staff, written as
/// chat is (`extra shot <3`, `milk > 2%`): trimmed, at most `max`
/// characters (empty is allowed), several lines, and `<` or `>` as text
/// under the chat's rule — never where an HTML parser would open markup.
///
/// # Errors
/// Too long, or breaking the policy; the message says which.
pub fn note_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let text = raw.trim();
    bounded(field, text, 0, max)?;
    if text.chars().any(|c| forbidden_control(c, Lines::Multi)) {
        return Err(FieldError::new(field, "must be plain text: no control characters other than newlines and tabs"));
    }
    no_markup(field, text)?;
    no_spoofing(field, text)?;
    Ok(text.to_owned())
}

/// Checks a chat message against the chat policy: `min..=max` characters,
/// not blank, no markup opening, no control characters but newlines and
/// tabs. The text is kept as typed (not trimmed).
///
/// # Errors
/// Too short, too long, blank, or breaking the policy; the message says which.
pub fn chat_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    bounded(field, raw, min, max)?;
    // Blank also when all it holds besides spaces takes no room (U+200B, a
    // BOM, a soft hyphen): such a message would show as empty.
    if raw.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(FieldError::new(field, "must not be blank"));
    }
    if raw.chars().any(|c| forbidden_control(c, Lines::Multi)) {
        return Err(FieldError::new(field, "must be plain text: no control characters other than newlines and tabs"));
    }
    no_markup(field, raw)?;
    Ok(raw.to_owned())
}

/// `min..=max` characters (not bytes).
fn bounded(field: &str, text: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let n = text.chars().count();
    if n < min || n > max {
        return Err(FieldError::new(field, format!("must be {min} to {max} characters long")));
    }
    Ok(())
}

/// A control character the field does not allow.
fn forbidden_control(c: char, lines: Lines) -> bool {
    match lines {
        Lines::Single => c.is_control(),
        Lines::Multi => c.is_control() && c != '\n' && c != '\t' && c != '\r',
    }
}

fn no_spoofing(field: &str, text: &str) -> Result<(), FieldError> {
    if text.chars().any(is_spoofing) {
        return Err(FieldError::new(field, "must not contain bidi overrides or zero-width spaces"));
    }
    Ok(())
}

/// Refuses text where an HTML parser would start markup (see [`chat_text`]).
fn no_markup(field: &str, text: &str) -> Result<(), FieldError> {
    let Some(at) = markup_opening(text) else { return Ok(()) };
    let shown: String = text[at..].chars().take(2).collect();
    Err(FieldError::new(
        field,
        format!("must not contain markup: {shown:?} would open an HTML tag (write \"< \" with a space if it is text)"),
    ))
}

/// The byte offset of the first `<` that an HTML parser would read as the
/// start of markup, if any.
fn markup_opening(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    bytes.windows(2).position(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?')))
}

/// Escapes `& < > " '` so that `s` is safe in HTML text and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
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
    fn invisible_reordering_and_blank_characters_are_refused_but_joiners_kept() {
        for raw in ["a\u{202e}b", "\u{200b}", "x\u{2066}y\u{2069}", "\u{feff}Ann"] {
            assert!(plain_text("f", raw, 1, 100, Lines::Single).is_err(), "{raw:?}");
        }
        for raw in
            ["\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}", "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}"]
        {
            assert_eq!(plain_text("f", raw, 1, 100, Lines::Single).as_deref(), Ok(raw), "{raw:?}");
        }
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(plain_text("f", "", 1, 3, Lines::Single).is_err());
        assert!(plain_text("f", "ééé", 1, 3, Lines::Single).is_ok());
        assert!(plain_text("f", "éééé", 1, 3, Lines::Single).is_err());
    }

    #[test]
    fn chat_keeps_angle_brackets_that_are_text() {
        for raw in ["<3", "2 > 1", "a < b", "=> ok", "<<>>", "< script", "1<2", "<"] {
            assert_eq!(chat_text("body", raw, 1, 2000).as_deref(), Ok(raw), "{raw}");
        }
        assert_eq!(chat_text("body", "  two\nlines\t ", 1, 2000).unwrap(), "  two\nlines\t ", "kept as typed");
    }

    #[test]
    fn chat_refuses_whatever_would_open_markup() {
        for raw in
            ["<b>hi</b>", "x</p", "<!-- c -->", "<?xml", "<img src=x onerror=alert(1)>", "ok <Script>", "<a", "if a<b"]
        {
            let err = chat_text("body", raw, 1, 2000).unwrap_err();
            assert_eq!(err.field, "body");
            assert!(err.message.contains("markup"), "{raw}: {}", err.message);
        }
    }

    #[test]
    fn chat_bounds_length_blankness_and_control_characters() {
        assert!(chat_text("body", "", 1, 2000).is_err());
        assert!(chat_text("body", " \n ", 1, 2000).is_err());
        for invisible in ["\u{200b}", " \u{feff}\u{200b} ", "\u{00ad}\u{200d}"] {
            assert!(chat_text("body", invisible, 1, 2000).is_err(), "{invisible:?} shows as nothing");
        }
        assert!(chat_text("body", "👍\u{200d}", 1, 2000).is_ok(), "a joiner beside something visible is kept");
        assert!(chat_text("body", &"é".repeat(2000), 1, 2000).is_ok());
        assert!(chat_text("body", &"é".repeat(2001), 1, 2000).is_err());
        assert!(chat_text("body", "bell\u{7}", 1, 2000).is_err());
    }

    #[test]
    fn notes_keep_angle_brackets_that_are_text_and_refuse_markup() {
        for raw in ["extra shot <3", "milk > 2%", "", "  two\nlines  "] {
            assert_eq!(note_text("comment", raw, 500).as_deref(), Ok(raw.trim()), "{raw:?}");
        }
        for raw in ["<b>hot</b>", "<img src=x onerror=alert(1)>", "a\u{202e}b", "bell\u{7}"] {
            assert!(note_text("comment", raw, 500).is_err(), "{raw:?}");
        }
        assert!(note_text("comment", &"é".repeat(501), 500).is_err());
    }

    #[test]
    fn escape_html_covers_the_five_characters() {
        assert_eq!(escape_html(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape_html("plain é"), "plain é");
    }
}
