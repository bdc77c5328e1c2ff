//! `GET /openapi.json` and the offline Swagger UI at `/docs`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, header, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn openapi() -> Value {
    let app = spawn_app().await;
    let resp = app.get("/openapi.json", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("application/json"));
    resp.json().await.unwrap()
}

/// `(method, path, operation)` for every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let doc = openapi().await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut found: Vec<String> = operations(&doc).iter().map(|(m, p, _)| format!("{} {p}", m.to_uppercase())).collect();
    found.sort();
    let mut expected: Vec<String> = [
        "POST /auth/signup",
        "POST /auth/verify",
        "GET /auth/verify",
        "POST /auth/verify/resend",
        "POST /auth/login",
        "POST /auth/refresh",
        "POST /auth/logout",
        "GET /me",
        "PATCH /me",
        "GET /users",
        "GET /users/{id}",
        "PATCH /users/{id}",
        "PUT /users/{id}",
        "DELETE /users/{id}",
        "GET /health/live",
        "GET /health/ready",
        "GET /metrics",
        "GET /info",
        "GET /categories",
        "POST /categories",
        "GET /categories/{id}",
        "PUT /categories/{id}",
        "PATCH /categories/{id}",
        "DELETE /categories/{id}",
        "GET /products",
        "POST /products",
        "GET /products/{id}",
        "PUT /products/{id}",
        "PATCH /products/{id}",
        "DELETE /products/{id}",
        "POST /products/{id}/image",
        "GET /cart",
        "POST /cart",
        "DELETE /cart",
        "PATCH /cart/{item_id}",
        "DELETE /cart/{item_id}",
        "GET /orders",
        "POST /orders",
        "GET /orders/{id}",
        "PATCH /orders/{id}",
        "PUT /orders/{id}",
        "DELETE /orders/{id}",
        "POST /support/tickets",
        "GET /support/conversations",
        "GET /support/conversations/{id}",
        "PATCH /support/conversations/{id}",
        "GET /support/conversations/{id}/messages",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn every_operation_is_documented_with_errors_and_security() {
    let doc = openapi().await;
    let mut ids = Vec::new();
    for (method, path, op) in operations(&doc) {
        let what = format!("{method} {path}");
        for key in ["summary", "description", "operationId"] {
            assert!(op[key].as_str().is_some_and(|s| !s.trim().is_empty()), "{what}: no {key}");
        }
        let id = op["operationId"].as_str().unwrap().to_owned();
        assert!(!ids.contains(&id), "{what}: operationId {id} is used twice");
        ids.push(id);
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{what}: no responses"));
        assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no success response");
        // The probes and the static shop information take no input: no 4xx to document.
        if !path.starts_with("/health/") && path != "/info" {
            assert!(responses.keys().any(|s| s.starts_with('4')), "{what}: no 4xx response");
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let media = &response["content"];
                if path != "/health/ready" {
                    assert!(media["application/problem+json"].is_object(), "{what} {status}: not problem+json");
                }
            }
        }
        for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2') && *s != "204") {
            // Prometheus reads its own text format.
            let media = if path == "/metrics" { "text/plain; version=0.0.4" } else { "application/json" };
            let schema = &response["content"][media]["schema"];
            assert!(schema.is_object(), "{what} {status}: no JSON response schema");
        }
        assert!(op.get("security").is_some_and(Value::is_array), "{what}: no security requirement");
        if path.ends_with("/image") {
            let file = &op["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["file"];
            assert_eq!(file["format"], "binary", "{what}: the upload is not documented as multipart");
        } else if ["post", "put", "patch"].contains(&method.as_str()) && path != "/support/tickets" {
            assert!(op["requestBody"]["content"]["application/json"].is_object(), "{what}: no JSON request body");
        }
    }
}

#[tokio::test]
async fn protected_operations_require_the_bearer_scheme() {
    let doc = openapi().await;
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["type"], "http");
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    let bearer = json!([{"bearerAuth": []}]);
    for (method, path, op) in operations(&doc) {
        let menu_write = (path.starts_with("/categories") || path.starts_with("/products")) && method != "get";
        let own = ["/me", "/users", "/cart", "/orders", "/support"].iter().any(|p| path.starts_with(p));
        let protected = own || menu_write;
        if path == "/metrics" {
            // Public unless METRICS_TOKEN is set, and then not an access token.
            assert_eq!(op["security"], json!([{}, {"metricsToken": []}]), "{method} {path}");
            assert_eq!(doc["components"]["securitySchemes"]["metricsToken"]["scheme"], "bearer");
            assert!(op["responses"]["401"].is_object(), "{method} {path}: 401 undocumented");
        } else if protected {
            assert_eq!(op["security"], bearer, "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}: 401 undocumented");
        } else {
            assert_eq!(op["security"], json!([]), "{method} {path} is public");
        }
    }
}

#[tokio::test]
async fn the_user_list_documents_its_query_language_from_the_whitelist() {
    let doc = openapi().await;
    let params: Vec<String> = doc["paths"]["/users"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    for name in [
        "page",
        "page_size",
        "sort",
        "search",
        "email",
        "email__contains",
        "role",
        "role__in",
        "is_verified",
        "created_at__gte",
    ] {
        assert!(params.contains(&name.to_owned()), "{name} is not documented: {params:?}");
    }
    assert!(!params.iter().any(|p| p.contains("password")), "{params:?}");
    assert!(!params.contains(&"is_verified__gt".to_owned()), "{params:?}");
    let created = &doc["paths"]["/auth/signup"]["post"]["responses"]["201"];
    assert!(created["headers"]["Location"].is_object(), "201 documents Location: {created}");
    let login = &doc["paths"]["/auth/login"]["post"]["requestBody"]["content"];
    assert!(login["application/x-www-form-urlencoded"].is_object(), "the login form is documented");
    let serialized = doc.to_string();
    assert!(!serialized.contains("password_hash"), "the document mentions password_hash");
}

#[tokio::test]
async fn swagger_ui_is_served_offline_from_the_same_origin() {
    let app = spawn_app().await;
    let resp = app.get("/docs", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("text/html"));
    let csp = header(resp.headers(), "content-security-policy").unwrap();
    assert!(!csp.contains("http"), "the CSP allows other hosts: {csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(!html.contains("http"), "the page references another origin: {html}");
    // Every asset it references is served.
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/docs/") && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    assert!(assets.contains(&"/docs/swagger-ui-bundle.js"), "{html}");
    for asset in assets {
        let resp = app.get(asset, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        let content_type = header(resp.headers(), "content-type").unwrap();
        let expected = if asset.ends_with(".js") { "javascript" } else { "text/css" };
        assert!(content_type.contains(expected), "{asset}: {content_type}");
        assert!(!resp.bytes().await.unwrap().is_empty(), "{asset} is empty");
    }
    let init = app.get("/docs/swagger-initializer.js", None).await.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
}

#[tokio::test]
async fn an_unknown_docs_asset_is_a_404_problem() {
    let app = spawn_app().await;
    assert_problem(app.get("/docs/does-not-exist.js", None).await, 404, "not_found").await;
    assert_problem(app.get("/docs/../openapi.json.bak", None).await, 404, "not_found").await;
    assert_problem(app.get("/docs/a/b.js", None).await, 404, "not_found").await;
}

/// Every `$ref` string anywhere in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_schema_reference_resolves_and_users_have_no_password_field() {
    let doc = openapi().await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r} does not resolve");
    }
    let user = &doc["components"]["schemas"]["UserDto"]["properties"];
    let mut props: Vec<&str> = user.as_object().expect("UserDto properties").keys().map(String::as_str).collect();
    props.sort_unstable();
    let mut expected = crate::signup::USER_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(props, expected);
}
