//! Request headers with meaning for the domain: `If-Match` (optimistic
//! concurrency) and `Idempotency-Key` (safe retries of `POST /orders`).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use coffee_domain::FieldError;
use coffee_domain::order::IdempotencyKey;
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DataType, DefaultOperationRaw, DefaultParameterRaw, Either, ParameterIn};
use paperclip::v2::schema::Apiv2Schema;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::openapi::document_problems;
use crate::problem::{ApiError, catalogue};

fn header_parameter(
    op: &mut DefaultOperationRaw,
    name: &str,
    description: &str,
    max_length: Option<u32>,
    pattern: Option<&str>,
) {
    op.parameters.push(Either::Right(DefaultParameterRaw {
        in_: ParameterIn::Header,
        name: name.to_owned(),
        description: Some(description.to_owned()),
        data_type: Some(DataType::String),
        max_length,
        pattern: pattern.map(str::to_owned),
        ..Default::default()
    }));
}

/// What [`parse_if_match`] accepts, for the OpenAPI document: `*`, or
/// entity tags of visible ASCII of which at most one is strong.
const IF_MATCH_PATTERN: &str = r#"^(\*|(W/"[!#-+\x2D-~]*", ?)*(W/)?"[!#-+\x2D-~]*"(, ?W/"[!#-+\x2D-~]*")*)$"#;

/// The version named by `If-Match` (`"3"`; `*` or no header = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<i64>);

/// A tag that names no version this server hands out: it never matches.
const NO_VERSION: i64 = -1;

/// Parses an `If-Match` value: `*`, or entity tags compared strongly
/// (RFC 9110 §13.1.1), so a weak tag (`W/"3"`) never matches, nor does a
/// well-formed tag that is not one of our versions (`"abc"`), nor an empty
/// list (an empty field value).
///
/// SIMPLIFICATION: one strong tag at most. A list of several ("match any")
/// is refused rather than half-honoured; the fuller version would carry the
/// set down to the domain's version check.
fn parse_if_match(raw: &str) -> Result<Option<i64>, &'static str> {
    const FORM: &str = "must be * or the order's ETag, e.g. \"3\"";
    let raw = raw.trim();
    if raw == "*" {
        return Ok(None);
    }
    let mut strong = Vec::new();
    for tag in entity_tags(raw) {
        let (weak, opaque) = tag.ok_or(FORM)?;
        if !weak {
            // Strong comparison is character by character: `"06"` and `"+6"`
            // are not our `"6"`.
            strong.push(opaque.parse().ok().filter(|v: &i64| v.to_string() == opaque).unwrap_or(NO_VERSION));
        }
    }
    match strong.as_slice() {
        // No tag at all (an empty list) or weak ones only: nothing can match.
        [] => Ok(Some(NO_VERSION)),
        [version] => Ok(Some(*version)),
        _ => Err("must name one version (one ETag), not a list"),
    }
}

/// The members of an entity-tag list (RFC 9110 §8.8.3), each as
/// `(weak, opaque)`, or `None` for a member that is not a quoted tag.
fn entity_tags(raw: &str) -> impl Iterator<Item = Option<(bool, &str)>> {
    raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|tag| {
        let (weak, quoted) = tag.strip_prefix("W/").map_or((false, tag), |t| (true, t));
        quoted.strip_prefix('"').and_then(|t| t.strip_suffix('"')).filter(|t| !t.contains('"')).map(|o| (weak, o))
    })
}

/// Whether the request's `If-None-Match` says the client's copy is
/// `version`: `*`, or a tag naming it. The comparison is weak (RFC 9110
/// §13.1.2), so `W/"3"` names version 3 too. A malformed list names
/// nothing: the client simply gets the whole answer.
pub fn none_match(req: &HttpRequest, version: i64) -> bool {
    let lines: Vec<&str> = req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).collect();
    let raw = lines.join(", ");
    if raw.trim() == "*" {
        return !lines.is_empty();
    }
    let current = version.to_string();
    let tags: Option<Vec<(bool, &str)>> = entity_tags(&raw).collect();
    tags.is_some_and(|tags| tags.iter().any(|(_, opaque)| *opaque == current))
}

/// Documents the `If-None-Match` header of a read answered by
/// [`crate::responses::Revalidated`].
pub fn document_if_none_match(op: &mut DefaultOperationRaw) {
    header_parameter(
        op,
        "If-None-Match",
        "The ETag of the copy you hold (e.g. `\"3\"`): while it is current the answer is 304 with no body.",
        None,
        None,
    );
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lines: Vec<&str> =
            req.headers().get_all(header::IF_MATCH).map(|v| v.to_str().unwrap_or_default()).collect();
        if lines.is_empty() {
            return ready(Ok(IfMatch(None)));
        }
        // Several `If-Match` lines are one list (RFC 9110 §5.3), judged whole.
        let parsed = parse_if_match(&lines.join(", "));
        ready(parsed.map(IfMatch).map_err(|message| ApiError::validation(vec![FieldError::new("If-Match", message)])))
    }
}

impl Apiv2Schema for IfMatch {}

impl OperationModifier for IfMatch {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        header_parameter(
            op,
            "If-Match",
            "The order's ETag (e.g. `\"3\"`): the change applies only to that version, else 412.",
            None,
            Some(IF_MATCH_PATTERN),
        );
        document_problems(op, &[catalogue::PRECONDITION_FAILED, catalogue::VALIDATION_FAILED]);
    }
}

/// The `Idempotency-Key` header, not validated yet: its key is only
/// meaningful together with the fingerprint of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyKeyHeader {
    /// No header.
    Absent,
    /// One header line, as sent.
    Sent(String),
    /// Several lines: which key the client meant cannot be known, and
    /// taking either could run the request twice.
    Repeated,
}

impl IdempotencyKeyHeader {
    /// The key for a request whose validated body is `body`, or `None`
    /// without the header.
    ///
    /// # Errors
    /// 422 naming `Idempotency-Key` when it is empty, longer than 255
    /// characters, not printable ASCII, or sent more than once.
    pub fn key_for(&self, body: &impl Serialize) -> Result<Option<IdempotencyKey>, ApiError> {
        let raw = match self {
            Self::Absent => return Ok(None),
            Self::Sent(raw) => raw,
            Self::Repeated => {
                let e = FieldError::new("Idempotency-Key", "must be sent once, not in several header lines");
                return Err(ApiError::validation(vec![e]));
            }
        };
        IdempotencyKey::parse(raw, fingerprint(body)).map(Some).map_err(|e| ApiError::validation(vec![e]))
    }
}

/// SHA-256 of the body's canonical JSON: the same request written with
/// other whitespace or key order has the same fingerprint.
fn fingerprint(body: &impl Serialize) -> String {
    let canonical = serde_json::to_value(body).map(|v| v.to_string()).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Header values that are not visible ASCII are kept as a marker that the
/// key's own check refuses.
const UNREADABLE: &str = "\u{0}";

impl FromRequest for IdempotencyKeyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut lines = req.headers().get_all("idempotency-key");
        let header = match (lines.next(), lines.next()) {
            (None, _) => IdempotencyKeyHeader::Absent,
            (Some(value), None) => IdempotencyKeyHeader::Sent(value.to_str().unwrap_or(UNREADABLE).to_owned()),
            (Some(_), Some(_)) => IdempotencyKeyHeader::Repeated,
        };
        ready(Ok(header))
    }
}

impl Apiv2Schema for IdempotencyKeyHeader {}

impl OperationModifier for IdempotencyKeyHeader {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        header_parameter(
            op,
            "Idempotency-Key",
            "1–255 printable characters in one header line, unique per order attempt (e.g. a UUID). A repeat \
             with the same key and body gets the first answer again with `Idempotent-Replayed: true` and creates \
             nothing (a refusal such as 409 `cart_empty` too: try again with a new key); the same key with \
             another body gives 422 `idempotency_key_reused`; a repeat while the first is still running gives \
             409 `idempotency_in_flight`. Keys are kept for `IDEMPOTENCY_KEY_TTL` and belong to the caller.",
            Some(u32::try_from(IdempotencyKey::MAX_LEN).unwrap_or(u32::MAX)),
            None,
        );
        document_problems(
            op,
            &[catalogue::VALIDATION_FAILED, catalogue::IDEMPOTENCY_KEY_REUSED, catalogue::IDEMPOTENCY_IN_FLIGHT],
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use actix_web::ResponseError as _;
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;

    use super::*;

    fn extract<T: FromRequest<Future = Ready<Result<T, ApiError>>>>(lines: &[(&str, &str)]) -> Result<T, ApiError> {
        let req = lines.iter().fold(TestRequest::default(), |req, line| req.append_header(*line)).to_http_request();
        T::from_request(&req, &mut Payload::None).into_inner()
    }

    #[test]
    fn several_if_match_lines_are_one_list() {
        let if_match = |lines: &[(&str, &str)]| extract::<IfMatch>(lines).map(|m| m.0).map_err(|e| e.status_code());
        assert_eq!(if_match(&[]), Ok(None));
        assert_eq!(if_match(&[("if-match", "\"3\"")]), Ok(Some(3)));
        assert_eq!(if_match(&[("if-match", "W/\"2\""), ("if-match", "\"3\"")]), Ok(Some(3)));
        assert_eq!(if_match(&[("if-match", "\"3\""), ("if-match", "\"4\"")]), Err(StatusCode::UNPROCESSABLE_ENTITY));
    }

    #[test]
    fn an_idempotency_key_sent_twice_is_refused() {
        let key = |lines: &[(&str, &str)]| extract::<IdempotencyKeyHeader>(lines).unwrap().key_for(&"body");
        assert_eq!(key(&[]).unwrap(), None);
        assert_eq!(key(&[("idempotency-key", "k1")]).unwrap().unwrap().key(), "k1");
        let twice = key(&[("idempotency-key", "k1"), ("idempotency-key", "k1")]).unwrap_err();
        assert_eq!(twice.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn if_match_names_one_version_any_or_none_that_can_match() {
        assert_eq!(parse_if_match("\"3\""), Ok(Some(3)));
        assert_eq!(parse_if_match(" \"4\" "), Ok(Some(4)));
        assert_eq!(parse_if_match("*"), Ok(None));
        assert_eq!(parse_if_match("W/\"12\", \"13\""), Ok(Some(13)), "the weak tag is left out");
        // Well-formed, but never one of our versions under strong comparison.
        for never in ["W/\"12\"", "\"three\"", "\"\"", "\"99999999999999999999\"", "", " , ", "\"06\"", "\"+6\""] {
            assert_eq!(parse_if_match(never), Ok(Some(NO_VERSION)), "{never}");
        }
        for malformed in ["3", "garbage", "W/", "\"3", "\"a\"b\"", "\"4\", \"5\""] {
            assert!(parse_if_match(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn the_documented_if_match_pattern_admits_only_what_is_accepted() {
        let pattern = regex::Regex::new(IF_MATCH_PATTERN).expect("the pattern compiles");
        let samples = [
            "*",
            "\"3\"",
            "W/\"3\"",
            "\"\"",
            "\"abc\"",
            "W/\"1\", \"2\"",
            "\"2\",W/\"1\"",
            "W/\"1\", W/\"2\"",
            "\"1\", \"2\"",
            "",
            "3",
            "W/",
            "\"a\"b\"",
            "\"a,b\"",
            "**",
            " \"3\"",
            "\"é\"",
        ];
        for value in samples {
            if pattern.is_match(value) {
                assert!(parse_if_match(value).is_ok(), "documented but refused: {value:?}");
            }
        }
        assert!(pattern.is_match("W/\"1\", \"2\"") && !pattern.is_match("\"1\", \"2\""));
    }

    #[test]
    fn fingerprints_ignore_formatting_but_not_content() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap_or_default();
        let b: serde_json::Value = serde_json::from_str(r#"{"a":[1,2],"b":1}"#).unwrap_or_default();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":[2,1],"b":1}"#).unwrap_or_default();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 64);
    }
}
