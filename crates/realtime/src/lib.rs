//! Live delivery: adapters of the domain's [`FanOut`] and [`TicketStore`]
//! ports (`coffee_domain::realtime`).
//!
//! | port | embedded profile | distributed profile |
//! |---|---|---|
//! | [`FanOut`] | [`LocalFanOut`] | [`RedisFanOut`] (pub/sub) |
//! | [`TicketStore`] | [`MemoryTicketStore`] | [`RedisTicketStore`] |
//! | [`SocketSlots`] | [`MemorySocketSlots`] | [`RedisSocketSlots`] |
//!
//! [`FanOut`]: coffee_domain::realtime::FanOut
//! [`TicketStore`]: coffee_domain::realtime::TicketStore
//! [`SocketSlots`]: coffee_domain::realtime::SocketSlots

mod conn;
mod envelope;
mod local;
mod memory_tickets;
mod redis_fanout;
mod redis_tickets;
mod sinks;
mod slots;
mod subscriber;

pub use conn::DEFAULT_TIMEOUT;
pub use local::LocalFanOut;
pub use memory_tickets::{DEFAULT_MAX_TICKETS, MemoryTicketStore};
pub use redis_fanout::{DEFAULT_CHANNEL, RedisFanOut, RedisFanOutConfig};
pub use redis_tickets::{DEFAULT_TICKET_PREFIX, RedisTicketStore};
pub use slots::{DEFAULT_SLOTS_PREFIX, MemorySocketSlots, RedisSocketSlots};
