//! Request extractors: typed JSON bodies with precise errors, the caller's
//! capabilities, and the list query. Each documents, in the OpenAPI
//! document, the problems it can answer with.

use std::collections::BTreeMap;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use chrono::{DateTime, Utc};
use coffee_app::Services;
use coffee_domain::FieldError;
use coffee_domain::access::{Actor, Admin, Caller};
use coffee_domain::query::{ListQuery, Resource, parse_list_query};
use coffee_domain::security::AccessClaims;
use futures_util::TryFutureExt;
use futures_util::future::LocalBoxFuture;
use paperclip::actix::{Apiv2Security, OperationModifier};
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw, SecurityScheme};
use paperclip::v2::schema::Apiv2Schema;
use serde::de::DeserializeOwned;

use crate::body::{media_type, read_body};
use crate::openapi::document_problems;
use crate::problem::catalogue as c;
use crate::problem::{ApiError, IntoProblem};
use crate::strict_json::Strict;

/// A JSON body. Malformed JSON → 400; well-formed JSON of the wrong shape →
/// 422 naming the field; wrong media type → 415; too large → 413. Like
/// every extractor that checks what the client sent, its error waits for
/// the handler ([`Self::get`]), after the caller's access was checked (see
/// [`ListParams`]).
#[derive(Debug)]
pub struct JsonBody<T>(Result<T, ApiError>);

impl<T> JsonBody<T> {
    /// The body.
    ///
    /// # Errors
    /// 400, 408, 413, 415 or 422, as above.
    pub fn get(self) -> Result<T, ApiError> {
        self.0
    }
}

fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Deserialises exactly one JSON value, telling syntax errors (400: not
/// JSON, or anything after the value) from shape errors (422 naming the
/// field: a wrong type, an unknown field, an array where an object belongs).
/// A body with both is malformed: the shape error may come first (`{} x`
/// misses a field before the reader gets to `x`), so the syntax of the
/// whole body is checked before a shape error is answered.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
        let inner = e.inner();
        if !inner.is_data() {
            return ApiError::malformed(format!("The body is not valid JSON: {inner}"));
        }
        match one_json_value(bytes) {
            Ok(()) => ApiError::validation(vec![shape_error(&e.path().to_string(), &inner.to_string())]),
            Err(syntax) => syntax,
        }
    })?;
    de.end().map_err(|e| ApiError::malformed(format!("The body must be one JSON value: {e}")))?;
    Ok(value)
}

/// 400 unless `bytes` are one well-formed JSON value, whatever its shape.
fn one_json_value(bytes: &[u8]) -> Result<(), ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(&mut de)
        .map_err(|e| ApiError::malformed(format!("The body is not valid JSON: {e}")))?;
    de.end().map_err(|e| ApiError::malformed(format!("The body must be one JSON value: {e}")))
}

/// A shape error in the client's terms: a missing field is named itself
/// (not its parent object), and serde's Rust vocabulary (`i64`, `sequence`,
/// `struct AddToCartRequest`) becomes JSON's, so no type name leaks.
fn shape_error(path: &str, message: &str) -> FieldError {
    let message = message.split(" at line ").next().unwrap_or_default();
    let parent = (path != ".").then_some(path);
    if let Some(name) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        return FieldError::new(parent.map_or_else(|| name.to_owned(), |p| format!("{p}.{name}")), "is required");
    }
    let message = match message.split_once(", expected ") {
        Some((found, expected)) => format!("{}, expected {}", json_found(found), json_expected(expected)),
        None => message.to_owned(),
    };
    FieldError::new(parent.unwrap_or("body"), message)
}

/// `invalid type: sequence` → `invalid type: array` (the value a client
/// sent, in JSON's names; quoted contents are left alone).
fn json_found(found: &str) -> String {
    let Some((kind, what)) = found.split_once(": ") else { return found.to_owned() };
    let what = match what {
        "sequence" => "array".to_owned(),
        "map" => "object".to_owned(),
        _ => what.strip_prefix("floating point ").map_or_else(|| what.to_owned(), |n| format!("number {n}")),
    };
    format!("{kind}: {what}")
}

/// `expected i64` → `expected an integer`, `expected struct X` → `expected an object`.
fn json_expected(expected: &str) -> &str {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "an integer of 0 or more",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "an object",
        e if e.starts_with("struct ") => "an object",
        e if e.starts_with("enum ") => "one of the documented values",
        e => e,
    }
}

/// Problems a request body can cause.
const BODY_PROBLEMS: [c::ProblemType; 5] =
    [c::MALFORMED_REQUEST, c::REQUEST_TIMEOUT, c::PAYLOAD_TOO_LARGE, c::UNSUPPORTED_MEDIA_TYPE, c::VALIDATION_FAILED];

/// Documents a JSON body of type `T` and the problems it can cause.
macro_rules! json_body_docs {
    ($extractor:ident) => {
        impl<T> Apiv2Schema for $extractor<T> {}

        impl<T: Apiv2Schema> OperationModifier for $extractor<T> {
            fn update_parameter(op: &mut DefaultOperationRaw) {
                paperclip::actix::web::Json::<T>::update_parameter(op);
                document_problems(op, &BODY_PROBLEMS);
            }

            fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
                paperclip::actix::web::Json::<T>::update_definitions(map);
            }
        }
    };
}

fn unsupported_media_type(detail: &str) -> ApiError {
    ApiError::with_detail(c::UNSUPPORTED_MEDIA_TYPE, detail)
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media = media_type(req);
        let req = req.clone();
        let payload = payload.take();
        let read = async move {
            if !media.as_deref().is_some_and(is_json) {
                return Err(unsupported_media_type(
                    "Send the body as application/json (UTF-8, in one Content-Type header line).",
                ));
            }
            parse_json(&read_body(req, payload).await?)
        };
        Box::pin(async move { Ok(JsonBody(read.await)) })
    }
}

json_body_docs!(JsonBody);

/// A body sent as JSON or as `application/x-www-form-urlencoded` (OAuth2
/// password-grant clients). Documented as JSON; the form variant is added
/// to the OpenAPI document in `openapi.rs`. Its error waits for the
/// handler ([`Self::get`]), as [`JsonBody`]'s does.
#[derive(Debug)]
pub struct JsonOrForm<T>(Result<T, ApiError>);

impl<T> JsonOrForm<T> {
    /// The body.
    ///
    /// # Errors
    /// As [`JsonBody::get`].
    pub fn get(self) -> Result<T, ApiError> {
        self.0
    }
}

/// How a [`JsonOrForm`] body is written, by its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    /// `application/json` or `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl BodyFormat {
    /// The format of a body of media type `media` (see
    /// [`media_type`]), or `None` when it is neither.
    pub(crate) fn of(media: Option<&str>) -> Option<Self> {
        match media? {
            "application/x-www-form-urlencoded" => Some(Self::Form),
            m if is_json(m) => Some(Self::Json),
            _ => None,
        }
    }

    /// Reads `bytes` as a `T`, as [`JsonOrForm`] does. The auth rate limiter
    /// reads the e-mail a body names with this too, so that it finds one in
    /// every body the handler accepts.
    pub(crate) fn parse<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, ApiError> {
        match self {
            Self::Json => parse_json(bytes),
            Self::Form => from_urlencoded(bytes, "body").map_err(|e| ApiError::validation(vec![e])),
        }
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonOrForm<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let format = BodyFormat::of(media_type(req).as_deref());
        let req = req.clone();
        let payload = payload.take();
        let read = async move {
            let Some(format) = format else {
                return Err(unsupported_media_type(
                    "Send the body as application/json or application/x-www-form-urlencoded.",
                ));
            };
            format.parse(&read_body(req, payload).await?)
        };
        Box::pin(async move { Ok(JsonOrForm(read.await)) })
    }
}

json_body_docs!(JsonOrForm);

/// The bearer scheme, as the OpenAPI document names it.
#[derive(Debug, Apiv2Security)]
#[openapi(apiKey, alias = "bearerAuth", in = "header", name = "Authorization", description = "JWT access token")]
struct BearerAuth;

/// Problems of reading the access token.
const TOKEN_PROBLEMS: [c::ProblemType; 4] =
    [c::MISSING_TOKEN, c::MALFORMED_AUTHORIZATION, c::INVALID_TOKEN, c::TOKEN_EXPIRED];

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let malformed = |detail: &str| ApiError::with_detail(c::MALFORMED_AUTHORIZATION, detail);
    let mut lines = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = lines.next() else { return Err(c::MISSING_TOKEN.into()) };
    if lines.next().is_some() {
        // Which one is meant is unknowable, and a proxy reading the other
        // would disagree about who is calling.
        return Err(malformed("Send one Authorization header, not several."));
    }
    let value = value.to_str().map_err(|_| malformed("The Authorization header is not printable ASCII."))?.trim();
    if value.is_empty() {
        return Err(c::MISSING_TOKEN.into());
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed("Use the Bearer scheme: `Authorization: Bearer <token>`."));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(malformed("`Bearer` is not followed by a token."));
    }
    if token.contains(char::is_whitespace) {
        let doubled = token.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case("bearer"));
        return Err(malformed(if doubled {
            "`Bearer` appears twice: send `Bearer <token>` (in Swagger UI, paste the token alone)."
        } else {
            "Send exactly one token after `Bearer`."
        }));
    }
    Ok(token)
}

fn services(req: &HttpRequest) -> Result<Data<Services>, ApiError> {
    req.app_data::<Data<Services>>().cloned().ok_or_else(|| ApiError::internal(&"services are not registered"))
}

/// The token's claims, checked for signature, type and expiry (no store access).
fn claims(req: &HttpRequest) -> Result<(AccessClaims, Data<Services>), ApiError> {
    let token = bearer_token(req)?;
    let services = services(req)?;
    let claims = services.auth.authenticate(token).map_err(IntoProblem::into_problem)?;
    Ok((claims, services))
}

fn actor(req: &HttpRequest) -> Result<(Actor, Data<Services>), ApiError> {
    claims(req).map(|(claims, services)| (Actor { id: claims.sub, role: claims.role, session: claims.sid }, services))
}

/// The caller behind the request's bearer token and when that token
/// expires (a socket or ticket opened with it lives no longer).
///
/// # Errors
/// The token problems (`invalid_token` also for a gone account or an ended login), 5xx.
pub(crate) async fn authenticate_until(req: &HttpRequest) -> Result<(Caller, DateTime<Utc>), ApiError> {
    let (claims, services) = claims(req)?;
    let caller = caller(Ok((Actor { id: claims.sub, role: claims.role, session: claims.sid }, services))).await?;
    Ok((caller, claims.exp))
}

/// The caller behind the request's access token, re-read from the store.
async fn caller(checked: Result<(Actor, Data<Services>), ApiError>) -> Result<Caller, ApiError> {
    let (actor, services) = checked?;
    services.access.caller(actor).await.map_err(IntoProblem::into_problem)
}

/// The [`Caller`] capability: a valid access token whose account exists now.
#[derive(Debug)]
pub struct Authenticated(pub Caller);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(caller(actor(req)).map_ok(Authenticated))
    }
}

/// The [`Caller`] capability and when the access token that proved it expires.
#[derive(Debug)]
pub struct AuthenticatedUntil {
    /// The caller.
    pub caller: Caller,
    /// When the bearer token expires.
    pub expires_at: DateTime<Utc>,
}

impl FromRequest for AuthenticatedUntil {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, expires_at) = authenticate_until(&req).await?;
            Ok(AuthenticatedUntil { caller, expires_at })
        })
    }
}

/// The [`Admin`] capability: a valid access token of an account that is an admin now.
#[derive(Debug)]
pub struct AdminAccess(pub Admin);

impl FromRequest for AdminAccess {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = actor(req);
        Box::pin(
            async move { caller(checked).await?.require_admin().map(AdminAccess).map_err(IntoProblem::into_problem) },
        )
    }
}

/// Security requirement and problems of a capability extractor.
macro_rules! capability_docs {
    ($extractor:ty, [$($extra:expr),*]) => {
        impl Apiv2Schema for $extractor {
            fn name() -> Option<String> {
                BearerAuth::name()
            }

            fn security_scheme() -> Option<SecurityScheme> {
                BearerAuth::security_scheme()
            }
        }

        impl OperationModifier for $extractor {
            fn update_parameter(op: &mut DefaultOperationRaw) {
                document_problems(op, &TOKEN_PROBLEMS);
                document_problems(op, &[c::ACCOUNT_GONE, c::SESSION_ENDED, c::INTERNAL_ERROR, c::SERVICE_UNAVAILABLE $(, $extra)*]);
            }
        }
    };
}

capability_docs!(Authenticated, []);
capability_docs!(AuthenticatedUntil, []);
capability_docs!(AdminAccess, [c::FORBIDDEN]);

/// A list request (`page`, `page_size`, `sort`, `search`, filters) parsed
/// against the field whitelist of resource `R`; an invalid one is a 400
/// `invalid_query` naming each bad parameter. Its parameters are documented
/// from the same whitelist in `openapi.rs`.
///
/// The error waits for the handler ([`Self::get`]): actix extracts a
/// handler's arguments together and answers the first error that is ready,
/// and a bad query (or body) is ready at once, while the access check
/// beside it reads the database. Refused at extraction, `GET /users?page=0`
/// would be a 400 to a customer, not a 403, and a 400 to a revoked session,
/// not a 401: it would tell a caller who may not ask how the request is
/// checked. [`JsonBody`], [`JsonOrForm`] and [`StrictQuery`] wait the same way.
#[derive(Debug)]
pub struct ListParams<R: Resource>(Result<ListQuery<R::Field>, ApiError>);

impl<R: Resource> ListParams<R> {
    /// The parsed query.
    ///
    /// # Errors
    /// 400 `invalid_query` naming each bad parameter, or
    /// `malformed_request` for a query string that is not UTF-8.
    pub fn get(self) -> Result<ListQuery<R::Field>, ApiError> {
        self.0
    }
}

fn parse_list<R: Resource>(req: &HttpRequest) -> Result<ListQuery<R::Field>, ApiError> {
    let pairs = query_pairs(req.query_string())?;
    parse_list_query::<R>(&pairs).map_err(|e| ApiError::with_fields(c::INVALID_QUERY, e))
}

/// The `name=value` pairs of a query string, percent-decoded strictly: a
/// value that is not UTF-8 once decoded (`?search=%FF`) is a 400, not a
/// replacement character.
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| ApiError::malformed("The query string is not valid UTF-8 once percent-decoded."))
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

impl<R: Resource> FromRequest for ListParams<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ListParams(parse_list::<R>(req))))
    }
}

impl<R: Resource> Apiv2Schema for ListParams<R> {}
impl<R: Resource> OperationModifier for ListParams<R> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        crate::openapi::document_list_query::<R>(op);
        document_problems(op, &[c::INVALID_QUERY, c::MALFORMED_REQUEST]);
    }
}

/// Query parameters of a fixed shape `T` (deserialised like `web::Query`),
/// decoded strictly (invalid UTF-8 is a 400 `malformed_request`); a value of
/// the wrong type or an unknown parameter is a 400 `invalid_query`. Like
/// [`ListParams`], the error waits for the handler ([`Self::get`]), after
/// the caller's access was checked.
#[derive(Debug)]
pub struct StrictQuery<T>(Result<T, ApiError>);

impl<T> StrictQuery<T> {
    /// The parameters.
    ///
    /// # Errors
    /// 400 `invalid_query` or `malformed_request`.
    pub fn get(self) -> Result<T, ApiError> {
        self.0
    }
}

fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    query_pairs(req.query_string())?;
    from_urlencoded(req.query_string().as_bytes(), "query")
        .map_err(|e| ApiError::with_fields(c::INVALID_QUERY, vec![e]))
}

/// Deserialises `name=value&…` (a query string or a form body); a wrong
/// value names its parameter, and what belongs to no one parameter (a
/// repeated or missing one) is put on `whole`.
fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8], whole: &str) -> Result<T, FieldError> {
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { whole.to_owned() } else { path };
        FieldError::new(field, e.inner().to_string())
    })
}

impl<T: DeserializeOwned> FromRequest for StrictQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(StrictQuery(parse_query(req))))
    }
}

impl<T: Apiv2Schema> Apiv2Schema for StrictQuery<T> {}
impl<T: Apiv2Schema> OperationModifier for StrictQuery<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        <paperclip::actix::web::Query<T> as OperationModifier>::update_parameter(op);
        document_problems(op, &[c::INVALID_QUERY, c::MALFORMED_REQUEST]);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn code(authorization: &str) -> Result<String, &'static str> {
        let req = TestRequest::default().insert_header((header::AUTHORIZATION, authorization)).to_http_request();
        bearer_token(&req).map(str::to_owned).map_err(|e| e.code())
    }

    #[test]
    fn shape_errors_speak_json_and_name_the_missing_field() {
        let check = |path: &str, serde: &str| {
            let e = shape_error(path, serde);
            (e.field, e.message)
        };
        assert_eq!(check(".", "missing field `product_id`"), ("product_id".into(), "is required".into()));
        assert_eq!(check("items[0]", "missing field `quantity`"), ("items[0].quantity".into(), "is required".into()));
        assert_eq!(
            check("quantity", "invalid type: floating point `1.5`, expected i64 at line 1 column 15"),
            ("quantity".into(), "invalid type: number `1.5`, expected an integer".into())
        );
        assert_eq!(
            check(".", "invalid type: sequence, expected struct AddToCartRequest"),
            ("body".into(), "invalid type: array, expected an object".into())
        );
        assert_eq!(
            check("tags", "invalid type: map, expected a sequence").1,
            "invalid type: object, expected an array"
        );
        assert_eq!(
            check("name", "invalid type: string \"map\", expected u32").1,
            "invalid type: string \"map\", expected an integer of 0 or more"
        );
        let unknown = "unknown field `role`, expected one of `email`, `password`";
        assert_eq!(check(".", unknown), ("body".into(), unknown.into()));
    }

    #[test]
    fn query_strings_decode_strictly() {
        let pairs = query_pairs("search=caf%C3%A9+latte&page=2&&flag").map_err(|e| e.code());
        let expected =
            [("search", "café latte"), ("page", "2"), ("flag", "")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(pairs, Ok(expected.to_vec()));
        assert_eq!(query_pairs("search=%FF").map_err(|e| e.code()), Err("malformed_request"));
        assert_eq!(query_pairs("%C3=1").map_err(|e| e.code()), Err("malformed_request"));
    }

    #[test]
    fn a_bearer_token_is_taken_as_sent() {
        assert_eq!(code("Bearer abc.def.ghi"), Ok("abc.def.ghi".to_owned()));
        assert_eq!(code("bearer  abc.def.ghi "), Ok("abc.def.ghi".to_owned()));
    }

    #[test]
    fn a_malformed_authorization_header_says_so() {
        for bad in ["Bearer Bearer abc.def.ghi", "Basic dXNlcjpwdw==", "Bearer", "Bearer a b", "abc.def.ghi"] {
            assert_eq!(code(bad), Err("malformed_authorization"), "{bad}");
        }
        assert_eq!(code(""), Err("missing_token"));
        let none = TestRequest::default().to_http_request();
        assert_eq!(bearer_token(&none).map_err(|e| e.code()), Err("missing_token"));
    }
}
