//! `PATCH`, `PUT` and `DELETE /orders/{id}`: the status machine, the owner's
//! edits, versions with `ETag` / `If-Match`, and concurrent changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::categories::json_with;
use crate::helpers::{assert_problem, error_fields, header, id_of};
use crate::shopping::open_shop;

fn path(order: &Value) -> String {
    format!("/orders/{}", id_of(order))
}

#[tokio::test]
async fn staff_move_an_order_to_completion_one_step_at_a_time_and_the_customer_hears_when_it_is_ready() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    let mut version = 1;
    for status in ["confirmed", "preparing", "ready", "completed"] {
        let resp = s.patch(&s.admin, &order, &json!({"status": status})).await;
        let etag = header(resp.headers(), "etag");
        let moved = json_with(resp, StatusCode::OK).await;
        version += 1;
        assert_eq!((moved["status"].as_str(), moved["version"].as_i64()), (Some(status), Some(version)));
        assert_eq!(etag, Some(format!("\"{version}\"")));
    }
    let mail = s.app.nth_mail_to("ann@example.com", 2).await;
    let number = order["number"].as_i64().unwrap();
    assert_eq!(mail.subject().as_deref(), Some(format!("Your order #{number} is ready").as_str()));
    for status in ["cancelled", "pending", "ready"] {
        let problem =
            assert_problem(s.patch(&s.admin, &order, &json!({"status": status})).await, 409, "invalid_transition")
                .await;
        assert!(problem["detail"].as_str().unwrap().contains("completed"), "{problem}");
    }
}

#[tokio::test]
async fn steps_cannot_be_skipped_or_taken_back() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    for status in ["preparing", "ready", "completed", "pending"] {
        assert_problem(s.patch(&s.admin, &order, &json!({"status": status})).await, 409, "invalid_transition").await;
    }
    s.moved(&order, "confirmed").await;
    assert_problem(s.patch(&s.admin, &order, &json!({"status": "pending"})).await, 409, "invalid_transition").await;
    let cancelled = s.moved(&order, "cancelled").await;
    assert_eq!(cancelled["status"], "cancelled");
    let mail = s.app.nth_mail_to("ann@example.com", 2).await;
    assert!(mail.subject().unwrap().contains("was cancelled"), "the customer hears of a cancellation by the shop");
}

#[tokio::test]
async fn the_owner_may_cancel_while_pending_and_nothing_else() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    let order = s.one_latte().await;
    for status in ["confirmed", "preparing", "ready", "completed"] {
        assert_problem(s.patch(&token, &order, &json!({"status": status})).await, 403, "forbidden").await;
    }
    let cancelled = json_with(s.patch(&token, &order, &json!({"status": "cancelled"})).await, StatusCode::OK).await;
    assert_eq!(cancelled["status"], "cancelled");
    let other = s.one_latte().await;
    s.moved(&other, "confirmed").await;
    assert_problem(s.patch(&token, &other, &json!({"status": "cancelled"})).await, 409, "invalid_transition").await;
}

#[tokio::test]
async fn the_owner_edits_comment_and_pickup_while_pending_only() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    let order = s.one_latte().await;
    let pickup = (chrono::Utc::now() + chrono::Duration::hours(3)).format("%Y-%m-%dT%H:%M:00Z").to_string();
    let edit = json!({"comment": "Extra hot", "pickup_at": pickup});
    let edited = json_with(s.patch(&token, &order, &edit).await, StatusCode::OK).await;
    assert_eq!(
        (edited["comment"].as_str(), edited["pickup_at"].as_str(), edited["version"].as_i64()),
        (Some("Extra hot"), Some(pickup.as_str()), Some(2))
    );
    let again = json_with(s.patch(&token, &order, &edit).await, StatusCode::OK).await;
    assert_eq!(again["version"].as_i64(), Some(2), "the same values again are no change: {again}");
    let cleared =
        json_with(s.patch(&token, &order, &json!({"comment": null, "pickup_at": null})).await, StatusCode::OK).await;
    assert!(cleared["comment"].is_null() && cleared["pickup_at"].is_null(), "{cleared}");
    assert_problem(s.patch(&s.admin, &order, &json!({"comment": "Staff note"})).await, 403, "forbidden").await;
    let problem = assert_problem(
        s.patch(&token, &order, &json!({"pickup_at": "2020-01-01T00:00:00Z"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["pickup_at"]);
    s.moved(&order, "confirmed").await;
    assert_problem(s.patch(&token, &order, &json!({"comment": "Too late"})).await, 409, "order_not_pending").await;
}

#[tokio::test]
async fn someone_elses_order_does_not_exist_for_a_customer() {
    let s = open_shop().await;
    let bob = s.app.logged_in("bob@example.com").await;
    let order = s.one_latte().await;
    let p = path(&order);
    let body = json!({"items": [{"product_id": s.cake, "quantity": 1}]});
    assert_problem(s.call(Method::GET, &p, &bob.token, None).await, 404, "not_found").await;
    assert_problem(
        s.call(Method::PATCH, &p, &bob.token, Some(&json!({"status": "cancelled"}))).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(s.call(Method::PUT, &p, &bob.token, Some(&body)).await, 404, "not_found").await;
    assert_problem(s.call(Method::DELETE, &p, &bob.token, None).await, 404, "not_found").await;
    assert_problem(s.call(Method::GET, "/orders/not-a-uuid", &bob.token, None).await, 404, "not_found").await;
    let still = json_with(s.call(Method::GET, &p, &s.ann.token, None).await, StatusCode::OK).await;
    assert_eq!(still, order, "nothing changed");
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412_and_the_current_one_applies() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    s.moved(&order, "confirmed").await;
    let stale = s
        .app
        .request(Method::PATCH, &path(&order), Some(&s.admin))
        .header("if-match", "\"1\"")
        .json(&json!({"status": "preparing"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "precondition_failed").await;
    let s = &s;
    let with_tag = |method: Method, tag: &'static str, body: Option<Value>| {
        let request = s.app.request(method, &path(&order), Some(&s.admin)).header("if-match", tag);
        async move { if let Some(body) = body { request.json(&body) } else { request }.send().await.unwrap() }
    };
    // Strong comparison (RFC 9110): the weak form of the current tag does not match.
    let weak = with_tag(Method::PATCH, "W/\"2\"", Some(json!({"status": "preparing"}))).await;
    assert_problem(weak, 412, "precondition_failed").await;
    for (tag, status) in [("\"2\"", "preparing"), ("\"3\"", "ready")] {
        let resp = with_tag(Method::PATCH, tag, Some(json!({"status": status}))).await;
        assert_eq!(resp.status(), StatusCode::OK, "{tag}");
    }
    assert_problem(with_tag(Method::DELETE, "\"3\"", None).await, 412, "precondition_failed").await;
    // Not an entity tag at all, or a list that is not one: refused naming the header, nothing deleted.
    for bad in ["version-4", "4", "\"4\",", "*, \"4\""] {
        let problem = assert_problem(with_tag(Method::DELETE, bad, None).await, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["If-Match"], "{bad}");
    }
    // `If-None-Match` on a change (RFC 9110 §13.1.2): naming the current
    // version (weakly), or `*`, refuses it.
    let unless = |tag: &'static str| {
        let request = s.app.request(Method::DELETE, &path(&order), Some(&s.admin)).header("if-none-match", tag);
        async move { request.send().await.unwrap() }
    };
    for current in ["\"4\"", "W/\"4\"", "*", "\"1\", \"4\""] {
        assert_problem(unless(current).await, 412, "precondition_failed").await;
    }
    let problem = assert_problem(unless("4").await, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["If-None-Match"]);
    let still = json_with(s.call(Method::GET, &path(&order), &s.admin, None).await, StatusCode::OK).await;
    assert_eq!((still["status"].as_str(), still["version"].as_i64()), (Some("ready"), Some(4)), "nothing changed");
    // A list in `If-Match` matches any of it; an older version in `If-None-Match` does not stop the change.
    let resp = s
        .app
        .request(Method::DELETE, &path(&order), Some(&s.admin))
        .header("if-match", "\"9\", \"4\"")
        .header("if-none-match", "\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn of_concurrent_changes_to_one_version_one_applies_and_the_others_get_412() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    let attempts = (0..8).map(|i| {
        let request = s.app.request(Method::PATCH, &path(&order), Some(&s.ann.token)).header("if-match", "\"1\"");
        async move { request.json(&json!({"comment": format!("note {i}")})).send().await.unwrap().status().as_u16() }
    });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412]);
    let now = json_with(s.call(Method::GET, &path(&order), &s.admin, None).await, StatusCode::OK).await;
    assert_eq!(now["version"].as_i64(), Some(2), "one change landed");
}

#[tokio::test]
async fn a_client_polling_an_order_with_its_etag_gets_304_until_the_order_changes() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    let poll = |tag: &'static str, method: Method| {
        let request = s.app.request(method, &path(&order), Some(&s.ann.token)).header("if-none-match", tag);
        async move { request.send().await.unwrap() }
    };
    for (tag, method) in
        [("\"1\"", Method::GET), ("W/\"1\"", Method::GET), ("\"7\", \"1\"", Method::GET), ("*", Method::HEAD)]
    {
        let resp = poll(tag, method.clone()).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{method} {tag}");
        assert_eq!(header(resp.headers(), "etag").as_deref(), Some("\"1\""), "{tag}");
        assert_eq!(header(resp.headers(), "cache-control").as_deref(), Some("no-store"), "{tag}");
        assert!(resp.bytes().await.unwrap().is_empty(), "{tag}: no body");
    }
    // Another version, or a value that is no tag: the whole order.
    for tag in ["\"2\"", "\"01\"", "1"] {
        let resp = poll(tag, Method::GET).await;
        assert_eq!(json_with(resp, StatusCode::OK).await, order, "{tag}");
    }
    s.moved(&order, "confirmed").await;
    let resp = poll("\"1\"", Method::GET).await;
    assert_eq!(header(resp.headers(), "etag").as_deref(), Some("\"2\""));
    assert_eq!(json_with(resp, StatusCode::OK).await["status"], "confirmed", "a change is sent whole");
    // Someone else's order is still not theirs to learn about.
    let bob = s.app.logged_in("bob@example.com").await;
    let resp = s.app.request(Method::GET, &path(&order), Some(&bob.token)).header("if-none-match", "*").send().await;
    assert_problem(resp.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn concurrent_admins_moving_one_order_cannot_both_win() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    let confirm = json!({"status": "confirmed"});
    let attempts = (0..8).map(|_| s.patch(&s.admin, &order, &confirm));
    let statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let now = json_with(s.call(Method::GET, &path(&order), &s.admin, None).await, StatusCode::OK).await;
    assert_eq!((now["status"].as_str(), now["version"].as_i64()), (Some("confirmed"), Some(2)));
}

#[tokio::test]
async fn a_burst_of_edits_to_one_order_all_apply_one_after_the_other() {
    let s = open_shop().await;
    let order = s.one_latte().await;
    let (token, path) = (s.ann.token.clone(), path(&order));
    // 24 at once, each a different change: 16 comments and 8 replacements.
    let comments = (0..16).map(|i| json!({"comment": format!("Edit {i}")}));
    let items = (1..=8).map(|i| json!({"items": [{"product_id": s.cake, "quantity": i}], "comment": "Put"}));
    let edits = comments.map(|body| (Method::PATCH, body)).chain(items.map(|body| (Method::PUT, body))).map(
        |(method, body)| {
            let (s, path, token) = (&s, &path, &token);
            async move { s.call(method, path, token, Some(&body)).await.status().as_u16() }
        },
    );
    let statuses = futures_util::future::join_all(edits).await;
    assert!(statuses.iter().all(|s| *s == 200), "every edit applies: {statuses:?}");
    let now = json_with(s.call(Method::GET, &path, &token, None).await, StatusCode::OK).await;
    assert_eq!(now["version"].as_i64(), Some(1 + 24), "none lost: {now}");
}

#[tokio::test]
async fn put_replaces_the_items_of_a_pending_order_at_current_prices() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    let order = s.one_latte().await;
    let body = json!({"items": [{"product_id": s.cake, "quantity": 2}], "comment": "For two"});
    let replaced = json_with(s.call(Method::PUT, &path(&order), &token, Some(&body)).await, StatusCode::OK).await;
    assert_eq!(
        (replaced["total"].as_i64(), replaced["version"].as_i64(), replaced["comment"].as_str()),
        (Some(2_598), Some(2), Some("For two"))
    );
    assert_eq!(replaced["number"], order["number"]);
    let problem =
        assert_problem(s.call(Method::PUT, &path(&order), &token, Some(&json!({}))).await, 422, "validation_failed")
            .await;
    assert_eq!(error_fields(&problem), ["items"]);
    // An admin may replace it too, naming the version it saw: a stale one
    // is refused and changes nothing.
    let by_admin = json!({"items": [{"product_id": s.latte, "quantity": 3}]});
    let put_as_admin = |tag: &'static str| {
        let request = s.app.request(Method::PUT, &path(&order), Some(&s.admin)).header("if-match", tag);
        let body = by_admin.clone();
        async move { request.json(&body).send().await.unwrap() }
    };
    assert_problem(put_as_admin("\"1\"").await, 412, "precondition_failed").await;
    let replaced = json_with(put_as_admin("\"2\"").await, StatusCode::OK).await;
    assert_eq!((replaced["total"].as_i64(), replaced["version"].as_i64()), (Some(1_050), Some(3)));
    s.moved(&order, "confirmed").await;
    assert_problem(s.call(Method::PUT, &path(&order), &token, Some(&body)).await, 409, "order_not_pending").await;
}

#[tokio::test]
async fn owners_delete_pending_orders_and_staff_delete_any() {
    let s = open_shop().await;
    let token = s.ann.token.clone();
    let pending = s.one_latte().await;
    assert_eq!(s.call(Method::DELETE, &path(&pending), &token, None).await.status(), StatusCode::NO_CONTENT);
    assert_problem(s.call(Method::GET, &path(&pending), &token, None).await, 404, "not_found").await;
    let confirmed = s.one_latte().await;
    s.moved(&confirmed, "confirmed").await;
    assert_problem(s.call(Method::DELETE, &path(&confirmed), &token, None).await, 409, "order_not_pending").await;
    assert_eq!(s.call(Method::DELETE, &path(&confirmed), &s.admin, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.orders(&s.admin).await["total"], 0);
}
