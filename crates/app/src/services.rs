//! The composition root: picks an adapter for every port from the configuration.

use std::sync::Arc;
use std::time::Duration;

use coffee_crypto::{Argon2Hasher, JwtCodec, RandomSecrets};
use coffee_domain::auth::{AuthPorts, AuthService, AuthSettings};
use coffee_domain::clock::{Clock, SystemClock};
use coffee_domain::mail::Mailer;
use coffee_domain::user::{Email, Password, UserService};
use coffee_jobs::{InProcessQueue, JobHandler, QueueWorker};
use coffee_mail::{LogMailer, SmtpMailer};
use coffee_storage::{DbSettings, SeaSessionRepository, SeaUserRepository};
use tokio::sync::Mutex;

use crate::config::{Config, redact_url};

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

/// Everything a binary needs: the configured use-case services and the
/// handles to shut background work down.
pub struct Services {
    /// The configuration they were built from.
    pub config: Config,
    /// The database pool.
    pub db: coffee_storage::Db,
    /// Authentication use cases.
    pub auth: Arc<AuthService>,
    /// User management use cases.
    pub users: Arc<UserService>,
    redis: Option<redis::Client>,
    worker: Mutex<Option<QueueWorker>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Services {
    /// Connects to the database (migrating it unless disabled), builds every
    /// adapter and service, and creates the bootstrap admin if configured.
    ///
    /// # Errors
    /// A dependency is unreachable or a setting is unusable.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        if config.jwt_secret_generated {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret for this run. Tokens stop working on restart \
                 and differ between replicas. Set JWT_SECRET (at least 32 bytes) outside local development."
            );
        }
        let db = coffee_storage::connect(&DbSettings {
            url: config.database_url.clone(),
            max_connections: config.database_max_connections,
            acquire_timeout: Duration::from_secs(5),
        })
        .await
        .map_err(|e| StartError::Database(format!("cannot connect to {}: {e}", redact_url(&config.database_url))))?;
        if config.run_migrations {
            coffee_storage::migrate(&db).await.map_err(|e| StartError::Database(format!("migration failed: {e}")))?;
        }

        let mailer: Arc<dyn Mailer> = match &config.smtp_url {
            Some(url) => {
                Arc::new(SmtpMailer::new(url, &config.mail_from).map_err(|e| StartError::Config(e.to_string()))?)
            }
            None => {
                tracing::info!("SMTP_URL is not set: e-mails are written to the log");
                Arc::new(LogMailer::new())
            }
        };
        // SIMPLIFICATION: jobs always run in-process for now; the worker
        // issue adds the Redis queue used when REDIS_URL is set.
        let (queue, worker) = InProcessQueue::start(Arc::new(JobHandler::new(mailer)), 1024, 8);

        let redis = match &config.redis_url {
            Some(url) => {
                Some(redis::Client::open(url.as_str()).map_err(|e| StartError::Config(format!("REDIS_URL: {e}")))?)
            }
            None => None,
        };

        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let users = Arc::new(SeaUserRepository::new(db.clone()));
        // Building the hasher computes its dummy hash: CPU work, kept off the executor.
        let hasher = tokio::task::spawn_blocking(Argon2Hasher::owasp)
            .await
            .map_err(|e| StartError::Other(e.to_string()))?
            .map_err(|e| StartError::Other(e.to_string()))?;
        let auth = AuthService::new(
            AuthPorts {
                users: users.clone(),
                sessions: Arc::new(SeaSessionRepository::new(db.clone())),
                hasher: Arc::new(hasher),
                tokens: Arc::new(JwtCodec::new(&config.jwt_secret)),
                secrets: Arc::new(RandomSecrets),
                jobs: Arc::new(queue),
                clock: clock.clone(),
            },
            AuthSettings {
                access_ttl: config.access_token_ttl,
                refresh_ttl: config.refresh_token_ttl,
                code_ttl: config.verification_code_ttl,
                resend_cooldown: config.verification_resend_cooldown,
                public_base_url: config.public_base_url.clone(),
            },
        );
        let services = Self {
            auth: Arc::new(auth),
            users: Arc::new(UserService::new(users, clock)),
            db,
            redis,
            worker: Mutex::new(Some(worker)),
            config,
        };
        services.bootstrap_admin().await?;
        Ok(services)
    }

    async fn bootstrap_admin(&self) -> Result<(), StartError> {
        let Some((email, password)) = &self.config.admin else { return Ok(()) };
        let email = Email::parse("ADMIN_EMAIL", email).map_err(|e| StartError::Config(e.to_string()))?;
        let password = Password::parse("ADMIN_PASSWORD", password).map_err(|e| StartError::Config(e.to_string()))?;
        let created =
            self.auth.ensure_admin(email.clone(), password).await.map_err(|e| StartError::Other(e.to_string()))?;
        if created {
            tracing::info!(%email, "created the bootstrap admin");
        } else {
            tracing::info!(%email, "bootstrap admin: an account with this e-mail exists; left unchanged");
        }
        Ok(())
    }

    /// Pings the database and, when configured, Redis (each bounded to 2 s).
    pub async fn readiness(&self) -> Readiness {
        let limit = Duration::from_secs(2);
        let database = tokio::time::timeout(limit, coffee_storage::ping(&self.db)).await.unwrap_or(false);
        let redis = match &self.redis {
            None => None,
            Some(client) => Some(tokio::time::timeout(limit, ping_redis(client)).await.unwrap_or(false)),
        };
        Readiness { database, redis }
    }

    /// Stops taking background work and waits (up to `grace`) for jobs in flight.
    pub async fn shutdown(&self, grace: Duration) {
        if let Some(worker) = self.worker.lock().await.take()
            && tokio::time::timeout(grace, worker.shutdown()).await.is_err()
        {
            tracing::warn!("background jobs did not finish within {grace:?}");
        }
        if let Err(e) = self.db.clone().close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
    }
}

async fn ping_redis(client: &redis::Client) -> bool {
    match client.get_multiplexed_async_connection().await {
        Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
        Err(_) => false,
    }
}
