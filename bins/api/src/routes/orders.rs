//! `/orders`: customers order and track their own; staff see and move all.

use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::money::Currency;
use coffee_domain::order::{Order, OrderError, OrderResource, RenderAnswer};
use paperclip::actix::{NoContent, api_v2_operation, web};
use uuid::Uuid;

use crate::dto::order::{OrderDto, OrderPage, OrderRequest, PatchOrderRequest};
use crate::extract::{Authenticated, JsonBody, ListParams};
use crate::headers::{IdempotencyKeyHeader, Preconditions};
use crate::problem::{IntoProblem, Problem};
use crate::responses::{PlacedOrder, Revalidated, Tagged};

/// Place an order
///
/// Orders the given `items` or, without them, everything in your cart (which is emptied in the
/// same transaction). Names and prices are the menu's current ones and never change afterwards.
/// Without `pickup_at` the order is for as soon as possible, which needs the shop to be open
/// (409 `shop_closed`); a scheduled `pickup_at` must be at least `ORDER_MIN_LEAD_TIME` ahead,
/// within 7 days and inside the opening hours. Any unavailable product gives 409
/// `product_unavailable` listing them in `product_ids`. The staff get an e-mail. Send an
/// `Idempotency-Key` to retry safely: a repeat creates nothing and gets the first answer again
/// (`Idempotent-Replayed: true`), a refusal such as `cart_empty` included; use a new key to try again.
#[api_v2_operation(operation_id = "placeOrder", tags(Orders))]
async fn place_order(
    services: Data<Services>,
    caller: Authenticated,
    key: IdempotencyKeyHeader,
    body: JsonBody<OrderRequest>,
) -> Result<PlacedOrder<OrderDto>, Problem<OrderError>> {
    let body = body.get()?;
    let key = key.key_for(&body)?;
    let input = body.parse()?;
    let render = Answers(services.shop.currency());
    let placed = services.orders.place(&caller.0, input, key, &render).await?;
    Ok(PlacedOrder { placed, schema: std::marker::PhantomData })
}

/// The answers an `Idempotency-Key` stores, as this API gives them.
struct Answers(Currency);

impl RenderAnswer for Answers {
    fn order(&self, order: &Order) -> String {
        serde_json::to_string(&OrderDto::new(order.clone(), self.0)).unwrap_or_default()
    }

    fn refusal(&self, refusal: OrderError) -> (u16, String) {
        refusal.into_problem().answer()
    }
}

/// List orders
///
/// Your own orders, or every order for staff (a live order board), with the list query
/// language: filter on `status`, `user_id`, `number`, `total`, `pickup_at`, `created_at`;
/// `sort` by `status`, `number`, `total`, `pickup_at` or `created_at` (default newest first);
/// `search` matches the `comment` and the product names of the order's lines. A customer
/// sees only their own orders whatever filters they send.
#[api_v2_operation(operation_id = "listOrders", tags(Orders))]
async fn list_orders(
    services: Data<Services>,
    caller: Authenticated,
    query: ListParams<OrderResource>,
) -> Result<web::Json<OrderPage>, Problem<OrderError>> {
    let page = services.orders.list(&caller.0, &query.get()?).await?;
    Ok(web::Json(OrderPage::new(page, services.shop.currency())))
}

/// Get an order
///
/// One of your orders (any order, for staff), with its version as `ETag`. With `If-None-Match`
/// naming the current version the answer is 304 with no body.
#[api_v2_operation(operation_id = "getOrder", tags(Orders))]
async fn get_order(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<Revalidated<OrderDto>, Problem<OrderError>> {
    let order = services.orders.get(&caller.0, id.into_inner()).await?;
    Ok(Revalidated(Tagged { version: order.version, body: OrderDto::new(order, services.shop.currency()) }))
}

/// Change an order
///
/// Staff move `status` along `pending → confirmed → preparing → ready → completed`, or to
/// `cancelled` from any unfinished status; other moves give 409 `invalid_transition`. The owner
/// may cancel while the order is pending (any other status change by an owner gives 403) and,
/// while pending, change `comment` and `pickup_at`. Marking an order `ready` or `cancelled`
/// mails the customer. With `If-Match` a stale version gives 412, as does an `If-None-Match`
/// naming the current one.
#[api_v2_operation(operation_id = "patchOrder", tags(Orders))]
async fn patch_order(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    conditions: Preconditions,
    body: JsonBody<PatchOrderRequest>,
) -> Result<Tagged<OrderDto>, Problem<OrderError>> {
    let body = body.get()?;
    let patch = body.parse()?;
    let order = services.orders.patch(&caller.0, id.into_inner(), patch, &conditions.get()?).await?;
    Ok(Tagged { version: order.version, body: OrderDto::new(order, services.shop.currency()) })
}

/// Replace an order's items
///
/// Replaces the `items`, `comment` and `pickup_at` of a pending order, at the menu's current
/// prices (409 `order_not_pending` otherwise). With `If-Match` a stale version gives 412, as does
/// an `If-None-Match` naming the current one.
#[api_v2_operation(operation_id = "putOrder", tags(Orders))]
async fn put_order(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    conditions: Preconditions,
    body: JsonBody<OrderRequest>,
) -> Result<Tagged<OrderDto>, Problem<OrderError>> {
    let body = body.get()?;
    let input = body.parse()?;
    let order = services.orders.replace(&caller.0, id.into_inner(), input, &conditions.get()?).await?;
    Ok(Tagged { version: order.version, body: OrderDto::new(order, services.shop.currency()) })
}

/// Delete an order
///
/// Staff delete any order; a customer deletes their own while it is pending (409
/// `order_not_pending` otherwise). With `If-Match` a stale version gives 412, as does an
/// `If-None-Match` naming the current one.
#[api_v2_operation(operation_id = "deleteOrder", tags(Orders))]
async fn delete_order(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    conditions: Preconditions,
) -> Result<NoContent, Problem<OrderError>> {
    services.orders.delete(&caller.0, id.into_inner(), &conditions.get()?).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/orders").route(web::get().to(list_orders)).route(web::post().to(place_order))).service(
        web::resource("/orders/{id}")
            .route(web::get().to(get_order))
            .route(web::patch().to(patch_order))
            .route(web::put().to(put_order))
            .route(web::delete().to(delete_order)),
    );
}
