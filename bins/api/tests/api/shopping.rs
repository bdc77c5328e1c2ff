//! Set-up shared by the cart and order tests: a shop open around the clock
//! with two products, its admin and a signed-in customer.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::categories::{json_with, send};
use crate::helpers::{LoggedIn, TestApp, around_the_clock, id_of, spawn_shop_app};

/// An open shop with a latte (3.50) and a cake (12.99).
pub struct Shop {
    pub app: TestApp,
    pub admin: String,
    pub ann: LoggedIn,
    pub latte: String,
    pub cake: String,
}

/// [`Shop`] with the default configuration.
pub async fn open_shop() -> Shop {
    shop_with(&around_the_clock(), &[]).await
}

/// [`Shop`] with these opening hours and settings.
pub async fn shop_with(hours: &str, overrides: &[(&str, &str)]) -> Shop {
    let app = spawn_shop_app(hours, overrides).await;
    let admin = app.admin_token().await;
    let latte = product(&app, &admin, "Latte", 350).await;
    let cake = product(&app, &admin, "Cake", 1_299).await;
    let ann = app.logged_in("ann@example.com").await;
    Shop { app, admin, ann, latte, cake }
}

/// Creates a product; returns its id.
pub async fn product(app: &TestApp, admin: &str, name: &str, price: i64) -> String {
    let body = json!({"name": name, "price": price});
    id_of(&json_with(send(app, Method::POST, "/products", Some(admin), Some(&body)).await, StatusCode::CREATED).await)
}

impl Shop {
    /// A request as `token`.
    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Response {
        send(&self.app, method, path, Some(token), body).await
    }

    /// `POST /cart`, whatever the outcome.
    pub async fn add(&self, token: &str, product: &str, quantity: i64) -> Response {
        self.call(Method::POST, "/cart", token, Some(&json!({"product_id": product, "quantity": quantity}))).await
    }

    /// Adds to the cart; asserts success (201 for a new line, 200 when
    /// merged into one) and returns the cart.
    pub async fn added(&self, token: &str, product: &str, quantity: i64) -> Value {
        let resp = self.add(token, product, quantity).await;
        let status = resp.status();
        let expected = if status == StatusCode::OK { StatusCode::OK } else { StatusCode::CREATED };
        json_with(resp, expected).await
    }

    /// `GET /cart`; asserts 200.
    pub async fn cart(&self, token: &str) -> Value {
        json_with(self.call(Method::GET, "/cart", token, None).await, StatusCode::OK).await
    }

    /// `POST /orders` with `body`, whatever the outcome.
    pub async fn order(&self, token: &str, body: &Value) -> Response {
        self.call(Method::POST, "/orders", token, Some(body)).await
    }

    /// Places an order; asserts 201 and returns it.
    pub async fn ordered(&self, token: &str, body: &Value) -> Value {
        json_with(self.order(token, body).await, StatusCode::CREATED).await
    }

    /// Orders one latte for Ann; returns the order.
    pub async fn one_latte(&self) -> Value {
        self.ordered(&self.ann.token, &json!({"items": [{"product_id": self.latte, "quantity": 1}]})).await
    }

    /// `PATCH /orders/{id}` as `token`, whatever the outcome.
    pub async fn patch(&self, token: &str, order: &Value, body: &Value) -> Response {
        self.call(Method::PATCH, &format!("/orders/{}", id_of(order)), token, Some(body)).await
    }

    /// Moves an order to `status` as admin; asserts 200 and returns it.
    pub async fn moved(&self, order: &Value, status: &str) -> Value {
        json_with(self.patch(&self.admin, order, &json!({"status": status})).await, StatusCode::OK).await
    }

    /// Every order `token` may list.
    pub async fn orders(&self, token: &str) -> Value {
        json_with(self.call(Method::GET, "/orders", token, None).await, StatusCode::OK).await
    }
}
