//! The composition root: picks an adapter for every port from the configuration.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use coffee_crypto::{Argon2Hasher, JwtCodec, RandomSecrets};
use coffee_domain::access::Access;
use coffee_domain::auth::{AuthPorts, AuthService, AuthSettings};
use coffee_domain::cart::CartService;
use coffee_domain::catalog::CatalogService;
use coffee_domain::clock::{Clock, SystemClock};
use coffee_domain::error::error_chain;
use coffee_domain::jobs::JobQueue;
use coffee_domain::mail::Mailer;
use coffee_domain::maintenance::{CleanupService, CleanupSettings};
use coffee_domain::order::{OrderPorts, OrderService, OrderSettings, PickupSettings, Recipients};
use coffee_domain::outbox::OutboxRelay;
use coffee_domain::ratelimit::RateLimiter;
use coffee_domain::shop::Shop;
use coffee_domain::support::{SupportPorts, SupportService};
use coffee_domain::user::{Email, Password, UserService};
use coffee_jobs::{InlineQueue, JobHandler, RedisQueue};
use coffee_mail::{LogMailer, SmtpMailer};
use coffee_media::FsImageStore;
use coffee_storage::{
    DbSettings, SeaCartRepository, SeaCatalogRepository, SeaConversationRepository, SeaIdempotencyStore,
    SeaMaintenanceRepository, SeaOrderRepository, SeaOutboxRepository, SeaSessionRepository, SeaUnitOfWork,
    SeaUserRepository,
};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, redact_url};
use crate::lifecycle::Lifecycle;
use crate::live::Live;
use crate::metrics::{Metrics, Sample};

/// Why the application could not start. Displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting was rejected by the adapter that uses it.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(String),
    /// Anything else during start-up.
    #[error("{0}")]
    Other(String),
}

/// Which dependencies answer right now.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    /// The database answers.
    pub database: bool,
    /// Redis answers (`None` when not configured).
    pub redis: Option<bool>,
}

/// Which binary the services are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `coffee-api`: migrates (unless disabled) and bootstraps the admin.
    Api,
    /// `coffee-worker`: consumes the Redis queue; touches no schema.
    Worker,
}

/// How long an `Idempotency-Key` stays "in flight" before a request that
/// died (its replica crashed) is given up and the key may be used again.
pub(crate) const IDEMPOTENCY_LEASE: TimeDelta = TimeDelta::seconds(30);

/// How often the outbox relay looks for new entries.
const RELAY_INTERVAL: Duration = Duration::from_millis(250);

/// Everything a binary needs: the configured use-case services and the
/// background work (outbox relay, cleanup schedule, job consumer).
pub struct Services {
    /// The configuration they were built from.
    pub config: Config,
    db: coffee_storage::Pools,
    /// How many threads serve HTTP (`coffee-api`): one database pool each.
    pub http_workers: usize,
    /// Who may do what: turns token claims into capabilities.
    pub access: Arc<Access>,
    /// Authentication use cases.
    pub auth: Arc<AuthService>,
    /// User management use cases.
    pub users: Arc<UserService>,
    /// Menu use cases.
    pub catalog: Arc<CatalogService>,
    /// Cart use cases.
    pub carts: Arc<CartService>,
    /// Order use cases.
    pub orders: Arc<OrderService>,
    /// Support chat use cases.
    pub support: Arc<SupportService>,
    /// Live delivery: fan-out, tickets, socket slots.
    pub live: Live,
    /// Draining and stopping (API).
    pub lifecycle: Lifecycle,
    /// The shop: its information and calendar.
    pub shop: Arc<Shop>,
    /// Budgets of the auth routes: in Redis (shared by every replica) or in memory.
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// The scheduled cleanup.
    pub cleanup: Arc<CleanupService>,
    /// Moves outbox entries to the job queue.
    pub relay: Arc<OutboxRelay>,
    /// Runs jobs (used by the Redis consumer).
    pub handler: Arc<JobHandler>,
    /// This process's metrics (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    redis_queue: Option<RedisQueue>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Services {
    /// Connects to the database, builds every adapter and service and, for
    /// the API, migrates the database (unless disabled) and creates the
    /// bootstrap admin if configured. Background work starts separately
    /// ([`Self::spawn_api_background`], [`Self::run_worker`]).
    ///
    /// # Errors
    /// A dependency is unreachable or a setting is unusable.
    pub async fn start(config: Config, process: Process) -> Result<Self, StartError> {
        if config.jwt_secret_generated && process == Process::Api {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret for this run. Tokens stop working on restart \
                 and differ between replicas. Set JWT_SECRET (at least 32 bytes) outside local development."
            );
        }
        let http_workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        // A pool per HTTP worker thread, and one for this (the main) thread's
        // background work; the worker binary's runtime moves tasks between
        // threads, so it keeps one pool.
        let pool_threads = if process == Process::Api { http_workers + 1 } else { 1 };
        let settings = DbSettings {
            url: config.database_url.clone(),
            max_connections: config.database_max_connections,
            acquire_timeout: Duration::from_secs(5),
        };
        let db = coffee_storage::connect_per_thread(&settings, pool_threads).await.map_err(|e| {
            StartError::Database(format!("cannot connect to {}: {e}", redact_url(&config.database_url)))
        })?;
        if process == Process::Api && config.run_migrations {
            migrate_with_retry(&db).await?;
        }

        let mailer: Arc<dyn Mailer> = match &config.smtp_url {
            Some(url) => {
                Arc::new(SmtpMailer::new(url, &config.mail_from).map_err(|e| StartError::Config(error_chain(&e)))?)
            }
            None => {
                tracing::info!("SMTP_URL is not set: e-mails are written to the log");
                Arc::new(LogMailer::new())
            }
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let outbox: Arc<dyn coffee_domain::outbox::OutboxRepository> = Arc::new(SeaOutboxRepository::new(db.clone()));
        let handler = Arc::new(JobHandler::with_ledger(mailer, outbox.clone(), clock.clone()));
        let redis_queue = match &config.redis_url {
            Some(url) => {
                Some(RedisQueue::new(url, &config.jobs_queue).map_err(|e| StartError::Config(error_chain(&e)))?)
            }
            None => None,
        };
        // With Redis the relay hands jobs to coffee-worker; without, it runs them itself.
        let queue: Arc<dyn JobQueue> = match &redis_queue {
            Some(q) => Arc::new(q.clone()),
            None => Arc::new(InlineQueue::new(handler.clone())),
        };

        let live = Live::build(&config, process)?;
        let users = Arc::new(SeaUserRepository::new(db.clone()));
        let uow = Arc::new(SeaUnitOfWork::new(db.clone()));
        let hasher = Argon2Hasher::owasp()
            .map_err(|e| StartError::Other(error_chain(&e)))?
            .with_queue_limit(config.password_hash_queue);
        if process == Process::Api {
            // The dummy hash for unknown e-mails, computed now (off the executor)
            // rather than in the first login; the worker never checks passwords.
            hasher.warm_up().await.map_err(|e| StartError::Other(error_chain(&e)))?;
        }
        let sessions = Arc::new(SeaSessionRepository::new(db.clone()));
        let secrets = Arc::new(RandomSecrets);
        let auth = AuthService::new(
            AuthPorts {
                users: users.clone(),
                sessions: sessions.clone(),
                uow: uow.clone(),
                hasher: Arc::new(hasher),
                tokens: Arc::new(JwtCodec::new(&config.jwt_secret)),
                secrets: secrets.clone(),
                clock: clock.clone(),
                live: live.feed(),
            },
            AuthSettings {
                access_ttl: config.access_token_ttl,
                refresh_ttl: config.refresh_token_ttl,
                code_ttl: config.verification_code_ttl,
                resend_cooldown: config.verification_resend_cooldown,
                public_base_url: config.public_base_url.clone(),
            },
        );
        let images = FsImageStore::new(&config.media_dir).map_err(|e| StartError::Config(error_chain(&e)))?;
        let catalog_repo = Arc::new(SeaCatalogRepository::new(db.clone()));
        let catalog = CatalogService::new(catalog_repo.clone(), Arc::new(images), clock.clone());
        let shop = Arc::new(Shop::new(config.shop.info.clone(), config.shop.time_zone(), clock.clone()));
        let carts = CartService::new(Arc::new(SeaCartRepository::new(db.clone())), catalog_repo, clock.clone());
        let orders = OrderService::new(
            OrderPorts {
                orders: Arc::new(SeaOrderRepository::new(db.clone())),
                idempotency: Arc::new(SeaIdempotencyStore::new(db.clone())),
                uow,
                shop: shop.clone(),
                clock: clock.clone(),
                live: live.feed(),
            },
            OrderSettings {
                pickup: PickupSettings { min_lead: config.order_min_lead_time, ..PickupSettings::default() },
                idempotency_ttl: config.idempotency_key_ttl,
                idempotency_lease: IDEMPOTENCY_LEASE,
                notify: if config.admin_notify_emails.is_empty() {
                    Recipients::Admins
                } else {
                    Recipients::Listed(config.admin_notify_emails.clone())
                },
            },
        );
        let support = SupportService::new(SupportPorts {
            conversations: Arc::new(SeaConversationRepository::new(db.clone())),
            live: live.feed(),
            tickets: live.tickets.clone(),
            secrets,
            clock: clock.clone(),
        });
        let relay = OutboxRelay::new(outbox, queue, clock.clone());
        let cleanup = CleanupService::new(
            Arc::new(SeaMaintenanceRepository::new(db.clone())),
            clock.clone(),
            CleanupSettings {
                unverified_user_ttl: config.unverified_user_ttl,
                outbox_retention: TimeDelta::days(7),
                batch_size: 1000,
            },
        );
        let rate_limiter: Arc<dyn RateLimiter> = match &config.redis_url {
            Some(url) => Arc::new(
                coffee_ratelimit::RedisRateLimiter::new(url, &format!("{}:ratelimit:", config.jobs_queue))
                    .map_err(|e| StartError::Config(error_chain(&e)))?,
            ),
            None => Arc::new(coffee_ratelimit::MemoryRateLimiter::new()),
        };
        let services = Self {
            rate_limiter,
            access: Arc::new(Access::new(users.clone())),
            auth: Arc::new(auth),
            users: Arc::new(UserService::new(users, sessions, clock, live.feed())),
            catalog: Arc::new(catalog),
            carts: Arc::new(carts),
            orders: Arc::new(orders),
            support: Arc::new(support),
            live,
            lifecycle: Lifecycle::default(),
            shop,
            cleanup: Arc::new(cleanup),
            relay: Arc::new(relay),
            handler,
            metrics: Arc::new(Metrics::new(config.metrics_token.as_deref(), pool_threads)),
            db,
            http_workers,
            redis_queue,
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            config,
        };
        if process == Process::Api {
            services.bootstrap_admin().await?;
        }
        Ok(services)
    }

    async fn bootstrap_admin(&self) -> Result<(), StartError> {
        let Some((email, password)) = &self.config.admin else { return Ok(()) };
        let email = Email::parse("ADMIN_EMAIL", email).map_err(|e| StartError::Config(e.to_string()))?;
        let password = Password::parse("ADMIN_PASSWORD", password).map_err(|e| StartError::Config(e.to_string()))?;
        let created =
            self.auth.ensure_admin(email.clone(), password).await.map_err(|e| StartError::Other(error_chain(&e)))?;
        if created {
            tracing::info!(%email, "created the bootstrap admin");
        } else {
            tracing::info!(%email, "bootstrap admin: an account with this e-mail exists; left unchanged");
        }
        Ok(())
    }

    /// Pings the database and, when configured, Redis, together (each
    /// bounded to 2 s). Redis is pinged over the job queue's connection: a
    /// probe, which anyone may send, opens no connection of its own.
    pub async fn readiness(&self) -> Readiness {
        let limit = Duration::from_secs(2);
        let database =
            async { tokio::time::timeout(limit, self.db.ping()).await.is_ok_and(|answered| answered.is_ok()) };
        let redis = async {
            match &self.redis_queue {
                None => None,
                Some(queue) => {
                    Some(tokio::time::timeout(limit, queue.ping()).await.is_ok_and(|answered| answered.is_ok()))
                }
            }
        };
        let (database, redis) = tokio::join!(database, redis);
        Readiness { database, redis }
    }

    /// How this process answered the menu's list totals (for the API's
    /// metrics: the worker lists nothing).
    pub fn list_totals(&self) -> coffee_storage::TotalsStats {
        coffee_storage::totals_stats(&self.db)
    }

    /// Reads the states the metrics report (pool, outbox backlog, queue
    /// depth), each bounded to 2 s; one that cannot be read is left out.
    pub async fn sample(&self) -> Sample {
        let limit = Duration::from_secs(2);
        let outbox = SeaOutboxRepository::new(self.db.clone());
        let backlog = bounded_read("the outbox backlog", limit, outbox.backlog());
        let parked = bounded_read("the parked outbox entries", limit, outbox.parked());
        let jobs = async {
            let queue = self.redis_queue.as_ref()?;
            bounded_read("the queue depth", limit, queue.depth()).await
        };
        let (outbox_backlog, outbox_parked, jobs) = tokio::join!(backlog, parked, jobs);
        Sample {
            pool: coffee_storage::pool_stats(&self.db),
            outbox_backlog,
            outbox_parked,
            jobs,
            open_websockets: None,
            list_totals: None,
            page_json: None,
        }
    }

    /// Starts the API's background work: the outbox relay and, in the
    /// embedded profile (no Redis, so no `coffee-worker`), the cleanup schedule.
    pub async fn spawn_api_background(&self) {
        let mut tasks = self.tasks.lock().await;
        tasks.push(tokio::spawn(coffee_jobs::run_relay(self.relay.clone(), RELAY_INTERVAL, self.shutdown.clone())));
        if self.redis_queue.is_none() {
            tasks.push(tokio::spawn(coffee_jobs::run_cleanup_schedule(
                self.config.cleanup_schedule.clone(),
                self.cleanup.clone(),
                None,
                self.shutdown.clone(),
            )));
        }
    }

    /// Runs `coffee-worker`'s work until [`Self::shutdown_token`] is
    /// cancelled: the Redis job consumer, the cleanup schedule and the outbox
    /// relay (which also picks up entries an API replica could not hand over).
    ///
    /// # Errors
    /// `REDIS_URL` is not configured.
    pub async fn run_worker(&self) -> Result<(), StartError> {
        let Some(queue) = &self.redis_queue else {
            return Err(StartError::Config("REDIS_URL: is required by coffee-worker".to_owned()));
        };
        tokio::join!(
            coffee_jobs::run_consumer(
                queue.storage(),
                self.handler.clone(),
                self.config.worker_concurrency,
                self.config.job_max_attempts,
                self.shutdown.clone()
            ),
            coffee_jobs::run_cleanup_schedule(
                self.config.cleanup_schedule.clone(),
                self.cleanup.clone(),
                Some(queue.storage()),
                self.shutdown.clone()
            ),
            coffee_jobs::run_relay(self.relay.clone(), RELAY_INTERVAL, self.shutdown.clone()),
        );
        Ok(())
    }

    /// Cancelling this token stops every background loop.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops background work, waits (up to `grace`) for what is in flight,
    /// and closes the database pool (up to 5 s more: a connection still
    /// held by work that outlived its grace is not waited for).
    pub async fn shutdown(&self, grace: Duration) {
        const CLOSE_WITHIN: Duration = Duration::from_secs(5);
        self.shutdown.cancel();
        let tasks: Vec<_> = self.tasks.lock().await.drain(..).collect();
        let background = async {
            self.live.shutdown().await;
            futures_join_all(tasks).await;
        };
        if tokio::time::timeout(grace, background).await.is_err() {
            tracing::warn!("background work did not finish within {grace:?}");
        }
        match tokio::time::timeout(CLOSE_WITHIN, self.db.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "closing the database pool failed"),
            Err(_) => tracing::warn!("the database pool did not close within {CLOSE_WITHIN:?}; exiting anyway"),
        }
    }
}

async fn futures_join_all(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "a background task panicked");
        }
    }
}

/// Applies pending migrations. Replicas started together on an empty
/// database race to migrate; the losers fail on "already exists", wait, and
/// find nothing left to do on the next try.
async fn migrate_with_retry(db: &coffee_storage::Pools) -> Result<(), StartError> {
    let mut attempt = 1;
    loop {
        match coffee_storage::migrate(db.current()).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 => {
                tracing::warn!(attempt, error = %e, "migration failed (another replica migrating?); retrying");
                tokio::time::sleep(Duration::from_secs(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(StartError::Database(format!("migration failed: {e}"))),
        }
    }
}

/// A state for the metrics, read within `limit`; `None` (and a warning
/// when the read failed rather than timed out) when it cannot be read.
async fn bounded_read<T, E: std::error::Error + 'static>(
    what: &str,
    limit: Duration,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::warn!(error = %error_chain(&e), "metrics: {what} could not be read");
            None
        }
        Err(_) => None,
    }
}
