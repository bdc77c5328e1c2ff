//! Time as a port, so services can be tested without the wall clock.

use chrono::{DateTime, SubsecRound, Utc};

/// The source of "now" for every use case.
pub trait Clock: Send + Sync {
    /// The current instant, truncated to microseconds (what the databases keep).
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
