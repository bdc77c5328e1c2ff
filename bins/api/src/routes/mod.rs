//! Route modules, one per resource, and the table that mounts them.

pub mod auth;
pub mod health;
pub mod users;

use paperclip::actix::web;

/// Mounts every documented route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    auth::configure(cfg);
    users::configure(cfg);
    health::configure(cfg);
}
