//! The order and its lines.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cart::Quantity;
use crate::error::FieldError;
use crate::money::Money;
use crate::query::{FieldKind, FieldSpec, Resource};
use crate::text::note_text;

/// Most lines one order may hold.
pub const MAX_LINES: usize = 50;
/// Longest order comment.
pub const COMMENT_MAX_CHARS: usize = 500;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet accepted by the shop.
    Pending,
    /// Accepted by the shop.
    Confirmed,
    /// Being made.
    Preparing,
    /// Waiting at the counter.
    Ready,
    /// Picked up (final).
    Completed,
    /// Called off (final).
    Cancelled,
}

impl OrderStatus {
    /// Every status, in the order of an order's life.
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Preparing,
        OrderStatus::Ready,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
    ];
    /// The stored and serialised names, in the order of [`OrderStatus::ALL`].
    pub const NAMES: &'static [&'static str] =
        &["pending", "confirmed", "preparing", "ready", "completed", "cancelled"];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Preparing => "preparing",
            OrderStatus::Ready => "ready",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether nothing can happen to the order any more.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }
}

/// One line of an order: a snapshot of the product when it was ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The product it was ordered as, which may have left the menu since;
    /// `None` only on lines whose product was deleted before migration 16.
    pub product_id: Option<Uuid>,
    /// The product's name when ordered.
    pub name: String,
    /// The product's price when ordered.
    pub unit_price: Money,
    /// How many.
    pub quantity: Quantity,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Identifier (UUID v7).
    pub id: Uuid,
    /// Short, strictly increasing number the barista calls out.
    pub number: i64,
    /// The customer.
    pub user_id: Uuid,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Its lines (1–50).
    pub items: Vec<OrderLine>,
    /// Sum of the line totals.
    pub total: Money,
    /// The customer's note (plain text, ≤ 500 characters).
    pub comment: Option<String>,
    /// When the customer will pick it up; `None` = as soon as possible.
    pub pickup_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the `ETag`.
    pub version: i64,
}

/// An order to insert; the store assigns its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Identifier.
    pub id: Uuid,
    /// The customer.
    pub user_id: Uuid,
    /// Lines.
    pub items: Vec<OrderLine>,
    /// Sum of the line totals.
    pub total: Money,
    /// Note.
    pub comment: Option<String>,
    /// Pickup time.
    pub pickup_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A change to apply to an order; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderChange {
    /// New status.
    pub status: Option<OrderStatus>,
    /// New note (`Some(None)` clears it).
    pub comment: Option<Option<String>>,
    /// New pickup time (`Some(None)`: as soon as possible).
    pub pickup_at: Option<Option<DateTime<Utc>>>,
    /// New lines and their total.
    pub items: Option<(Vec<OrderLine>, Money)>,
}

/// An order comment: up to 500 characters, several lines allowed; blank
/// means none. Written as chat is, so `<3` is text (see
/// [`crate::text::note_text`]).
///
/// # Errors
/// See [`crate::text::note_text`].
pub fn comment(field: &str, raw: &str) -> Result<Option<String>, FieldError> {
    let text = note_text(field, raw, COMMENT_MAX_CHARS)?;
    Ok(if text.is_empty() { None } else { Some(text) })
}

/// Fields of an order that the list query language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    /// `status`
    Status,
    /// `user_id`
    UserId,
    /// `number`
    Number,
    /// `total`
    Total,
    /// `pickup_at`
    PickupAt,
    /// `created_at`
    CreatedAt,
    /// `comment` (searched, not filtered or sorted)
    Comment,
}

/// `GET /orders`.
#[derive(Debug)]
pub struct OrderResource;

impl Resource for OrderResource {
    type Field = OrderField;
    const CREATED_AT: OrderField = OrderField::CreatedAt;
    const SEARCHED_BEYOND: Option<&'static str> = Some("the product names of its lines");
    const FIELDS: &'static [FieldSpec<OrderField>] = &[
        FieldSpec {
            name: "status",
            field: OrderField::Status,
            kind: FieldKind::Enum(OrderStatus::NAMES),
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "user_id",
            field: OrderField::UserId,
            kind: FieldKind::Uuid,
            filterable: true,
            sortable: false,
            searchable: false,
        },
        FieldSpec {
            name: "number",
            field: OrderField::Number,
            kind: FieldKind::Integer,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "total",
            field: OrderField::Total,
            kind: FieldKind::Integer,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "pickup_at",
            field: OrderField::PickupAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "created_at",
            field: OrderField::CreatedAt,
            kind: FieldKind::Timestamp,
            filterable: true,
            sortable: true,
            searchable: false,
        },
        FieldSpec {
            name: "comment",
            field: OrderField::Comment,
            kind: FieldKind::Text,
            filterable: false,
            sortable: false,
            searchable: true,
        },
    ];
}
