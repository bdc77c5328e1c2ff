//! Route modules, one per resource, and the table that mounts them.

pub mod auth;
pub mod cart;
pub mod categories;
pub mod health;
pub mod info;
pub mod media;
pub mod metrics;
pub mod orders;
pub mod products;
pub mod support;
pub mod users;

use paperclip::actix::web;

/// Mounts every documented route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    auth::configure(cfg);
    users::configure(cfg);
    categories::configure(cfg);
    products::configure(cfg);
    cart::configure(cfg);
    orders::configure(cfg);
    support::configure(cfg);
    info::configure(cfg);
    media::configure(cfg);
    health::configure(cfg);
    metrics::configure(cfg);
}
