//! Request headers with meaning for the domain: `If-Match` and
//! `If-None-Match` (optimistic concurrency), and `Idempotency-Key` (safe
//! retries of `POST /orders`).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use coffee_domain::FieldError;
use coffee_domain::order::{IdempotencyKey, Precondition, Versions};
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

/// What a change's precondition headers accept, for the OpenAPI document and
/// exactly as [`versions`] parses them: `*`, or entity tags (`"3"`, `W/"3"`)
/// separated by commas, or nothing (an empty list, RFC 9110 §5.6.1).
const TAG_LIST_PATTERN: &str = r#"^(\*|(W/)?"[!#-+\x2D-~]*"([ \t]*,[ \t]*(W/)?"[!#-+\x2D-~]*")*)?$"#;

/// One member of an entity-tag list (RFC 9110 §8.8.3) as `(weak, opaque)`,
/// or `None` when it is not a quoted tag of visible ASCII.
fn entity_tag(member: &str) -> Option<(bool, &str)> {
    let (weak, quoted) = member.strip_prefix("W/").map_or((false, member), |t| (true, t));
    let opaque = quoted.strip_prefix('"')?.strip_suffix('"')?;
    opaque.bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b)).then_some((weak, opaque))
}

/// The version an opaque tag names. Comparison is character by character,
/// so `"06"` and `"+6"` are not our `"6"`.
fn version_of(opaque: &str) -> Option<i64> {
    opaque.parse().ok().filter(|v: &i64| v.to_string() == opaque)
}

/// Parses a precondition header of a change, as [`TAG_LIST_PATTERN`] says.
/// `strong` comparison (`If-Match`, RFC 9110 §13.1.1) leaves weak tags out:
/// they name nothing; weak comparison (`If-None-Match`) reads `W/"3"` as 3.
fn versions(raw: &str, strong: bool) -> Option<Versions> {
    if raw == "*" {
        return Some(Versions::Any);
    }
    let mut named = Vec::new();
    // An empty value is an empty list: `If-Match` then matches nothing, and
    // `If-None-Match` excludes nothing.
    for member in raw.split(',').filter(|_| !raw.is_empty()) {
        let (weak, opaque) = entity_tag(member.trim_matches([' ', '\t']))?;
        if let Some(version) = version_of(opaque).filter(|_| !(strong && weak)) {
            named.push(version);
        }
    }
    Some(Versions::Of(named))
}

/// The lines of `name`, as one list (RFC 9110 §5.3; an empty line adds
/// nothing): `None` without the header, `Err` when a line is not visible ASCII.
fn joined_lines(req: &HttpRequest, name: &header::HeaderName) -> Option<Result<String, ()>> {
    let mut lines = req.headers().get_all(name).peekable();
    lines.peek()?;
    let lines: Result<Vec<&str>, ()> = lines.map(|v| v.to_str().map(str::trim).map_err(drop)).collect();
    Some(lines.map(|lines| lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join(", ")))
}

/// Whether the request's `If-None-Match` says the client's copy is
/// `version`: `*`, or a tag naming it. The comparison is weak (RFC 9110
/// §13.1.2), so `W/"3"` names version 3 too. On a read nothing is refused:
/// a value that is not a list of tags names nothing, and the client simply
/// gets the whole answer.
pub fn none_match(req: &HttpRequest, version: i64) -> bool {
    let Some(Ok(raw)) = joined_lines(req, &header::IF_NONE_MATCH) else { return false };
    if raw.trim() == "*" {
        return true;
    }
    let tags: Option<Vec<(bool, &str)>> =
        raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(entity_tag).collect();
    tags.is_some_and(|tags| tags.iter().any(|(_, opaque)| version_of(opaque) == Some(version)))
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

/// The conditions of a change to an order (`If-Match`, `If-None-Match`),
/// carried to the domain, which judges them on the version the change
/// replaces. A value that is not `*` or entity tags is 422 naming its
/// header: a guard the client meant is never dropped. Its error waits for
/// the handler ([`Self::get`]), after the access check (see
/// [`crate::extract::ListParams`]).
#[derive(Debug)]
pub struct Preconditions(Result<Precondition, ApiError>);

impl Preconditions {
    /// The conditions.
    ///
    /// # Errors
    /// 422 naming the header that is not `*` or entity tags.
    pub fn get(self) -> Result<Precondition, ApiError> {
        self.0
    }
}

impl FromRequest for Preconditions {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parse =
            |name: &header::HeaderName, field: &str, strong: bool| match joined_lines(req, name) {
                None => Ok(None),
                Some(raw) => raw.ok().and_then(|raw| versions(&raw, strong)).map(Some).ok_or_else(|| {
                    FieldError::new(field, "must be * or the order's ETags, e.g. \"3\" or \"3\", \"4\"")
                }),
            };
        let if_match = parse(&header::IF_MATCH, "If-Match", true);
        let if_none_match = parse(&header::IF_NONE_MATCH, "If-None-Match", false);
        ready(Ok(Preconditions(match (if_match, if_none_match) {
            (Ok(if_match), Ok(if_none_match)) => Ok(Precondition { if_match, if_none_match }),
            (a, b) => Err(ApiError::validation([a.err(), b.err()].into_iter().flatten().collect())),
        })))
    }
}

impl Apiv2Schema for Preconditions {}

impl OperationModifier for Preconditions {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        header_parameter(
            op,
            "If-Match",
            "The order's ETag (e.g. `\"3\"`), or a list of them: the change applies only while the order is \
             at one of them, else 412. The comparison is strong: a weak tag (`W/\"3\"`) never matches.",
            None,
            Some(TAG_LIST_PATTERN),
        );
        header_parameter(
            op,
            "If-None-Match",
            "ETags (e.g. `\"3\"`; `W/\"3\"` counts as `\"3\"`): the change applies only while the order is at \
             none of them, else 412. `*` always gives 412, as the order exists.",
            None,
            Some(TAG_LIST_PATTERN),
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

    fn conditions(lines: &[(&str, &str)]) -> Result<Precondition, StatusCode> {
        extract::<Preconditions>(lines).and_then(Preconditions::get).map_err(|e| e.status_code())
    }

    #[test]
    fn several_lines_of_a_precondition_are_one_list() {
        let of = |versions: &[i64]| Some(Versions::Of(versions.to_vec()));
        assert_eq!(conditions(&[]), Ok(Precondition::default()));
        assert_eq!(conditions(&[("if-match", "\"3\"")]), Ok(Precondition::at(3)));
        let lines = [("if-match", "W/\"2\""), ("if-match", "\"3\", \"4\"")];
        assert_eq!(conditions(&lines).map(|p| p.if_match), Ok(of(&[3, 4])), "the weak tag names nothing");
        let lines = [("if-none-match", "W/\"2\""), ("if-none-match", "\"3\"")];
        assert_eq!(conditions(&lines).map(|p| p.if_none_match), Ok(of(&[2, 3])), "weak comparison");
        assert_eq!(conditions(&[("if-match", "\"3\""), ("if-match", "*")]), Err(StatusCode::UNPROCESSABLE_ENTITY));
        let empty = conditions(&[("if-match", ""), ("if-none-match", "\"1\""), ("if-none-match", "")]);
        assert_eq!(empty, Ok(Precondition { if_match: of(&[]), if_none_match: of(&[1]) }), "an empty list");
        let unreadable = actix_web::http::header::HeaderValue::from_bytes(b"\"\xe9\"").unwrap();
        let req = TestRequest::default().append_header(("if-none-match", unreadable)).to_http_request();
        assert!(
            Preconditions::from_request(&req, &mut Payload::None).into_inner().and_then(Preconditions::get).is_err()
        );
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
    fn a_tag_list_names_our_versions_only() {
        let of = |versions: &[i64]| Some(Versions::Of(versions.to_vec()));
        assert_eq!(versions("\"3\"", true), of(&[3]));
        assert_eq!(versions("*", true), Some(Versions::Any));
        assert_eq!(versions("W/\"12\", \"13\"", true), of(&[13]), "strong: the weak tag is left out");
        assert_eq!(versions("W/\"12\",\t\"13\"", false), of(&[12, 13]), "weak: both count");
        // Well-formed, but never one of our versions.
        for never in ["", "\"three\"", "\"\"", "\"99999999999999999999\"", "\"06\"", "\"+6\"", "\"0x1\", \"1.0\""] {
            assert_eq!(versions(never, true), of(&[]), "{never}");
        }
        for malformed in ["3", "garbage", "W/", "\"3", "\"a\"b\"", "\"a b\"", " , ", "\"1\",", "*, \"1\"", "**"] {
            assert_eq!(versions(malformed, false), None, "{malformed}");
        }
    }

    #[test]
    fn the_documented_tag_list_pattern_is_exactly_what_is_accepted() {
        let pattern = regex::Regex::new(TAG_LIST_PATTERN).expect("the pattern compiles");
        let samples = [
            "*",
            "\"3\"",
            "W/\"3\"",
            "\"\"",
            "\"abc\"",
            "\"!#~\"",
            "W/\"1\", \"2\"",
            "\"2\",W/\"1\"",
            "\"1\" ,\t\"2\"",
            "W/\"1\", W/\"2\"",
            "",
            "3",
            "W/",
            "w/\"1\"",
            "\"a\"b\"",
            "\"a,b\"",
            "\"a b\"",
            "\"1\",",
            ",\"1\"",
            "\"1\",,\"2\"",
            "*, \"1\"",
            "**",
            "\"é\"",
        ];
        for value in samples {
            assert_eq!(pattern.is_match(value), versions(value, true).is_some(), "{value:?}");
        }
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
