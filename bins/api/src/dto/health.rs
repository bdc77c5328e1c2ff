//! The health probes: `/health/*`.

use paperclip::actix::Apiv2Schema;
use serde::Serialize;

/// Health of the process and its dependencies.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct HealthDto {
    /// `ok`, `unavailable` (a dependency is down) or `draining` (shutting down).
    pub status: String,
    /// The database answers (readiness only).
    pub database: Option<bool>,
    /// Redis answers; absent when Redis is not configured (readiness only).
    pub redis: Option<bool>,
}
