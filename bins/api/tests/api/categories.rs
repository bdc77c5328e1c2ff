//! `/categories`: public reads, admin-only writes, unique names, the list
//! query language, and detaching products when a category goes.

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, assert_unauthorized, error_fields, header, id_of, spawn_app};

const CATEGORY_KEYS: [&str; 5] = ["created_at", "description", "id", "name", "updated_at"];

/// Sends `method path` with an optional token and JSON body.
pub async fn send(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Response {
    let req = app.request(method, path, token);
    let req = match body {
        Some(b) => req.json(b),
        None => req,
    };
    req.send().await.expect("request sent")
}

/// Asserts `status` and returns the JSON body.
pub async fn json_with(resp: Response, status: StatusCode) -> Value {
    let actual = resp.status();
    let text = resp.text().await.expect("a body");
    assert_eq!(actual, status, "{text}");
    serde_json::from_str(&text).expect("a JSON body")
}

/// Asserts 200 and returns the JSON body.
pub async fn ok(resp: Response) -> Value {
    json_with(resp, StatusCode::OK).await
}

/// `GET path` with these query pairs (URL-encoded), anonymously; asserts 200.
pub async fn list(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Value {
    let resp = app.request(Method::GET, path, None).query(query).send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.expect("a body");
    assert_eq!(status, StatusCode::OK, "{path} {query:?} → {text}");
    serde_json::from_str(&text).expect("a JSON page")
}

/// `GET path` with these query pairs, whatever the outcome.
pub async fn try_list(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Response {
    app.request(Method::GET, path, None).query(query).send().await.expect("request sent")
}

/// The `name`s of a page's items, in order.
pub fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|i| i["name"].as_str().expect("a name").to_owned()).collect()
}

/// Creates a category as admin; asserts 201 and returns it.
pub async fn create_category(app: &TestApp, admin: &str, body: &Value) -> Value {
    json_with(send(app, Method::POST, "/categories", Some(admin), Some(body)).await, StatusCode::CREATED).await
}

/// Creates a category named `name`; returns its id.
pub async fn category_id(app: &TestApp, admin: &str, name: &str) -> String {
    id_of(&create_category(app, admin, &json!({"name": name})).await)
}

fn assert_category_shape(category: &Value) {
    let keys: BTreeSet<&str> = category.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    assert_eq!(keys, CATEGORY_KEYS.into_iter().collect(), "category keys of {category}");
    uuid::Uuid::parse_str(category["id"].as_str().expect("an id")).expect("a UUID id");
}

#[tokio::test]
async fn anyone_can_read_categories() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = create_category(&app, &admin, &json!({"name": "Tea", "description": "Leaves & hot water"})).await;
    let id = id_of(&tea);

    let page = ok(app.get("/categories", None).await).await;
    assert_eq!((page["total"].as_u64(), page["page"].as_u64(), page["pages"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(page["page_size"], 20);
    assert_eq!(page["items"][0], tea);

    let one = ok(app.get(&format!("/categories/{id}"), None).await).await;
    assert_category_shape(&one);
    assert_eq!(one, tea);
    assert_eq!(one["description"], "Leaves & hot water");
    // A user's token is fine for reading too.
    let ann = app.logged_in("ann@example.com").await;
    assert_eq!(ok(app.get(&format!("/categories/{id}"), Some(&ann.token)).await).await, tea);
}

#[tokio::test]
async fn writing_categories_needs_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let id = category_id(&app, &admin, "Tea").await;
    let item = format!("/categories/{id}");
    let body = json!({"name": "Coffee"});
    let writes = [
        (Method::POST, "/categories", Some(&body)),
        (Method::PUT, item.as_str(), Some(&body)),
        (Method::PATCH, item.as_str(), Some(&body)),
        (Method::DELETE, item.as_str(), None),
    ];
    for (method, path, body) in writes {
        let resp = send(&app, method.clone(), path, None, body).await;
        assert_unauthorized(resp, "missing_token").await;
        let resp = send(&app, method.clone(), path, Some("not.a.jwt"), body).await;
        assert_unauthorized(resp, "invalid_token").await;
        let resp = send(&app, method.clone(), path, Some(&ann.token), body).await;
        assert_problem(resp, 403, "forbidden").await;
    }
    // Nothing was written.
    let page = ok(app.get("/categories", None).await).await;
    assert_eq!(names(&page), ["Tea"]);
}

#[tokio::test]
async fn admins_create_categories_with_201_and_location() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let resp = send(
        &app,
        Method::POST,
        "/categories",
        Some(&admin),
        Some(&json!({"name": "  Hot drinks ", "description": "Tom & Jerry's \"best\"\nsecond line"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header(resp.headers(), "location").expect("a Location header");
    let created: Value = resp.json().await.unwrap();
    assert_category_shape(&created);
    assert_eq!(location, format!("/categories/{}", id_of(&created)));
    // Trimmed, otherwise kept exactly as typed (no HTML escaping).
    assert_eq!(created["name"], "Hot drinks");
    assert_eq!(created["description"], "Tom & Jerry's \"best\"\nsecond line");
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(ok(app.get(&location, None).await).await, created);

    // A blank or absent description is none.
    let blank = create_category(&app, &admin, &json!({"name": "Pastry", "description": "   "})).await;
    assert_eq!(blank["description"], Value::Null);
    let absent = create_category(&app, &admin, &json!({"name": "Cold drinks"})).await;
    assert_eq!(absent["description"], Value::Null);
    // 100 characters is the longest name.
    let long = "é".repeat(100);
    assert_eq!(create_category(&app, &admin, &json!({"name": long})).await["name"], long.as_str());
}

#[tokio::test]
async fn unknown_and_malformed_category_ids_give_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = json!({"name": "Tea"});
    for id in [unknown.as_str(), "not-a-uuid", "1", "%27%20OR%201%3D1"] {
        let path = format!("/categories/{id}");
        assert_problem(send(&app, Method::GET, &path, None, None).await, 404, "not_found").await;
        assert_problem(send(&app, Method::GET, &path, Some(&admin), None).await, 404, "not_found").await;
        assert_problem(send(&app, Method::PUT, &path, Some(&admin), Some(&body)).await, 404, "not_found").await;
        assert_problem(send(&app, Method::PATCH, &path, Some(&admin), Some(&body)).await, 404, "not_found").await;
        assert_problem(send(&app, Method::DELETE, &path, Some(&admin), None).await, 404, "not_found").await;
    }
    // The refused writes created nothing.
    assert_eq!(ok(app.get("/categories", None).await).await["total"], 0);
}

#[tokio::test]
async fn category_names_are_unique_ignoring_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let coffee = category_id(&app, &admin, "Coffee").await;

    for name in ["Tea", "TEA", " tea "] {
        let resp = send(&app, Method::POST, "/categories", Some(&admin), Some(&json!({"name": name}))).await;
        assert_problem(resp, 409, "category_name_taken").await;
    }
    let path = format!("/categories/{coffee}");
    let resp = send(&app, Method::PUT, &path, Some(&admin), Some(&json!({"name": "tEA"}))).await;
    assert_problem(resp, 409, "category_name_taken").await;
    let resp = send(&app, Method::PATCH, &path, Some(&admin), Some(&json!({"name": "TeA"}))).await;
    assert_problem(resp, 409, "category_name_taken").await;
    assert_eq!(ok(app.get(&path, None).await).await["name"], "Coffee");

    // A category may change the case of its own name.
    let own = format!("/categories/{tea}");
    let renamed = ok(send(&app, Method::PATCH, &own, Some(&admin), Some(&json!({"name": "TEA"}))).await).await;
    assert_eq!(renamed["name"], "TEA");
    assert_eq!(ok(app.get("/categories", None).await).await["total"], 2);
}

#[tokio::test]
async fn invalid_category_fields_give_422_naming_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = category_id(&app, &admin, "Tea").await;
    let item = format!("/categories/{id}");
    let long = "x".repeat(101);
    let long_description = "x".repeat(2001);
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": "<script>alert(1)</script>"}), "name"),
        (json!({"name": "a > b"}), "name"),
        (json!({"name": "two\nlines"}), "name"),
        (json!({"name": "nul\u{0}"}), "name"),
        (json!({"name": 42}), "name"),
        (json!({"name": "Ok", "description": "<img src=x onerror=alert(1)>"}), "description"),
        (json!({"name": "Ok", "description": long_description}), "description"),
        (json!({"name": "Ok", "description": "bell\u{7}"}), "description"),
    ];
    for (body, field) in &cases {
        for (method, path) in
            [(Method::POST, "/categories"), (Method::PUT, item.as_str()), (Method::PATCH, item.as_str())]
        {
            let resp = send(&app, method.clone(), path, Some(&admin), Some(body)).await;
            let problem = assert_problem(resp, 422, "validation_failed").await;
            assert_eq!(error_fields(&problem), [*field], "{method} {body} → {problem}");
        }
    }
    // Unknown fields are refused, and named.
    for (method, path) in [(Method::POST, "/categories"), (Method::PUT, item.as_str()), (Method::PATCH, item.as_str())]
    {
        let body = json!({"name": "Ok", "colour": "red"});
        let problem =
            assert_problem(send(&app, method, path, Some(&admin), Some(&body)).await, 422, "validation_failed").await;
        assert!(problem.to_string().contains("colour"), "the problem names the unknown field: {problem}");
    }
    // Several invalid fields are all named.
    let body = json!({"name": "", "description": "<b>"});
    let problem = assert_problem(
        send(&app, Method::POST, "/categories", Some(&admin), Some(&body)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["name", "description"]);
    // POST and PUT need a name; PATCH does not.
    for method in [Method::POST, Method::PUT] {
        let path = if method == Method::POST { "/categories" } else { item.as_str() };
        let resp = send(&app, method, path, Some(&admin), Some(&json!({"description": "x"}))).await;
        assert_problem(resp, 422, "validation_failed").await;
    }
    // Nothing changed.
    let page = ok(app.get("/categories", None).await).await;
    assert_eq!(names(&page), ["Tea"]);
    assert_eq!(page["items"][0]["description"], Value::Null);
}

#[tokio::test]
async fn malformed_bodies_give_400_and_wrong_media_types_415() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = category_id(&app, &admin, "Tea").await;
    let item = format!("/categories/{id}");
    let coffee: &[u8] = b"{\"name\": \"Coffee\"}";
    // (Content-Type lines, body, status, code)
    let cases: [(&[&str], &[u8], u16, &str); 8] = [
        (&["application/json"], b"{\"name\": \"Tea", 400, "malformed_request"),
        (&["text/plain"], coffee, 415, "unsupported_media_type"),
        (&["application/x-www-form-urlencoded"], b"name=Coffee", 415, "unsupported_media_type"),
        (&[], coffee, 415, "unsupported_media_type"),
        // JSON in another charset would be read wrongly; two Content-Type lines leave it unknowable which is meant.
        (&["application/json; charset=ISO-8859-1"], b"{\"name\": \"Caf\xe9\"}", 415, "unsupported_media_type"),
        (&["application/json", "text/plain"], coffee, 415, "unsupported_media_type"),
        // UTF-8 named either way is read (and this body's name is then refused).
        (&["application/json; charset=UTF-8"], b"{\"name\": 1}", 422, "validation_failed"),
        (&["application/json;charset=\"utf-8\""], b"{\"name\": 1}", 422, "validation_failed"),
    ];
    for (method, path) in [(Method::POST, "/categories"), (Method::PUT, item.as_str()), (Method::PATCH, item.as_str())]
    {
        for (content_types, body, status, code) in cases {
            let mut request = app.request(method.clone(), path, Some(&admin)).body(body.to_vec());
            for content_type in content_types {
                request = request.header("content-type", *content_type);
            }
            assert_problem(request.send().await.unwrap(), status, code).await;
        }
        let too_large = json!({"name": "Coffee", "description": "x".repeat(70 * 1024)});
        assert_problem(send(&app, method, path, Some(&admin), Some(&too_large)).await, 413, "payload_too_large").await;
    }
    assert_eq!(names(&ok(app.get("/categories", None).await).await), ["Tea"]);
}

#[tokio::test]
async fn put_replaces_a_category_and_patch_changes_only_what_it_names() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let created = create_category(&app, &admin, &json!({"name": "Tea", "description": "Leaves"})).await;
    let path = format!("/categories/{}", id_of(&created));

    // PATCH with a name keeps the description.
    let patched = ok(send(&app, Method::PATCH, &path, Some(&admin), Some(&json!({"name": "Teas"}))).await).await;
    assert_eq!((patched["name"].as_str(), patched["description"].as_str()), (Some("Teas"), Some("Leaves")));
    assert_eq!((&patched["id"], &patched["created_at"]), (&created["id"], &created["created_at"]));
    // A PATCH that changes nothing, empty or naming the current values, keeps even `updated_at`.
    for body in [json!({}), json!({"name": "Teas", "description": "Leaves"})] {
        let same = ok(send(&app, Method::PATCH, &path, Some(&admin), Some(&body)).await).await;
        assert_eq!(same, patched, "{body}");
    }
    // `null` clears the description; the name stays.
    let cleared = ok(send(&app, Method::PATCH, &path, Some(&admin), Some(&json!({"description": null}))).await).await;
    assert_eq!((cleared["name"].as_str(), &cleared["description"]), (Some("Teas"), &Value::Null));
    assert_ne!(cleared["updated_at"], patched["updated_at"], "a change moves updated_at");
    // PATCH sets a description.
    let body = json!({"description": "Green and black"});
    let described = ok(send(&app, Method::PATCH, &path, Some(&admin), Some(&body)).await).await;
    assert_eq!(described["description"], "Green and black");

    // PUT without a description clears it.
    let replaced = ok(send(&app, Method::PUT, &path, Some(&admin), Some(&json!({"name": "Tea"}))).await).await;
    assert_eq!((replaced["name"].as_str(), &replaced["description"]), (Some("Tea"), &Value::Null));
    let body = json!({"name": "Tea", "description": "Loose leaf"});
    let replaced = ok(send(&app, Method::PUT, &path, Some(&admin), Some(&body)).await).await;
    assert_eq!(replaced["description"], "Loose leaf");
    assert_eq!(ok(app.get(&path, None).await).await, replaced);
}

#[tokio::test]
async fn deleting_a_category_detaches_its_products() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let milk = category_id(&app, &admin, "Milk").await;
    let body = json!({"name": "Chai latte", "price": 400, "category_ids": [tea, milk]});
    let chai =
        json_with(send(&app, Method::POST, "/products", Some(&admin), Some(&body)).await, StatusCode::CREATED).await;
    let body = json!({"name": "Green tea", "price": 300, "category_ids": [tea]});
    let green =
        json_with(send(&app, Method::POST, "/products", Some(&admin), Some(&body)).await, StatusCode::CREATED).await;

    let resp = send(&app, Method::DELETE, &format!("/categories/{tea}"), Some(&admin), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.text().await.unwrap().is_empty());

    assert_problem(app.get(&format!("/categories/{tea}"), None).await, 404, "not_found").await;
    let chai = ok(app.get(&format!("/products/{}", id_of(&chai)), None).await).await;
    assert_eq!(chai["categories"], json!([{"id": milk, "name": "Milk"}]));
    let green = ok(app.get(&format!("/products/{}", id_of(&green)), None).await).await;
    assert_eq!(green["categories"], json!([]));
    assert_eq!(list(&app, "/products", &[]).await["total"], 2);
    assert_eq!(list(&app, "/products", &[("category_id", &tea)]).await["total"], 0);
    assert_eq!(names(&list(&app, "/categories", &[]).await), ["Milk"]);
    // Deleting it again: it is gone.
    let resp = send(&app, Method::DELETE, &format!("/categories/{tea}"), Some(&admin), None).await;
    assert_problem(resp, 404, "not_found").await;
}

/// Tea, Coffee, Pastry (described as containing coffee), Cold drinks,
/// 100% Juice and Sweets_and_more, created in that order.
async fn seed(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    for body in [
        json!({"name": "Tea"}),
        json!({"name": "Coffee", "description": "Espresso based"}),
        json!({"name": "Pastry", "description": "Baked daily, goes well with coffee"}),
        json!({"name": "Cold drinks"}),
        json!({"name": "100% Juice"}),
        json!({"name": "Sweets_and_more"}),
    ] {
        create_category(app, &admin, &body).await;
    }
    admin
}

#[tokio::test]
async fn categories_can_be_filtered_searched_sorted_and_paged() {
    let app = spawn_app().await;
    seed(&app).await;
    let page = |q: &'static [(&'static str, &'static str)]| list(&app, "/categories", q);

    let newest = page(&[]).await;
    assert_eq!(names(&newest), ["Sweets_and_more", "100% Juice", "Cold drinks", "Pastry", "Coffee", "Tea"]);
    assert_eq!((newest["total"].as_u64(), newest["pages"].as_u64()), (Some(6), Some(1)));

    let by_name = ["100% Juice", "Coffee", "Cold drinks", "Pastry", "Sweets_and_more", "Tea"];
    assert_eq!(names(&page(&[("sort", "name")]).await), by_name);
    let reversed: Vec<&str> = by_name.iter().rev().copied().collect();
    assert_eq!(names(&page(&[("sort", "-name")]).await), reversed);
    assert_eq!(names(&page(&[("sort", "created_at")]).await)[0], "Tea");

    assert_eq!(names(&page(&[("name", "Coffee")]).await), ["Coffee"]);
    assert_eq!(page(&[("name", "coffee")]).await["total"], 0);
    assert_eq!(names(&page(&[("name__in", "Tea,Coffee,Nope"), ("sort", "name")]).await), ["Coffee", "Tea"]);
    assert_eq!(names(&page(&[("name__contains", "CO"), ("sort", "name")]).await), ["Coffee", "Cold drinks"]);
    // Search covers the description.
    assert_eq!(names(&page(&[("search", "COFFEE"), ("sort", "name")]).await), ["Coffee", "Pastry"]);
    assert_eq!(names(&page(&[("search", "espresso")]).await), ["Coffee"]);

    let second = page(&[("sort", "name"), ("page_size", "2"), ("page", "2")]).await;
    assert_eq!(names(&second), ["Cold drinks", "Pastry"]);
    assert_eq!((second["total"].as_u64(), second["pages"].as_u64()), (Some(6), Some(3)));
    assert_eq!((second["page"].as_u64(), second["page_size"].as_u64()), (Some(2), Some(2)));
    let filtered = page(&[("search", "o"), ("sort", "-name"), ("page_size", "2"), ("page", "2")]).await;
    assert_eq!(filtered["total"], 4);
    assert_eq!(names(&filtered), ["Cold drinks", "Coffee"]);
    let beyond = page(&[("page", "9")]).await;
    assert_eq!((beyond["items"].as_array().map(Vec::len), beyond["total"].as_u64()), (Some(0), Some(6)));

    let oldest_first = page(&[("sort", "created_at")]).await;
    let since = oldest_first["items"][4]["created_at"].as_str().unwrap().to_owned();
    let newer = list(&app, "/categories", &[("created_at__gte", &since), ("sort", "created_at")]).await;
    assert_eq!(names(&newer), ["100% Juice", "Sweets_and_more"]);
}

#[tokio::test]
async fn names_sort_ignoring_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // (Names are unique ignoring case; the users' sort shows how a tie of
    // case is broken: storage's search_parity tests.)
    let mut ids = Vec::new();
    for name in ["cherry", "Banana", "apple", "Apple pie", "Été", "zeste"] {
        ids.push(category_id(&app, &admin, name).await);
    }
    let by_name = ["apple", "Apple pie", "Banana", "cherry", "zeste", "Été"];
    assert_eq!(names(&list(&app, "/categories", &[("sort", "name")]).await), by_name);
    let reversed: Vec<&str> = by_name.iter().rev().copied().collect();
    assert_eq!(names(&list(&app, "/categories", &[("sort", "-name")]).await), reversed);
    // A product lists its categories in the same order.
    let body = json!({"name": "Fruit tart", "price": 400, "category_ids": ids});
    let product =
        json_with(send(&app, Method::POST, "/products", Some(&admin), Some(&body)).await, StatusCode::CREATED);
    let product = product.await;
    let embedded: Vec<&str> =
        product["categories"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(embedded, by_name);
}

#[tokio::test]
async fn invalid_category_queries_give_400_naming_the_parameter() {
    let app = spawn_app().await;
    for (name, value) in [
        ("sort", "description"),
        ("sort", "id"),
        ("sort", "name,name"),
        ("description", "x"),
        ("description__contains", "x"),
        ("id", "x"),
        ("name__gt", "a"),
        ("name__regex", "a"),
        ("created_at__gte", "yesterday"),
        ("page", "0"),
        ("page_size", "101"),
        ("unknown", "1"),
    ] {
        let problem = assert_problem(try_list(&app, "/categories", &[(name, value)]).await, 400, "invalid_query").await;
        assert_eq!(error_fields(&problem), [name], "{name}={value} → {problem}");
    }
}

#[tokio::test]
async fn injection_shaped_category_queries_match_only_literally() {
    let app = spawn_app().await;
    seed(&app).await;
    for (name, value) in [
        ("search", "' OR 1=1 --"),
        ("search", "'; DROP TABLE categories; --"),
        ("name", "' OR '1'='1"),
        ("name__contains", "\" OR \"\"=\""),
        ("name__in", "a') OR ('1'='1"),
        ("search", "\\"),
    ] {
        let page = list(&app, "/categories", &[(name, value)]).await;
        assert_eq!(page["total"], 0, "{name}={value} matched {page}");
    }
    assert_eq!(names(&list(&app, "/categories", &[("name__contains", "%")]).await), ["100% Juice"]);
    assert_eq!(names(&list(&app, "/categories", &[("search", "_")]).await), ["Sweets_and_more"]);
    assert_eq!(list(&app, "/categories", &[("search", "C_ffee")]).await["total"], 0);
    assert_eq!(list(&app, "/categories", &[]).await["total"], 6);
}

#[tokio::test]
async fn category_names_are_unique_ignoring_case_beyond_ascii() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    category_id(&app, &admin, "Чай").await;
    category_id(&app, &admin, "Éclairs").await;
    // The same text in another Unicode form: "é" as "e" plus a combining accent (NFD).
    for name in ["ЧАЙ", "éCLAIRS", "E\u{301}clairs"] {
        let resp = send(&app, Method::POST, "/categories", Some(&admin), Some(&json!({"name": name}))).await;
        assert_problem(resp, 409, "category_name_taken").await;
    }
    // And a search in one form finds a name written in the other.
    category_id(&app, &admin, "The\u{301} glace\u{301}").await;
    let found = json_with(app.get("/categories?search=th%C3%A9%20glac%C3%A9", None).await, StatusCode::OK).await;
    assert_eq!(found["total"], 1, "{found}");
}
