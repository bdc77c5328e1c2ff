//! `GET /openapi.json` and the offline Swagger UI at `/docs`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, header, spawn_app, spawn_app_with};

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
        "GET /media/{file}",
        "GET /cart",
        "POST /cart",
        "DELETE /cart",
        "GET /cart/{item_id}",
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
                // A static file's conditional and range refusals have no body.
                let bodiless = path == "/media/{file}" && ["412", "416"].contains(&status.as_str());
                if path != "/health/ready" && !bodiless {
                    assert!(media["application/problem+json"].is_object(), "{what} {status}: not problem+json");
                }
            }
        }
        for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2') && *s != "204") {
            // Prometheus reads its own text format; an image is an image.
            let media = match path.as_str() {
                "/metrics" => "text/plain; version=0.0.4",
                "/media/{file}" => "image/png",
                _ => "application/json",
            };
            let schema = &response["content"][media]["schema"];
            assert!(schema.is_object(), "{what} {status}: no response schema");
        }
        assert!(op.get("security").is_some_and(Value::is_array), "{what}: no security requirement");
        if path.ends_with("/image") {
            let form = &op["requestBody"]["content"]["multipart/form-data"]["schema"];
            assert_eq!(
                form["properties"]["file"]["format"], "binary",
                "{what}: the upload is not documented as multipart"
            );
            assert_eq!(form["additionalProperties"], false, "{what}: another part is refused (422)");
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
        let own = ["/me", "/users", "/cart", "/orders", "/support"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
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
    // A timestamp says what the server refuses beyond RFC 3339.
    let users = doc["paths"]["/users"]["get"]["parameters"].as_array().expect("parameters");
    let since = users.iter().find(|p| p["name"] == "created_at__gte").expect("created_at__gte").to_string();
    assert!(since.contains("microsecond") && since.contains("0001–9999"), "{since}");
    // Orders search their comment and their lines; conversations have no
    // text field, so `search` is refused there and not offered.
    let params_of = |path: &str| doc["paths"][path]["get"]["parameters"].as_array().expect("parameters").clone();
    let search = |p: &Value| p["name"] == "search";
    let orders = params_of("/orders");
    let described = orders.iter().find(|p| search(p)).map(|p| p["description"].to_string()).unwrap_or_default();
    assert!(described.contains("comment") && described.contains("product names of its lines"), "{described}");
    let conversations = params_of("/support/conversations");
    assert!(!conversations.iter().any(search), "{conversations:?}");
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
    assert!(init.contains("persistAuthorization: true"), "Authorize survives a reload: {init}");
    assert!(init.contains("operationsSorter"), "Auth in a newcomer's order: {init}");
}

#[tokio::test]
async fn tags_are_listed_in_a_newcomers_order_with_descriptions_and_cover_every_operation() {
    let doc = openapi().await;
    let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tags, ["Auth", "Users", "Menu", "Cart", "Orders", "Support", "Shop", "Health"]);
    assert!(doc["tags"].as_array().unwrap().iter().all(|t| t["description"].as_str().is_some_and(|d| d.len() > 20)));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tag = op["tags"][0].as_str().unwrap_or_else(|| panic!("{method} {path} has no tag"));
            assert!(tags.contains(&tag), "{method} {path}: tag {tag} is not listed");
        }
    }
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

/// The component schema a `$ref` names.
fn component<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let name = reference.as_str().and_then(|r| r.strip_prefix("#/components/schemas/")).expect("a schema $ref");
    &doc["components"]["schemas"][name]
}

/// Every key of `body` whose value is `null` is documented as nullable in `schema`.
fn assert_nulls_documented(body: &Value, schema: &Value, what: &str) {
    for (key, value) in body.as_object().expect("an object") {
        if value.is_null() {
            assert_eq!(schema["properties"][key]["nullable"], true, "{what}.{key} is null but not nullable");
        }
    }
}

#[tokio::test]
async fn fields_the_server_answers_as_null_are_documented_nullable() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    // A new user has no names, no phone and no verification time.
    let user = app.signup("nullable@example.com", crate::helpers::PASSWORD).await;
    for key in ["first_name", "last_name", "phone", "verified_at"] {
        assert!(user[key].is_null(), "{key} of a new user: {user}");
    }
    assert_nulls_documented(&user, &schemas["UserDto"], "UserDto");
    // A category and a product without description or image.
    let admin = app.admin_token().await;
    let category =
        app.send_json(Method::POST, "/categories", Some(&admin), &json!({"name": "Plain"})).await.json::<Value>();
    let category = category.await.unwrap();
    assert_nulls_documented(&category, &schemas["CategoryDto"], "CategoryDto");
    let product = app
        .send_json(Method::POST, "/products", Some(&admin), &json!({"name": "Plain", "price": 100}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(product["image_url"].is_null() && product["description"].is_null(), "{product}");
    assert_nulls_documented(&product, &schemas["ProductDto"], "ProductDto");
    // The liveness probe names no dependency; readiness without Redis has `redis: null`.
    let live: Value = app.get("/health/live", None).await.json().await.unwrap();
    assert_nulls_documented(&live, &schemas["HealthDto"], "HealthDto");
    for key in ["database", "redis"] {
        assert_eq!(schemas["HealthDto"]["properties"][key]["nullable"], true, "HealthDto.{key}");
    }
    // What is always present stays required and not nullable.
    let required = schemas["UserDto"]["required"].as_array().unwrap();
    for key in ["id", "email", "role", "is_verified", "created_at"] {
        assert!(required.contains(&json!(key)), "UserDto.{key} is not required");
        assert!(schemas["UserDto"]["properties"][key].get("nullable").is_none(), "UserDto.{key} is nullable");
    }
    // A null is sent all the same: the key is there, so it is required
    // (generated clients type it `T | null`, not "maybe absent").
    for (schema, body, keys) in [
        ("UserDto", &user, &["first_name", "last_name", "phone", "verified_at"][..]),
        ("ProductDto", &product, &["description", "image_url"][..]),
        ("HealthDto", &live, &["database", "redis"][..]),
    ] {
        let required = schemas[schema]["required"].as_array().unwrap();
        for key in keys {
            assert!(body.get(*key).is_some(), "{schema}.{key} is sent: {body}");
            assert!(required.contains(&json!(key)), "{schema}.{key} is always sent but not required");
        }
    }
    // The one property left out when empty is not required.
    let message = &schemas["MessagePage"]["properties"]["items"]["items"];
    assert!(message["properties"]["client_id"].is_object(), "{message}");
    assert!(!message["required"].as_array().unwrap().contains(&json!("client_id")), "{message}");
}

#[tokio::test]
async fn every_documented_response_header_has_a_schema() {
    let doc = openapi().await;
    let mut seen = Vec::new();
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            for (name, header) in response["headers"].as_object().into_iter().flatten() {
                assert!(header["schema"].is_object(), "{method} {path} {status} {name}: {header}");
                assert!(header.get("content").is_none(), "{method} {path} {status} {name}: {header}");
                seen.push(format!("{method} {path} {status} {name}"));
            }
        }
    }
    for expected in ["post /orders 201 Idempotent-Replayed", "get /orders/{id} 200 ETag"] {
        assert!(seen.iter().any(|s| s == expected), "{expected} not documented: {seen:?}");
    }
}

#[tokio::test]
async fn request_bodies_are_closed_exactly_where_the_server_refuses_unknown_fields() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut closed = 0;
    for (method, path, op) in operations(&doc) {
        let Some(reference) = op["requestBody"]["content"]["application/json"]["schema"].get("$ref") else {
            continue;
        };
        assert_eq!(op["requestBody"]["required"], true, "{method} {path}: the body is not required");
        let schema = component(&doc, reference);
        if path == "/auth/login" {
            // Login reads JSON or an OAuth2 form and ignores what it does not know.
            assert!(schema.get("additionalProperties").is_none(), "{method} {path}: {schema}");
        } else if schema.get("oneOf").is_none() {
            assert_eq!(schema["additionalProperties"], false, "{method} {path} refuses unknown fields");
            closed += 1;
        }
    }
    assert!(closed >= 15, "only {closed} closed request bodies");
    // Nested objects too: an order line.
    let line = &doc["components"]["schemas"]["OrderRequest"]["properties"]["items"]["items"];
    assert_eq!(line["additionalProperties"], false, "{line}");
    // And the server does refuse them.
    let resp = app.try_signup(&json!({"email": "x@example.com", "password": "long enough", "nickname": "x"})).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "nickname", "{problem}");
}

#[tokio::test]
async fn request_schemas_state_the_constraints_the_validators_enforce() {
    let doc = openapi().await;
    let schemas = &doc["components"]["schemas"];
    let signup = &schemas["SignupRequest"]["properties"];
    assert_eq!(signup["email"]["format"], "email");
    assert_eq!(
        (signup["password"]["minLength"].as_u64(), signup["password"]["maxLength"].as_u64()),
        (Some(8), Some(128))
    );
    assert!(signup["first_name"]["pattern"].is_string() && signup["phone"]["pattern"].is_string(), "{signup}");
    // `null` is refused for sign-up's optional fields (leave them out), accepted where it clears.
    assert!(signup["first_name"].get("nullable").is_none(), "{signup}");
    assert_eq!(schemas["UpdateMeRequest"]["properties"]["first_name"]["nullable"], true);
    assert_eq!(schemas["CategoryPatchRequest"]["properties"]["description"]["nullable"], true);
    assert!(schemas["CategoryPatchRequest"]["properties"]["name"].get("nullable").is_none());
    let price = &schemas["ProductRequest"]["properties"]["price"];
    assert_eq!((price["minimum"].as_i64(), price["maximum"].as_i64()), (Some(0), Some(100_000_000)), "{price}");
    let quantity = &schemas["AddToCartRequest"]["properties"]["quantity"];
    assert_eq!((quantity["minimum"].as_i64(), quantity["maximum"].as_i64()), (Some(1), Some(99)), "{quantity}");
    let items = &schemas["OrderRequest"]["properties"]["items"];
    assert_eq!((items["minItems"].as_u64(), items["maxItems"].as_u64()), (Some(1), Some(50)), "{items}");
    // Verification takes the code with its address, or the link's token: one of the two, nothing else.
    let verify = &schemas["VerifyRequest"]["oneOf"];
    let variants: Vec<&Value> = verify.as_array().expect("oneOf").iter().map(|r| component(&doc, &r["$ref"])).collect();
    assert_eq!(variants.len(), 2, "{verify}");
    assert_eq!(variants[0]["required"], json!(["email", "code"]));
    assert_eq!(variants[1]["required"], json!(["token"]));
    assert!(variants.iter().all(|v| v["additionalProperties"] == false), "{verify}");
}

#[tokio::test]
async fn list_parameters_document_in_lists_and_sort_keys() {
    let doc = openapi().await;
    let params = doc["paths"]["/products"]["get"]["parameters"].as_array().unwrap();
    let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}"));
    // `price__in=1,2`: an array of integers, serialised comma-separated, never empty.
    let price_in = param("price__in");
    assert_eq!((&price_in["style"], &price_in["explode"]), (&json!("form"), &json!(false)));
    assert_eq!(price_in["schema"]["type"], "array");
    assert_eq!(price_in["schema"]["items"]["type"], "integer");
    assert_eq!(price_in["schema"]["minItems"], 1);
    let sort = param("sort")["schema"]["pattern"].as_str().expect("a sort pattern").to_owned();
    assert!(sort.contains("price") && !sort.contains("password"), "{sort}");
}

#[tokio::test]
async fn the_verification_link_documents_its_html_pages() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let responses = &doc["paths"]["/auth/verify"]["get"]["responses"];
    for status in ["200", "400"] {
        assert!(responses[status]["content"]["text/html"].is_object(), "{status}: {}", responses[status]);
    }
    let resp = app.get("/auth/verify?token=nonsense", None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("text/html"));
}

/// Runs `js` in the page until it returns `true` (10 s at most); a script
/// error (e.g. while the page reloads) counts as "not yet".
async fn until(page: &coffee_testkit::Page, what: &str, js: &str) {
    for _ in 0..100 {
        if matches!(page.eval(js).await, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 10 s ({js})");
}

#[tokio::test]
async fn swagger_ui_shows_the_tags_and_auth_in_order_and_keeps_the_token_across_a_reload() {
    let Some(browser) = coffee_testkit::Browser::launch_or_skip().await else { return };
    let app = spawn_app_with(&[("PUBLIC_BASE_URL", crate::helpers::OWN_ORIGIN)]).await;
    let page = browser.open(&format!("{}/docs", app.address)).await.unwrap();
    until(&page, "the operations", "document.querySelectorAll('.opblock').length > 40").await;
    let tags =
        page.eval("[...document.querySelectorAll('.opblock-tag')].map(t => t.dataset.tag).join(',')").await.unwrap();
    assert_eq!(tags, "Auth,Users,Menu,Cart,Orders,Support,Shop,Health");
    let auth = page
        .eval(
            "[...document.querySelector('.opblock-tag-section').querySelectorAll('.opblock')]\
             .map(o => o.querySelector('.opblock-summary-method').textContent.toLowerCase() + ' ' + \
                       o.querySelector('.opblock-summary-path').dataset.path).join(',')",
        )
        .await
        .unwrap();
    assert_eq!(
        auth,
        "post /auth/signup,post /auth/verify,get /auth/verify,post /auth/verify/resend,post /auth/login,\
         post /auth/refresh,post /auth/logout"
    );
    // Authorize with a token; after a reload Swagger UI still has it.
    page.click(".auth-wrapper .authorize").await.unwrap();
    until(&page, "the Authorize dialog", "!!document.querySelector('.auth-container input')").await;
    page.type_into(".auth-container input", "a-token-typed-by-hand").await.unwrap();
    page.click(".auth-btn-wrapper .authorize").await.unwrap();
    until(&page, "authorized", "!!document.querySelector('.auth-btn-wrapper .btn-done')").await;
    page.eval("window.__beforeReload = true").await.unwrap();
    page.eval("location.reload(), true").await.unwrap();
    until(&page, "the reloaded page", "window.__beforeReload === undefined && document.readyState === 'complete'")
        .await;
    until(&page, "the operations again", "document.querySelectorAll('.opblock').length > 40").await;
    until(&page, "the token kept", "!!document.querySelector('.auth-wrapper .authorize.locked')").await;
    browser.observations().await.assert_clean(&app.address);
}

/// The request-body example of `operation` named `name` (the first when `None`).
fn example(doc: &Value, method: &str, path: &str, media: &str, name: Option<&str>) -> Value {
    let examples = doc["paths"][path][method]["requestBody"]["content"][media]["examples"].as_object().unwrap();
    let picked = match name {
        Some(n) => &examples[n],
        None => examples.values().next().unwrap(),
    };
    picked["value"].clone()
}

#[tokio::test]
async fn the_examples_meant_to_work_as_sent_do_on_a_fresh_server() {
    let app = spawn_app().await;
    let doc = openapi().await;
    // Sign-up, the same address's resend, then (verified by its mail) log-in, JSON and form.
    let signup = example(&doc, "post", "/auth/signup", "application/json", None);
    assert_eq!(app.post_json("/auth/signup", &signup).await.status(), StatusCode::CREATED);
    let resend = example(&doc, "post", "/auth/verify/resend", "application/json", None);
    assert_eq!(app.post_json("/auth/verify/resend", &resend).await.status(), StatusCode::ACCEPTED);
    app.verify_from_mail(signup["email"].as_str().unwrap()).await;
    let login = example(&doc, "post", "/auth/login", "application/json", None);
    let resp = app.post_json("/auth/login", &login).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let form = example(&doc, "post", "/auth/login", "application/x-www-form-urlencoded", None);
    let form = serde_urlencoded::to_string(form.as_object().unwrap()).unwrap();
    let resp = app.post_raw("/auth/login", "application/x-www-form-urlencoded", form).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me = example(&doc, "patch", "/me", "application/json", None);
    assert_eq!(app.send_json(Method::PATCH, "/me", Some(&token), &me).await.status(), StatusCode::OK);
    // An admin's menu: a category and a product without categories.
    let admin = app.admin_token().await;
    let category = example(&doc, "post", "/categories", "application/json", None);
    assert_eq!(app.send_json(Method::POST, "/categories", Some(&admin), &category).await.status(), StatusCode::CREATED);
    let product = example(&doc, "post", "/products", "application/json", None);
    assert_eq!(app.send_json(Method::POST, "/products", Some(&admin), &product).await.status(), StatusCode::CREATED);
    // Verification offers the two shapes by name; the rest say what to replace.
    for name in ["code", "link token"] {
        assert!(example(&doc, "post", "/auth/verify", "application/json", Some(name)).is_object());
    }
    let add = example(&doc, "post", "/cart", "application/json", None);
    let summary =
        &doc["paths"]["/cart"]["post"]["requestBody"]["content"]["application/json"]["examples"]["two"]["summary"];
    assert!(summary.as_str().unwrap().contains("Replace"), "{summary}");
    assert_eq!(add["quantity"], 2);
}

/// Sets a React-controlled textarea's value the way typing would end up.
async fn set_body(page: &coffee_testkit::Page, op: &str, text: &str) {
    let js = format!(
        "(() => {{ const el = document.querySelector('#{op} textarea.body-param__text');
           const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set;
           set.call(el, {text}); el.dispatchEvent(new Event('input', {{ bubbles: true }})); return true; }})()",
        text = serde_json::to_string(text).unwrap()
    );
    assert_eq!(page.eval(&js).await.unwrap(), Value::Bool(true));
}

/// Opens operation block `op` (e.g. `operations-Auth-signup`), presses
/// "Try it out" when it has one, optionally replaces the body, presses
/// "Execute" and returns the status and body Swagger UI shows.
async fn try_it(page: &coffee_testkit::Page, op: &str, body: Option<&str>) -> (String, String) {
    page.click(&format!("#{op} .opblock-summary-control")).await.unwrap();
    page.click(&format!("#{op} .try-out__btn")).await.unwrap();
    if let Some(body) = body {
        set_body(page, op, body).await;
    }
    page.click(&format!("#{op} .execute")).await.unwrap();
    let status = format!("#{op} .live-responses-table .response .response-col_status");
    until(page, op, &format!("!!document.querySelector('{status}')")).await;
    let code = page.text(&status).await.unwrap();
    let body = page.text(&format!("#{op} .live-responses-table .response-col_description pre")).await.unwrap();
    (code.trim().to_owned(), body)
}

/// A newcomer's first five minutes, through Swagger UI's own buttons: sign
/// up with the pre-filled example, verify with the code from the mail, log
/// in with the pre-filled example, Authorize, `GET /me`. No request leaves
/// the server's origin, no console error, no CSP violation. With
/// `SCREENSHOTS_DIR` set it saves the README's screenshots there
/// (`scripts/screenshots.sh`).
#[tokio::test]
async fn a_newcomer_signs_up_verifies_logs_in_and_calls_me_in_swagger_ui() {
    let Some(browser) = coffee_testkit::Browser::launch_or_skip().await else { return };
    let shots = std::env::var_os("SCREENSHOTS_DIR").map(std::path::PathBuf::from);
    let app = spawn_app_with(&[("PUBLIC_BASE_URL", crate::helpers::OWN_ORIGIN)]).await;
    let page = browser.open(&format!("{}/docs", app.address)).await.unwrap();
    until(&page, "the operations", "document.querySelectorAll('.opblock').length > 40").await;
    if let Some(dir) = &shots {
        page.screenshot_png(dir.join("1-docs.png")).await.unwrap();
    }

    let (status, body) = try_it(&page, "operations-Auth-signup", None).await;
    assert_eq!(status, "201", "the pre-filled sign-up works as sent: {body}");
    if let Some(dir) = &shots {
        page.screenshot_png(dir.join("2-signup.png")).await.unwrap();
    }
    let code = app.code_for("ann@example.com").await;
    let verify = format!(r#"{{"email": "ann@example.com", "code": "{code}"}}"#);
    let (status, body) = try_it(&page, "operations-Auth-verify", Some(&verify)).await;
    assert_eq!(status, "200", "{body}");
    let (status, body) = try_it(&page, "operations-Auth-login", None).await;
    assert_eq!(status, "200", "the pre-filled log-in works once verified: {body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let token = token["access_token"].as_str().unwrap();

    page.click(".auth-wrapper .authorize").await.unwrap();
    until(&page, "the Authorize dialog", "!!document.querySelector('.auth-container input')").await;
    page.type_into(".auth-container input", token).await.unwrap();
    page.click(".auth-btn-wrapper .authorize").await.unwrap();
    until(&page, "authorized", "!!document.querySelector('.auth-btn-wrapper .btn-done')").await;
    if let Some(dir) = &shots {
        page.screenshot_png(dir.join("3-authorize.png")).await.unwrap();
    }
    page.click(".auth-btn-wrapper .btn-done").await.unwrap();
    let (status, body) = try_it(&page, "operations-Users-getMe", None).await;
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("ann@example.com") && body.contains("\"is_verified\": true"), "{body}");
    if let Some(dir) = &shots {
        page.screenshot_png(dir.join("4-me.png")).await.unwrap();
    }
    browser.observations().await.assert_clean(&app.address);
}

/// Every problem `code` an operation documents.
fn documented_codes(doc: &Value, method: &str, path: &str) -> Vec<String> {
    let mut codes: Vec<String> = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|r| r["content"]["application/problem+json"]["examples"].as_object())
        .flat_map(|examples| examples.keys().cloned())
        .collect();
    codes.sort();
    codes
}

#[tokio::test]
async fn each_operation_documents_only_the_codes_of_its_use_case_it_can_produce() {
    let doc = openapi().await;
    let cases: [(&str, &str, &[&str], &[&str]); 5] = [
        (
            "post",
            "/auth/signup",
            &["email_taken", "busy", "rate_limited", "validation_failed"],
            &["invalid_verification_code", "refresh_token_reused", "invalid_credentials", "already_verified"],
        ),
        (
            "post",
            "/auth/verify",
            &["invalid_verification_code", "already_verified", "too_many_attempts"],
            &["email_taken", "busy", "invalid_credentials"],
        ),
        (
            "post",
            "/auth/login",
            &["invalid_credentials", "email_not_verified", "busy"],
            &["email_taken", "invalid_verification_code", "refresh_token_reused"],
        ),
        (
            "post",
            "/auth/refresh",
            &["invalid_token", "token_expired", "refresh_token_reused"],
            &["busy", "email_taken", "invalid_credentials"],
        ),
        (
            "post",
            "/auth/verify/resend",
            &["validation_failed", "rate_limited"],
            &["email_taken", "busy", "invalid_verification_code", "too_many_attempts"],
        ),
    ];
    for (method, path, present, absent) in cases {
        let codes = documented_codes(&doc, method, path);
        for code in present {
            assert!(codes.iter().any(|c| c == code), "{method} {path} should list {code}: {codes:?}");
        }
        for code in absent {
            assert!(!codes.iter().any(|c| c == code), "{method} {path} cannot produce {code}: {codes:?}");
        }
    }
    // No status is left without a code.
    let signup = &doc["paths"]["/auth/signup"]["post"]["responses"];
    assert!(signup.get("401").is_none(), "signup never answers 401: {signup}");
    // The other families too: reading an order cannot empty a cart, reading
    // a product cannot clash on a category name; protected routes keep their
    // token codes.
    let order = documented_codes(&doc, "get", "/orders/{id}");
    assert!(!order.iter().any(|c| c == "cart_empty" || c == "idempotency_key_reused"), "{order:?}");
    assert!(order.iter().any(|c| c == "invalid_token") && order.iter().any(|c| c == "not_found"), "{order:?}");
    let place = documented_codes(&doc, "post", "/orders");
    assert!(place.iter().any(|c| c == "cart_empty") && place.iter().any(|c| c == "idempotency_key_reused"));
    let product = documented_codes(&doc, "get", "/products/{id}");
    assert!(!product.iter().any(|c| c == "category_name_taken" || c == "unsupported_image_type"), "{product:?}");
    // The menu's public reads take no token and no body (a bad token is not
    // looked at: products::anyone_can_read_products), and a list has no 404.
    assert_eq!(product, ["internal_error", "not_found", "service_unavailable"]);
    for path in ["/products", "/categories"] {
        let codes = documented_codes(&doc, "get", path);
        assert_eq!(codes, ["internal_error", "invalid_query", "malformed_request", "service_unavailable"]);
    }
    assert_eq!(
        documented_codes(&doc, "get", "/categories/{id}"),
        ["internal_error", "not_found", "service_unavailable"]
    );
    // A stored image answers as a static file does: ranges and conditions too.
    let media = doc["paths"]["/media/{file}"]["get"]["responses"].as_object().unwrap();
    for status in ["200", "206", "304", "404", "412", "416"] {
        assert!(media.contains_key(status), "GET /media/{{file}} does not document {status}");
    }
    // A read refuses another person's resource with 404, never 403; only an
    // admin's read has a 403, and a read without an id in its path no 404.
    let user = documented_codes(&doc, "get", "/users/{id}");
    assert!(user.iter().any(|c| c == "not_found") && !user.iter().any(|c| c == "forbidden"), "{user:?}");
    let users = documented_codes(&doc, "get", "/users");
    assert!(users.iter().any(|c| c == "forbidden") && !users.iter().any(|c| c == "not_found"), "{users:?}");
    let orders = documented_codes(&doc, "get", "/orders");
    assert!(!orders.iter().any(|c| c == "forbidden" || c == "not_found"), "{orders:?}");
    let delete_user = documented_codes(&doc, "delete", "/users/{id}");
    assert!(delete_user.iter().any(|c| c == "last_admin") && !delete_user.iter().any(|c| c == "email_taken"));
}
