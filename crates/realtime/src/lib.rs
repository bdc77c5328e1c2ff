//! Live delivery: adapters of the domain's [`FanOut`] and [`TicketStore`]
//! ports (`coffee_domain::realtime`).
//!
//! | port | embedded profile | distributed profile |
//! |---|---|---|
//! | [`FanOut`] | [`LocalFanOut`] | Redis pub/sub (to come) |
//! | [`TicketStore`] | [`MemoryTicketStore`] | Redis (to come) |
//!
//! [`FanOut`]: coffee_domain::realtime::FanOut
//! [`TicketStore`]: coffee_domain::realtime::TicketStore

mod local;
mod memory_tickets;
mod sinks;

pub use local::LocalFanOut;
pub use memory_tickets::{DEFAULT_MAX_TICKETS, MemoryTicketStore};
