//! Orders: `/orders`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use coffee_domain::FieldError;
use coffee_domain::cart::Quantity;
use coffee_domain::error::Validator;
use coffee_domain::money::Currency;
use coffee_domain::order::{ItemRequest, MAX_LINES, Order, OrderInput, OrderLine, OrderPatch, OrderStatus, comment};
use coffee_domain::query::Page;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{double_option, not_null, page_dto};
use crate::problem::ApiError;

/// Where an order is: `pending → confirmed → preparing → ready → completed`, or `cancelled`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatusDto {
    /// Placed, not yet accepted by the shop.
    Pending,
    /// Accepted by the shop.
    Confirmed,
    /// Being made.
    Preparing,
    /// Waiting at the counter.
    Ready,
    /// Picked up.
    Completed,
    /// Called off.
    Cancelled,
}

impl From<OrderStatus> for OrderStatusDto {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Confirmed => Self::Confirmed,
            OrderStatus::Preparing => Self::Preparing,
            OrderStatus::Ready => Self::Ready,
            OrderStatus::Completed => Self::Completed,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<OrderStatusDto> for OrderStatus {
    fn from(s: OrderStatusDto) -> Self {
        match s {
            OrderStatusDto::Pending => Self::Pending,
            OrderStatusDto::Confirmed => Self::Confirmed,
            OrderStatusDto::Preparing => Self::Preparing,
            OrderStatusDto::Ready => Self::Ready,
            OrderStatusDto::Completed => Self::Completed,
            OrderStatusDto::Cancelled => Self::Cancelled,
        }
    }
}

/// One line of an order: name and price as they were when it was ordered.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct OrderLineDto {
    /// The product this line was ordered as. It may have left the menu since
    /// (`GET /products/{id}` then answers 404): a placed order never changes.
    /// `null` only on lines whose product was deleted before that rule (migration 16).
    pub product_id: Option<Uuid>,
    /// The product's name when ordered.
    pub name: String,
    /// The product's price when ordered, in minor units.
    pub unit_price: i64,
    /// How many.
    pub quantity: u32,
    /// `unit_price × quantity`.
    pub line_total: i64,
}

/// An order.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct OrderDto {
    /// Identifier.
    pub id: Uuid,
    /// Short, increasing number the barista calls out.
    pub number: i64,
    /// The customer.
    pub user_id: Uuid,
    /// Where the order is.
    pub status: OrderStatusDto,
    /// Its lines.
    pub items: Vec<OrderLineDto>,
    /// Sum of the line totals, in minor units of `currency`.
    pub total: i64,
    /// ISO 4217 currency of the shop.
    pub currency: String,
    /// The customer's note.
    pub comment: Option<String>,
    /// When the customer picks it up; `null` = as soon as possible.
    pub pickup_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; sent as the `ETag` and checked against `If-Match`.
    pub version: i64,
}

impl OrderDto {
    /// The JSON form of `order`, in the shop's `currency`.
    pub fn new(order: Order, currency: Currency) -> Self {
        Self {
            id: order.id,
            number: order.number,
            user_id: order.user_id,
            status: order.status.into(),
            items: order.items.into_iter().map(line).collect(),
            total: order.total.minor(),
            currency: currency.to_string(),
            comment: order.comment,
            pickup_at: order.pickup_at,
            created_at: order.created_at,
            updated_at: order.updated_at,
            version: order.version,
        }
    }
}

fn line(l: OrderLine) -> OrderLineDto {
    OrderLineDto {
        product_id: l.product_id,
        name: l.name,
        unit_price: l.unit_price.minor(),
        quantity: l.quantity.get(),
        line_total: l.line_total.minor(),
    }
}

page_dto! {
    /// One page of orders.
    OrderPage of OrderDto
}

impl OrderPage {
    /// The JSON form of a page of orders.
    pub fn new(page: Page<Order>, currency: Currency) -> Self {
        Self::from_page(page, |o| OrderDto::new(o, currency))
    }
}

/// One requested line.
#[derive(Debug, Clone, Serialize, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct OrderItemRequest {
    /// A product from `GET /products`.
    pub product_id: Uuid,
    /// How many (1–99).
    #[openapi(example = "1")]
    pub quantity: i64,
}

/// `POST /orders` and `PUT /orders/{id}`. Without `items`, `POST` checks the
/// cart out; `PUT` needs them.
#[derive(Debug, Clone, Serialize, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// 1–50 lines, each product at most once; absent = the cart's lines.
    #[serde(default, deserialize_with = "not_null")]
    pub items: Option<Vec<OrderItemRequest>>,
    /// A note for the barista: up to 500 characters of plain text.
    pub comment: Option<String>,
    /// When to pick the order up (RFC 3339): at least `ORDER_MIN_LEAD_TIME`
    /// ahead, within 7 days, inside the opening hours. Absent = as soon as
    /// possible, which needs the shop to be open now.
    pub pickup_at: Option<DateTime<Utc>>,
}

impl OrderRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<OrderInput, ApiError> {
        let mut v = Validator::new();
        let items = self.items.map(|items| parse_items(&mut v, &items));
        let comment = self.comment.and_then(|c| v.check(comment("comment", &c))).flatten();
        v.finish().map_err(ApiError::validation)?;
        Ok(OrderInput { items, comment, pickup_at: self.pickup_at })
    }
}

fn parse_items(v: &mut Validator, items: &[OrderItemRequest]) -> Vec<ItemRequest> {
    if items.is_empty() || items.len() > MAX_LINES {
        v.push(FieldError::new("items", format!("must hold 1 to {MAX_LINES} lines")));
    }
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(item.product_id) {
            v.push(FieldError::new(format!("items[{i}].product_id"), "appears twice: put the quantity on one line"));
        }
        if let Some(quantity) = v.check(Quantity::parse(&format!("items[{i}].quantity"), item.quantity)) {
            parsed.push(ItemRequest { product_id: item.product_id, quantity });
        }
    }
    parsed
}

/// `PATCH /orders/{id}`: the owner cancels (`status: cancelled`) or, while the
/// order is pending, changes `comment` and `pickup_at`; staff move `status`
/// along `pending → confirmed → preparing → ready → completed` or cancel.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(deny_unknown_fields)]
pub struct PatchOrderRequest {
    /// The new status.
    #[serde(default, deserialize_with = "not_null")]
    pub status: Option<OrderStatusDto>,
    /// A new note, or `null` to remove it.
    #[serde(default, deserialize_with = "double_option")]
    pub comment: Option<Option<String>>,
    /// A new pickup time, or `null` for as soon as possible.
    #[serde(default, deserialize_with = "double_option")]
    pub pickup_at: Option<Option<DateTime<Utc>>>,
}

impl PatchOrderRequest {
    /// Validates every field.
    ///
    /// # Errors
    /// 422 listing each invalid field.
    pub fn parse(self) -> Result<OrderPatch, ApiError> {
        let mut v = Validator::new();
        let comment = self.comment.map(|c| c.and_then(|c| v.check(comment("comment", &c)).flatten()));
        v.finish().map_err(ApiError::validation)?;
        Ok(OrderPatch { status: self.status.map(Into::into), comment, pickup_at: self.pickup_at })
    }
}
