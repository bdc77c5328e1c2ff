//! `POST /orders`, `GET /orders`, `GET /orders/{id}`: placing orders from the
//! cart or from items, snapshots, pickup times, the admins' mail, who sees what.

use chrono::{Duration, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::categories::json_with;
use crate::helpers::{ADMIN_EMAIL, assert_problem, error_fields, header, id_of};
use crate::shopping::{Shop, open_shop, shop_with};

const ORDER_KEYS: [&str; 13] = [
    "comment",
    "created_at",
    "currency",
    "id",
    "items",
    "number",
    "pickup_at",
    "status",
    "total",
    "updated_at",
    "user_id",
    "version",
    "items",
];

fn assert_order_shape(order: &Value) {
    let mut keys: Vec<&str> = order.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = ORDER_KEYS.to_vec();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(keys, expected, "{order}");
}

fn lines(order: &Value) -> Vec<(Option<String>, String, i64, i64, i64)> {
    order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product_id"].as_str().map(str::to_owned),
                l["name"].as_str().unwrap().to_owned(),
                l["unit_price"].as_i64().unwrap(),
                l["quantity"].as_i64().unwrap(),
                l["line_total"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn behind_a_proxy_path_every_location_names_the_path_a_client_can_follow() {
    // The proxy serves the API under /api and removes it before the request
    // arrives: a Location without it would lead out of the API.
    let s = shop_with(&crate::helpers::around_the_clock(), &[("PUBLIC_BASE_URL", "https://shop.example/api")]).await;
    let location = |resp: &reqwest::Response| header(resp.headers(), "location").unwrap();
    let category = s.call(Method::POST, "/categories", &s.admin, Some(&json!({"name": "Hot drinks"}))).await;
    assert!(location(&category).starts_with("/api/categories/"), "{}", location(&category));
    let line = s.add(&s.ann.token, &s.latte, 1).await;
    assert!(location(&line).starts_with("/api/cart/"), "{}", location(&line));
    let placed = s.order(&s.ann.token, &json!({})).await;
    let order = location(&placed);
    assert_eq!(order, format!("/api/orders/{}", id_of(&json_with(placed, StatusCode::CREATED).await)));
}

#[tokio::test]
async fn checking_out_the_cart_places_a_pending_order_and_empties_the_cart() {
    let s = open_shop().await;
    let token = &s.ann.token;
    s.added(token, &s.latte, 2).await;
    s.added(token, &s.cake, 1).await;
    let resp = s.order(token, &json!({"comment": "No sugar, please"})).await;
    let location = header(resp.headers(), "location").unwrap();
    assert!(header(resp.headers(), "idempotent-replayed").is_none());
    let order = json_with(resp, StatusCode::CREATED).await;
    assert_order_shape(&order);
    assert_eq!(location, format!("/orders/{}", id_of(&order)));
    assert_eq!(
        (order["status"].as_str(), order["version"].as_i64(), order["number"].as_i64()),
        (Some("pending"), Some(1), Some(1))
    );
    assert_eq!((order["user_id"].as_str(), order["currency"].as_str()), (Some(s.ann.id.as_str()), Some("EUR")));
    assert_eq!(
        lines(&order),
        [
            (Some(s.latte.clone()), "Latte".to_owned(), 350, 2, 700),
            (Some(s.cake.clone()), "Cake".to_owned(), 1_299, 1, 1_299)
        ]
    );
    assert_eq!((order["total"].as_i64(), order["comment"].as_str()), (Some(1_999), Some("No sugar, please")));
    assert!(order["pickup_at"].is_null());
    assert_eq!(s.cart(token).await["total_quantity"], 0);
    let resp = s.call(Method::GET, &location, token, None).await;
    assert_eq!(header(resp.headers(), "etag").as_deref(), Some("\"1\""));
    assert_eq!(json_with(resp, StatusCode::OK).await, order);
}

#[tokio::test]
async fn explicit_items_leave_the_cart_alone_and_numbers_increase() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    s.added(&s.ann.token, &s.cake, 1).await;
    let first = s.one_latte().await;
    let second = s.ordered(&bob.token, &json!({"items": [{"product_id": s.cake, "quantity": 3}]})).await;
    let third = s.one_latte().await;
    let numbers: Vec<i64> = [&first, &second, &third].iter().map(|o| o["number"].as_i64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(second["total"], 3_897);
    assert_eq!(s.cart(&s.ann.token).await["total_quantity"], 1, "the cart was not touched");
}

/// SPEC §6: later menu edits or deletion never change a placed order: not
/// its lines, not the id of the product a line was ordered as, not its
/// version, so a client's copy stays current (304 to its `ETag`).
#[tokio::test]
async fn names_and_prices_are_snapshots_that_menu_changes_never_touch() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    let change = json!({"name": "Latte Grande", "price": 990});
    json_with(s.call(Method::PATCH, &format!("/products/{}", s.latte), &s.admin, Some(&change)).await, StatusCode::OK)
        .await;
    assert_eq!(
        s.call(Method::DELETE, &format!("/products/{}", s.latte), &s.admin, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let path = format!("/orders/{}", id_of(&order));
    let again = s.call(Method::GET, &path, &s.ann.token, None).await;
    assert_eq!(header(again.headers(), "etag").as_deref(), Some("\"1\""));
    let again = json_with(again, StatusCode::OK).await;
    assert_eq!(lines(&again), [(Some(s.latte.clone()), "Latte".to_owned(), 350, 1, 350)]);
    assert_eq!(again, order, "the order is as placed");
    let revalidated = s.app.request(Method::GET, &path, Some(&s.ann.token)).header("if-none-match", "\"1\"");
    assert_eq!(revalidated.send().await.unwrap().status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn an_empty_cart_or_an_unavailable_product_is_a_conflict_and_nothing_changes() {
    let s = open_shop().await;
    let token = &s.ann.token;
    assert_problem(s.order(token, &json!({})).await, 409, "cart_empty").await;
    s.added(token, &s.latte, 1).await;
    s.added(token, &s.cake, 2).await;
    let off = json!({"is_available": false});
    json_with(s.call(Method::PATCH, &format!("/products/{}", s.cake), &s.admin, Some(&off)).await, StatusCode::OK)
        .await;
    let problem = assert_problem(s.order(token, &json!({})).await, 409, "product_unavailable").await;
    assert_eq!(problem["product_ids"], json!([s.cake]));
    let explicit = json!({"items": [{"product_id": s.cake, "quantity": 1}]});
    assert_problem(s.order(token, &explicit).await, 409, "product_unavailable").await;
    assert_eq!(s.cart(token).await["total_quantity"], 3, "the failed checkout kept the cart");
    assert_eq!(s.orders(token).await["total"], 0);
}

/// Every bad request body, each refused with 422 naming its field.
#[tokio::test]
async fn bad_order_bodies_are_422_naming_the_field_and_write_nothing() {
    let s = open_shop().await;
    let token = &s.ann.token;
    s.added(token, &s.latte, 1).await;
    let item = |quantity: Value| json!({"items": [{"product_id": s.latte, "quantity": quantity}]});
    let many: Vec<Value> = (0..51).map(|_| json!({"product_id": uuid::Uuid::now_v7(), "quantity": 1})).collect();
    let cases = [
        (item(json!(0)), "items[0].quantity"),
        (item(json!(100)), "items[0].quantity"),
        (item(json!(-1)), "items[0].quantity"),
        (item(json!("x")), "items[0].quantity"),
        (item(json!(1_000_000_000_000_i64)), "items[0].quantity"),
        (json!({"items": many}), "items"),
        (json!({"items": []}), "items"),
        (json!({"items": [{"product_id": uuid::Uuid::now_v7(), "quantity": 1}]}), "items[0].product_id"),
        (
            json!({"items": [{"product_id": s.latte, "quantity": 1}, {"product_id": s.latte, "quantity": 2}]}),
            "items[1].product_id",
        ),
        (json!({"comment": "x".repeat(501)}), "comment"),
        (json!({"comment": "<script>alert(1)</script>"}), "comment"),
        (json!({"pickup_at": "tomorrow at noon"}), "pickup_at"),
        (json!({"pickup_at": "2026-13-45T25:00:00Z"}), "pickup_at"),
        (json!({"tip": 100}), "tip"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(s.order(token, &body).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let resp = s.app.post_raw("/orders", "application/json", "{\"items\": [").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "the token is checked first");
    assert_eq!(s.orders(token).await["total"], 0, "nothing was written");
    assert_eq!(s.cart(token).await["total_quantity"], 1);
    // `<` and `>` that open no markup are text, kept as typed.
    let order = s.ordered(token, &json!({"comment": "extra shot <3, milk > 2%"})).await;
    assert_eq!(order["comment"], "extra shot <3, milk > 2%");
}

#[tokio::test]
async fn a_new_order_mails_the_admins_with_its_details() {
    let s = open_shop().await;
    let pickup = (Utc::now() + Duration::hours(2)).format("%Y-%m-%dT%H:%M:00Z").to_string();
    let body = json!({"items": [{"product_id": s.latte, "quantity": 2}], "pickup_at": pickup, "comment": "Oat milk"});
    let order = s.ordered(&s.ann.token, &body).await;
    let mail = s.app.nth_mail_to(ADMIN_EMAIL, 1).await;
    let number = order["number"].as_i64().unwrap();
    assert_eq!(mail.subject().as_deref(), Some(format!("New order #{number} — 7.00 EUR").as_str()));
    let text = mail.text().unwrap();
    for needle in ["ann@example.com", "2 × Latte", "Total: 7.00 EUR", "Oat milk", "(shop time)"] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    s.app.settle().await;
    assert_eq!(s.app.mails_to(ADMIN_EMAIL).len(), 1, "one mail per order");
}

#[tokio::test]
async fn admin_notify_emails_receive_the_order_mails_instead_of_the_admins() {
    let s = shop_with(
        &crate::helpers::around_the_clock(),
        &[("ADMIN_NOTIFY_EMAILS", "kitchen@coffee.test, bar@coffee.test")],
    )
    .await;
    s.one_latte().await;
    // Each address gets its own mail, so one the mail server refuses holds
    // up no other.
    for address in ["kitchen@coffee.test", "bar@coffee.test"] {
        let mail = s
            .app
            .mail
            .wait_for(|m| m.to.iter().any(|t| t == address), std::time::Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(mail.to, [address]);
    }
    s.app.settle().await;
    assert!(s.app.mails_to(ADMIN_EMAIL).is_empty());
    assert_eq!((s.app.mails_to("kitchen@coffee.test").len(), s.app.mails_to("bar@coffee.test").len()), (1, 1));
}

/// A shop in UTC open 10:00–11:00 every day.
async fn ten_to_eleven() -> Shop {
    let hours = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .map(|day| format!("[[opening_hours]]\nday = \"{day}\"\nopen = \"10:00\"\nclose = \"11:00\"\n"))
        .concat();
    shop_with(&hours, &[]).await
}

fn tomorrow_at(hour: u32, minute: u32) -> String {
    let day = (Utc::now() + Duration::days(1)).date_naive();
    Utc.from_utc_datetime(&day.and_hms_opt(hour, minute, 0).unwrap()).to_rfc3339()
}

#[tokio::test]
async fn pickup_times_must_be_ahead_within_a_week_and_inside_the_opening_hours() {
    let s = ten_to_eleven().await;
    let token = &s.ann.token;
    let at = |pickup: Value| json!({"items": [{"product_id": s.latte, "quantity": 1}], "pickup_at": pickup});
    let order = s.ordered(token, &at(json!(tomorrow_at(10, 30)))).await;
    assert_eq!(order["pickup_at"].as_str().map(|p| p.ends_with("10:30:00Z")), Some(true), "{order}");
    // Answered as stored: to the microsecond, in the answer and on reading.
    let precise = tomorrow_at(10, 40).replace(":40:00", ":40:00.123456789");
    let order = s.ordered(token, &at(json!(precise))).await;
    assert_eq!(order["pickup_at"].as_str().map(|p| p.ends_with("10:40:00.123456Z")), Some(true), "{order}");
    let read = s.call(Method::GET, &format!("/orders/{}", id_of(&order)), token, None).await;
    assert_eq!(read.json::<Value>().await.unwrap()["pickup_at"], order["pickup_at"]);
    let too_soon = (Utc::now() + Duration::minutes(5)).to_rfc3339();
    let too_far = (Utc::now() + Duration::days(8)).to_rfc3339();
    let past = (Utc::now() - Duration::hours(1)).to_rfc3339();
    // 10:59:60 would be stored as 11:00, when the shop closes.
    let leap_second = tomorrow_at(10, 59).replace(":59:00", ":59:60");
    for (pickup, says) in [
        (tomorrow_at(12, 0), "opening hours"),
        (leap_second, "second 60"),
        (too_soon, "at least 10 minutes"),
        (too_far, "within 7 days"),
        (past, "at least"),
    ] {
        let problem = assert_problem(s.order(token, &at(json!(pickup))).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["pickup_at"]);
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains(says), "{pickup}: {problem}");
    }
}

#[tokio::test]
async fn the_configured_lead_time_is_the_one_enforced() {
    let s = shop_with(&crate::helpers::around_the_clock(), &[("ORDER_MIN_LEAD_TIME", "2h")]).await;
    let at = |ahead: Duration| {
        let pickup = (Utc::now() + ahead).to_rfc3339();
        json!({"items": [{"product_id": s.latte, "quantity": 1}], "pickup_at": pickup})
    };
    let problem = assert_problem(s.order(&s.ann.token, &at(Duration::hours(1))).await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["pickup_at"]);
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("at least 120 minutes"), "{problem}");
    s.ordered(&s.ann.token, &at(Duration::hours(3))).await;
}

#[tokio::test]
async fn as_soon_as_possible_needs_the_shop_to_be_open() {
    let s = shop_with("", &[]).await;
    let body = json!({"items": [{"product_id": s.latte, "quantity": 1}]});
    assert_problem(s.order(&s.ann.token, &body).await, 409, "shop_closed").await;
}

#[tokio::test]
async fn customers_see_only_their_own_orders_whatever_they_filter() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    let mine = s.one_latte().await;
    let his = s.ordered(&bob.token, &json!({"items": [{"product_id": s.cake, "quantity": 1}]})).await;
    let page = s.orders(&s.ann.token).await;
    assert_eq!((page["total"].as_i64(), page["items"][0]["id"].as_str()), (Some(1), mine["id"].as_str()));
    let filtered = s.call(Method::GET, &format!("/orders?user_id={}", bob.id), &s.ann.token, None).await;
    assert_eq!(json_with(filtered, StatusCode::OK).await["total"], 0, "someone else's orders stay invisible");
    let path = format!("/orders/{}", id_of(&his));
    assert_problem(s.call(Method::GET, &path, &s.ann.token, None).await, 404, "not_found").await;
    assert_eq!(s.orders(&s.admin).await["total"], 2, "staff see every order");
}

#[tokio::test]
async fn the_order_list_speaks_the_list_language() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    let a = s.one_latte().await;
    let b = s.ordered(&bob.token, &json!({"items": [{"product_id": s.cake, "quantity": 2}]})).await;
    let c = s.one_latte().await;
    s.moved(&a, "confirmed").await;
    let s = &s;
    let list = |query: &str| {
        let path = format!("/orders?{query}");
        async move { json_with(s.call(Method::GET, &path, &s.admin, None).await, StatusCode::OK).await }
    };
    let numbers = |page: &Value| {
        page["items"].as_array().unwrap().iter().map(|o| o["number"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    let n = |o: &Value| o["number"].as_i64().unwrap();
    assert_eq!(numbers(&list("").await), [n(&c), n(&b), n(&a)], "newest first");
    assert_eq!(numbers(&list("status=pending&sort=number").await), [n(&b), n(&c)]);
    assert_eq!(numbers(&list("status__in=confirmed,ready").await), [n(&a)]);
    assert_eq!(numbers(&list(&format!("user_id={}", bob.id)).await), [n(&b)]);
    assert_eq!(numbers(&list("total__gte=1000").await), [n(&b)]);
    assert_eq!(numbers(&list(&format!("number__gt={}&sort=-number", n(&a))).await), [n(&c), n(&b)]);
    let page = list("page_size=2&page=2&sort=number").await;
    assert_eq!((numbers(&page), page["total"].as_i64(), page["pages"].as_i64()), (vec![n(&c)], Some(3), Some(2)));
    assert_eq!(list("pickup_at__gte=2026-01-01T00:00:00Z").await["total"], 0);
    for bad in ["status=shipped", "total=cheap", "comment=x", "sort=comment", "number__contains=1"] {
        let resp = s.call(Method::GET, &format!("/orders?{bad}"), &s.admin, None).await;
        assert_problem(resp, 400, "invalid_query").await;
    }
}

#[tokio::test]
async fn search_matches_the_comment_and_the_lines_case_insensitively_within_what_the_caller_may_see() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    let item = json!([{"product_id": s.latte, "quantity": 1}]);
    let oat = s.ordered(&s.ann.token, &json!({"items": item, "comment": "ÖLIG? No: OAT milk, 100% hot"})).await;
    let bobs = s.ordered(&bob.token, &json!({"items": item, "comment": "oat milk too"})).await;
    let plain = s.ordered(&s.ann.token, &json!({"items": item})).await;
    let s = &s;
    let ids = |token: &str, term: &str| {
        let path = format!("/orders?search={term}&sort=number");
        let token = token.to_owned();
        async move {
            let page = json_with(s.call(Method::GET, &path, &token, None).await, StatusCode::OK).await;
            page["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(&s.admin, "oat%20MILK").await, [id_of(&oat), id_of(&bobs)], "staff search every order");
    assert_eq!(ids(&s.ann.token, "oat").await, [id_of(&oat)], "a customer searches their own");
    assert_eq!(ids(&s.admin, "%C3%B6lig").await, [id_of(&oat)], "folded beyond ASCII");
    assert_eq!(ids(&s.admin, "100%25").await, [id_of(&oat)], "% is a character");
    assert!(ids(&s.admin, "1_0").await.is_empty() && ids(&s.admin, "soy").await.is_empty(), "_ is a character");
    // A changed comment is searched as changed.
    let changed = s.patch(&s.ann.token, &oat, &json!({"comment": "soy milk"})).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(ids(&s.admin, "soy").await, [id_of(&oat)]);
    assert_eq!(ids(&s.admin, "oat").await, [id_of(&bobs)]);
    // The lines' product names are the order's text too.
    assert_eq!(ids(&s.admin, "LATTE").await, [id_of(&oat), id_of(&bobs), id_of(&plain)]);
    assert_eq!(ids(&bob.token, "latte").await, [id_of(&bobs)], "a customer searches their own");
}
