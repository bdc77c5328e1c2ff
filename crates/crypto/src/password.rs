//! Argon2id password hashing on the blocking pool, with bounded concurrency.

use std::num::NonZeroUsize;
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use coffee_domain::error::InfraError;
use coffee_domain::security::PasswordHasher;
use coffee_domain::user::Password;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

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

    /// An Argon2id context with these parameters.
    ///
    /// # Errors
    /// The parameters are outside Argon2's bounds (e.g. less than 8 KiB per lane).
    pub fn argon2(self) -> Result<Argon2<'static>, InfraError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| InfraError::new(format!("invalid argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// [`PasswordHasher`] backed by Argon2id.
///
/// Hashing runs on tokio's blocking pool, never on the async executor, and at
/// most one hash per CPU runs at a time (each needs `memory_kib` of RAM), so a
/// login flood queues instead of exhausting memory and the blocking pool.
/// Cloning is cheap and clones share the concurrency limit.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    argon2: Argon2<'static>,
    /// A hash of a random password with the same parameters, verified against
    /// when the account is unknown so that both cases cost the same. Computed
    /// on first need (or by [`Argon2Hasher::warm_up`]), so a process that
    /// never checks passwords never pays its 19 MiB.
    dummy: Arc<OnceCell<PasswordHash>>,
    permits: Arc<Semaphore>,
}

impl Argon2Hasher {
    /// A hasher with custom parameters.
    ///
    /// # Errors
    /// The parameters are invalid.
    pub fn new(params: Argon2Params) -> Result<Self, InfraError> {
        let argon2 = params.argon2()?;
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Ok(Self { argon2, dummy: Arc::new(OnceCell::new()), permits: Arc::new(Semaphore::new(cpus)) })
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
                self.run(move |argon2| argon2.hash_password(&dummy_password)).await?.map_err(hashing_failed)
            })
            .await
    }

    /// A hasher with the OWASP parameters ([`Argon2Params::OWASP`]).
    ///
    /// # Errors
    /// Never with these parameters; kept fallible like [`Self::new`].
    pub fn owasp() -> Result<Self, InfraError> {
        Self::new(Argon2Params::OWASP)
    }

    /// Runs `job` on the blocking pool once a permit is free. The permit moves
    /// into the job, so it is held until the hash is done even if the caller
    /// is cancelled meanwhile.
    async fn run<T, F>(&self, job: F) -> Result<T, InfraError>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'static>) -> T + Send + 'static,
    {
        let permit: OwnedSemaphorePermit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| InfraError::new("password hasher is shut down"))?;
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || {
            let result = job(&argon2);
            drop(permit);
            result
        })
        .await
        .map_err(|e| InfraError::caused_by("password hashing task failed", e))
    }
}

fn hashing_failed(e: password_hash::Error) -> InfraError {
    InfraError::new(format!("password hashing failed: {e}"))
}

/// `Ok(true)` on a match, `Ok(false)` on a mismatch, `Err` for anything else.
fn matches(argon2: &Argon2<'_>, password: &[u8], hash: &PasswordHash) -> Result<bool, InfraError> {
    match argon2.verify_password(password, hash) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(hashing_failed(e)),
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, InfraError> {
        let password = password.expose().to_owned();
        let hash = self.run(move |argon2| argon2.hash_password(password.as_bytes())).await?;
        Ok(hash.map_err(hashing_failed)?.to_string())
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, InfraError> {
        let password = password.to_owned();
        let Some(hash) = hash else {
            let dummy = self.dummy().await?.clone();
            // Same work as a real check; whether it matched is meaningless.
            self.run(move |argon2| matches(argon2, password.as_bytes(), &dummy)).await??;
            return Ok(false);
        };
        let hash = PasswordHash::new(hash).map_err(|e| InfraError::new(format!("unreadable password hash: {e}")))?;
        self.run(move |argon2| matches(argon2, password.as_bytes(), &hash)).await?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Cheap parameters so that the tests run fast.
    const FAST: Argon2Params = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };

    fn password(s: &str) -> Password {
        Password::parse("password", s).unwrap()
    }

    #[tokio::test]
    async fn a_hashed_password_verifies() {
        let hasher = Argon2Hasher::new(FAST).unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_wrong_password_does_not_verify() {
        let hasher = Argon2Hasher::new(FAST).unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(!hasher.verify("battery staple", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn verifying_without_a_hash_is_false() {
        let hasher = Argon2Hasher::new(FAST).unwrap();
        assert!(!hasher.verify("correct horse", None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_are_salted() {
        let hasher = Argon2Hasher::new(FAST).unwrap();
        let a = hasher.hash(&password("correct horse")).await.unwrap();
        let b = hasher.hash(&password("correct horse")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn an_unreadable_stored_hash_is_an_infrastructure_error() {
        let hasher = Argon2Hasher::new(FAST).unwrap();
        assert!(hasher.verify("correct horse", Some("not a phc string")).await.is_err());
    }

    #[tokio::test]
    async fn owasp_hashes_are_argon2id_with_19_mib_2_passes_1_lane() {
        let hasher = Argon2Hasher::owasp().unwrap();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        let old = Argon2Hasher::new(FAST).unwrap().hash(&password("correct horse")).await.unwrap();
        let hasher = Argon2Hasher::new(Argon2Params { memory_kib: 128, ..FAST }).unwrap();
        assert!(hasher.verify("correct horse", Some(&old)).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_concurrent_hashes_queues_and_completes() {
        let hasher = Argon2Hasher::new(FAST).unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.verify("correct horse", None).await })
            })
            .collect();
        for task in tasks {
            assert!(!task.await.unwrap().unwrap());
        }
        assert!(hasher.permits.available_permits() >= 1);
    }

    #[test]
    fn out_of_bounds_parameters_are_refused() {
        assert!(Argon2Hasher::new(Argon2Params { memory_kib: 1, ..FAST }).is_err());
    }
}
