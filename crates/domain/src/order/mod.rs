//! Orders: placed from the cart or from explicit items, with name and price
//! snapshots, a short increasing number, a pickup time, a version for
//! optimistic concurrency, and a status that moves along one transition
//! table. Placing an order is idempotent under an `Idempotency-Key`, and
//! mails the admins through the outbox in the order's own transaction.

mod model;
mod pickup;
mod ports;
mod precondition;
mod service;
mod transitions;

pub use model::{
    COMMENT_MAX_CHARS, MAX_LINES, NewOrder, Order, OrderChange, OrderField, OrderLine, OrderResource, OrderStatus,
    comment,
};
pub use pickup::{PickupError, PickupRules, PickupSettings};
pub use ports::{IdempotencyClaim, IdempotencyKey, IdempotencyStore, KeyLease, OrderRepository, StoredResponse};
pub use precondition::{Condition, Precondition, Versions};
pub use service::{
    ItemRequest, OrderError, OrderInput, OrderPatch, OrderPorts, OrderService, OrderSettings, PLACED_STATUS, Placed,
    Recipients, RenderAnswer,
};
pub use transitions::{Mover, TransitionError, check_transition};

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod tests;
