//! The OpenAPI 3 document and the offline Swagger UI.
//!
//! paperclip derives paths, parameters and schemas from the handlers. What
//! it cannot express is handed over from the types themselves and completed
//! here:
//!
//! * error responses: every extractor and every handler's `Problem<E>`
//!   names the problems it can produce ([`document_problems`]); they become
//!   one response per status with one example per `code`;
//! * list query parameters: [`crate::extract::ListParams`] describes its
//!   resource's field whitelist ([`document_list_query`]);
//! * the HTTP bearer scheme, the `Location` header, the form variant of
//!   login, the multipart upload.
//!
//! The types hand their parts over inside paperclip's own operation (a
//! marker in a response description or a parameter), since its hooks offer
//! no other channel; [`complete`] turns the markers into OpenAPI 3.
//!
//! [`Conformance`] keeps the server honest at run time: the middleware
//! checks every problem response of a documented operation against the
//! document and records any the document does not list.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use actix_web::guard;
use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use coffee_domain::query::{FieldKind, FieldSpec, MAX_IN_VALUES, MAX_PAGE_SIZE, MAX_TEXT_VALUE_CHARS, Op, Resource};
use coffee_domain::user::Password;
use paperclip::actix::OpenApiExt;
use paperclip::v2::models::{
    DataType, DefaultApiRaw, DefaultOperationRaw, DefaultParameterRaw, DefaultResponseRaw, Either, Info, ParameterIn,
};
use serde_json::{Value, json};

use crate::problem::{ApiError, ProblemType, catalogue};

mod codes;
mod examples;
mod schemas;
pub use schemas::REQUEST_BODIES;

/// The finished document, served at `/openapi.json`, with the index the
/// middleware checks problem responses against.
#[derive(Debug)]
pub struct OpenApiDoc {
    /// The document.
    pub json: Value,
    /// Conformance of the responses to it.
    pub conformance: Conformance,
}

/// Title, version and description paperclip starts from.
pub fn base_spec() -> DefaultApiRaw {
    DefaultApiRaw {
        info: Info {
            title: "Coffee Shop API".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: Some(
                "REST API of a take-away coffee-shop chain. Errors are RFC 9457 problem+json with a stable `code`; \
                 each operation lists the codes it can answer with. Authorize with an access token from \
                 `POST /auth/login`."
                    .to_owned()
                    + crate::live::doc::WEBSOCKET,
            ),
            ..Info::default()
        },
        ..DefaultApiRaw::default()
    }
}

/// Builds the document once, from the same route table the server mounts.
pub fn build() -> OpenApiDoc {
    let mut spec = Value::Null;
    let _app = actix_web::App::new()
        .wrap_api_with_spec(base_spec())
        .configure(crate::routes::configure)
        .with_raw_json_spec_v3(|app, v3| {
            spec = v3;
            app
        });
    complete(&mut spec);
    let conformance = Conformance::index(&spec);
    OpenApiDoc { json: spec, conformance }
}

/// Marks text that carries a part of the document to [`complete`].
const MARKER: &str = "x-coffee:";

/// Documents that the operation can answer with each of `problems`.
pub fn document_problems(op: &mut DefaultOperationRaw, problems: &[ProblemType]) {
    for p in problems {
        let entry = op.responses.entry(p.status.to_string()).or_insert_with(|| {
            Either::Right(DefaultResponseRaw { description: Some(format!("{MARKER}[]")), ..Default::default() })
        });
        let Either::Right(response) = entry else { continue };
        let Some(marked) = response.description.as_deref().and_then(|d| d.strip_prefix(MARKER)) else { continue };
        let mut listed: Vec<(String, String)> = serde_json::from_str(marked).unwrap_or_default();
        if !listed.iter().any(|(code, _)| code == p.code) {
            listed.push((p.code.to_owned(), p.detail.to_owned()));
        }
        response.description = Some(format!("{MARKER}{}", json!(listed)));
    }
}

/// Documents a header of the `status` response (which must exist already).
pub fn document_header(op: &mut DefaultOperationRaw, status: &str, name: &str, description: &str) {
    if let Some(Either::Right(response)) = op.responses.get_mut(status) {
        response.headers.insert(
            name.to_owned(),
            paperclip::v2::models::Header {
                description: Some(description.to_owned()),
                data_type: Some(DataType::String),
                ..Default::default()
            },
        );
    }
}

/// Documents the list query language of resource `R`.
pub fn document_list_query<R: Resource>(op: &mut DefaultOperationRaw) {
    op.parameters.push(Either::Right(DefaultParameterRaw {
        in_: ParameterIn::Query,
        name: MARKER.to_owned(),
        description: Some(json!(query_parameters::<R>()).to_string()),
        data_type: Some(DataType::String),
        ..Default::default()
    }));
}

fn kind_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Text => {
            json!({"type": "string", "minLength": 1, "maxLength": MAX_TEXT_VALUE_CHARS, "pattern": schemas::no_control()})
        }
        FieldKind::Integer => json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX}),
        FieldKind::Bool => json!({"type": "boolean"}),
        FieldKind::Timestamp => json!({"type": "string", "format": "date-time", "description":
            "RFC 3339, to the microsecond at most (times are stored so), years 0001–9999 in UTC; percent-encode `+`"}),
        FieldKind::Uuid => json!({"type": "string", "format": "uuid"}),
        FieldKind::Enum(values) => json!({"type": "string", "enum": values}),
    }
}

/// `field__in`: comma-separated values (`style: form`, `explode: false`).
fn in_schema(kind: FieldKind) -> Value {
    let mut item = kind_schema(kind);
    if kind == FieldKind::Text {
        // A comma would split the value in two.
        item["pattern"] = json!(schemas::no_control().replace("[^", "[^,"));
    }
    json!({"type": "array", "items": item, "minItems": 1, "maxItems": MAX_IN_VALUES})
}

/// `sort`: comma-separated keys, each field at most once.
fn sort_pattern(fields: &[&str]) -> String {
    let one = format!("-?(?:{})", fields.join("|"));
    let twice = format!("(?!.*(?:^|,)-?({})(?:,.*)?,-?\\1(?:,|$))", fields.join("|"));
    format!("^{twice}{one}(?:,{one})*$")
}

/// Query parameters of the list language for resource `R`.
fn query_parameters<R: Resource>() -> Vec<Value> {
    let names = |pick: fn(&FieldSpec<R::Field>) -> bool| {
        R::FIELDS.iter().filter(|f| pick(f)).map(|f| f.name).collect::<Vec<_>>().join(", ")
    };
    let sortable: Vec<&str> = R::FIELDS.iter().filter(|f| f.sortable).map(|f| f.name).collect();
    let mut params = vec![
        json!({"name": "page", "in": "query", "description": "Page number, from 1.",
               "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX, "default": 1}}),
        json!({"name": "page_size", "in": "query", "description": format!("Items per page, 1 to {MAX_PAGE_SIZE}."),
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 20}}),
        json!({"name": "sort", "in": "query",
               "description": format!("Comma-separated sort keys, `-` for descending; names sort ignoring case. Fields: {}.", names(|f| f.sortable)),
               "schema": {"type": "string", "default": "-created_at", "pattern": sort_pattern(&sortable)}}),
    ];
    // A list without text fields refuses `search` (400), so it does not offer it.
    if R::FIELDS.iter().any(|f| f.searchable) {
        params.push(json!({"name": "search", "in": "query",
               "description": match R::SEARCHED_BEYOND {
                   None => format!("Case-insensitive substring over: {}.", names(|f| f.searchable)),
                   Some(beyond) => format!("Case-insensitive substring over: {}; and {beyond}.", names(|f| f.searchable)),
               },
               "schema": {"type": "string", "pattern": schemas::trimmed_text(MAX_TEXT_VALUE_CHARS)}}));
    }
    for field in R::FIELDS.iter().filter(|f| f.filterable) {
        for op in field.kind.operators() {
            let (schema, what) = match op {
                Op::In => (in_schema(field.kind), "is one of these comma-separated values"),
                Op::Eq => (kind_schema(field.kind), "equals"),
                Op::Gt => (kind_schema(field.kind), "is greater than"),
                Op::Gte => (kind_schema(field.kind), "is at least"),
                Op::Lt => (kind_schema(field.kind), "is less than"),
                Op::Lte => (kind_schema(field.kind), "is at most"),
                Op::Contains => (kind_schema(FieldKind::Text), "contains (case-insensitive)"),
            };
            let mut param = json!({
                "name": format!("{}{}", field.name, op.suffix()),
                "in": "query",
                "description": format!("`{}` {what}.", field.name),
                "schema": schema,
            });
            if *op == Op::In {
                param["style"] = json!("form");
                param["explode"] = json!(false);
            }
            params.push(param);
        }
    }
    params
}

/// A realistic problem document for the examples.
fn problem_example(status: u16, code: &str, detail: &str) -> Value {
    let title =
        actix_web::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let mut value = json!({
        "type": format!("urn:problem:coffee:{code}"), "title": title, "status": status, "detail": detail,
        "code": code, "request_id": "0193a0f2-6c1e-7b3a-9d52-4f8e1c2b7a90",
    });
    if status == 422 {
        value["errors"] = json!([{"field": "email", "message": "must be a valid e-mail address"}]);
    } else if code == "invalid_query" {
        value["errors"] = json!([{"field": "page_size", "message": "must be an integer from 1 to 100"}]);
    }
    value
}

/// One OpenAPI 3 response listing `problems` (code, detail) of `status`.
fn problem_response(status: u16, problems: &[(String, String)]) -> Value {
    let reason =
        actix_web::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let codes: Vec<String> = problems.iter().map(|(code, _)| format!("`{code}`")).collect();
    let mut examples = serde_json::Map::new();
    for (code, detail) in problems {
        examples.insert(code.clone(), json!({"summary": detail, "value": problem_example(status, code, detail)}));
    }
    let mut response = json!({
        "description": format!("{reason}: {}.", codes.join(", ")),
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}, "examples": examples}},
    });
    let mut headers = serde_json::Map::new();
    if status == 401 {
        headers.insert("WWW-Authenticate".to_owned(), json!({"description": "`Bearer`, with `error=\"invalid_token\"` for a bad token.", "schema": {"type": "string"}}));
    }
    if status == 429 || status == 503 {
        headers.insert(
            "Retry-After".to_owned(),
            json!({"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}),
        );
    }
    if problems.iter().any(|(code, _)| code == "rate_limited") {
        let policy = "The budgets of this route (draft-ietf-httpapi-ratelimit-headers), e.g. \
                      `\"ip\";q=10;w=60, \"email\";q=10;w=60`.";
        let left = "What is left of each budget and when it is full again, e.g. `\"ip\";r=0;t=6`.";
        headers.insert("RateLimit-Policy".to_owned(), json!({"description": policy, "schema": {"type": "string"}}));
        headers.insert("RateLimit".to_owned(), json!({"description": left, "schema": {"type": "string"}}));
    }
    if !headers.is_empty() {
        response["headers"] = Value::Object(headers);
    }
    response
}

/// The tags in a newcomer's order, with what each holds (Swagger UI shows
/// them in this order).
const TAGS: [(&str, &str); 8] = [
    (
        "Auth",
        "Start here: sign up → verify the e-mail (the 6-digit code or the link from the mail) → log in → click \
              **Authorize** and paste the `access_token`. Refresh and log out with the refresh token.",
    ),
    ("Users", "Your own profile (`/me`) and, for admins, every account: list with filters, change, delete."),
    ("Menu", "Categories and products with images. Reading is public; writing needs an admin."),
    ("Cart", "The signed-in customer's cart: one per user, one line per product, current prices."),
    (
        "Orders",
        "Check out the cart (or explicit items), follow an order, move it along (admins). Send an \
                `Idempotency-Key` with `POST /orders`; `ETag`/`If-Match` guard changes.",
    ),
    (
        "Support",
        "The support chat over REST: tickets for the WebSocket, conversations, history. The live socket \
                 is `GET /ws` (see the description at the top).",
    ),
    ("Shop", "The shop's address, contacts, currency and opening hours."),
    ("Health", "Liveness and readiness, for load balancers and orchestrators."),
];

/// Adds what paperclip cannot express (see the module docs).
fn complete(spec: &mut Value) {
    spec["tags"] = TAGS.iter().map(|(name, description)| json!({"name": name, "description": description})).collect();
    spec["components"]["securitySchemes"] = json!({
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                        "description": "Access token from POST /auth/login (paste it without the `Bearer ` prefix)."},
        "metricsToken": {"type": "http", "scheme": "bearer",
                          "description": "`METRICS_TOKEN` of the server; `GET /metrics` needs it only when it is set."}
    });
    spec["components"]["schemas"]["Problem"] = json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "URI of the problem type, e.g. urn:problem:coffee:email_taken."},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "Human-readable explanation."},
            "code": {"type": "string", "description": "Stable machine-readable code, e.g. `email_taken`."},
            "request_id": {"type": "string", "description": "Same as the X-Request-Id response header."},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
        }
    });
    spec["components"]["schemas"]["LoginForm"] = json!({
        "type": "object", "description": "The OAuth2 password-grant form of `POST /auth/login`.",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string", "description": "E-mail address."},
                       "password": {"type": "string", "minLength": 1, "maxLength": Password::MAX_CHARS}}});
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                let Some(op) = op.as_object_mut() else { continue };
                complete_operation(method, path, op);
            }
        }
    }
    schemas::refine(spec);
}

fn complete_operation(method: &str, path: &str, op: &mut serde_json::Map<String, Value>) {
    let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_owned();
    // The list query language, described by the extractor.
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        let mut expanded = Vec::new();
        for p in params.drain(..) {
            if p["name"] == MARKER {
                let described = p["description"].as_str().unwrap_or("[]");
                expanded.extend(serde_json::from_str::<Vec<Value>>(described).unwrap_or_default());
            } else {
                expanded.push(p);
            }
        }
        *params = expanded;
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let mut problems: Vec<(u16, Vec<(String, String)>)> = Vec::new();
    if let Some(map) = responses.as_object_mut() {
        map.retain(|status, response| {
            let marked = response["description"].as_str().and_then(|d| d.strip_prefix(MARKER));
            match (marked, status.parse::<u16>()) {
                (Some(listed), Ok(status)) => {
                    problems.push((status, serde_json::from_str(listed).unwrap_or_default()));
                    false
                }
                _ => true,
            }
        });
    }
    let mut add = |p: ProblemType| match problems.iter_mut().find(|(s, _)| *s == p.status) {
        Some((_, listed)) if listed.iter().any(|(code, _)| code == p.code) => {}
        Some((_, listed)) => listed.push((p.code.to_owned(), p.detail.to_owned())),
        None => problems.push((p.status, vec![(p.code.to_owned(), p.detail.to_owned())])),
    };
    // An id in the path that is not a UUID, or names nothing, is a 404.
    if path.contains('{') {
        add(catalogue::NOT_FOUND);
    }
    add(catalogue::INTERNAL_ERROR);
    // Problems of the middleware, which runs before any handler.
    let method = actix_web::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap_or_default();
    if crate::csrf::is_unsafe(&method) {
        add(catalogue::CSRF_FAILED);
    }
    if crate::ratelimit::LIMITED_ROUTES.iter().any(|(m, p)| *m == method && *p == path) {
        add(catalogue::RATE_LIMITED);
    }
    codes::narrow(&id, method.as_str(), path, &mut problems);
    for (status, listed) in &problems {
        responses[status.to_string()] = problem_response(*status, listed);
    }
    if let Some(created) = responses.get_mut("201") {
        created["headers"]["Location"] =
            json!({"description": "Path of the new resource.", "schema": {"type": "string"}});
    }
    // paperclip converts a header of [`document_header`] to `content: {}`
    // without a schema, which OpenAPI 3.0 does not allow.
    for response in responses.as_object_mut().into_iter().flat_map(|map| map.values_mut()) {
        for header in
            response.get_mut("headers").and_then(Value::as_object_mut).into_iter().flat_map(|h| h.values_mut())
        {
            if header.get("schema").is_none() {
                let description = header.get("description").cloned();
                *header = json!({"schema": {"type": "string"}});
                if let Some(description) = description {
                    header["description"] = description;
                }
            }
        }
    }
    match id.as_str() {
        "ready" => {
            let health = json!({"application/json": {"schema": {"$ref": "#/components/schemas/HealthDto"}}});
            responses["200"] = json!({"description": "Every dependency answers.", "content": health.clone()});
            responses["503"] = json!({"description": "A dependency is down.", "content": health});
        }
        "metrics" => {
            let text = json!({"text/plain; version=0.0.4": {"schema": {"type": "string"}, "example":
                "coffee_http_requests_total{method=\"GET\",route=\"/products/{id}\",status=\"200\"} 42\n"}});
            responses["200"] = json!({"description": "The metrics in Prometheus text format.", "content": text});
            // Public unless METRICS_TOKEN is set.
            op.insert("security".to_owned(), json!([{}, {"metricsToken": []}]));
        }
        "getMedia" => crate::routes::media::document(op),
        "verifyLink" => {
            responses["200"] = json!({"description": "Verified (also when opened again): a page, or in \
                JSON the user when this call verified it and `{\"detail\"}` when it was opened before.",
                "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/UserDto"}, {"$ref": "#/components/schemas/MessageDto"}]}}}});
            // A browser gets a page for a bad link too; `Accept: application/json` the problem.
            responses["400"]["content"]["text/html"] = json!({"schema": {"type": "string"}});
            responses["400"]["description"] = json!(
                "The link is invalid or has expired: an HTML page, \
                or the problem (`invalid_verification_code`) with `Accept: application/json`."
            );
        }
        "listMessages" => {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                match p["name"].as_str() {
                    Some("after_seq" | "before_seq") => p["schema"]["minimum"] = json!(0),
                    Some("limit") => {
                        p["schema"]["minimum"] = json!(1);
                        p["schema"]["maximum"] = json!(coffee_domain::support::HISTORY_MAX_LIMIT);
                    }
                    _ => {}
                }
            }
        }
        "uploadProductImage" => {
            op.insert(
                "requestBody".to_owned(),
                json!({"required": true, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"], "additionalProperties": false,
                    "properties": {"file": {"type": "string", "format": "binary",
                        "description": "PNG, JPEG or WebP, at most 5 MiB."}}}}}}),
            );
        }
        "login" => {
            if let Some(content) = op.get_mut("requestBody").and_then(|b| b.get_mut("content")) {
                let form = json!({"schema": {"$ref": "#/components/schemas/LoginForm"}});
                content["application/x-www-form-urlencoded"] = form;
            }
        }
        _ => {}
    }
    // SPEC §3: every response carries X-Request-Id, taken from the request if sent.
    let params = op.entry("parameters").or_insert_with(|| json!([]));
    if let Some(params) = params.as_array_mut() {
        params.push(json!({"name": "X-Request-Id", "in": "header", "required": false,
            "description": "Your id for this request, echoed in the `X-Request-Id` response header and in problem \
                            documents; kept when it is 1–128 printable ASCII characters, else replaced by a new one.",
            "schema": {"type": "string"}}));
    }
    // Every body extractor needs a body: an empty one is malformed (400) or of no media type (415).
    if let Some(body) = op.get_mut("requestBody") {
        body["required"] = json!(true);
    }
    examples::attach(&id, op);
    // Public operations say so explicitly.
    op.entry("security").or_insert_with(|| json!([]));
}

/// Which problems each documented operation may answer with, and the ones
/// it answered with although the document does not list them.
#[derive(Debug, Default)]
pub struct Conformance {
    documented: HashMap<(String, String), HashSet<(u16, String)>>,
    undocumented: Mutex<BTreeSet<String>>,
}

impl Conformance {
    fn index(spec: &Value) -> Self {
        let mut documented = HashMap::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let mut codes = HashSet::new();
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let examples = &response["content"]["application/problem+json"]["examples"];
                    for code in examples.as_object().into_iter().flatten().map(|(code, _)| code) {
                        codes.insert((status.parse().unwrap_or_default(), code.clone()));
                    }
                }
                documented.insert((method.to_uppercase(), path.clone()), codes);
            }
        }
        Self { documented, undocumented: Mutex::default() }
    }

    /// Checks a problem response of `method` on route `pattern`; one the
    /// document does not list is logged and remembered.
    pub fn check(&self, method: &str, pattern: &str, status: u16, code: &str) {
        let Some(codes) = self.documented.get(&(method.to_owned(), pattern.to_owned())) else { return };
        if !codes.contains(&(status, code.to_owned())) {
            let what = format!("{method} {pattern} answered {status} {code}");
            tracing::error!("{what}, which the OpenAPI document does not list");
            self.undocumented.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(what);
        }
    }

    /// Every undocumented (operation, status, code) seen so far.
    pub fn undocumented(&self) -> Vec<String> {
        self.undocumented.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }
}

async fn openapi_json(doc: Data<OpenApiDoc>) -> HttpResponse {
    HttpResponse::Ok().json(&doc.json)
}

const SWAGGER_JS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");
const SWAGGER_INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The token pasted into Authorize survives a reload (kept in this
    // origin's localStorage, like any token a browser client keeps).
    persistAuthorization: true,
    // Auth in the order a newcomer needs it; the rest by path, then method.
    operationsSorter: function (a, b) {
      const first = ["post /auth/signup", "post /auth/verify", "get /auth/verify", "post /auth/verify/resend",
                     "post /auth/login", "post /auth/refresh", "post /auth/logout"];
      const methods = ["get", "post", "put", "patch", "delete"];
      const rank = (op) => {
        const i = first.indexOf(op.get("method") + " " + op.get("path"));
        return i < 0 ? first.length : i;
      };
      return rank(a) - rank(b) || a.get("path").localeCompare(b.get("path")) ||
        methods.indexOf(a.get("method")) - methods.indexOf(b.get("method"));
    },
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"##;
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Coffee Shop API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-initializer.js"></script>
</body>
</html>
"#;

/// Swagger UI needs its own scripts, styles and inline styles; nothing from other hosts.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                        frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

async fn docs_file(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let file = req.match_info().get("file").unwrap_or_default();
    let (body, content_type): (&'static [u8], &str) = match file {
        "" | "index.html" => (DOCS_HTML.as_bytes(), "text/html; charset=utf-8"),
        "swagger-ui-bundle.js" => (SWAGGER_JS, "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (SWAGGER_CSS, "text/css; charset=utf-8"),
        "swagger-initializer.js" => (SWAGGER_INIT.as_bytes(), "text/javascript; charset=utf-8"),
        _ => return Err(ApiError::not_found()),
    };
    let cache = if content_type.starts_with("text/html") { "no-cache" } else { "public, max-age=86400" };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
        .body(body))
}

/// Mounts `/openapi.json` and the Swagger UI at `/docs`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_head = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.service(web::resource("/openapi.json").route(get_or_head().to(openapi_json)))
        .service(web::resource(["/docs", "/docs/", "/docs/{file}"]).route(get_or_head().to(docs_file)));
}
