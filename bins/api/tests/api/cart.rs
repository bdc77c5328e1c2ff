//! `/cart`: one cart per user, lines merged by product, current prices.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::categories::{json_with, send};
use crate::helpers::{assert_problem, assert_unauthorized, error_fields, id_of, spawn_app};
use crate::shopping::{Shop, open_shop};

fn lines(cart: &Value) -> Vec<(String, i64, i64)> {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["name"].as_str().unwrap().to_owned(), l["quantity"].as_i64().unwrap(), l["line_total"].as_i64().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_cart_needs_a_token() {
    let app = spawn_app().await;
    let some = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::GET, "/cart".to_owned()),
        (Method::POST, "/cart".to_owned()),
        (Method::DELETE, "/cart".to_owned()),
        (Method::GET, format!("/cart/{some}")),
        (Method::PATCH, format!("/cart/{some}")),
        (Method::DELETE, format!("/cart/{some}")),
    ] {
        let resp = send(&app, method.clone(), &path, None, Some(&json!({}))).await;
        assert_unauthorized(resp, "missing_token").await;
    }
}

#[tokio::test]
async fn adding_merges_lines_and_the_cart_shows_current_prices_and_totals() {
    let s = open_shop().await;
    let token = &s.ann.token;
    assert_eq!(s.cart(token).await, json!({"items": [], "total_quantity": 0, "total": 0, "currency": "EUR"}));
    let resp = s.add(token, &s.latte, 2).await;
    let location = crate::helpers::header(resp.headers(), "location").unwrap();
    let cart = json_with(resp, StatusCode::CREATED).await;
    assert_eq!(location, format!("/cart/{}", cart["items"][0]["id"].as_str().unwrap()));
    // The Location is a resource: the line, as the cart shows it.
    let got = json_with(s.call(Method::GET, &location, token, None).await, StatusCode::OK).await;
    assert_eq!(got, cart["items"][0]);
    s.added(token, &s.cake, 1).await;
    // A product already in the cart joins its line: 200, no new resource, the same Location.
    let resp = s.add(token, &s.latte, 3).await;
    assert_eq!(crate::helpers::header(resp.headers(), "location"), Some(location));
    let cart = json_with(resp, StatusCode::OK).await;
    assert_eq!(lines(&cart), [("Latte".to_owned(), 5, 1_750), ("Cake".to_owned(), 1, 1_299)]);
    assert_eq!((cart["total_quantity"].as_i64(), cart["total"].as_i64()), (Some(6), Some(3_049)));
    let line = &cart["items"][0];
    let mut keys: Vec<&String> = line.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "is_available", "line_total", "name", "product_id", "quantity", "unit_price"]);
    assert_eq!((line["product_id"].as_str(), line["unit_price"].as_i64()), (Some(s.latte.as_str()), Some(350)));
    assert_eq!(line["is_available"], true);
    // A quantity defaults to one.
    let cart =
        json_with(s.call(Method::POST, "/cart", token, Some(&json!({"product_id": s.cake}))).await, StatusCode::OK)
            .await;
    assert_eq!(lines(&cart)[1], ("Cake".to_owned(), 2, 2_598));
}

#[tokio::test]
async fn the_cart_follows_the_menu_prices_availability_and_deletions() {
    let s = open_shop().await;
    let token = &s.ann.token;
    s.added(token, &s.latte, 2).await;
    s.added(token, &s.cake, 1).await;
    let change = json!({"price": 400, "is_available": false});
    json_with(s.call(Method::PATCH, &format!("/products/{}", s.latte), &s.admin, Some(&change)).await, StatusCode::OK)
        .await;
    let cart = s.cart(token).await;
    assert_eq!(
        (cart["items"][0]["unit_price"].as_i64(), cart["items"][0]["is_available"].as_bool()),
        (Some(400), Some(false))
    );
    assert_eq!(cart["total"], 800 + 1_299);
    let deleted = s.call(Method::DELETE, &format!("/products/{}", s.cake), &s.admin, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(lines(&s.cart(token).await), [("Latte".to_owned(), 2, 800)], "a deleted product leaves every cart");
}

#[tokio::test]
async fn unknown_unavailable_and_overfull_additions_are_refused_and_change_nothing() {
    let s = open_shop().await;
    let token = &s.ann.token;
    assert_problem(s.add(token, &uuid::Uuid::now_v7().to_string(), 1).await, 404, "not_found").await;
    let sold_out = crate::shopping::product(&s.app, &s.admin, "Pumpkin latte", 450).await;
    let off = json!({"is_available": false});
    json_with(s.call(Method::PATCH, &format!("/products/{sold_out}"), &s.admin, Some(&off)).await, StatusCode::OK)
        .await;
    let problem = assert_problem(s.add(token, &sold_out, 1).await, 409, "product_unavailable").await;
    assert_eq!(problem["product_ids"], json!([sold_out]));
    s.added(token, &s.latte, 96).await;
    let problem = assert_problem(s.add(token, &s.latte, 4).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["quantity"]);
    assert_eq!(lines(&s.cart(token).await), [("Latte".to_owned(), 96, 33_600)]);
}

async fn assert_bad_quantity(s: &Shop, body: Value, field: &str) {
    let resp = s.call(Method::POST, "/cart", &s.ann.token, Some(&body)).await;
    let problem = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), [field], "{body}");
}

#[tokio::test]
async fn quantities_outside_1_to_99_or_not_integers_are_422_naming_the_field() {
    let s = open_shop().await;
    for quantity in [json!(0), json!(100), json!(-1), json!("x"), json!(1_000_000_000_000_i64), json!(1.5), json!(null)]
    {
        assert_bad_quantity(&s, json!({"product_id": s.latte, "quantity": quantity}), "quantity").await;
    }
    assert_bad_quantity(&s, json!({"product_id": "not-a-uuid", "quantity": 1}), "product_id").await;
    assert_bad_quantity(&s, json!({"quantity": 1}), "product_id").await;
    assert!(s.cart(&s.ann.token).await["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn lines_are_changed_and_removed_by_their_owner_only() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    let cart = s.added(&s.ann.token, &s.latte, 2).await;
    let line = id_of(&cart["items"][0]);
    let path = format!("/cart/{line}");
    for token in [&bob.token, &s.admin] {
        assert_problem(s.call(Method::GET, &path, token, None).await, 404, "not_found").await;
        assert_problem(s.call(Method::PATCH, &path, token, Some(&json!({"quantity": 5}))).await, 404, "not_found")
            .await;
        assert_problem(s.call(Method::DELETE, &path, token, None).await, 404, "not_found").await;
    }
    let cart =
        json_with(s.call(Method::PATCH, &path, &s.ann.token, Some(&json!({"quantity": 7}))).await, StatusCode::OK)
            .await;
    assert_eq!(lines(&cart), [("Latte".to_owned(), 7, 2_450)]);
    let got = json_with(s.call(Method::GET, &path, &s.ann.token, None).await, StatusCode::OK).await;
    assert_eq!((got["quantity"].as_i64(), got["line_total"].as_i64()), (Some(7), Some(2_450)));
    let problem = assert_problem(
        s.call(Method::PATCH, &path, &s.ann.token, Some(&json!({"quantity": 0}))).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["quantity"]);
    assert_eq!(s.call(Method::DELETE, &path, &s.ann.token, None).await.status(), StatusCode::NO_CONTENT);
    assert_problem(s.call(Method::DELETE, &path, &s.ann.token, None).await, 404, "not_found").await;
    assert_problem(s.call(Method::GET, &path, &s.ann.token, None).await, 404, "not_found").await;
    assert_problem(
        s.call(Method::PATCH, "/cart/not-a-uuid", &s.ann.token, Some(&json!({"quantity": 1}))).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn emptying_the_cart_removes_every_line_of_the_caller_only() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    s.added(&s.ann.token, &s.latte, 1).await;
    s.added(&s.ann.token, &s.cake, 1).await;
    s.added(&bob.token, &s.cake, 3).await;
    assert_eq!(s.call(Method::DELETE, "/cart", &s.ann.token, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.cart(&s.ann.token).await["total_quantity"], 0);
    assert_eq!(s.cart(&bob.token).await["total_quantity"], 3);
}
