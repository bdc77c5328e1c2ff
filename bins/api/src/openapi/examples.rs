//! Request-body examples for Swagger UI's "Try it out".
//!
//! The first example of an operation is what Swagger UI pre-fills. Where a
//! body can work unchanged on a fresh database it does (the sign-up of
//! `ann@example.com`, her log-in once verified, a category, a product without
//! categories); where it cannot — it needs a code from a mail, a token or an
//! id — the examples are named and their summaries say what to replace.
//! `tests/api/docs.rs` sends the unchanged ones to a fresh server.

use serde_json::{Value, json};

/// The account the examples use.
pub const EMAIL: &str = "ann@example.com";
/// Its password.
pub const PASSWORD: &str = "correct horse battery";

/// One named example: `(name, summary, value)`.
type Example = (&'static str, &'static str, Value);

/// `(operationId, media type, examples)`; the first example is the default.
fn table() -> Vec<(&'static str, &'static str, Vec<Example>)> {
    const JSON: &str = "application/json";
    let profile = json!({"first_name": "Ann", "last_name": "Lee", "phone": "+998901234567"});
    let flat_white = json!({"name": "Flat white", "description": "Double ristretto with velvety steamed milk.",
                            "price": 450, "is_available": true});
    let hot_drinks = json!({"name": "Hot drinks", "description": "Espresso, tea and chocolate, served hot."});
    // Ids must be replaced: the all-zero UUID names nothing (and is well-formed).
    let replace_product = "00000000-0000-0000-0000-000000000000";
    vec![
        (
            "signup",
            JSON,
            vec![(
                "ann",
                "A new customer (works as sent once)",
                json!({
            "email": EMAIL, "password": PASSWORD, "first_name": "Ann", "last_name": "Lee", "phone": "+998901234567"}),
            )],
        ),
        (
            "verify",
            JSON,
            vec![
                (
                    "code",
                    "The 6-digit code from the mail (replace the code)",
                    json!({"email": EMAIL, "code": "123456"}),
                ),
                (
                    "link token",
                    "The token from the link in the mail (replace it)",
                    json!({"token": "REPLACE-with-the-token-from-the-link"}),
                ),
            ],
        ),
        ("resendVerification", JSON, vec![("ann", "A new code for Ann", json!({"email": EMAIL}))]),
        ("login", JSON, vec![("ann", "Ann, once verified", json!({"email": EMAIL, "password": PASSWORD}))]),
        (
            "login",
            "application/x-www-form-urlencoded",
            vec![("ann", "The OAuth2 form of the same log-in", json!({"username": EMAIL, "password": PASSWORD}))],
        ),
        (
            "refresh",
            JSON,
            vec![(
                "from login",
                "Paste the refresh_token of POST /auth/login",
                json!({"refresh_token": "REPLACE-with-the-refresh_token-from-login"}),
            )],
        ),
        (
            "logout",
            JSON,
            vec![(
                "from login",
                "Paste the refresh_token of POST /auth/login",
                json!({"refresh_token": "REPLACE-with-the-refresh_token-from-login"}),
            )],
        ),
        ("updateMe", JSON, vec![("profile", "Change your name and phone", profile.clone())]),
        (
            "patchUser",
            JSON,
            vec![
                ("promote", "Make the user an admin (admins only)", json!({"role": "admin"})),
                ("profile", "Change the profile", json!({"first_name": "Ann"})),
            ],
        ),
        (
            "putUser",
            JSON,
            vec![(
                "everything",
                "Replace the editable fields",
                json!({
            "email": EMAIL, "first_name": "Ann", "last_name": "Lee", "phone": "+998901234567",
            "role": "user", "is_verified": true}),
            )],
        ),
        ("createCategory", JSON, vec![("hot drinks", "A category (works as sent once)", hot_drinks.clone())]),
        ("putCategory", JSON, vec![("hot drinks", "Replace name and description", hot_drinks)]),
        (
            "patchCategory",
            JSON,
            vec![("description", "Change the description", json!({"description": "Espresso, tea and chocolate."}))],
        ),
        (
            "createProduct",
            JSON,
            vec![
                ("flat white", "A product without categories (works as sent)", flat_white.clone()),
                (
                    "in a category",
                    "Replace the all-zero id with one from GET /categories",
                    json!({
                "name": "Cortado", "price": 380, "category_ids": ["00000000-0000-0000-0000-000000000000"]}),
                ),
            ],
        ),
        ("putProduct", JSON, vec![("flat white", "Replace every field", flat_white)]),
        ("patchProduct", JSON, vec![("price", "A new price (in cents)", json!({"price": 480}))]),
        (
            "addToCart",
            JSON,
            vec![(
                "two",
                "Replace the all-zero id with one from GET /products",
                json!({"product_id": replace_product, "quantity": 2}),
            )],
        ),
        ("updateCartItem", JSON, vec![("three", "Set the quantity of this line", json!({"quantity": 3}))]),
        (
            "placeOrder",
            JSON,
            vec![
                (
                    "the cart",
                    "Check out your cart (add something with POST /cart first)",
                    json!({"comment": "No sugar, please."}),
                ),
                (
                    "items",
                    "Order these items instead (replace the all-zero id); no pickup_at = as soon as possible",
                    json!({"items": [{"product_id": replace_product, "quantity": 1}]}),
                ),
            ],
        ),
        (
            "putOrder",
            JSON,
            vec![(
                "items",
                "Replace the items of a pending order (replace the all-zero id)",
                json!({"items": [{"product_id": replace_product, "quantity": 2}], "comment": "Oat milk."}),
            )],
        ),
        (
            "patchOrder",
            JSON,
            vec![
                ("confirm", "Admins: the next status", json!({"status": "confirmed"})),
                ("cancel", "The customer cancels a pending order", json!({"status": "cancelled"})),
            ],
        ),
        ("patchConversation", JSON, vec![("close", "Close the conversation (admins)", json!({"status": "closed"}))]),
    ]
}

/// Adds the examples of operation `id` to its request body.
pub fn attach(id: &str, op: &mut serde_json::Map<String, Value>) {
    for (operation, media, examples) in table() {
        if operation != id {
            continue;
        }
        let Some(content) = op.get_mut("requestBody").and_then(|b| b.get_mut("content")).and_then(|c| c.get_mut(media))
        else {
            continue;
        };
        let map: serde_json::Map<String, Value> = examples
            .into_iter()
            .map(|(name, summary, value)| (name.to_owned(), json!({"summary": summary, "value": value})))
            .collect();
        content["examples"] = Value::Object(map);
    }
}
