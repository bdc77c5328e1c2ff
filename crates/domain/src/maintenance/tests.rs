#![allow(clippy::unwrap_used)]

use super::fakes::{PurgeCall, PurgeKind, ScriptedMaintenance};
use crate::testing::{FixedClock, run};

use super::*;

const USER_TTL: TimeDelta = TimeDelta::days(7);
const OUTBOX_RETENTION: TimeDelta = TimeDelta::days(3);

fn settings(batch_size: u64) -> CleanupSettings {
    CleanupSettings { unverified_user_ttl: USER_TTL, outbox_retention: OUTBOX_RETENTION, batch_size }
}

fn service(repo: &Arc<ScriptedMaintenance>, clock: &Arc<FixedClock>, batch_size: u64) -> CleanupService {
    CleanupService::new(repo.clone(), clock.clone(), settings(batch_size))
}

/// The rows each successive call of `kind` reported deleted.
fn batches(repo: &ScriptedMaintenance, kind: PurgeKind) -> Vec<u64> {
    repo.calls_of(kind).iter().map(|c| c.deleted).collect()
}

#[test]
fn the_user_cutoff_is_now_minus_the_ttl_and_the_outbox_cutoff_now_minus_the_retention() {
    let clock = Arc::new(FixedClock::default());
    let now = clock.now();
    let repo = Arc::new(ScriptedMaintenance::default());

    let report = run(service(&repo, &clock, 500).run()).unwrap();

    assert_eq!(report, CleanupReport::default());
    let call = |kind, cutoff| PurgeCall { kind, cutoff, limit: 500, deleted: 0 };
    assert_eq!(
        repo.calls(),
        vec![
            call(PurgeKind::UnverifiedUsers, now - USER_TTL),
            call(PurgeKind::ExpiredSessions, now),
            call(PurgeKind::ExpiredVerifications, now),
            call(PurgeKind::RelayedOutbox, now - OUTBOX_RETENTION),
            call(PurgeKind::ExpiredIdempotencyKeys, now),
        ]
    );
}

#[test]
fn purges_loop_in_batches_until_a_batch_comes_back_short() {
    let clock = Arc::new(FixedClock::default());
    let repo = Arc::new(
        ScriptedMaintenance::default()
            .with(PurgeKind::UnverifiedUsers, 2500)
            .with(PurgeKind::ExpiredSessions, 999)
            .with(PurgeKind::ExpiredVerifications, 1000)
            .with(PurgeKind::RelayedOutbox, 3001)
            .with(PurgeKind::ExpiredIdempotencyKeys, 1500),
    );

    let report = run(service(&repo, &clock, 1000).run()).unwrap();

    let expected =
        CleanupReport { users: 2500, sessions: 999, verifications: 1000, outbox: 3001, idempotency_keys: 1500 };
    assert_eq!(report, expected);
    assert_eq!(batches(&repo, PurgeKind::ExpiredIdempotencyKeys), [1000, 500]);
    assert_eq!(batches(&repo, PurgeKind::UnverifiedUsers), [1000, 1000, 500]);
    assert_eq!(batches(&repo, PurgeKind::ExpiredSessions), [999]);
    assert_eq!(batches(&repo, PurgeKind::ExpiredVerifications), [1000, 0], "a full batch may hide more rows");
    assert_eq!(batches(&repo, PurgeKind::RelayedOutbox), [1000, 1000, 1000, 1]);
    assert!(repo.calls().iter().all(|c| c.limit == 1000));
    let now = clock.now();
    assert!(repo.calls_of(PurgeKind::UnverifiedUsers).iter().all(|c| c.cutoff == now - USER_TTL));
    assert!(repo.calls_of(PurgeKind::RelayedOutbox).iter().all(|c| c.cutoff == now - OUTBOX_RETENTION));
    for kind in [PurgeKind::UnverifiedUsers, PurgeKind::ExpiredSessions, PurgeKind::RelayedOutbox] {
        assert_eq!(repo.remaining(kind), 0);
    }
}

#[test]
fn a_batch_size_of_zero_is_treated_as_one() {
    let clock = Arc::new(FixedClock::default());
    let repo = Arc::new(ScriptedMaintenance::default().with(PurgeKind::ExpiredSessions, 3));

    let report = run(service(&repo, &clock, 0).run()).unwrap();

    assert_eq!(report, CleanupReport { sessions: 3, ..CleanupReport::default() });
    assert_eq!(batches(&repo, PurgeKind::ExpiredSessions), [1, 1, 1, 0]);
    assert_eq!(repo.calls().len(), 4 + 4, "the other purges ran once each");
    assert!(repo.calls().iter().all(|c| c.limit == 1));
}

#[test]
fn a_store_error_is_returned_and_stops_the_run() {
    let clock = Arc::new(FixedClock::default());
    let repo = Arc::new(
        ScriptedMaintenance::default()
            .with(PurgeKind::UnverifiedUsers, 1500)
            .with(PurgeKind::ExpiredVerifications, 10)
            .with(PurgeKind::RelayedOutbox, 10)
            .failing(PurgeKind::ExpiredSessions),
    );

    let error = run(service(&repo, &clock, 1000).run()).unwrap_err();

    assert!(matches!(error, RepoError::Unavailable(_)), "{error:?}");
    assert_eq!(batches(&repo, PurgeKind::UnverifiedUsers), [1000, 500], "rows deleted before the failure stay deleted");
    assert!(repo.calls_of(PurgeKind::ExpiredVerifications).is_empty());
    assert!(repo.calls_of(PurgeKind::RelayedOutbox).is_empty());
    assert_eq!(repo.remaining(PurgeKind::ExpiredVerifications), 10);
    assert_eq!(repo.remaining(PurgeKind::RelayedOutbox), 10);
}

#[test]
fn a_second_run_finds_nothing_left_to_purge() {
    let clock = Arc::new(FixedClock::default());
    let repo = Arc::new(ScriptedMaintenance::default().with(PurgeKind::UnverifiedUsers, 10));
    let cleanup = service(&repo, &clock, 4);

    assert_eq!(run(cleanup.run()).unwrap().users, 10);
    assert_eq!(run(cleanup.run()).unwrap(), CleanupReport::default());
}
