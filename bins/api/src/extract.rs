//! Request extractors: typed JSON bodies with precise errors, the bearer
//! token, and the raw list query.

use std::collections::BTreeMap;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest};
use coffee_app::Services;
use coffee_domain::FieldError;
use coffee_domain::query::{ListQuery, Resource, parse_list_query};
use coffee_domain::user::Actor;
use futures_util::future::LocalBoxFuture;
use paperclip::actix::{Apiv2Security, OperationModifier};
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body. Malformed JSON → 400; well-formed JSON of the wrong shape →
/// 422 naming the field; wrong media type → 415; too large → 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn media_type(req: &HttpRequest) -> Option<String> {
    let raw = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

fn is_json(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Reads the body within [`MAX_BODY_BYTES`].
async fn read_body(req: HttpRequest, mut payload: Payload) -> Result<Bytes, ApiError> {
    Bytes::from_request(&req, &mut payload).await.map_err(|e| match e.as_response_error().status_code() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes."),
        ),
        _ => ApiError::malformed("The request body could not be read."),
    })
}

/// Deserialises JSON, telling syntax errors (400) from shape errors (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        if inner.is_data() {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_owned() } else { path };
            let message = inner.to_string();
            let message = message.split(" at line ").next().unwrap_or_default().to_owned();
            ApiError::validation(vec![FieldError::new(field, message)])
        } else {
            ApiError::malformed(format!("The body is not valid JSON: {inner}"))
        }
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media = media_type(req);
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !media.as_deref().is_some_and(is_json) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/json.",
                ));
            }
            let bytes = read_body(req, payload).await?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

impl<T> Apiv2Schema for JsonBody<T> {}

impl<T: Apiv2Schema> OperationModifier for JsonBody<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        paperclip::actix::web::Json::<T>::update_parameter(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        paperclip::actix::web::Json::<T>::update_definitions(map);
    }
}

/// A body sent as JSON or as `application/x-www-form-urlencoded` (OAuth2
/// password-grant clients). Documented as JSON; the form variant is added
/// to the OpenAPI document in `openapi.rs`.
#[derive(Debug)]
pub struct JsonOrForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonOrForm<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media = media_type(req);
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            match media.as_deref() {
                Some("application/x-www-form-urlencoded") => {
                    let bytes = read_body(req, payload).await?;
                    serde_urlencoded::from_bytes(&bytes)
                        .map(JsonOrForm)
                        .map_err(|e| ApiError::validation(vec![FieldError::new("body", e.to_string())]))
                }
                Some(m) if is_json(m) => parse_json(&read_body(req, payload).await?).map(JsonOrForm),
                _ => Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/json or application/x-www-form-urlencoded.",
                )),
            }
        })
    }
}

impl<T> Apiv2Schema for JsonOrForm<T> {}

impl<T: Apiv2Schema> OperationModifier for JsonOrForm<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        paperclip::actix::web::Json::<T>::update_parameter(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        paperclip::actix::web::Json::<T>::update_definitions(map);
    }
}

/// The authenticated caller, from `Authorization: Bearer <access token>`.
#[derive(Debug, Clone, Copy, Apiv2Security)]
#[openapi(apiKey, alias = "bearerAuth", in = "header", name = "Authorization", description = "JWT access token")]
pub struct AuthUser {
    /// Who is calling.
    pub actor: Actor,
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let missing = || ApiError::unauthorized("missing_token", "Send an access token: Authorization: Bearer <token>.");
    let header = req.headers().get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = header.to_str().map_err(|_| missing())?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(missing)?;
    let services = req.app_data::<Data<Services>>().ok_or_else(|| ApiError::internal(&"services missing"))?;
    let claims = services.auth.authenticate(token)?;
    Ok(AuthUser { actor: Actor { id: claims.sub, role: claims.role } })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// A list request (`page`, `page_size`, `sort`, `search`, filters) parsed
/// against the field whitelist of resource `R`; an invalid one is a 400
/// `invalid_query` naming each bad parameter. Its parameters are documented
/// from the same whitelist in `openapi.rs`.
#[derive(Debug)]
pub struct ListParams<R: Resource>(pub ListQuery<R::Field>);

fn parse_list<R: Resource>(req: &HttpRequest) -> Result<ListParams<R>, ApiError> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|_| ApiError::malformed("The query string is not valid URL encoding."))?;
    parse_list_query::<R>(&pairs).map(ListParams).map_err(ApiError::invalid_query)
}

impl<R: Resource> FromRequest for ListParams<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_list::<R>(req))
    }
}

impl<R: Resource> Apiv2Schema for ListParams<R> {}
impl<R: Resource> OperationModifier for ListParams<R> {}
