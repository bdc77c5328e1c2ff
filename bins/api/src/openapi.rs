//! The OpenAPI 3 document and the offline Swagger UI.
//!
//! paperclip derives paths, parameters and schemas from the handlers; this
//! module completes what it cannot express: per-operation error responses,
//! the HTTP bearer scheme, the list query parameters (generated from each
//! resource's field table, so they never drift from the whitelist), the
//! `Location` header and the form variant of login.

use actix_web::guard;
use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use coffee_domain::catalog::{CategoryResource, ProductResource};
use coffee_domain::query::{FieldKind, MAX_PAGE_SIZE, Resource};
use coffee_domain::user::UserResource;
use paperclip::actix::OpenApiExt;
use paperclip::v2::models::{DefaultApiRaw, Info};
use serde_json::{Value, json};

use crate::problem::ApiError;

/// The finished document, served at `/openapi.json`.
#[derive(Debug, Clone)]
pub struct OpenApiDoc(pub Value);

/// Title, version and description paperclip starts from.
pub fn base_spec() -> DefaultApiRaw {
    DefaultApiRaw {
        info: Info {
            title: "Coffee Shop API".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: Some(
                "REST API of a take-away coffee-shop chain. Errors are RFC 9457 problem+json with a stable `code`. \
                 Authorize with an access token from `POST /auth/login`."
                    .to_owned(),
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
    OpenApiDoc(spec)
}

/// Error statuses each operation can answer, by operationId.
const ERRORS: &[(&str, &[u16])] = &[
    ("signup", &[400, 409, 413, 415, 422]),
    ("verify", &[400, 409, 413, 415, 422, 429]),
    ("verifyLink", &[400]),
    ("resendVerification", &[400, 413, 415, 422]),
    ("login", &[400, 401, 403, 413, 415, 422]),
    ("refresh", &[400, 401, 413, 415, 422]),
    ("logout", &[400, 401, 413, 415, 422]),
    ("getMe", &[401]),
    ("updateMe", &[400, 401, 413, 415, 422]),
    ("listUsers", &[400, 401, 403]),
    ("getUser", &[401, 403, 404]),
    ("patchUser", &[400, 401, 403, 404, 409, 413, 415, 422]),
    ("putUser", &[400, 401, 403, 404, 409, 413, 415, 422]),
    ("deleteUser", &[401, 403, 404, 409]),
    ("ready", &[503]),
    ("listCategories", &[400]),
    ("getCategory", &[404]),
    ("createCategory", &[400, 401, 403, 409, 413, 415, 422]),
    ("putCategory", &[400, 401, 403, 404, 409, 413, 415, 422]),
    ("patchCategory", &[400, 401, 403, 404, 409, 413, 415, 422]),
    ("deleteCategory", &[401, 403, 404]),
    ("listProducts", &[400]),
    ("getProduct", &[404]),
    ("createProduct", &[400, 401, 403, 413, 415, 422]),
    ("putProduct", &[400, 401, 403, 404, 413, 415, 422]),
    ("patchProduct", &[400, 401, 403, 404, 413, 415, 422]),
    ("deleteProduct", &[401, 403, 404]),
    ("uploadProductImage", &[400, 401, 403, 404, 413, 415, 422]),
];

/// List operations and the resource whose field table documents their query.
fn list_parameters(op_id: &str) -> Option<Vec<Value>> {
    match op_id {
        "listUsers" => Some(query_parameters::<UserResource>()),
        "listCategories" => Some(query_parameters::<CategoryResource>()),
        "listProducts" => Some(query_parameters::<ProductResource>()),
        _ => None,
    }
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "Malformed body or query (`malformed_request`, `invalid_query`, `invalid_verification_code`).",
        401 => "Missing, invalid or expired token, or wrong credentials (`WWW-Authenticate: Bearer`).",
        403 => "Authenticated but not allowed (`forbidden`, `email_not_verified`).",
        404 => "No such resource, or one you may not see.",
        409 => "Conflict (`email_taken`, `already_verified`, `last_admin`, `category_name_taken`).",
        413 => "The body is too large (64 KiB for JSON, 5 MiB for images).",
        415 => "Wrong Content-Type, or an upload that is not a PNG, JPEG or WebP image.",
        422 => "Validation failed; `errors` lists each field.",
        429 => "Too many attempts; see `Retry-After`.",
        503 => "A dependency is down.",
        _ => "Unexpected error; the body never shows internals.",
    }
}

fn problem_response(status: u16) -> Value {
    json!({
        "description": error_description(status),
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn kind_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Text => json!({"type": "string"}),
        FieldKind::Integer => json!({"type": "integer", "format": "int64"}),
        FieldKind::Bool => json!({"type": "boolean"}),
        FieldKind::Timestamp => json!({"type": "string", "format": "date-time"}),
        FieldKind::Uuid => json!({"type": "string", "format": "uuid"}),
        FieldKind::Enum(values) => json!({"type": "string", "enum": values}),
    }
}

/// Query parameters of the list language for resource `R`.
fn query_parameters<R: Resource>() -> Vec<Value> {
    let names = |pick: fn(&coffee_domain::query::FieldSpec<R::Field>) -> bool| {
        R::FIELDS.iter().filter(|f| pick(f)).map(|f| f.name).collect::<Vec<_>>().join(", ")
    };
    let mut params = vec![
        json!({"name": "page", "in": "query", "description": "Page number, from 1.",
               "schema": {"type": "integer", "minimum": 1, "default": 1}}),
        json!({"name": "page_size", "in": "query", "description": format!("Items per page, 1 to {MAX_PAGE_SIZE}."),
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 20}}),
        json!({"name": "sort", "in": "query",
               "description": format!("Comma-separated sort keys, `-` for descending. Fields: {}.", names(|f| f.sortable)),
               "schema": {"type": "string", "default": "-created_at"}}),
        json!({"name": "search", "in": "query",
               "description": format!("Case-insensitive substring over: {}.", names(|f| f.searchable)),
               "schema": {"type": "string", "maxLength": coffee_domain::query::MAX_TEXT_VALUE_CHARS}}),
    ];
    for field in R::FIELDS.iter().filter(|f| f.filterable) {
        for op in field.kind.operators() {
            let (schema, what) = match op {
                coffee_domain::query::Op::In => (json!({"type": "string"}), "is one of these comma-separated values"),
                coffee_domain::query::Op::Eq => (kind_schema(field.kind), "equals"),
                coffee_domain::query::Op::Gt => (kind_schema(field.kind), "is greater than"),
                coffee_domain::query::Op::Gte => (kind_schema(field.kind), "is at least"),
                coffee_domain::query::Op::Lt => (kind_schema(field.kind), "is less than"),
                coffee_domain::query::Op::Lte => (kind_schema(field.kind), "is at most"),
                coffee_domain::query::Op::Contains => (json!({"type": "string"}), "contains (case-insensitive)"),
            };
            params.push(json!({
                "name": format!("{}{}", field.name, op.suffix()),
                "in": "query",
                "description": format!("`{}` {what}.", field.name),
                "schema": schema,
            }));
        }
    }
    params
}

/// Adds what paperclip cannot express (see the module docs).
fn complete(spec: &mut Value) {
    spec["components"]["securitySchemes"] = json!({
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                        "description": "Access token from POST /auth/login (paste it without the `Bearer ` prefix)."}
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
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else { continue };
        for op in ops.values_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_owned();
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            if let Some(created) = responses.get_mut("201") {
                created["headers"] = json!({"Location": {"description": "Path of the new resource.",
                                                          "schema": {"type": "string"}}});
            }
            for (op_id, codes) in ERRORS {
                if *op_id == id {
                    for code in *codes {
                        responses[code.to_string()] = problem_response(*code);
                    }
                }
            }
            if id != "live" {
                responses["500"] = problem_response(500);
            }
            match id.as_str() {
                "ready" => {
                    let health = json!({"application/json": {"schema": {"$ref": "#/components/schemas/HealthDto"}}});
                    responses["200"] = json!({"description": "Every dependency answers.", "content": health.clone()});
                    responses["503"] = json!({"description": "A dependency is down.", "content": health});
                }
                "verifyLink" => {
                    responses["200"] = json!({"description": "Verified (also when opened again).", "content": {
                        "text/html": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"$ref": "#/components/schemas/UserDto"}}}});
                }
                "uploadProductImage" => {
                    op.insert(
                        "requestBody".to_owned(),
                        json!({"required": true, "content": {"multipart/form-data": {"schema": {
                            "type": "object", "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary",
                                "description": "PNG, JPEG or WebP, at most 5 MiB."}}}}}}),
                    );
                }
                "login" => {
                    if let Some(content) = op.get_mut("requestBody").and_then(|b| b.get_mut("content")) {
                        let form = json!({"schema": {"type": "object", "required": ["username", "password"],
                            "properties": {"username": {"type": "string", "description": "E-mail address."},
                                           "password": {"type": "string"}}}});
                        content["application/x-www-form-urlencoded"] = form;
                    }
                }
                _ => {}
            }
            if let Some(extra) = list_parameters(&id) {
                let params = op.entry("parameters").or_insert_with(|| json!([]));
                if let Some(list) = params.as_array_mut() {
                    list.extend(extra);
                }
            }
            // Public operations say so explicitly.
            op.entry("security").or_insert_with(|| json!([]));
        }
    }
}

async fn openapi_json(doc: Data<OpenApiDoc>) -> HttpResponse {
    HttpResponse::Ok().json(&doc.0)
}

const SWAGGER_JS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");
const SWAGGER_INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
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
