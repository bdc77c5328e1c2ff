//! `/products`: public reads, admin-only writes, categories, the list query
//! language, and product images (`POST /products/{id}/image`, `/media/…`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::categories::{category_id, json_with, list, names, ok, send, try_list};
use crate::helpers::{
    PUBLIC_BASE_URL, TestApp, assert_problem, assert_unauthorized, error_fields, header, id_of, spawn_app,
};

const PRODUCT_KEYS: [&str; 10] = [
    "categories",
    "created_at",
    "currency",
    "description",
    "id",
    "image_url",
    "is_available",
    "name",
    "price",
    "updated_at",
];

/// A 1×1 red RGB PNG.
const PNG: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cfc000\
                   0003010100f70341430000000049454e44ae426082";
/// A 1×1 grey baseline JFIF JPEG.
const JPEG: &str = "ffd8ffe000104a46494600010100000100010000ffdb004300010101010101010101010101010101010101010101010101\
                    01010101010101010101010101010101010101010101010101010101010101010101010101010101ffc0000b0800010001\
                    01011100ffc40014000100000000000000000000000000000000ffc40014100100000000000000000000000000000000ff\
                    da0008010100003f003fffd9";
/// A 1×1 lossy (VP8) WebP.
const WEBP: &str = "52494646220000005745425056503820160000003001009d012a010001000ec0fe25a400037000000000";
/// A 1×1 GIF.
const GIF: &str = "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b";

const MIB: usize = 1024 * 1024;

fn bytes(hex: &str) -> Vec<u8> {
    let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    hex.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
}

/// The 1×1 PNG at `len` bytes, its image data padded with zeros (an upload is
/// checked for its signature, header and chunks, not for its pixels).
fn png_of_len(len: usize) -> Vec<u8> {
    let png = bytes(PNG);
    // The signature and IHDR, IDAT's 12 bytes of data, IEND.
    let (head, data, end) = (&png[..33], &png[41..53], &png[57..]);
    let mut data = data.to_vec();
    data.resize(len - head.len() - 12 - end.len(), 0);
    let mut crc = flate2::Crc::new();
    crc.update(b"IDAT");
    crc.update(&data);
    let length = u32::try_from(data.len()).unwrap().to_be_bytes();
    [head, &length, b"IDAT", &data, &crc.sum().to_be_bytes(), end].concat()
}

/// A JPEG segment: its marker, length and `contents`.
fn jpeg_segment(marker: u8, contents: &[u8]) -> Vec<u8> {
    let length = u16::try_from(contents.len() + 2).unwrap().to_be_bytes();
    [&[0xff, marker], &length, contents].concat()
}

// ------------------------------------------------------------------ helpers

/// Creates a product as admin; asserts 201 and returns it.
async fn create_product(app: &TestApp, admin: &str, body: &Value) -> Value {
    json_with(send(app, Method::POST, "/products", Some(admin), Some(body)).await, StatusCode::CREATED).await
}

/// Creates a product with this name and price; returns its id.
async fn product_id(app: &TestApp, admin: &str, name: &str, price: i64) -> String {
    id_of(&create_product(app, admin, &json!({"name": name, "price": price})).await)
}

fn assert_product_shape(product: &Value) {
    let keys: BTreeSet<&str> = product.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    assert_eq!(keys, PRODUCT_KEYS.into_iter().collect(), "product keys of {product}");
    uuid::Uuid::parse_str(product["id"].as_str().expect("an id")).expect("a UUID id");
    let currency = product["currency"].as_str().expect("a currency");
    assert!(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()), "currency {currency}");
    for category in product["categories"].as_array().expect("categories") {
        let keys: BTreeSet<&str> = category.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "name"]), "{product}");
    }
}

fn category_names(product: &Value) -> Vec<&str> {
    product["categories"].as_array().expect("categories").iter().map(|c| c["name"].as_str().expect("a name")).collect()
}

/// A multipart form with one part named `file`.
fn file_form(content: Vec<u8>, file_name: &str, mime: &str) -> Form {
    Form::new().part("file", Part::bytes(content).file_name(file_name.to_owned()).mime_str(mime).expect("a mime"))
}

async fn upload(app: &TestApp, token: Option<&str>, id: &str, form: Form) -> Response {
    app.request(Method::POST, &format!("/products/{id}/image"), token).multipart(form).send().await.expect("sent")
}

/// The directory the app stores images in.
fn media_dir(app: &TestApp) -> PathBuf {
    app.media.path().join("media")
}

/// Every file name in the media directory (hidden ones too), sorted.
fn media_files(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(media_dir(app))
        .expect("the media directory exists")
        .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The path of an `image_url` on the test server, after checking its shape:
/// `PUBLIC_BASE_URL/media/<32 lower-case hex>.<ext>`.
fn media_path(image_url: &Value, ext: &str) -> String {
    let url = image_url.as_str().unwrap_or_else(|| panic!("an image_url, got {image_url}"));
    let path = url.strip_prefix(PUBLIC_BASE_URL).unwrap_or_else(|| panic!("{url} is not under PUBLIC_BASE_URL"));
    let name = path.strip_prefix("/media/").unwrap_or_else(|| panic!("{url} is not under /media/"));
    let (stem, actual_ext) = name.split_once('.').unwrap_or_else(|| panic!("{url} has no extension"));
    assert_eq!(actual_ext, ext, "{url}");
    assert!(stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{url}");
    path.to_owned()
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// A raw HTTP/1.1 GET, so that the path reaches the server exactly as written
/// (an HTTP client would resolve `..` and `%2e%2e` first). Returns the
/// status, the header block (lower-cased) and the body.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String, String) {
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request written");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .expect("a response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

// ---------------------------------------------------------------- the items

#[tokio::test]
async fn anyone_can_read_products() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let body = json!({"name": "Green tea", "description": "Sencha", "price": 300, "category_ids": [tea]});
    let created = create_product(&app, &admin, &body).await;
    let id = id_of(&created);

    let page = ok(app.get("/products", None).await).await;
    assert_eq!((page["total"].as_u64(), page["page"].as_u64(), page["pages"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(page["page_size"], 20);
    assert_eq!(page["items"][0], created);

    let one = ok(app.get(&format!("/products/{id}"), None).await).await;
    assert_product_shape(&one);
    assert_eq!(one, created);
    assert_eq!(one["categories"], json!([{"id": tea, "name": "Tea"}]));
    assert_eq!((one["price"].as_i64(), one["is_available"].as_bool()), (Some(300), Some(true)));
    assert_eq!(one["image_url"], Value::Null);
    // The currency is the shop's.
    let info = app.get("/info", None).await;
    if info.status() == StatusCode::OK {
        let info: Value = info.json().await.unwrap();
        assert_eq!(one["currency"], info["currency"]);
    }
    let ann = app.logged_in("ann@example.com").await;
    assert_eq!(ok(app.get(&format!("/products/{id}"), Some(&ann.token)).await).await, created);
    // The menu takes no token: a bad one is not looked at (so these routes
    // document no 401).
    for path in
        [format!("/products/{id}"), "/products".to_owned(), format!("/categories/{tea}"), "/categories".to_owned()]
    {
        assert_eq!(app.get(&path, Some("not.a.jwt")).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn writing_products_needs_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let item = format!("/products/{id}");
    let body = json!({"name": "Mocha", "price": 400});
    let writes = [
        (Method::POST, "/products", Some(&body)),
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
    let page = ok(app.get("/products", None).await).await;
    assert_eq!(names(&page), ["Latte"]);
    assert_eq!(page["items"][0]["price"], 350);
}

#[tokio::test]
async fn admins_create_products_with_201_location_and_sorted_categories() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let milk = category_id(&app, &admin, "Milk").await;
    let hot = category_id(&app, &admin, "Hot drinks").await;

    // Duplicates are ignored; categories come sorted by name.
    let body = json!({
        "name": "  Chai latte ", "description": "Spiced tea & milk, \"masala\"", "price": 420,
        "category_ids": [tea, milk, hot, tea]
    });
    let resp = send(&app, Method::POST, "/products", Some(&admin), Some(&body)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header(resp.headers(), "location").expect("a Location header");
    let created: Value = resp.json().await.unwrap();
    assert_product_shape(&created);
    assert_eq!(location, format!("/products/{}", id_of(&created)));
    assert_eq!(created["name"], "Chai latte");
    assert_eq!(created["description"], "Spiced tea & milk, \"masala\"");
    assert_eq!((created["price"].as_i64(), created["is_available"].as_bool()), (Some(420), Some(true)));
    assert_eq!(category_names(&created), ["Hot drinks", "Milk", "Tea"]);
    assert_eq!(created["categories"][2]["id"], tea.as_str());
    assert_eq!(created["image_url"], Value::Null);
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(ok(app.get(&location, None).await).await, created);

    // Bounds of the price, availability, no categories.
    let free = create_product(&app, &admin, &json!({"name": "Water", "price": 0, "is_available": false})).await;
    assert_eq!((free["price"].as_i64(), free["is_available"].as_bool()), (Some(0), Some(false)));
    assert_eq!(free["categories"], json!([]));
    let dear = create_product(&app, &admin, &json!({"name": "Gold", "price": 100_000_000, "category_ids": []})).await;
    assert_eq!(dear["price"], 100_000_000);
    assert_eq!(ok(app.get("/products", None).await).await["total"], 3);
}

#[tokio::test]
async fn unknown_and_malformed_product_ids_give_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = json!({"name": "Latte", "price": 350});
    let png = bytes(PNG);
    for id in [unknown.as_str(), "not-a-uuid", "1", "%27%20OR%201%3D1"] {
        let path = format!("/products/{id}");
        assert_problem(send(&app, Method::GET, &path, None, None).await, 404, "not_found").await;
        assert_problem(send(&app, Method::GET, &path, Some(&admin), None).await, 404, "not_found").await;
        assert_problem(send(&app, Method::PUT, &path, Some(&admin), Some(&body)).await, 404, "not_found").await;
        assert_problem(send(&app, Method::PATCH, &path, Some(&admin), Some(&body)).await, 404, "not_found").await;
        assert_problem(send(&app, Method::DELETE, &path, Some(&admin), None).await, 404, "not_found").await;
        let resp = upload(&app, Some(&admin), id, file_form(png.clone(), "a.png", "image/png")).await;
        assert_problem(resp, 404, "not_found").await;
    }
    assert_eq!(ok(app.get("/products", None).await).await["total"], 0);
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
}

#[tokio::test]
async fn invalid_product_fields_give_422_naming_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let created = create_product(&app, &admin, &json!({"name": "Latte", "price": 350, "category_ids": [tea]})).await;
    let item = format!("/products/{}", id_of(&created));
    let too_many: Vec<String> = (0..51).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "<script>alert(1)</script>"}), "name"),
        (json!({"name": "Latte\tgrande"}), "name"),
        (json!({"description": "<img src=x onerror=alert(1)>"}), "description"),
        (json!({"description": "<script>alert(1)</script>"}), "description"),
        (json!({"description": "x".repeat(2001)}), "description"),
        (json!({"price": -1}), "price"),
        (json!({"price": 100_000_001}), "price"),
        (json!({"price": 1.5}), "price"),
        (json!({"price": "350"}), "price"),
        (json!({"is_available": "yes"}), "is_available"),
        (json!({"category_ids": too_many}), "category_ids"),
    ];
    for (overrides, field) in &cases {
        let mut body = json!({"name": "Mocha", "price": 400});
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        for (method, path, body) in [
            (Method::POST, "/products", &body),
            (Method::PUT, item.as_str(), &body),
            (Method::PATCH, item.as_str(), overrides),
        ] {
            let resp = send(&app, method.clone(), path, Some(&admin), Some(body)).await;
            let problem = assert_problem(resp, 422, "validation_failed").await;
            assert_eq!(error_fields(&problem), [*field], "{method} {body} → {problem}");
        }
    }
    // A category id that is not a UUID, and an unknown field.
    for body in [
        json!({"name": "Mocha", "price": 400, "category_ids": ["tea"]}),
        json!({"name": "M", "price": 1, "colour": "red"}),
    ] {
        for (method, path) in
            [(Method::POST, "/products"), (Method::PUT, item.as_str()), (Method::PATCH, item.as_str())]
        {
            let resp = send(&app, method.clone(), path, Some(&admin), Some(&body)).await;
            let problem = assert_problem(resp, 422, "validation_failed").await;
            let named = problem.to_string();
            assert!(named.contains("category_ids") || named.contains("colour"), "{method} {body} → {problem}");
        }
    }
    // POST and PUT need a name and a price.
    for body in [json!({"name": "Mocha"}), json!({"price": 400})] {
        for (method, path) in [(Method::POST, "/products"), (Method::PUT, item.as_str())] {
            assert_problem(send(&app, method, path, Some(&admin), Some(&body)).await, 422, "validation_failed").await;
        }
    }
    // Several invalid fields are all named.
    let body = json!({"name": "", "description": "<b>", "price": -5});
    let resp = send(&app, Method::POST, "/products", Some(&admin), Some(&body)).await;
    let mut fields = error_fields(&assert_problem(resp, 422, "validation_failed").await);
    fields.sort();
    assert_eq!(fields, ["description", "name", "price"]);
    // Nothing was written.
    let page = ok(app.get("/products", None).await).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0], created);
}

#[tokio::test]
async fn unknown_category_ids_give_422_naming_exactly_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let created = create_product(&app, &admin, &json!({"name": "Latte", "price": 350, "category_ids": [tea]})).await;
    let item = format!("/products/{}", id_of(&created));
    let ghost_a = uuid::Uuid::now_v7().to_string();
    let ghost_b = uuid::Uuid::now_v7().to_string();
    let body = json!({"name": "Mocha", "price": 400, "category_ids": [ghost_a, tea, ghost_b]});
    for (method, path) in [(Method::POST, "/products"), (Method::PUT, item.as_str()), (Method::PATCH, item.as_str())] {
        let resp = send(&app, method.clone(), path, Some(&admin), Some(&body)).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["category_ids"], "{method}: {problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&ghost_a) && message.contains(&ghost_b), "{method}: {message}");
        assert!(!message.contains(&tea), "{method} names a known category: {message}");
    }
    // Nothing was written: no new product, the old one unchanged.
    let page = ok(app.get("/products", None).await).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0], created);
}

#[tokio::test]
async fn malformed_product_bodies_give_400_and_wrong_media_types_415() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let item = format!("/products/{id}");
    for (method, path) in [(Method::POST, "/products"), (Method::PUT, item.as_str()), (Method::PATCH, item.as_str())] {
        for malformed in ["{\"name\": \"Mocha\", \"price\": 4", "", "{\"name\": ", "{'name': 'x'}", "{\"price\": 1,}"] {
            let resp = app
                .request(method.clone(), path, Some(&admin))
                .header("content-type", "application/json")
                .body(malformed)
                .send()
                .await
                .unwrap();
            assert_problem(resp, 400, "malformed_request").await;
        }
        for content_type in ["text/plain", "application/xml", "multipart/form-data; boundary=x"] {
            let resp = app
                .request(method.clone(), path, Some(&admin))
                .header("content-type", content_type)
                .body("{\"name\": \"Mocha\", \"price\": 400}")
                .send()
                .await
                .unwrap();
            assert_problem(resp, 415, "unsupported_media_type").await;
        }
    }
    let page = ok(app.get("/products", None).await).await;
    assert_eq!((names(&page), page["items"][0]["price"].as_i64()), (vec!["Latte".to_owned()], Some(350)));
}

#[tokio::test]
async fn put_replaces_a_product_and_patch_changes_only_what_it_names() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let coffee = category_id(&app, &admin, "Coffee").await;
    let milk = category_id(&app, &admin, "Milk").await;
    let tea = category_id(&app, &admin, "Tea").await;
    let body = json!({"name": "Latte", "description": "Milk coffee", "price": 350, "is_available": false,
                      "category_ids": [milk, coffee]});
    let created = create_product(&app, &admin, &body).await;
    let path = format!("/products/{}", id_of(&created));
    let patch = |body: Value| {
        let (app, admin, path) = (&app, &admin, &path);
        async move { ok(send(app, Method::PATCH, path, Some(admin), Some(&body)).await).await }
    };

    let p = patch(json!({"price": 360})).await;
    assert_eq!(p["price"], 360);
    assert_eq!((p["name"].as_str(), p["description"].as_str()), (Some("Latte"), Some("Milk coffee")));
    assert_eq!((p["is_available"].as_bool(), category_names(&p)), (Some(false), vec!["Coffee", "Milk"]));
    assert_eq!((&p["id"], &p["created_at"]), (&created["id"], &created["created_at"]));

    let p = patch(json!({"description": null})).await;
    assert_eq!((&p["description"], p["price"].as_i64()), (&Value::Null, Some(360)));
    let p = patch(json!({"category_ids": [tea]})).await;
    assert_eq!(category_names(&p), ["Tea"]);
    let p = patch(json!({"is_available": true, "name": "Caffè latte", "description": "New"})).await;
    assert_eq!((p["is_available"].as_bool(), p["name"].as_str()), (Some(true), Some("Caffè latte")));
    // A patch that changes nothing, empty or naming the current values, keeps even `updated_at`.
    let unchanged =
        json!({"name": "Caffè latte", "description": "New", "price": 360, "is_available": true, "category_ids": [tea]});
    for body in [json!({}), unchanged] {
        let same = patch(body.clone()).await;
        for key in ["name", "description", "price", "is_available", "categories", "image_url", "updated_at"] {
            assert_eq!(same[key], p[key], "{body}: {key}");
        }
    }
    let before = p["updated_at"].clone();
    let p = patch(json!({"category_ids": []})).await;
    assert_eq!(p["categories"], json!([]));
    assert_ne!(p["updated_at"], before, "a change of categories alone moves updated_at");
    let p = patch(json!({"category_ids": [coffee], "is_available": false})).await;
    assert_eq!(category_names(&p), ["Coffee"]);

    // PUT: absent description is cleared, absent is_available is true, absent category_ids removes all.
    let body = json!({"name": "Latte", "price": 300});
    let put = ok(send(&app, Method::PUT, &path, Some(&admin), Some(&body)).await).await;
    assert_eq!((put["name"].as_str(), put["price"].as_i64()), (Some("Latte"), Some(300)));
    assert_eq!((&put["description"], put["is_available"].as_bool()), (&Value::Null, Some(true)));
    assert_eq!(put["categories"], json!([]));
    let body = json!({"name": "Latte", "description": "Again", "price": 310, "is_available": false,
                      "category_ids": [tea, coffee]});
    let put = ok(send(&app, Method::PUT, &path, Some(&admin), Some(&body)).await).await;
    assert_eq!((put["description"].as_str(), put["is_available"].as_bool()), (Some("Again"), Some(false)));
    assert_eq!(category_names(&put), ["Coffee", "Tea"]);
    assert_eq!(ok(app.get(&path, None).await).await, put);
}

#[tokio::test]
async fn deleting_a_product_answers_204_and_keeps_its_categories() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let tea = category_id(&app, &admin, "Tea").await;
    let chai = create_product(&app, &admin, &json!({"name": "Chai", "price": 400, "category_ids": [tea]})).await;
    let green = product_id(&app, &admin, "Green tea", 300).await;
    let path = format!("/products/{}", id_of(&chai));

    let resp = send(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.text().await.unwrap().is_empty());
    assert_problem(app.get(&path, None).await, 404, "not_found").await;
    assert_problem(send(&app, Method::DELETE, &path, Some(&admin), None).await, 404, "not_found").await;
    let page = ok(app.get("/products", None).await).await;
    assert_eq!((page["total"].as_u64(), id_of(&page["items"][0])), (Some(1), green));
    assert_eq!(ok(app.get(&format!("/categories/{tea}"), None).await).await["name"], "Tea");
}

// ------------------------------------------------------------------ listing

struct Menu {
    coffee: String,
    tea: String,
    milk: String,
}

/// Espresso, Latte, Green tea, Chai latte, Croissant (unavailable, "100%
/// butter") and Cold brew (unavailable, "Slow_steeped"), in that order.
async fn seed(app: &TestApp) -> Menu {
    let admin = app.admin_token().await;
    let coffee = category_id(app, &admin, "Coffee").await;
    let tea = category_id(app, &admin, "Tea").await;
    let milk = category_id(app, &admin, "Milk").await;
    for body in [
        json!({"name": "Espresso", "description": "Strong and short", "price": 250, "category_ids": [coffee]}),
        json!({"name": "Latte", "description": "Milk coffee", "price": 350, "category_ids": [coffee, milk]}),
        json!({"name": "Green tea", "price": 300, "category_ids": [tea]}),
        json!({"name": "Chai latte", "description": "Spiced tea with milk", "price": 400, "category_ids": [tea, milk]}),
        json!({"name": "Croissant", "description": "100% butter", "price": 300, "is_available": false}),
        json!({"name": "Cold brew", "description": "Slow_steeped", "price": 450, "is_available": false,
               "category_ids": [coffee]}),
    ] {
        create_product(app, &admin, &body).await;
    }
    Menu { coffee, tea, milk }
}

#[tokio::test]
async fn products_are_listed_newest_first_with_categories_and_currency() {
    let app = spawn_app().await;
    seed(&app).await;
    let page = list(&app, "/products", &[]).await;
    assert_eq!(names(&page), ["Cold brew", "Croissant", "Chai latte", "Green tea", "Latte", "Espresso"]);
    assert_eq!(
        (page["total"].as_u64(), page["pages"].as_u64(), page["page_size"].as_u64()),
        (Some(6), Some(1), Some(20))
    );
    let keys: BTreeSet<&str> = page.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["items", "page", "page_size", "pages", "total"]));
    for item in page["items"].as_array().unwrap() {
        assert_product_shape(item);
        assert_eq!(ok(app.get(&format!("/products/{}", id_of(item)), None).await).await, *item);
    }
    assert_eq!(category_names(&page["items"][2]), ["Milk", "Tea"]);
    assert_eq!(category_names(&page["items"][1]), Vec::<&str>::new());
}

#[tokio::test]
async fn products_can_be_filtered_searched_sorted_and_paged() {
    let app = spawn_app().await;
    let menu = seed(&app).await;
    let tea_or_milk = format!("{},{}", menu.tea, menu.milk);
    let coffee_or_tea = format!("{},{}", menu.coffee, menu.tea);
    let q = |pairs: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            list(app, "/products", &pairs).await
        }
    };
    let s = |v: &str| v.to_owned();

    let teas = q(vec![("category_id", menu.tea.clone()), ("sort", s("name"))]).await;
    assert_eq!(names(&teas), ["Chai latte", "Green tea"]);
    assert_eq!(category_names(&teas["items"][0]), ["Milk", "Tea"], "all its categories, not only the matching one");
    let either = q(vec![("category_id__in", tea_or_milk.clone()), ("sort", s("name"))]).await;
    assert_eq!(
        (names(&either), either["total"].as_u64()),
        (vec![s("Chai latte"), s("Green tea"), s("Latte")], Some(3))
    );

    let mid = q(vec![("price__gte", s("300")), ("price__lt", s("400")), ("sort", s("price,name"))]).await;
    assert_eq!(names(&mid), ["Croissant", "Green tea", "Latte"]);
    assert_eq!(names(&q(vec![("price", s("300")), ("sort", s("name"))]).await), ["Croissant", "Green tea"]);
    assert_eq!(names(&q(vec![("price__in", s("250,450")), ("sort", s("price"))]).await), ["Espresso", "Cold brew"]);
    assert_eq!(names(&q(vec![("price__gt", s("400"))]).await), ["Cold brew"]);
    assert_eq!(names(&q(vec![("price__lte", s("250"))]).await), ["Espresso"]);

    let unavailable = q(vec![("is_available", s("false")), ("sort", s("name"))]).await;
    assert_eq!((names(&unavailable), unavailable["total"].as_u64()), (vec![s("Cold brew"), s("Croissant")], Some(2)));
    assert_eq!(q(vec![("is_available", s("true"))]).await["total"], 4);
    assert_eq!(q(vec![("is_available__in", s("false"))]).await["total"], 2);
    assert_eq!(q(vec![("is_available__in", s("true,false"))]).await["total"], 6);

    assert_eq!(
        names(&q(vec![("sort", s("-price,name"))]).await),
        ["Cold brew", "Chai latte", "Latte", "Croissant", "Green tea", "Espresso"]
    );
    let second = q(vec![("sort", s("-price,name")), ("page_size", s("2")), ("page", s("2"))]).await;
    assert_eq!(names(&second), ["Latte", "Croissant"]);
    assert_eq!((second["total"].as_u64(), second["pages"].as_u64()), (Some(6), Some(3)));
    assert_eq!((second["page"].as_u64(), second["page_size"].as_u64()), (Some(2), Some(2)));
    assert_eq!(names(&q(vec![("sort", s("name"))]).await)[0], "Chai latte");
    assert_eq!(names(&q(vec![("sort", s("is_available,-price"))]).await)[..2], ["Cold brew", "Croissant"]);

    assert_eq!(names(&q(vec![("name", s("Latte"))]).await), ["Latte"]);
    assert_eq!(names(&q(vec![("name__contains", s("LATTE")), ("sort", s("name"))]).await), ["Chai latte", "Latte"]);
    assert_eq!(names(&q(vec![("name__in", s("Latte,Espresso")), ("sort", s("name"))]).await), ["Espresso", "Latte"]);
    // Search covers name and description.
    assert_eq!(names(&q(vec![("search", s("TEA")), ("sort", s("name"))]).await), ["Chai latte", "Green tea"]);
    assert_eq!(names(&q(vec![("search", s("milk")), ("sort", s("name"))]).await), ["Chai latte", "Latte"]);

    // Combinations.
    let coffee_now =
        q(vec![("category_id", menu.coffee.clone()), ("is_available", s("true")), ("sort", s("-price"))]).await;
    assert_eq!(names(&coffee_now), ["Latte", "Espresso"]);
    assert_eq!(names(&q(vec![("search", s("tea")), ("price__lt", s("400"))]).await), ["Green tea"]);
    let combo = |page: &'static str| {
        vec![
            ("category_id__in", coffee_or_tea.clone()),
            ("price__gte", s("300")),
            ("sort", s("price,name")),
            ("page_size", s("2")),
            ("page", s(page)),
        ]
    };
    let first = q(combo("1")).await;
    assert_eq!(
        (names(&first), first["total"].as_u64(), first["pages"].as_u64()),
        (vec![s("Green tea"), s("Latte")], Some(4), Some(2))
    );
    assert_eq!(names(&q(combo("2")).await), ["Chai latte", "Cold brew"]);
    assert!(names(&q(combo("3")).await).is_empty());
    let milky_search =
        q(vec![("search", s("milk")), ("category_id", menu.tea.clone()), ("is_available", s("true"))]).await;
    assert_eq!(names(&milky_search), ["Chai latte"]);

    let oldest_first = q(vec![("sort", s("created_at"))]).await;
    assert_eq!(names(&oldest_first)[0], "Espresso");
    let since = oldest_first["items"][4]["created_at"].as_str().unwrap().to_owned();
    let newer = q(vec![("created_at__gte", since.clone()), ("sort", s("created_at"))]).await;
    assert_eq!(names(&newer), ["Croissant", "Cold brew"]);
    assert_eq!(q(vec![("created_at__lt", since)]).await["total"], 4);
    let nobody = uuid::Uuid::now_v7().to_string();
    assert_eq!(q(vec![("category_id", nobody)]).await["total"], 0);
}

/// A repeated menu page is answered as JSON with the same bytes as the first
/// time, and every change to what it shows (a price, a category's name, a
/// product deleted) is on the next answer, for every query alike: a page's
/// JSON is reused only while the menu's version stays the same.
#[tokio::test]
async fn a_repeated_menu_page_shows_every_change_made_since() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let menu = seed(&app).await;
    let queries: [&[(&str, &str)]; 3] = [&[], &[("search", "latte")], &[("sort", "price"), ("page_size", "4")]];
    // Each query asked twice (the second answer is the remembered one); the
    // latte's price and its categories' names, as every page shows them.
    let latte = || async {
        let mut shown = Vec::new();
        for query in queries {
            let resp = app.request(Method::GET, "/products", None).query(query).send().await.unwrap();
            let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(content_type.as_deref(), Some("application/json"), "{query:?}");
            let first = resp.text().await.unwrap();
            let again = app.request(Method::GET, "/products", None).query(query).send().await.unwrap();
            assert_eq!(again.text().await.unwrap(), first, "{query:?}: asked twice");
            let page: Value = serde_json::from_str(&first).unwrap();
            let item = page["items"].as_array().unwrap().iter().find(|item| item["name"] == "Latte");
            shown.push(item.map(|item| (item["price"].as_i64().unwrap(), category_names(item).join(","))));
        }
        assert!(shown.windows(2).all(|w| w[0] == w[1]), "every page shows the latte alike: {shown:?}");
        shown.swap_remove(0)
    };
    assert_eq!(latte().await, Some((350, "Coffee,Milk".to_owned())));

    let id = id_of(&list(&app, "/products", &[("name", "Latte")]).await["items"][0]);
    let path = format!("/products/{id}");
    ok(send(&app, Method::PATCH, &path, Some(&admin), Some(&json!({"price": 360}))).await).await;
    assert_eq!(latte().await, Some((360, "Coffee,Milk".to_owned())), "a new price");

    let renamed = json!({"name": "Dairy"});
    ok(send(&app, Method::PATCH, &format!("/categories/{}", menu.milk), Some(&admin), Some(&renamed)).await).await;
    assert_eq!(latte().await, Some((360, "Coffee,Dairy".to_owned())), "a category renamed");

    let gone = send(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(latte().await, None, "deleted");
}

#[tokio::test]
async fn invalid_product_queries_give_400_naming_the_parameter() {
    let app = spawn_app().await;
    let long = "x".repeat(201);
    for (name, value) in [
        ("sort", "category_id"),
        ("sort", "description"),
        ("sort", "image"),
        ("sort", "-price,price"),
        ("price", "cheap"),
        ("price", "3.50"),
        ("price__gte", "1e3"),
        ("price__in", "1,two"),
        ("price__contains", "1"),
        ("image", "x"),
        ("description", "x"),
        ("currency", "UZS"),
        ("is_available", "maybe"),
        ("is_available__in", "true,maybe"),
        ("is_available__gt", "false"),
        ("category_id", "not-a-uuid"),
        ("category_id", "' OR 1=1 --"),
        ("category_id__in", "x,y"),
        ("category_id__gt", "0193d6a0-0000-7000-8000-000000000000"),
        ("name__gt", "a"),
        ("created_at__gte", "yesterday"),
        ("created_at__lt", "9999-12-31T23:30:00-01:00"),
        ("name__contains", ""),
        ("name__in", "Latte,"),
        ("page", "0"),
        ("page_size", "1000"),
        ("search", long.as_str()),
    ] {
        let problem = assert_problem(try_list(&app, "/products", &[(name, value)]).await, 400, "invalid_query").await;
        assert_eq!(error_fields(&problem), [name], "{name}={value} → {problem}");
    }
}

#[tokio::test]
async fn injection_shaped_product_queries_match_only_literally() {
    let app = spawn_app().await;
    seed(&app).await;
    for (name, value) in [
        ("search", "' OR 1=1 --"),
        ("search", "\" OR \"\"=\""),
        ("search", "'; DROP TABLE products; --"),
        ("name", "' OR '1'='1"),
        ("name__contains", "%"),
        ("name__contains", "_"),
        ("name__in", "a') OR ('1'='1"),
        ("search", "\\"),
        ("search", "L_tte"),
    ] {
        let page = list(&app, "/products", &[(name, value)]).await;
        assert_eq!(page["total"], 0, "{name}={value} matched {page}");
    }
    assert_eq!(names(&list(&app, "/products", &[("search", "%")]).await), ["Croissant"]);
    assert_eq!(names(&list(&app, "/products", &[("search", "_")]).await), ["Cold brew"]);
    assert_eq!(names(&list(&app, "/products", &[("search", "100%")]).await), ["Croissant"]);
    // The tables are still there.
    assert_eq!(list(&app, "/products", &[]).await["total"], 6);
    assert_eq!(list(&app, "/categories", &[]).await["total"], 3);
}

// ------------------------------------------------------------------- images

/// An EXIF segment as a phone writes it: where the photo was taken (in a
/// description, as text) and how to turn it (orientation 6).
const EXIF_WITH_PLACE: &str = "ffe1004745786966000049492a000800000002000e0102001900000026000000120103000100000006000000\
                               000000004750532034382e3835383337204e20322e3239343438204500";
/// The EXIF segment the server writes instead: orientation 6 and nothing else.
const EXIF_ORIENTATION_ONLY: &str = "ffe100224578696600004d4d002a00000008000101120003000000010006000000000000";

#[tokio::test]
async fn an_image_is_stored_without_its_metadata_but_keeps_its_orientation() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    // The 1×1 JPEG as a phone sends it: EXIF, XMP and a comment saying where
    // it was taken, and a second picture after its end.
    let plain = bytes(JPEG);
    let (start, rest) = plain.split_at(20); // SOI and the JFIF segment
    let photo = [
        start,
        &bytes(EXIF_WITH_PLACE),
        &jpeg_segment(0xe1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>48.85837 N 2.29448 E</x:xmpmeta>"),
        &jpeg_segment(0xfe, b"Taken in Paris"),
        rest,
        &plain,
    ]
    .concat();
    let product = ok(upload(&app, Some(&admin), &id, file_form(photo, "photo.jpg", "image/jpeg")).await).await;
    let path = media_path(&product["image_url"], "jpg");

    // The picture, and its orientation alone.
    let expected = [start, &bytes(EXIF_ORIENTATION_ONLY), rest].concat();
    let resp = app.get(&path, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let served = resp.bytes().await.unwrap().to_vec();
    assert_eq!(served, expected, "{served:02x?}");
    assert_eq!(std::fs::read(media_dir(&app).join(file_name(&path))).unwrap(), expected);
}

#[tokio::test]
async fn png_jpeg_and_webp_images_are_stored_and_served_with_cache_headers() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (hex, file, mime, ext) in [
        (PNG, "photo.png", "image/png", "png"),
        (JPEG, "photo.jpg", "image/jpeg", "jpg"),
        (WEBP, "photo.webp", "image/webp", "webp"),
        // Recognised by content, whatever the declared name and type.
        (PNG, "photo.jpg", "application/octet-stream", "png"),
        (JPEG, "noext", "image/webp", "jpg"),
    ] {
        let id = product_id(&app, &admin, &format!("With {file} as {mime}"), 100).await;
        let content = bytes(hex);
        let resp = upload(&app, Some(&admin), &id, file_form(content.clone(), file, mime)).await;
        let product = ok(resp).await;
        assert_product_shape(&product);
        let path = media_path(&product["image_url"], ext);
        assert_eq!(ok(app.get(&format!("/products/{id}"), None).await).await, product);

        let resp = app.get(&path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        let expected_mime = match ext {
            "png" => "image/png",
            "jpg" => "image/jpeg",
            _ => "image/webp",
        };
        assert_eq!(header(resp.headers(), "content-type").as_deref(), Some(expected_mime));
        let cache = header(resp.headers(), "cache-control").unwrap_or_default();
        assert!(cache.contains("public") && cache.contains("max-age=31536000"), "Cache-Control: {cache}");
        assert_eq!(header(resp.headers(), "x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(resp.bytes().await.unwrap().as_ref(), content.as_slice());
        let stored = std::fs::read(media_dir(&app).join(file_name(&path))).expect("the file is in MEDIA_DIR");
        assert_eq!(stored, content);
    }
    assert_eq!(media_files(&app).len(), 5, "{:?}", media_files(&app));
}

#[tokio::test]
async fn images_answer_ranges_and_conditions_and_their_errors_are_problems() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let product = ok(upload(&app, Some(&admin), &id, file_form(bytes(PNG), "a.png", "image/png")).await).await;
    let path = media_path(&product["image_url"], "png");
    let len = bytes(PNG).len();
    let get = |name: &'static str, value: String| {
        let req = app.request(Method::GET, &path, None).header(name, value);
        async move { req.send().await.unwrap() }
    };

    let part = get("range", "bytes=0-3".to_owned()).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes(PNG)[..4]);
    let outside = get("range", format!("bytes={}-", len + 10)).await;
    assert_eq!(header(outside.headers(), "content-range"), Some(format!("bytes */{len}")));
    assert_problem(outside, 416, "range_not_satisfiable").await;
    let unreadable = app
        .request(Method::GET, &path, None)
        .header("range", reqwest::header::HeaderValue::from_bytes(b"bytes=\xff-").unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(unreadable, 400, "bad_request").await;

    let etag = header(app.get(&path, None).await.headers(), "etag").expect("an ETag");
    assert_eq!(get("if-none-match", etag.clone()).await.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(get("if-match", etag).await.status(), StatusCode::OK);
    assert_problem(get("if-match", "\"other\"".to_owned()).await, 412, "precondition_failed").await;
}

/// Fetches `path`, waiting `stall` before the first read and `pause` after
/// each of the first `pauses` reads, over a connection whose receive buffer
/// is `receive_buffer` bytes (or the kernel's default, which grows as the
/// client reads). Returns the bytes read and how the reading ended.
async fn fetch_reading(
    app: &TestApp,
    path: &str,
    receive_buffer: Option<u32>,
    stall: Duration,
    (pause, pauses): (Duration, usize),
) -> (usize, std::io::Result<()>) {
    let host = app.address.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut stream = socket.connect(host.parse().unwrap()).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request written");
    tokio::time::sleep(stall).await;
    let (mut received, mut reads, mut buf) = (0, 0, vec![0; 64 * 1024]);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("an answer in time") {
            Ok(0) => return (received, Ok(())),
            Ok(n) => received += n,
            Err(e) => return (received, Err(e)),
        }
        reads += 1;
        if reads <= pauses {
            tokio::time::sleep(pause).await;
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_after_the_send_timeout() {
    let app = crate::helpers::spawn_app_with(&[("SEND_TIMEOUT", "2s")]).await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    // More than the kernel buffers on both sides hold, so the server must wait for the client.
    let product =
        ok(upload(&app, Some(&admin), &id, file_form(png_of_len(5 * MIB), "big.png", "image/png")).await).await;
    let path = media_path(&product["image_url"], "png");

    // Pauses shorter than the timeout: the whole file.
    let (received, end) = fetch_reading(&app, &path, None, Duration::ZERO, (Duration::from_millis(200), 5)).await;
    assert!(end.is_ok() && received > 5 * MIB, "{received} bytes, then {end:?}");

    // Stopped reading (with a small buffer, so that the server's side fills
    // up): the server gives up on the connection, and the file, after about two seconds.
    let (received, end) = fetch_reading(&app, &path, Some(4096), Duration::from_secs(6), (Duration::ZERO, 0)).await;
    assert!(received < 5 * MIB, "the server waited for the client: {received} bytes");
    assert_eq!(end.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset), "after {received} bytes");
}

#[tokio::test]
async fn a_new_image_replaces_the_old_file() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;

    let first = ok(upload(&app, Some(&admin), &id, file_form(bytes(PNG), "a.png", "image/png")).await).await;
    let first_path = media_path(&first["image_url"], "png");
    assert_eq!(media_files(&app), [file_name(&first_path)]);

    let second = ok(upload(&app, Some(&admin), &id, file_form(bytes(WEBP), "b.webp", "image/webp")).await).await;
    let second_path = media_path(&second["image_url"], "webp");
    assert_ne!(first_path, second_path);
    assert_eq!(media_files(&app), [file_name(&second_path)], "the old file is removed");
    assert_problem(app.get(&first_path, None).await, 404, "not_found").await;
    assert_eq!(app.get(&second_path, None).await.status(), StatusCode::OK);

    // PUT and PATCH keep the image.
    let body = json!({"name": "Latte", "price": 360});
    let put = ok(send(&app, Method::PUT, &format!("/products/{id}"), Some(&admin), Some(&body)).await).await;
    assert_eq!(put["image_url"], second["image_url"]);
    let body = json!({"price": 370});
    let patched = ok(send(&app, Method::PATCH, &format!("/products/{id}"), Some(&admin), Some(&body)).await).await;
    assert_eq!(patched["image_url"], second["image_url"]);

    // A refused upload keeps the current image.
    let resp = upload(&app, Some(&admin), &id, file_form(b"not an image".to_vec(), "c.png", "image/png")).await;
    assert_problem(resp, 415, "unsupported_image_type").await;
    assert_eq!(ok(app.get(&format!("/products/{id}"), None).await).await["image_url"], second["image_url"]);
    assert_eq!(media_files(&app), [file_name(&second_path)]);

    // Deleting the product removes its file.
    let resp = send(&app, Method::DELETE, &format!("/products/{id}"), Some(&admin), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
    assert_problem(app.get(&second_path, None).await, 404, "not_found").await;
}

#[tokio::test]
async fn files_that_are_not_png_jpeg_or_webp_give_415() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>".to_vec();
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec();
    let mut webp_header_only = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
    webp_header_only.extend_from_slice(&[0; 16]);
    for (content, file, mime) in [
        (b"just some text, honestly".to_vec(), "x.png", "image/png"),
        (bytes(GIF), "x.gif", "image/gif"),
        (bytes(GIF), "x.png", "image/png"),
        (pdf, "x.pdf", "application/pdf"),
        (svg.clone(), "x.svg", "image/svg+xml"),
        (svg, "x.png", "image/png"),
        (html, "x.jpg", "image/jpeg"),
        (webp_header_only, "x.webp", "image/webp"),
        // A signature alone is not an image: the format's header must follow.
        ([&bytes(PNG)[..8], b"<script>alert(1)</script>".as_slice()].concat(), "x.png", "image/png"),
        (vec![0xff, 0xd8, 0xff], "x.jpg", "image/jpeg"),
        (Vec::new(), "empty.png", "image/png"),
        // A sound header, but cut short: it cannot be stored without its metadata.
        (bytes(JPEG)[..bytes(JPEG).len() - 2].to_vec(), "cut.jpg", "image/jpeg"),
        (bytes(PNG)[..60].to_vec(), "cut.png", "image/png"),
    ] {
        let resp = upload(&app, Some(&admin), &id, file_form(content, file, mime)).await;
        assert_problem(resp, 415, "unsupported_image_type").await;
    }
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
    assert_eq!(ok(app.get(&format!("/products/{id}"), None).await).await["image_url"], Value::Null);
}

#[tokio::test]
async fn images_larger_than_5_mib_give_413() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;

    for len in [6 * MIB, 5 * MIB + 1] {
        let resp = upload(&app, Some(&admin), &id, file_form(png_of_len(len), "big.png", "image/png")).await;
        assert_problem(resp, 413, "payload_too_large").await;
    }
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
    assert_eq!(ok(app.get(&format!("/products/{id}"), None).await).await["image_url"], Value::Null);

    // Exactly 5 MiB is fine.
    let resp = upload(&app, Some(&admin), &id, file_form(png_of_len(5 * MIB), "max.png", "image/png")).await;
    let product = ok(resp).await;
    let path = media_path(&product["image_url"], "png");
    let stored = std::fs::metadata(media_dir(&app).join(file_name(&path))).unwrap();
    assert_eq!(usize::try_from(stored.len()).unwrap(), 5 * MIB);
}

#[tokio::test]
async fn an_upload_that_stalls_is_cut_off_with_408() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    // The headers and the start of the image, then nothing more.
    let head = format!(
        "POST /products/{id}/image HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&bytes(PNG)).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut response))
        .await
        .expect("an answer within 20 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response[..n]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 408") && text.contains("request_timeout"), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(9), "cut off only after the stall timeout");
    assert!(media_files(&app).is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_streamed_upload_is_cut_off_at_5_mib_without_reading_the_rest() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();

    // A chunked body without Content-Length that would go on for 64 MiB.
    const TOTAL: usize = 64 * MIB;
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    let head = format!(
        "POST /products/{id}/image HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let mut first =
            b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n"
                .to_vec();
        first.extend_from_slice(&bytes(PNG));
        let filler = vec![0u8; 64 * 1024];
        let mut chunk = first;
        while counter.load(Ordering::Relaxed) < TOTAL {
            writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
            writer.write_all(&chunk).await?;
            writer.write_all(b"\r\n").await?;
            counter.fetch_add(chunk.len(), Ordering::Relaxed);
            chunk.clone_from(&filler);
        }
        writer.write_all(b"\r\n--XYZ--\r\n").await?;
        writer.write_all(b"0\r\n\r\n").await?;
        Ok::<(), std::io::Error>(())
    });

    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = reader.read(&mut buf).await.expect("a response");
            assert!(n > 0, "the connection closed without a response");
            response.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    read.expect("a response before the client finished sending");
    let sent = written.load(Ordering::Relaxed);
    writing.abort();
    let head = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    assert!(sent < TOTAL, "the server read the whole {sent}-byte body before answering");
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
}

#[tokio::test]
async fn an_upload_must_be_multipart_with_a_file_part() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let path = format!("/products/{id}/image");

    // `file` is the one part: another, before or after it, is refused by name, not skipped.
    let png = || Part::bytes(bytes(PNG)).file_name("a.png").mime_str("image/png").unwrap();
    for (form, named) in [
        (Form::new().part("image", png()), "image"),
        (Form::new().text("comment", "here it is").part("file", png()), "comment"),
        (Form::new().part("file", png()).text("comment", "here it is"), "comment"),
        (Form::new().part("file", png()).part("file", Part::bytes(bytes(GIF)).file_name("b.gif")), "file"),
        (Form::new().text("", "nameless").part("file", png()), "file"),
    ] {
        let problem = assert_problem(upload(&app, Some(&admin), &id, form).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [named]);
    }
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
    // A multipart body without any part is malformed (RFC 2046 wants at least one).
    let resp = upload(&app, Some(&admin), &id, Form::new()).await;
    assert_problem(resp, 400, "malformed_request").await;

    // Not multipart at all.
    for (content_type, body) in [
        ("image/png", bytes(PNG)),
        ("application/json", b"{\"file\": \"iVBORw0KGgo=\"}".to_vec()),
        ("application/x-www-form-urlencoded", b"file=x".to_vec()),
        ("text/plain", b"x".to_vec()),
        // Only the media type itself, not a longer name that starts with it.
        ("multipart/form-datax; boundary=b", b"--b--\r\n".to_vec()),
    ] {
        let resp = app
            .request(Method::POST, &path, Some(&admin))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(resp, 415, "unsupported_media_type").await;
    }
    let resp = app.request(Method::POST, &path, Some(&admin)).body(bytes(PNG)).send().await.unwrap();
    assert_problem(resp, 415, "unsupported_media_type").await;
    // A multipart body is parsed as sent: compressed, it is refused, not misread.
    let boundary = "XYZ";
    let form = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.png\"\r\ncontent-type: image/png\r\n\r\n"
    );
    let mut raw = form.into_bytes();
    raw.extend(bytes(PNG));
    raw.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let resp = app
        .request(Method::POST, &path, Some(&admin))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("content-encoding", "gzip")
        .body(crate::helpers::compressed("gzip", &raw))
        .send()
        .await
        .unwrap();
    assert_eq!(header(resp.headers(), "accept-encoding").as_deref(), Some("identity"));
    assert_problem(resp, 415, "unsupported_media_type").await;
    // A multipart type with a broken body.
    let resp = app
        .request(Method::POST, &path, Some(&admin))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("this is not multipart")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400, "malformed_request").await;
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
}

#[tokio::test]
async fn uploading_an_image_needs_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let id = product_id(&app, &admin, "Latte", 350).await;

    let resp = upload(&app, None, &id, file_form(bytes(PNG), "a.png", "image/png")).await;
    assert_unauthorized(resp, "missing_token").await;
    let resp = upload(&app, Some("not.a.jwt"), &id, file_form(bytes(PNG), "a.png", "image/png")).await;
    assert_unauthorized(resp, "invalid_token").await;
    for hex in [PNG, JPEG, WEBP] {
        let resp = upload(&app, Some(&ann.token), &id, file_form(bytes(hex), "a.png", "image/png")).await;
        assert_problem(resp, 403, "forbidden").await;
    }
    assert!(media_files(&app).is_empty(), "{:?}", media_files(&app));
    assert_eq!(ok(app.get(&format!("/products/{id}"), None).await).await["image_url"], Value::Null);
}

#[tokio::test]
async fn media_paths_cannot_leave_the_media_directory() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    let product = ok(upload(&app, Some(&admin), &id, file_form(bytes(PNG), "a.png", "image/png")).await).await;
    let good = media_path(&product["image_url"], "png");
    let stem = file_name(&good).trim_end_matches(".png").to_owned();
    // Files the store did not generate: next to MEDIA_DIR, and inside it under other names.
    std::fs::write(app.media.path().join("secret.png"), "SECRET-OUTSIDE").unwrap();
    std::fs::write(media_dir(&app).join("notes.png"), "SECRET-INSIDE").unwrap();
    std::fs::write(media_dir(&app).join(format!(".{stem}.png.part")), "SECRET-PART").unwrap();

    let (status, head, _) = raw_get(&app, &good).await;
    assert_eq!(status, 200, "{head}");
    for path in [
        "/media/../Cargo.toml".to_owned(),
        "/media/%2e%2e%2fCargo.toml".to_owned(),
        "/media/..%2fCargo.toml".to_owned(),
        "/media/..%2Fsecret.png".to_owned(),
        "/media/../secret.png".to_owned(),
        "/media/%2e%2e/secret.png".to_owned(),
        "/media/..%5csecret.png".to_owned(),
        "/media/nonexistent.png".to_owned(),
        "/media/notes.png".to_owned(),
        format!("/media/.{stem}.png.part"),
        format!("/media/{}.png", "0".repeat(32)),
        format!("/media/{}.PNG", stem),
        format!("/media/{}.png", stem.to_ascii_uppercase()),
        format!("/media/{stem}.png%00.txt"),
        format!("/media/{stem}.jpg"),
        "/media/".to_owned(),
        "/media/%2fetc%2fpasswd".to_owned(),
    ] {
        let (status, head, body) = raw_get(&app, &path).await;
        assert_eq!(status, 404, "{path} → {head}\n{body}");
        assert!(head.contains("content-type: application/problem+json"), "{path} → {head}");
        for leak in ["SECRET", "[package]", "root:"] {
            assert!(!body.contains(leak), "{path} leaked {leak}: {body}");
        }
    }
    // Through an ordinary HTTP client too.
    assert_problem(app.get("/media/nonexistent.png", None).await, 404, "not_found").await;
    assert_problem(app.get("/media/notes.png", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_non_admin_upload_is_refused_with_403_whatever_the_file() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = app.logged_in("ann@example.com").await;
    let id = product_id(&app, &admin, "Latte", 350).await;
    for (content, file) in [(b"not an image".to_vec(), "x.png"), (png_of_len(6 * MIB), "big.png")] {
        let resp = upload(&app, Some(&ann.token), &id, file_form(content, file, "image/png")).await;
        assert_problem(resp, 403, "forbidden").await;
    }
    let unknown = uuid::Uuid::now_v7().to_string();
    let resp = upload(&app, Some(&ann.token), &unknown, file_form(b"x".to_vec(), "x.png", "image/png")).await;
    assert_problem(resp, 403, "forbidden").await;
}
