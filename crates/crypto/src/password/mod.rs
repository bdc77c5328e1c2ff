//! Argon2id password hashing on the blocking pool, with bounded concurrency,
//! a bounded queue and pooled working memory.

mod pool;

use std::fmt::Display;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::security::PasswordHasher;
use coffee_domain::user::Password;
use tokio::sync::{OnceCell, Semaphore, TryAcquireError};

use self::pool::{Lease, MemoryPool, RELEASE_AFTER};

/// Hashes that may wait for a permit when [`Argon2Hasher::with_queue_limit`] is not called.
pub const DEFAULT_QUEUE_LIMIT: usize = 64;

/// Bytes of random salt in new hashes (the PHC recommendation).
const SALT_LEN: usize = Salt::RECOMMENDED_LENGTH;

/// Bytes of output in new hashes (the `argon2` crate's default).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory cost in KiB (`m`).
    pub memory_kib: u32,
    /// Number of passes (`t`).
    pub iterations: u32,
    /// Degree of parallelism (`p`).
    pub parallelism: u32,
}

impl Argon2Params {
    /// The OWASP recommendation: m = 19 MiB, t = 2, p = 1.
    pub const OWASP: Self = Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };

    fn params(self) -> Result<Params, InfraError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| InfraError::new(format!("invalid argon2 parameters: {e}")))
    }

    /// An Argon2id context with these parameters.
    ///
    /// # Errors
    /// The parameters are outside Argon2's bounds (e.g. less than 8 KiB per lane).
    pub fn argon2(self) -> Result<Argon2<'static>, InfraError> {
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params()?))
    }
}

/// [`PasswordHasher`] backed by Argon2id.
///
/// Hashing runs on tokio's blocking pool, never on the async executor, and
/// at most one hash per CPU runs at a time. Past that, at most `queue_limit`
/// hashes wait for their turn; any further one is refused at once with a
/// [busy](InfraError::busy) error (HTTP 503 `busy`), so a login flood
/// neither piles up unbounded waiters nor makes every caller wait.
///
/// Each running hash works in a buffer from a pool (`pool.rs`) with at most
/// one buffer per permit, handed from hash to hash and freed when hashing has
/// been quiet for a while, so memory stays bounded by design:
/// `permits × m` KiB at most, and back to idle after a storm.
///
/// Cloning is cheap and clones share the limits and the pool.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    argon2: Argon2<'static>,
    params: Params,
    /// A hash of a random password with the same parameters, verified against
    /// when the account is unknown so that both cases cost the same. Computed
    /// on first need (or by [`Argon2Hasher::warm_up`]), so a process that
    /// never checks passwords never pays for it.
    dummy: Arc<OnceCell<PasswordHash>>,
    permits: Arc<Semaphore>,
    /// Callers waiting for a permit now.
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
    pool: Arc<MemoryPool>,
}

impl Argon2Hasher {
    /// A hasher with custom parameters, one permit per CPU and a queue of
    /// [`DEFAULT_QUEUE_LIMIT`].
    ///
    /// # Errors
    /// The parameters are invalid.
    pub fn new(params: Argon2Params) -> Result<Self, InfraError> {
        let params = params.params()?;
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            pool: Arc::new(MemoryPool::new(params.block_count(), RELEASE_AFTER)),
            params,
            dummy: Arc::new(OnceCell::new()),
            permits: Arc::new(Semaphore::new(cpus)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit: DEFAULT_QUEUE_LIMIT,
        })
    }

    /// A hasher with the OWASP parameters ([`Argon2Params::OWASP`]).
    ///
    /// # Errors
    /// Never with these parameters; kept fallible like [`Self::new`].
    pub fn owasp() -> Result<Self, InfraError> {
        Self::new(Argon2Params::OWASP)
    }

    /// At most `limit` hashes wait for a permit; more are refused as busy
    /// (0: only as many as there are permits are accepted at all).
    #[must_use]
    pub fn with_queue_limit(mut self, limit: usize) -> Self {
        self.queue_limit = limit;
        self
    }

    /// Computes the dummy hash now (off the executor), so the first login
    /// with an unknown e-mail costs what every later one does.
    ///
    /// # Errors
    /// The dummy hash could not be computed.
    pub async fn warm_up(&self) -> Result<(), InfraError> {
        self.dummy().await.map(|_| ())
    }

    async fn dummy(&self) -> Result<&PasswordHash, InfraError> {
        self.dummy
            .get_or_try_init(|| async {
                let dummy_password: [u8; 32] = rand::random();
                let (argon2, params) = (self.argon2.clone(), self.params.clone());
                self.run(move |lease| hash_into(&argon2, &params, lease.blocks(), &dummy_password)).await?
            })
            .await
    }

    /// Runs `job` on the blocking pool with a buffer of the pool once a
    /// permit is free, or refuses at once when `queue_limit` callers are
    /// already waiting. The permit moves into the job, so it is held until
    /// the hash is done even if the caller is cancelled meanwhile.
    async fn run<T, F>(&self, job: F) -> Result<T, InfraError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Lease) -> T + Send + 'static,
    {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(shut_down()),
            Err(TryAcquireError::NoPermits) => {
                let _slot = QueueSlot::take(&self.waiting, self.queue_limit)?;
                Arc::clone(&self.permits).acquire_owned().await.map_err(|_| shut_down())?
            }
        };
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let mut lease = pool.lease();
            let result = job(&mut lease);
            drop(lease); // the buffer goes back before the permit does
            drop(permit);
            result
        })
        .await
        .map_err(|e| InfraError::caused_by("password hashing task failed", e))
    }
}

/// A place in the queue of hashes waiting for a permit.
struct QueueSlot<'a>(&'a AtomicUsize);

impl<'a> QueueSlot<'a> {
    fn take(waiting: &'a AtomicUsize, limit: usize) -> Result<Self, InfraError> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .map(|_| Self(waiting))
            .map_err(|_| InfraError::busy("password hashing queue is full"))
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn shut_down() -> InfraError {
    InfraError::new("password hasher is shut down")
}

fn hashing_failed(e: impl Display) -> InfraError {
    InfraError::new(format!("password hashing failed: {e}"))
}

/// A new salted PHC hash of `password`, computed in `memory`; the same
/// string `argon2`'s own `hash_password` would produce.
fn hash_into(
    argon2: &Argon2<'_>,
    params: &Params,
    memory: &mut [Block],
    password: &[u8],
) -> Result<PasswordHash, InfraError> {
    let salt = Salt::new(&rand::random::<[u8; SALT_LEN]>()).map_err(hashing_failed)?;
    let mut output = [0_u8; OUTPUT_LEN];
    argon2.hash_password_into_with_memory(password, &salt, &mut output, memory).map_err(hashing_failed)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(hashing_failed)?,
        salt: Some(salt),
        hash: Some(Output::new(&output).map_err(hashing_failed)?),
    })
}

/// Whether `password` matches `hash`, with the algorithm, version and
/// parameters the hash names (so hashes made with other parameters still
/// verify), computed in `memory` when it is large enough; the outputs are
/// compared in constant time. A hash without salt or output matches nothing.
fn verify_into(memory: &mut [Block], password: &[u8], hash: &PasswordHash) -> Result<bool, InfraError> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(hashing_failed)?;
    let version = hash.version.map(Version::try_from).transpose().map_err(hashing_failed)?.unwrap_or_default();
    let params = Params::try_from(hash).map_err(hashing_failed)?;
    let needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = [0_u8; Output::MAX_LENGTH];
    let output = output.get_mut(..expected.len()).ok_or_else(|| hashing_failed("output too long"))?;
    if needed <= memory.len() {
        argon2.hash_password_into_with_memory(password, salt, output, memory)
    } else {
        // A hash made with more memory than configured now: allocate for
        // this one (still at most one per permit).
        argon2.hash_password_into(password, salt, output)
    }
    .map_err(hashing_failed)?;
    Ok(Output::new(output).map_err(hashing_failed)? == *expected)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, InfraError> {
        let password = password.expose().to_owned();
        let (argon2, params) = (self.argon2.clone(), self.params.clone());
        let hash = self.run(move |lease| hash_into(&argon2, &params, lease.blocks(), password.as_bytes())).await??;
        Ok(hash.to_string())
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, InfraError> {
        let password = password.to_owned();
        let Some(hash) = hash else {
            let dummy = self.dummy().await?.clone();
            // Same work as a real check; whether it matched is meaningless.
            self.run(move |lease| verify_into(lease.blocks(), password.as_bytes(), &dummy)).await??;
            return Ok(false);
        };
        let hash = PasswordHash::new(hash).map_err(|e| InfraError::new(format!("unreadable password hash: {e}")))?;
        self.run(move |lease| verify_into(lease.blocks(), password.as_bytes(), &hash)).await?
    }
}

#[cfg(test)]
mod tests;
