#![allow(clippy::unwrap_used)]

use std::time::Duration;

use argon2::password_hash::PasswordHasher as _;

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

/// A hasher with `permits` permits, a queue of `queue` and a short release delay.
fn limited(permits: usize, queue: usize) -> Argon2Hasher {
    let mut hasher = Argon2Hasher::new(FAST).unwrap().with_queue_limit(queue);
    hasher.permits = Arc::new(Semaphore::new(permits));
    hasher.pool = Arc::new(MemoryPool::new(hasher.params.block_count(), Duration::from_millis(200)));
    hasher
}

#[tokio::test]
async fn hashes_made_by_the_argon2_crate_itself_still_verify() {
    // What every stored hash was made with before the pool existed.
    let stock = Argon2Params::OWASP.argon2().unwrap().hash_password(b"correct horse").unwrap().to_string();
    let hasher = Argon2Hasher::owasp().unwrap();
    assert!(hasher.verify("correct horse", Some(&stock)).await.unwrap());
    assert!(!hasher.verify("battery staple", Some(&stock)).await.unwrap());
}

#[tokio::test]
async fn pooled_hashes_verify_with_the_argon2_crate_itself() {
    use argon2::password_hash::PasswordVerifier as _;
    let hash = Argon2Hasher::new(FAST).unwrap().hash(&password("correct horse")).await.unwrap();
    let parsed = PasswordHash::new(&hash).unwrap();
    let stock = FAST.argon2().unwrap();
    assert!(stock.verify_password(b"correct horse", &parsed).is_ok());
    assert!(stock.verify_password(b"battery staple", &parsed).is_err());
}

#[tokio::test]
async fn a_hash_with_more_memory_than_the_pool_buffers_still_verifies() {
    let big = Argon2Hasher::new(Argon2Params { memory_kib: 256, ..FAST }).unwrap();
    let old = big.hash(&password("correct horse")).await.unwrap();
    let hasher = Argon2Hasher::new(FAST).unwrap();
    assert!(hasher.verify("correct horse", Some(&old)).await.unwrap());
    assert!(!hasher.verify("battery staple", Some(&old)).await.unwrap());
}

#[tokio::test]
async fn an_argon2i_hash_verifies_as_argon2i() {
    let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, FAST.params().unwrap());
    let stored = argon2i.hash_password(b"correct horse").unwrap().to_string();
    assert!(stored.starts_with("$argon2i$"), "{stored}");
    let hasher = Argon2Hasher::new(FAST).unwrap();
    assert!(hasher.verify("correct horse", Some(&stored)).await.unwrap());
    assert!(!hasher.verify("battery staple", Some(&stored)).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_concurrent_hashes_than_permits_all_complete_with_one_buffer_per_permit() {
    let hasher = limited(2, 64);
    let stored = hasher.hash(&password("correct horse")).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (hasher, stored) = (hasher.clone(), stored.clone());
            tokio::spawn(async move {
                let guess = if i % 2 == 0 { "correct horse" } else { "battery staple" };
                (i, hasher.verify(guess, Some(&stored)).await.unwrap())
            })
        })
        .collect();
    for task in tasks {
        let (i, matched) = task.await.unwrap();
        assert_eq!(matched, i % 2 == 0, "verification {i}");
        assert!(hasher.pool.allocated() <= 2, "{} buffers", hasher.pool.allocated());
    }
    assert_eq!(hasher.permits.available_permits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buffers_are_freed_once_hashing_is_quiet() {
    let hasher = limited(2, 8);
    let (a, b) = tokio::join!(hasher.verify("x", None), hasher.verify("y", None));
    assert!(!a.unwrap() && !b.unwrap());
    assert!(hasher.pool.allocated() >= 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(hasher.pool.allocated(), 0);
    // ... and hashing still works afterwards.
    assert!(!hasher.verify("z", None).await.unwrap());
}

/// Holds every permit of `hasher` until the returned sender is dropped.
async fn occupy_all_permits(hasher: &Argon2Hasher) -> tokio::sync::oneshot::Sender<()> {
    let held = Arc::clone(&hasher.permits).acquire_many_owned(2).await.unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = released.await;
        drop(held);
    });
    release
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_queue_limit_a_hash_is_refused_at_once_as_busy() {
    let hasher = limited(2, 2);
    hasher.warm_up().await.unwrap();
    let release = occupy_all_permits(&hasher).await;
    // Two callers may wait ...
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify("correct horse", None).await })
        })
        .collect();
    while hasher.waiting.load(Ordering::Acquire) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... the third is refused without waiting for a permit.
    let refused = tokio::time::timeout(Duration::from_secs(1), hasher.hash(&password("correct horse")))
        .await
        .expect("refused at once, not queued");
    let error = refused.unwrap_err();
    assert!(error.is_busy(), "{error}");
    // Once the permits are free, the waiting ones complete and the queue empties.
    drop(release);
    for task in waiting {
        assert!(!task.await.unwrap().unwrap());
    }
    assert_eq!(hasher.waiting.load(Ordering::Acquire), 0);
    assert!(hasher.hash(&password("correct horse")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_queue_only_free_permits_are_used() {
    let hasher = limited(2, 0);
    let release = occupy_all_permits(&hasher).await;
    assert!(hasher.verify("correct horse", None).await.unwrap_err().is_busy());
    drop(release);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!hasher.verify("correct horse", None).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_waiter_gives_its_queue_place_back() {
    let hasher = limited(2, 1);
    let release = occupy_all_permits(&hasher).await;
    let waiter = tokio::time::timeout(Duration::from_millis(50), hasher.verify("correct horse", None)).await;
    assert!(waiter.is_err(), "still waiting when cancelled");
    assert_eq!(hasher.waiting.load(Ordering::Acquire), 0);
    drop(release);
}

#[test]
fn buffers_reserve_enough_to_be_mapped_on_their_own_but_use_only_m() {
    let buffer = pool::new_buffer(64);
    assert_eq!(buffer.len(), 64);
    assert!(buffer.capacity() * Block::SIZE >= pool::MAPPED_BYTES, "{} blocks", buffer.capacity());
}
