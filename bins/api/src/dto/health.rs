//! The health probes: `/health/*`.

use paperclip::actix::Apiv2Schema;
use serde::Serialize;

/// Health of the process and its dependencies.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct HealthDto {
    /// `ok`, `unavailable` (a dependency is down) or `draining` (shutting down).
    pub status: String,
    /// The database answers (readiness; `null` from the liveness probe and
    /// while draining).
    pub database: Option<bool>,
    /// Redis answers (readiness; `null` from the liveness probe, while
    /// draining, and when Redis is not configured).
    pub redis: Option<bool>,
}
