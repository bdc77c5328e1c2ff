//! Typed configuration read from the environment (and `.env`, if present).

use std::collections::HashMap;
use std::time::Duration;

use chrono::TimeDelta;
use coffee_jobs::CleanupSchedule;

/// Where the process runs; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local development and tests.
    Development,
    /// Production: `JWT_SECRET` is required.
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// A configuration variable that could not be used. Displays as one line
/// naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// Every setting of `coffee-api` (SPEC §2).
#[derive(Clone)]
pub struct Config {
    /// `APP_ENV`: `development` (default) or `production`.
    pub app_env: AppEnv,
    /// `HOST`.
    pub host: String,
    /// `PORT`.
    pub port: u16,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`: PostgreSQL pool size; on SQLite, the
    /// read-only connections for lists.
    pub database_max_connections: u32,
    /// `RUN_MIGRATIONS`.
    pub run_migrations: bool,
    /// `REDIS_URL`.
    pub redis_url: Option<String>,
    /// `JOBS_QUEUE`: name of the Redis job queue (distinct per environment
    /// sharing one Redis).
    pub jobs_queue: String,
    /// `SMTP_URL`.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`.
    pub mail_from: String,
    /// `JWT_SECRET` (random per start in development when unset).
    pub jwt_secret: Vec<u8>,
    /// Whether `jwt_secret` was generated because none was configured.
    pub jwt_secret_generated: bool,
    /// `ACCESS_TOKEN_TTL`.
    pub access_token_ttl: TimeDelta,
    /// `REFRESH_TOKEN_TTL`.
    pub refresh_token_ttl: TimeDelta,
    /// `UNVERIFIED_USER_TTL`.
    pub unverified_user_ttl: TimeDelta,
    /// `VERIFICATION_CODE_TTL`.
    pub verification_code_ttl: TimeDelta,
    /// `VERIFICATION_RESEND_COOLDOWN`.
    pub verification_resend_cooldown: TimeDelta,
    /// `CLEANUP_SCHEDULE`: when the cleanup of unverified accounts runs.
    pub cleanup_schedule: CleanupSchedule,
    /// `WORKER_CONCURRENCY`: jobs one `coffee-worker` runs at once.
    pub worker_concurrency: usize,
    /// `JOB_MAX_ATTEMPTS`: deliveries of a job in one round; then a failure
    /// that may pass goes back to the outbox for another round, and a
    /// permanent one is parked as dead.
    pub job_max_attempts: usize,
    /// `PASSWORD_HASH_QUEUE`: password hashes that may wait for a free CPU;
    /// past that, signup and login answer 503 `busy` at once.
    pub password_hash_queue: usize,
    /// `ADMIN_EMAIL` and `ADMIN_PASSWORD`.
    pub admin: Option<(String, String)>,
    /// `ADMIN_NOTIFY_EMAILS`: who gets the new-order mails (empty = every verified admin).
    pub admin_notify_emails: Vec<coffee_domain::user::Email>,
    /// `ORDER_MIN_LEAD_TIME`: how far ahead a scheduled pickup must be.
    pub order_min_lead_time: TimeDelta,
    /// `IDEMPOTENCY_KEY_TTL`: how long an `Idempotency-Key` and its answer are kept.
    pub idempotency_key_ttl: TimeDelta,
    /// `SHUTDOWN_DRAIN`: how long `coffee-api` keeps serving after readiness turns 503.
    pub shutdown_drain: std::time::Duration,
    /// `SEND_TIMEOUT`: how long data the API sent may stay unacknowledged
    /// by a client (one that stopped reading, or vanished) before the kernel
    /// aborts the connection; `None` (`0s`) leaves the kernel's default.
    pub send_timeout: Option<std::time::Duration>,
    /// `WS_PING_INTERVAL`: how often the server pings a WebSocket client (20 s).
    pub ws_ping_interval: std::time::Duration,
    /// `WS_IDLE_TIMEOUT`: a WebSocket client silent this long is dropped (60 s).
    pub ws_idle_timeout: std::time::Duration,
    /// `PUBLIC_BASE_URL`, without a trailing slash.
    pub public_base_url: String,
    /// `CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// `AUTH_RATE_LIMIT`: the budget of each auth route per client IP and
    /// per e-mail; `None` when `off`.
    pub auth_rate_limit: Option<coffee_domain::ratelimit::RatePolicy>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::TrustedProxies,
    /// `MEDIA_DIR`: where uploaded product images are stored.
    pub media_dir: std::path::PathBuf,
    /// `SHOP_INFO_FILE` (or the built-in sample), validated; the currency of
    /// every price is `shop.info.currency`.
    pub shop: std::sync::Arc<crate::shop::ShopConfig>,
    /// `METRICS_TOKEN`: the bearer token `GET /metrics` requires (`None`:
    /// public). Never logged; `Debug` only says whether it is set.
    pub metrics_token: Option<String>,
    /// `METRICS_PORT`: where `coffee-worker` serves `/metrics` (`None`: nowhere).
    pub metrics_port: Option<u16>,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("app_env", &self.app_env)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &redact_url(&self.database_url))
            .field("redis", &self.redis_url.as_deref().map(redact_url))
            .field("smtp", &self.smtp_url.as_deref().map(redact_url))
            .field("public_base_url", &self.public_base_url)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_port", &self.metrics_port)
            .finish_non_exhaustive()
    }
}

pub use checks::redact_url;
use checks::{check_log_filter, describe_dotenv_error};

type Vars = HashMap<String, String>;

fn get<'a>(vars: &'a Vars, name: &str) -> Option<&'a str> {
    vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// An error naming `variable`, on one line whatever the message's source
/// wrote (its line breaks become spaces; quoted values keep their spacing).
fn err(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable, message: message.into().lines().map(str::trim).collect::<Vec<_>>().join(" ") }
}

/// An integer setting within `range`; `default` when unset.
fn integer<T>(vars: &Vars, name: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match get(vars, name) {
        None => Ok(default),
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| err(name, format!("must be an integer from {} to {}", range.start(), range.end()))),
    }
}

fn duration(vars: &Vars, name: &'static str, default: &str) -> Result<TimeDelta, ConfigError> {
    let raw = get(vars, name).unwrap_or(default);
    let parsed: Duration =
        humantime::parse_duration(raw).map_err(|e| err(name, format!("{e} (expected e.g. 15m, 24h, 30d)")))?;
    // Added to "now" at run time (token expiries, purge cut-offs): beyond
    // what a date can hold, that would panic later instead of failing here.
    let delta = TimeDelta::from_std(parsed)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| err(name, "is too long (at most 100 years)"))?;
    if delta <= TimeDelta::zero() {
        return Err(err(name, "must be longer than zero"));
    }
    Ok(delta)
}

/// The longest duration setting: far beyond any sensible one, far within
/// what dates hold.
const MAX_DURATION: TimeDelta = TimeDelta::days(36_525);

fn std_duration(vars: &Vars, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
    duration(vars, name, default)?.to_std().map_err(|_| err(name, "must be longer than zero"))
}

/// A duration that may be zero (`0s`).
fn std_duration_or_zero(vars: &Vars, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
    let raw = get(vars, name).unwrap_or(default);
    humantime::parse_duration(raw).map_err(|e| err(name, format!("{e} (expected e.g. 0s, 5s, 1m)")))
}

fn boolean(vars: &Vars, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(vars, name).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(err(name, format!("{other:?} is not a boolean (true/false)"))),
    }
}

/// `PUBLIC_BASE_URL` when unset: where a browser on this machine reaches
/// the API (`http://localhost:<PORT>`, or the bound address when `HOST` names
/// one that is neither a wildcard nor loopback). Production sets it.
fn local_base_url(host: &str, port: u16) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() || ip.is_loopback() => format!("http://localhost:{port}"),
        Ok(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]:{port}"),
        _ if host.eq_ignore_ascii_case("localhost") => format!("http://localhost:{port}"),
        _ => format!("http://{host}:{port}"),
    }
}

impl Config {
    /// A warning for the start-up log when `PUBLIC_BASE_URL` names this
    /// machine (a loopback host) on another port than `PORT`: the links in
    /// mails and the image URLs would then miss this server unless a local
    /// proxy listens there.
    pub fn public_base_url_warning(&self) -> Option<String> {
        let url = url::Url::parse(&self.public_base_url).ok()?;
        let loopback = match url.host()? {
            url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        let port = url.port_or_known_default()?;
        (loopback && port != self.port).then(|| {
            format!(
                "PUBLIC_BASE_URL ({}) points at this machine on port {port}, but coffee-api listens on {}: \
                 verification links and image URLs will not reach it (unset PUBLIC_BASE_URL or fix the port)",
                self.public_base_url, self.port
            )
        })
    }
}

impl Config {
    /// A warning for the start-up log when `APP_ENV=production` runs with a
    /// `JWT_SECRET` that says it is a placeholder (`change-me`,
    /// `insecure`), such as compose's default, which is published with the
    /// code: anyone who read it can sign tokens. Not refused, so that the
    /// stack still starts without a `.env` file (README, "Settings").
    pub fn jwt_secret_warning(&self) -> Option<&'static str> {
        let secret = String::from_utf8_lossy(&self.jwt_secret).to_ascii_lowercase();
        let placeholder = ["change-me", "changeme", "change_me", "insecure"].iter().any(|w| secret.contains(w));
        (self.app_env == AppEnv::Production && placeholder).then_some(
            "JWT_SECRET is a placeholder (it says change-me or insecure) while APP_ENV=production: \
             anyone who has read it can sign tokens. Set JWT_SECRET to your own (openssl rand -hex 32)",
        )
    }
}

fn url_with(vars: &Vars, name: &'static str, schemes: &[&str]) -> Result<Option<String>, ConfigError> {
    let Some(raw) = get(vars, name) else { return Ok(None) };
    let parsed = url::Url::parse(raw).map_err(|e| err(name, format!("not a URL: {e}")))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(err(name, format!("scheme must be one of: {}", schemes.join(", "))));
    }
    Ok(Some(raw.to_owned()))
}

/// `PUBLIC_BASE_URL` (already a URL): links and image URLs are made by
/// appending paths to it, so it may end in a path prefix but holds no
/// query, fragment or credentials (which would end up in every product and
/// every mail).
fn base_url(raw: String) -> Result<String, ConfigError> {
    let url = url::Url::parse(&raw).map_err(|e| err("PUBLIC_BASE_URL", format!("not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(err(
            "PUBLIC_BASE_URL",
            format!("{raw:?} must be scheme://host[:port][/path], without a query, fragment or credentials"),
        ));
    }
    Ok(raw)
}

/// One browser origin of `CORS_ORIGINS` (`https://shop.example`,
/// `http://localhost:5173`), in the form browsers send in `Origin`.
fn origin(raw: &str) -> Result<String, ConfigError> {
    let refuse = || {
        err(
            "CORS_ORIGINS",
            format!(
                "{raw:?} is not an origin such as https://shop.example (scheme, host, optional port; no wildcard or path)"
            ),
        )
    };
    let url = url::Url::parse(raw).map_err(|_| refuse())?;
    let bare = !raw.contains('*')
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !["http", "https"].contains(&url.scheme()) || url.host().is_none() || !bare {
        return Err(refuse());
    }
    Ok(url.origin().ascii_serialization())
}

impl Config {
    /// Reads `.env` (if present) and then the process environment.
    ///
    /// # Errors
    /// The first variable that is malformed or missing.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is not silently ignored.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            return Err(err("DOTENV", format!(".env could not be read: {}", describe_dotenv_error(&e))));
        }
        Self::from_vars(std::env::vars().collect())
    }

    /// Builds the configuration from explicit variables (used by tests).
    ///
    /// # Errors
    /// The first variable that is malformed or missing.
    pub fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        let app_env = match get(&vars, "APP_ENV").unwrap_or("development") {
            "development" | "dev" | "test" => AppEnv::Development,
            "production" | "prod" => AppEnv::Production,
            other => return Err(err("APP_ENV", format!("{other:?} is not development or production"))),
        };
        let port = match get(&vars, "PORT") {
            None => 8080,
            Some(p) => p.parse().map_err(|_| err("PORT", format!("{p:?} is not a port number")))?,
        };
        let database_url = url_with(&vars, "DATABASE_URL", &["postgres", "postgresql", "sqlite"])?
            .unwrap_or_else(|| "sqlite://coffee.db?mode=rwc".to_owned());
        let database_max_connections = integer(&vars, "DATABASE_MAX_CONNECTIONS", 10, 1..=1000)?;
        let (jwt_secret, jwt_secret_generated) = match get(&vars, "JWT_SECRET") {
            Some(s) if s.len() >= 32 => (s.as_bytes().to_vec(), false),
            Some(_) => return Err(err("JWT_SECRET", "must be at least 32 bytes")),
            None if app_env == AppEnv::Production => {
                return Err(err("JWT_SECRET", "is required when APP_ENV=production (at least 32 bytes)"));
            }
            None => (rand::random::<[u8; 32]>().to_vec(), true),
        };
        let admin = match (get(&vars, "ADMIN_EMAIL"), get(&vars, "ADMIN_PASSWORD")) {
            (Some(e), Some(p)) => {
                // Checked here, before anything is created, as signup would check them.
                let user =
                    coffee_domain::user::Email::parse("ADMIN_EMAIL", e).map_err(|e| err("ADMIN_EMAIL", e.message))?;
                coffee_domain::user::Password::parse("ADMIN_PASSWORD", p)
                    .map_err(|e| err("ADMIN_PASSWORD", e.message))?;
                Some((user.as_str().to_owned(), p.to_owned()))
            }
            (None, None) => None,
            (Some(_), None) => return Err(err("ADMIN_PASSWORD", "is required when ADMIN_EMAIL is set")),
            (None, Some(_)) => return Err(err("ADMIN_EMAIL", "is required when ADMIN_PASSWORD is set")),
        };
        let host = get(&vars, "HOST").unwrap_or("127.0.0.1");
        // An IPv6 address may come in brackets, as in a URL.
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).to_owned();
        if !host.eq_ignore_ascii_case("localhost") && host.parse::<std::net::IpAddr>().is_err() {
            return Err(err(
                "HOST",
                format!("{host:?} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) or localhost"),
            ));
        }
        let public_base_url = url_with(&vars, "PUBLIC_BASE_URL", &["http", "https"])?
            .map(base_url)
            .transpose()?
            .unwrap_or_else(|| local_base_url(&host, port))
            .trim_end_matches('/')
            .to_owned();
        let cors_origins = match get(&vars, "CORS_ORIGINS") {
            None => Vec::new(),
            Some(list) => {
                list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(origin).collect::<Result<_, _>>()?
            }
        };
        let cleanup_schedule = CleanupSchedule::parse(get(&vars, "CLEANUP_SCHEDULE").unwrap_or("0 0 * * * *"))
            .map_err(|e| err("CLEANUP_SCHEDULE", e))?;
        let worker_concurrency = integer(&vars, "WORKER_CONCURRENCY", 8, 1..=256)?;
        let job_max_attempts = integer(&vars, "JOB_MAX_ATTEMPTS", coffee_jobs::MAX_DELIVERY_ATTEMPTS, 1..=25)?;
        let password_hash_queue = integer(&vars, "PASSWORD_HASH_QUEUE", 64, 0..=100_000)?;
        let admin_notify_emails = match get(&vars, "ADMIN_NOTIFY_EMAILS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| coffee_domain::user::Email::parse("ADMIN_NOTIFY_EMAILS", e))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("ADMIN_NOTIFY_EMAILS", format!("{}: a comma list of e-mail addresses", e.message)))?
                .into_iter()
                // One mail per mailbox however often (or in whichever case) it is listed.
                .fold(Vec::new(), |mut unique, e| {
                    if !unique.contains(&e) {
                        unique.push(e);
                    }
                    unique
                }),
        };
        let order_min_lead_time = duration(&vars, "ORDER_MIN_LEAD_TIME", "10m")?;
        let horizon = coffee_domain::order::PickupSettings::default().max_ahead;
        if order_min_lead_time >= horizon {
            return Err(err(
                "ORDER_MIN_LEAD_TIME",
                format!("must be shorter than the {} days a pickup may be booked ahead", horizon.num_days()),
            ));
        }
        let idempotency_key_ttl = duration(&vars, "IDEMPOTENCY_KEY_TTL", "24h")?;
        if idempotency_key_ttl < crate::services::IDEMPOTENCY_LEASE {
            // A key would expire while its first request still holds it, and a
            // repeat would then place a second order.
            return Err(err(
                "IDEMPOTENCY_KEY_TTL",
                format!(
                    "must be at least {}s, the time a request holds its key",
                    crate::services::IDEMPOTENCY_LEASE.num_seconds()
                ),
            ));
        }
        let auth_rate_limit =
            coffee_domain::ratelimit::RatePolicy::parse(get(&vars, "AUTH_RATE_LIMIT").unwrap_or("10/min"))
                .map_err(|e| err("AUTH_RATE_LIMIT", e.to_string()))?;
        let trusted_proxies = crate::TrustedProxies::parse(get(&vars, "TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|e| err("TRUSTED_PROXIES", e.to_string()))?;
        let metrics_token = match get(&vars, "METRICS_TOKEN") {
            Some(t) if t.len() > 1024 || !t.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(err("METRICS_TOKEN", "must be printable ASCII without spaces, at most 1024 characters"));
            }
            t => t.map(str::to_owned),
        };
        let metrics_port = match get(&vars, "METRICS_PORT") {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| err("METRICS_PORT", format!("{p:?} is not a port number")))?,
            ),
        };
        let mail_from = get(&vars, "MAIL_FROM").unwrap_or("Coffee Shop <no-reply@coffee.local>");
        if let Err(coffee_mail::MailConfigError::MailFrom(why)) = coffee_mail::parse_mail_from(mail_from) {
            return Err(err("MAIL_FROM", why));
        }
        let send_timeout = match std_duration_or_zero(&vars, "SEND_TIMEOUT", "60s")? {
            Duration::ZERO => None,
            short if short < Duration::from_secs(1) => {
                return Err(err("SEND_TIMEOUT", format!("{short:?} is too short: 0s (off) or at least 1s")));
            }
            timeout => Some(timeout),
        };
        let ws_ping_interval = std_duration(&vars, "WS_PING_INTERVAL", "20s")?;
        let ws_idle_timeout = std_duration(&vars, "WS_IDLE_TIMEOUT", "60s")?;
        if ws_idle_timeout <= ws_ping_interval {
            // A client must have had a ping to answer before it counts as silent.
            return Err(err("WS_IDLE_TIMEOUT", "must be longer than WS_PING_INTERVAL (clients answer the pings)"));
        }
        let log_filter = get(&vars, "RUST_LOG").unwrap_or("info").to_owned();
        check_log_filter(&log_filter).map_err(|message| err("RUST_LOG", message))?;
        let log_format = match get(&vars, "LOG_FORMAT").unwrap_or("pretty") {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => return Err(err("LOG_FORMAT", format!("{other:?} is not pretty or json"))),
        };
        Ok(Self {
            app_env,
            host,
            port,
            database_url,
            database_max_connections,
            run_migrations: boolean(&vars, "RUN_MIGRATIONS", true)?,
            redis_url: url_with(&vars, "REDIS_URL", &["redis", "rediss"])?,
            jobs_queue: get(&vars, "JOBS_QUEUE").unwrap_or(coffee_jobs::JOB_QUEUE).to_owned(),
            smtp_url: url_with(&vars, "SMTP_URL", &["smtp", "smtps"])?,
            mail_from: mail_from.to_owned(),
            jwt_secret,
            jwt_secret_generated,
            access_token_ttl: duration(&vars, "ACCESS_TOKEN_TTL", "15m")?,
            refresh_token_ttl: duration(&vars, "REFRESH_TOKEN_TTL", "30d")?,
            unverified_user_ttl: duration(&vars, "UNVERIFIED_USER_TTL", "48h")?,
            verification_code_ttl: duration(&vars, "VERIFICATION_CODE_TTL", "24h")?,
            verification_resend_cooldown: duration(&vars, "VERIFICATION_RESEND_COOLDOWN", "60s")?,
            cleanup_schedule,
            worker_concurrency,
            job_max_attempts,
            password_hash_queue,
            admin,
            admin_notify_emails,
            order_min_lead_time,
            idempotency_key_ttl,
            shutdown_drain: std_duration_or_zero(&vars, "SHUTDOWN_DRAIN", "5s")?,
            send_timeout,
            ws_ping_interval,
            ws_idle_timeout,
            public_base_url,
            cors_origins,
            auth_rate_limit,
            trusted_proxies,
            media_dir: get(&vars, "MEDIA_DIR").unwrap_or("./media").into(),
            shop: std::sync::Arc::new(crate::shop::ShopConfig::load(get(&vars, "SHOP_INFO_FILE"))?),
            metrics_token,
            metrics_port,
            log_filter,
            log_format,
        })
    }
}

mod checks;
#[cfg(test)]
mod tests;
