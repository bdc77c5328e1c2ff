//! The order use cases.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::model::{MAX_LINES, NewOrder, Order, OrderChange, OrderField, OrderLine, OrderStatus};
use super::pickup::{self, PickupError, PickupRules, PickupSettings};
use super::ports::{IdempotencyClaim, IdempotencyKey, IdempotencyStore, KeyLease, OrderRepository, StoredResponse};
use super::precondition::{Condition, Precondition};
use super::transitions::{Mover, TransitionError, check_transition};
use crate::access::{AccessError, Caller};
use crate::cart::Quantity;
use crate::clock::Clock;
use crate::error::{FieldError, Unexpected, error_chain};
use crate::jobs::Job;
use crate::live::{LiveEvent, LiveFeed, OrderUpdate};
use crate::mail::{Mail, OrderSummary, OrderSummaryLine};
use crate::money::{Money, MoneyOverflow};
use crate::query::{ListQuery, Page};
use crate::shop::Shop;
use crate::uow::{Transaction, UnitOfWork};
use crate::user::{Email, User};

/// How often a change judged against a state that moved on meanwhile is
/// judged again before giving up. Each miss means another change of the
/// order landed in between, and each request lands at most one, so a burst
/// of up to this many concurrent changes to one order all apply, one after
/// the other. Past that (changes arriving faster than they land) the answer
/// is 503 with `Retry-After` ([`contended`]).
const MAX_ATTEMPTS: usize = 32;

/// Why an order use case failed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Unknown order (for this caller), or not allowed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Checkout of an empty cart.
    #[error("the cart is empty")]
    CartEmpty,
    /// Products that cannot be ordered now.
    #[error("products unavailable")]
    ProductUnavailable(Vec<Uuid>),
    /// Fields that break a rule (unknown products, pickup time, missing items).
    #[error("invalid order")]
    Invalid(Vec<FieldError>),
    /// "As soon as possible" while the shop is closed.
    #[error("the shop is closed")]
    ShopClosed,
    /// A status change that the table does not allow.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The order left `pending`; it can no longer be edited (or deleted by its owner).
    #[error("the order is no longer pending")]
    NotPending(OrderStatus),
    /// A condition of the request (`If-Match`, `If-None-Match`) does not
    /// hold for the order's current version.
    #[error("precondition failed: {0:?}")]
    PreconditionFailed(Condition),
    /// The `Idempotency-Key` was used before with a different body.
    #[error("idempotency key reused with a different request")]
    KeyReused,
    /// A request with this `Idempotency-Key` is still running.
    #[error("a request with this idempotency key is in flight")]
    InFlight,
    /// Something failed that the client cannot fix.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

crate::unexpected_from!(OrderError);

impl From<MoneyOverflow> for OrderError {
    fn from(e: MoneyOverflow) -> Self {
        Unexpected::Failed(Box::new(e)).into()
    }
}

impl From<PickupError> for OrderError {
    fn from(e: PickupError) -> Self {
        match e {
            PickupError::ShopClosed => OrderError::ShopClosed,
            PickupError::Invalid(e) => OrderError::Invalid(vec![e]),
        }
    }
}

/// One requested line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRequest {
    /// The product.
    pub product_id: Uuid,
    /// How many.
    pub quantity: Quantity,
}

/// A validated order (`POST /orders`, `PUT /orders/{id}`). The caller has
/// checked the line count and that no product appears twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderInput {
    /// Explicit lines; `None` checks the cart out.
    pub items: Option<Vec<ItemRequest>>,
    /// Note.
    pub comment: Option<String>,
    /// Pickup time; `None` = as soon as possible.
    pub pickup_at: Option<DateTime<Utc>>,
}

/// A validated partial change (`PATCH /orders/{id}`); `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderPatch {
    /// New status.
    pub status: Option<OrderStatus>,
    /// New note (`Some(None)` clears it).
    pub comment: Option<Option<String>>,
    /// New pickup time (`Some(None)`: as soon as possible).
    pub pickup_at: Option<Option<DateTime<Utc>>>,
}

/// Who gets the mail about a new order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// Every admin at the time of the order.
    Admins,
    /// `ADMIN_NOTIFY_EMAILS`.
    Listed(Vec<Email>),
}

/// Tunables of the order use cases.
#[derive(Debug, Clone)]
pub struct OrderSettings {
    /// Pickup rules.
    pub pickup: PickupSettings,
    /// `IDEMPOTENCY_KEY_TTL`: how long a key and its answer are kept.
    pub idempotency_ttl: TimeDelta,
    /// How long a key stays "in flight" before a request that died is
    /// assumed gone and the key may be claimed again.
    pub idempotency_lease: TimeDelta,
    /// Who is told about new orders.
    pub notify: Recipients,
}

/// The answer to `POST /orders`: the created order's id and its rendered
/// body, or the stored answer of an earlier request with the same key
/// (which may be a rejection: SPEC §6 stores "the first request's status
/// and body").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The answer.
    pub response: StoredResponse,
    /// Whether this is the stored answer of an earlier request.
    pub replayed: bool,
}

/// The HTTP status of a placed order, as stored for its key.
pub const PLACED_STATUS: u16 = 201;

/// Renders the answers an `Idempotency-Key` stores, in the caller's
/// (the API's) format.
pub trait RenderAnswer: Sync {
    /// The body of a placed order.
    fn order(&self, order: &Order) -> String;
    /// The status and body of a final refusal ([`OrderError::as_final`]).
    fn refusal(&self, refusal: OrderError) -> (u16, String);
}

impl OrderError {
    /// A copy of this error if it is a final refusal of the request itself
    /// (an empty cart, an unavailable product, a closed shop, a broken
    /// rule), which an `Idempotency-Key` stores and replays. Failures of the
    /// store, of access and of concurrency are not final: `None`, and the
    /// key is released for a retry.
    pub fn as_final(&self) -> Option<Self> {
        match self {
            Self::CartEmpty => Some(Self::CartEmpty),
            Self::ProductUnavailable(ids) => Some(Self::ProductUnavailable(ids.clone())),
            Self::Invalid(errors) => Some(Self::Invalid(errors.clone())),
            Self::ShopClosed => Some(Self::ShopClosed),
            _ => None,
        }
    }
}

/// The ports an [`OrderService`] needs.
pub struct OrderPorts {
    /// Orders (reads outside transactions).
    pub orders: Arc<dyn OrderRepository>,
    /// Idempotency keys (claims outside the order's transaction).
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Transactions.
    pub uow: Arc<dyn UnitOfWork>,
    /// The shop's calendar and currency.
    pub shop: Arc<Shop>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Live delivery of new orders and status changes (owner and admins).
    pub live: LiveFeed,
}

/// The order use cases.
pub struct OrderService {
    ports: OrderPorts,
    settings: OrderSettings,
}

impl OrderService {
    /// Wires the service.
    pub fn new(ports: OrderPorts, settings: OrderSettings) -> Self {
        Self { ports, settings }
    }

    fn pickup(&self) -> PickupRules<'_> {
        PickupRules::new(&self.ports.shop, self.settings.pickup)
    }

    /// Places an order from explicit items or, without them, from the
    /// caller's cart (emptied in the same transaction). The order, its lines,
    /// the emptied cart, the admins' mail and the key's stored answer are
    /// written in one transaction. `render` makes the answers stored for the
    /// key. With a key, a repeat with the same body gets the stored answer
    /// (`replayed`) and creates nothing, and so does a repeat of a request
    /// refused for a final reason ([`OrderError::as_final`]).
    ///
    /// # Errors
    /// `KeyReused`, `InFlight`, `CartEmpty`, `ProductUnavailable`,
    /// `Invalid` (unknown products, pickup time), `ShopClosed`.
    pub async fn place(
        &self,
        caller: &Caller,
        input: OrderInput,
        key: Option<IdempotencyKey>,
        render: &dyn RenderAnswer,
    ) -> Result<Placed, OrderError> {
        let now = self.ports.clock.now();
        let mut lease = None;
        if let Some(key) = &key {
            let (until, ttl) = (now + self.settings.idempotency_lease, now + self.settings.idempotency_ttl);
            match self.ports.idempotency.claim(caller.id(), key, now, until, ttl).await? {
                IdempotencyClaim::Claimed(held) => lease = Some(held),
                IdempotencyClaim::InFlight => return Err(OrderError::InFlight),
                IdempotencyClaim::Mismatch => return Err(OrderError::KeyReused),
                IdempotencyClaim::Completed(stored) => return Ok(Placed { response: stored, replayed: true }),
            }
        }
        let placed = self.checkout(caller, input, lease, render, now).await;
        if let (Err(e), Some(lease)) = (&placed, lease) {
            self.settle(lease, e, render, now).await;
        }
        placed
    }

    /// After a failed checkout: stores a final refusal for the key, or gives
    /// the key up so a retry may run. A store failure is logged: the key then
    /// frees itself when its lease ends.
    async fn settle(&self, lease: KeyLease, error: &OrderError, render: &dyn RenderAnswer, now: DateTime<Utc>) {
        let stored = if let Some(refusal) = error.as_final() {
            let (status, body) = render.refusal(refusal);
            let refusal = StoredResponse { status, order_id: None, body };
            self.ports.idempotency.complete(lease, &refusal, now).await.map(drop)
        } else {
            self.ports.idempotency.release(lease).await
        };
        if let Err(e) = stored {
            tracing::warn!(error = %error_chain(&e), "could not settle an idempotency key; it frees itself when its lease ends");
        }
    }

    async fn checkout(
        &self,
        caller: &Caller,
        input: OrderInput,
        lease: Option<KeyLease>,
        render: &dyn RenderAnswer,
        now: DateTime<Utc>,
    ) -> Result<Placed, OrderError> {
        let pickup_at = self.pickup().check(input.pickup_at, now)?;
        let tx = self.ports.uow.begin().await?;
        let (items, total) = match input.items {
            Some(items) => priced_lines(tx.as_ref(), &items, true).await?,
            None => {
                let taken = tx.carts().take(caller.id()).await?;
                if taken.is_empty() {
                    return Err(OrderError::CartEmpty);
                }
                if taken.len() > MAX_LINES {
                    // Nothing is lost: the transaction that took the cart rolls back.
                    return Err(OrderError::Invalid(vec![FieldError::new(
                        "items",
                        format!(
                            "the cart holds {} lines and an order at most {MAX_LINES}: remove some, or send `items`",
                            taken.len()
                        ),
                    )]));
                }
                let items: Vec<ItemRequest> =
                    taken.into_iter().map(|(product_id, quantity)| ItemRequest { product_id, quantity }).collect();
                priced_lines(tx.as_ref(), &items, false).await?
            }
        };
        let new = NewOrder {
            id: Uuid::now_v7(),
            user_id: caller.id(),
            items,
            total,
            comment: input.comment,
            pickup_at,
            created_at: now,
        };
        let order = tx.orders().insert(&new).await?;
        let to = match &self.settings.notify {
            Recipients::Listed(emails) => emails.clone(),
            Recipients::Admins => tx.users().admin_emails().await?,
        };
        if to.is_empty() {
            // No admin at all (ADMIN_NOTIFY_EMAILS unset): nobody to tell.
            tracing::warn!(order_id = %order.id, number = order.number, "a new order, and no admin to mail it to");
        } else {
            // One mail per recipient, each its own job: an address the mail
            // server refuses for good (a 550 for one mailbox fails the whole
            // SMTP transaction) leaves the other admins' copies on their way.
            let summary = self.summary(&order, caller.user());
            for email in to {
                let mail = Mail::NewOrder { to: vec![email.as_str().to_owned()], order: summary.clone() };
                tx.outbox().record(&Job::SendMail(mail), now).await?;
            }
        }
        let response = StoredResponse { status: PLACED_STATUS, order_id: Some(order.id), body: render.order(&order) };
        if let Some(lease) = lease
            && !tx.idempotency().complete(lease, &response, now).await?
        {
            // The lease ran out and a retry took the key over: it places the
            // order, this request places nothing (the transaction rolls back).
            return Err(OrderError::InFlight);
        }
        tx.commit().await?;
        self.ports.live.publish(LiveEvent::Order(OrderUpdate::from(&order))).await;
        Ok(Placed { response, replayed: false })
    }

    /// One order.
    ///
    /// # Errors
    /// `NotFound` for an unknown order or someone else's (unless admin).
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<Order, OrderError> {
        let order = self.ports.orders.find(id).await?.ok_or(AccessError::NotFound)?;
        caller.may_see(order.user_id)?;
        Ok(order)
    }

    /// One page of orders: all for admins, the caller's own for anyone else
    /// (whatever filters they send).
    ///
    /// # Errors
    /// Only failures of the store.
    pub async fn list(&self, caller: &Caller, query: &ListQuery<OrderField>) -> Result<Page<Order>, OrderError> {
        let owner = if caller.admin().is_some() { None } else { Some(caller.id()) };
        Ok(self.ports.orders.list(query, owner).await?)
    }

    /// Changes an order: its status (along the transition table), or — by
    /// its owner while `pending` — its comment and pickup time. An admin
    /// marking it `ready` or `cancelled` mails the customer.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden` (an owner changing the status other than
    /// cancelling; someone else editing the comment), `Transition`,
    /// `NotPending`, `PreconditionFailed` (`If-Match` stale, `If-None-Match` current), `Invalid`
    /// (pickup time), `ShopClosed`.
    pub async fn patch(
        &self,
        caller: &Caller,
        id: Uuid,
        patch: OrderPatch,
        precondition: &Precondition,
    ) -> Result<Order, OrderError> {
        let mover = if caller.admin().is_some() { Mover::Admin } else { Mover::Owner };
        for _ in 0..MAX_ATTEMPTS {
            let order = self.current(caller, id, precondition).await?;
            let now = self.ports.clock.now();
            let mut change = OrderChange::default();
            if let Some(to) = patch.status {
                check_transition(order.status, to, mover)?;
                change.status = Some(to);
            }
            if patch.comment.is_some() || patch.pickup_at.is_some() {
                if caller.id() != order.user_id {
                    return Err(AccessError::Forbidden.into());
                }
                if order.status != OrderStatus::Pending {
                    return Err(OrderError::NotPending(order.status));
                }
                // A value the order already has is no change: the version
                // (the ETag) stays, and a pickup time kept is not re-judged.
                change.comment = patch.comment.clone().filter(|c| *c != order.comment);
                if let Some(pickup_at) = patch.pickup_at.filter(|p| p.map(pickup::stored) != order.pickup_at) {
                    change.pickup_at = Some(self.pickup().check(pickup_at, now)?);
                }
            }
            if change == OrderChange::default() {
                return Ok(order);
            }
            let tx = self.ports.uow.begin().await?;
            let Some(updated) = tx.orders().update(id, order.status, order.version, &change, now).await? else {
                drop(tx);
                continue;
            };
            let tells_customer = matches!(change.status, Some(OrderStatus::Ready | OrderStatus::Cancelled));
            if mover == Mover::Admin
                && tells_customer
                && let Some(customer) = tx.users().find(updated.user_id).await?
            {
                let mail = Mail::OrderStatus {
                    to: customer.email.as_str().to_owned(),
                    order: self.summary(&updated, &customer),
                    status: updated.status.as_str().to_owned(),
                };
                tx.outbox().record(&Job::SendMail(mail), now).await?;
            }
            tx.commit().await?;
            self.ports.live.publish(LiveEvent::Order(OrderUpdate::from(&updated))).await;
            return Ok(updated);
        }
        Err(contended())
    }

    /// Replaces a `pending` order's items, comment and pickup time, at
    /// current prices.
    ///
    /// # Errors
    /// `NotFound`, `NotPending`, `PreconditionFailed`, `Invalid` (no items,
    /// unknown products, pickup time), `ProductUnavailable`, `ShopClosed`.
    pub async fn replace(
        &self,
        caller: &Caller,
        id: Uuid,
        input: OrderInput,
        precondition: &Precondition,
    ) -> Result<Order, OrderError> {
        let Some(items) = input.items else {
            return Err(OrderError::Invalid(vec![FieldError::new("items", "is required: the order's new lines")]));
        };
        for _ in 0..MAX_ATTEMPTS {
            let order = self.current(caller, id, precondition).await?;
            if order.status != OrderStatus::Pending {
                return Err(OrderError::NotPending(order.status));
            }
            let now = self.ports.clock.now();
            // As in `patch`: the pickup time the order already has is kept
            // without being judged again (it may be inside the lead time by
            // now, or "as soon as possible" after closing time).
            let pickup_at = if input.pickup_at.map(pickup::stored) == order.pickup_at {
                order.pickup_at
            } else {
                self.pickup().check(input.pickup_at, now)?
            };
            let tx = self.ports.uow.begin().await?;
            let lines = priced_lines(tx.as_ref(), &items, true).await?;
            let change = OrderChange {
                status: None,
                comment: Some(input.comment.clone()),
                pickup_at: Some(pickup_at),
                items: Some(lines),
            };
            let Some(updated) = tx.orders().update(id, order.status, order.version, &change, now).await? else {
                drop(tx);
                continue;
            };
            tx.commit().await?;
            self.ports.live.publish(LiveEvent::Order(OrderUpdate::from(&updated))).await;
            return Ok(updated);
        }
        Err(contended())
    }

    /// Deletes an order: any, for an admin; their own while `pending`, for a customer.
    ///
    /// # Errors
    /// `NotFound`, `NotPending`, `PreconditionFailed`.
    pub async fn delete(&self, caller: &Caller, id: Uuid, precondition: &Precondition) -> Result<(), OrderError> {
        for _ in 0..MAX_ATTEMPTS {
            let order = self.current(caller, id, precondition).await?;
            if caller.admin().is_none() && order.status != OrderStatus::Pending {
                return Err(OrderError::NotPending(order.status));
            }
            if self.ports.orders.delete(id, order.version).await? {
                let gone = OrderUpdate::deleted(&order, self.ports.clock.now());
                self.ports.live.publish(LiveEvent::Order(gone)).await;
                return Ok(());
            }
        }
        Err(contended())
    }

    /// The order as the caller may see it, its version checked against the
    /// request's conditions. A conditional write that then finds the order
    /// changed comes back here, so the conditions are judged on the version
    /// it will replace: a stale `If-Match` fails on that second look.
    async fn current(&self, caller: &Caller, id: Uuid, precondition: &Precondition) -> Result<Order, OrderError> {
        let order = self.get(caller, id).await?;
        precondition.check(order.version).map_err(OrderError::PreconditionFailed)?;
        Ok(order)
    }

    fn summary(&self, order: &Order, customer: &User) -> OrderSummary {
        let name = [customer.first_name.as_deref(), customer.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let customer = if name.is_empty() {
            customer.email.as_str().to_owned()
        } else {
            format!("{name} <{}>", customer.email.as_str())
        };
        OrderSummary {
            number: order.number,
            customer,
            items: order
                .items
                .iter()
                .map(|l| OrderSummaryLine {
                    name: l.name.clone(),
                    quantity: l.quantity.get(),
                    line_total: l.line_total.minor(),
                })
                .collect(),
            total: order.total.minor(),
            currency: self.ports.shop.currency().to_string(),
            pickup: order.pickup_at.map(|at| self.ports.shop.local_time(at).format("%a %-d %b %Y, %H:%M").to_string()),
            comment: order.comment.clone(),
        }
    }
}

/// The order kept changing for [`MAX_ATTEMPTS`] tries: a transient
/// contention, answered as a busy dependency (503 with `Retry-After`), never as a failure.
fn contended() -> OrderError {
    Unexpected::Unavailable("the order kept changing under concurrent updates".into()).into()
}

/// The lines of `items` at the menu's current names and prices, and their
/// total. `explicit` items name their products themselves (unknown ids are
/// the client's error); cart lines whose product vanished count as
/// unavailable.
async fn priced_lines(
    tx: &dyn Transaction,
    items: &[ItemRequest],
    explicit: bool,
) -> Result<(Vec<OrderLine>, Money), OrderError> {
    let ids: Vec<Uuid> = items.iter().map(|i| i.product_id).collect();
    let products: HashMap<Uuid, _> = tx.catalog().priced(&ids).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut unknown = Vec::new();
    let mut unavailable = Vec::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match products.get(&item.product_id) {
            None if explicit => {
                unknown.push(FieldError::new(format!("items[{i}].product_id"), "no such product on the menu"));
            }
            Some(p) if p.is_available => lines.push(OrderLine {
                product_id: Some(p.id),
                name: p.name.clone(),
                unit_price: p.price,
                quantity: item.quantity,
                line_total: p.price.times(item.quantity.get())?,
            }),
            _ => unavailable.push(item.product_id),
        }
    }
    if !unknown.is_empty() {
        return Err(OrderError::Invalid(unknown));
    }
    if !unavailable.is_empty() {
        return Err(OrderError::ProductUnavailable(unavailable));
    }
    let total = Money::sum(lines.iter().map(|l| l.line_total))?;
    Ok((lines, total))
}
