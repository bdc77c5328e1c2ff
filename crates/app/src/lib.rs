//! Configuration and the composition root: `Config` → [`Services`].
//!
//! This is the only place that knows which adapter implements which port;
//! the profile (embedded or distributed) follows from configuration alone.

mod config;
mod lifecycle;
mod listener;
mod live;
mod logging;
mod metrics;
mod proxies;
mod services;
mod shop;
mod signals;

pub use coffee_jobs::{DeadJob, DeadJobs};
pub use config::{AppEnv, Config, ConfigError, LogFormat};
pub use lifecycle::Lifecycle;
pub use listener::set_send_timeout;
pub use live::Live;
pub use logging::init_logging;
pub use metrics::{METRICS_CONTENT_TYPE, Metrics, PageJsonStats, Sample, UNMATCHED_ROUTE};
pub use proxies::{TrustedProxies, TrustedProxiesError};
pub use services::{Process, Readiness, Services, StartError};
pub use shop::{SAMPLE_SHOP_INFO, ShopConfig};
pub use signals::Signals;
