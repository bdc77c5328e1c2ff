//! A message received by the sink, and just enough MIME to read it back.
//!
//! The parser handles what mail libraries such as lettre produce: folded
//! headers, nested `multipart/*` bodies with a `boundary` parameter, the
//! `7bit`/`8bit`/`quoted-printable`/`base64` transfer encodings and RFC 2047
//! encoded words in headers. Text is assumed to be UTF-8.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use quoted_printable::ParseMode;

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub to: Vec<String>,
    /// The raw message after `DATA`: headers and body, dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl ReceivedMail {
    /// A top-level header's value (case-insensitive name), unfolded, not decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        Entity::parse(&self.data).header(name).map(str::to_owned)
    }

    /// The `Subject` header with RFC 2047 encoded words decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|s| decode_words(&s))
    }

    /// The first `text/plain` part, transfer-decoded, with `\n` line ends.
    pub fn text(&self) -> Option<String> {
        find_part(&self.data, "text/plain")
    }

    /// The first `text/html` part, transfer-decoded, with `\n` line ends.
    pub fn html(&self) -> Option<String> {
        find_part(&self.data, "text/html")
    }

    /// The first stand-alone 6-digit number of the text part (outside links).
    pub fn verification_code(&self) -> Option<String> {
        let text = self.readable();
        text.split_whitespace().filter(|word| !word.contains("://")).find_map(six_digits)
    }

    /// The first `http(s)://` link of the text part, preferring one that mentions `verify`.
    pub fn verification_link(&self) -> Option<String> {
        let text = self.readable();
        let links: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(|w| w.trim_end_matches(['.', ',', ';', ':', ')', ']']))
            .collect();
        let link = links.iter().find(|l| l.contains("verify")).or(links.first())?;
        Some((*link).to_owned())
    }

    /// The text part, else the HTML part, else the raw data.
    fn readable(&self) -> String {
        self.text().or_else(|| self.html()).unwrap_or_else(|| self.data.clone())
    }
}

/// A 6-digit run in `word` not touching other letters or digits.
fn six_digits(word: &str) -> Option<String> {
    let bytes = word.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let free_before = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let free_after = i == bytes.len() || !bytes[i].is_ascii_alphanumeric();
        if i - start == 6 && free_before && free_after {
            return Some(word[start..i].to_owned());
        }
    }
    None
}

/// One MIME entity: its unfolded headers and its (still encoded) body.
struct Entity<'a> {
    headers: Vec<(String, String)>,
    body: &'a str,
}

impl<'a> Entity<'a> {
    fn parse(raw: &'a str) -> Self {
        let (head, body) = if let Some(body) = raw.strip_prefix("\r\n") {
            ("", body)
        } else {
            raw.split_once("\r\n\r\n").unwrap_or((raw, ""))
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Entity { headers, body }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The lower-cased media type (default `text/plain`) and a parameter's value.
    fn content_type(&self) -> (String, Option<String>) {
        let value = self.header("Content-Type").unwrap_or("text/plain");
        let mut params = value.split(';');
        let mime = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let boundary = params.find_map(|p| {
            let (key, val) = p.split_once('=')?;
            key.trim().eq_ignore_ascii_case("boundary").then(|| val.trim().trim_matches('"').to_owned())
        });
        (mime, boundary)
    }

    /// The body with its transfer encoding undone, as text with `\n` line ends.
    fn decoded_body(&self) -> String {
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or("7bit").to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => quoted_printable::decode(self.body, ParseMode::Robust).ok(),
            "base64" => {
                let compact: String = self.body.split_whitespace().collect();
                BASE64.decode(compact).ok()
            }
            _ => None,
        };
        let text = match bytes {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => self.body.to_owned(),
        };
        text.replace("\r\n", "\n")
    }
}

/// The decoded body of the first entity of type `mime` in `raw`, searching multiparts depth-first.
fn find_part(raw: &str, mime: &str) -> Option<String> {
    let entity = Entity::parse(raw);
    let (kind, boundary) = entity.content_type();
    if kind.starts_with("multipart/") {
        let boundary = boundary?;
        split_multipart(entity.body, &boundary).iter().find_map(|part| find_part(part, mime))
    } else {
        (kind == mime).then(|| entity.decoded_body())
    }
}

/// The body parts between `--boundary` delimiters (the CRLF before a delimiter belongs to it).
fn split_multipart(body: &str, boundary: &str) -> Vec<String> {
    let body = format!("\r\n{body}");
    let delimiter = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    for piece in body.split(delimiter.as_str()).skip(1) {
        if piece.starts_with("--") {
            break;
        }
        // Skip transport padding and the CRLF that ends the delimiter line.
        let part = piece.split_once("\r\n").map_or("", |(_, rest)| rest);
        parts.push(part.to_owned());
    }
    parts
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header value.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match decode_word(candidate) {
            Some((text, len)) => {
                // Whitespace between two encoded words is not part of the text.
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes one encoded word at the start of `s`; returns its text and length.
fn decode_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest[..end];
    let bytes = match encoding {
        "b" | "B" => BASE64.decode(payload).ok()?,
        "q" | "Q" => quoted_printable::decode(payload.replace('_', " "), ParseMode::Robust).ok()?,
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}
