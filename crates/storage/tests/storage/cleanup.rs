//! The scheduled cleanup: batched purges of stale accounts, expired sessions
//! and codes, and relayed outbox entries, alone and racing each other.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use coffee_domain::maintenance::{CleanupReport, CleanupService, CleanupSettings, MaintenanceRepository};
use coffee_domain::outbox::OutboxRepository;
use coffee_domain::user::{
    AttemptCount, AttemptLimits, NewSession, RotateOutcome, SessionRepository, User, UserChanges, UserRepository,
};
use coffee_storage::{Db, SeaMaintenanceRepository};
use uuid::Uuid;

use crate::support::{
    Env, FixedClock, OutboxRow, backends, count_rows, hours, insert_outbox, micros, outbox_row, rows_of_user, secs,
    session, t0, user, uuids, verification, warm_pool,
};

const TTL: TimeDelta = TimeDelta::days(7);
const RETENTION: TimeDelta = TimeDelta::days(1);

/// A cleanup on its own repository over `db`, its clock stopped at `now`.
fn cleanup(db: &Db, now: DateTime<Utc>, batch_size: u64) -> CleanupService {
    CleanupService::new(
        Arc::new(SeaMaintenanceRepository::new(db.clone())),
        Arc::new(FixedClock(now)),
        CleanupSettings { unverified_user_ttl: TTL, outbox_retention: RETENTION, batch_size },
    )
}

/// Calls `purge` with `limit` until it deletes nothing; every call's count.
async fn batches<F, Fut>(limit: u64, purge: F) -> Vec<u64>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, coffee_domain::RepoError>>,
{
    let mut counts = Vec::new();
    loop {
        let n = purge(limit).await.unwrap();
        counts.push(n);
        assert!(n <= limit, "deleted {n} rows with a limit of {limit}");
        if n == 0 || counts.len() > 20 {
            return counts;
        }
    }
}

async fn exists(env: &Env, u: &User) -> bool {
    env.users.find(u.id).await.unwrap().is_some()
}

/// `n` unverified customers created before `before`, the oldest first.
async fn stale_users(env: &Env, tag: &str, n: i64, before: DateTime<Utc>) -> Vec<User> {
    let mut users = Vec::new();
    for i in 0..n {
        let at = before - secs(n - i);
        users.push(user(&format!("{tag}-{i}@example.com")).created_at(at).create(&env.users).await);
    }
    users
}

// --- Unverified users --------------------------------------------------------

#[tokio::test]
async fn a_user_created_exactly_at_the_cutoff_is_kept_one_microsecond_older_is_deleted() {
    for env in backends().await {
        let now = t0() + TTL;
        let at_cutoff = user("ann@example.com").created_at(t0()).create(&env.users).await;
        let just_older = user("bob@example.com").created_at(t0() - micros(1)).create(&env.users).await;

        let report = cleanup(&env.db, now, 10).run().await.unwrap();

        assert_eq!(report, CleanupReport { users: 1, ..CleanupReport::default() });
        assert!(exists(&env, &at_cutoff).await);
        assert!(!exists(&env, &just_older).await);
        // The repository itself: strictly before the cutoff.
        assert_eq!(env.maintenance.purge_unverified_users(t0(), 10).await.unwrap(), 0);
        assert_eq!(env.maintenance.purge_unverified_users(t0() + micros(1), 10).await.unwrap(), 1);
        assert!(!exists(&env, &at_cutoff).await);
    }
}

#[tokio::test]
async fn an_old_account_an_admin_unverifies_gets_the_whole_time_from_then_on() {
    for env in backends().await {
        let long_ago = t0() - hours(24 * 365);
        let ann = user("ann@example.com").created_at(long_ago).verified_at(long_ago).create(&env.users).await;
        let unverify = UserChanges { verified: Some((false, None)), ..UserChanges::default() };
        env.users.update(ann.id, &unverify, t0()).await.unwrap();

        let report = cleanup(&env.db, t0() + TTL, 10).run().await.unwrap();
        assert_eq!(report.users, 0, "{:?}: un-verified just TTL ago", env.backend);
        assert!(exists(&env, &ann).await);
        let report = cleanup(&env.db, t0() + TTL + micros(1), 10).run().await.unwrap();
        assert_eq!(report.users, 1, "{:?}", env.backend);
        assert!(!exists(&env, &ann).await);
    }
}

#[tokio::test]
async fn verified_users_and_admins_are_never_deleted() {
    for env in backends().await {
        let long_ago = t0() - hours(24 * 365);
        let verified = user("ann@example.com").created_at(long_ago).verified_at(long_ago).create(&env.users).await;
        let admin = user("root@example.com").created_at(long_ago).admin().create(&env.users).await;
        let verified_admin =
            user("boss@example.com").created_at(long_ago).admin().verified_at(long_ago).create(&env.users).await;
        let stale = user("bob@example.com").created_at(long_ago).create(&env.users).await;

        let report = cleanup(&env.db, t0() + hours(24 * 365), 10).run().await.unwrap();

        assert_eq!(report.users, 1);
        assert!(!exists(&env, &stale).await);
        for kept in [&verified, &admin, &verified_admin] {
            assert!(exists(&env, kept).await, "{} was deleted", kept.email);
        }
        assert_eq!(env.maintenance.purge_unverified_users(t0() + hours(24 * 3650), 10).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn purge_unverified_users_deletes_at_most_limit_per_call_oldest_first() {
    for env in backends().await {
        let stale = stale_users(&env, "stale", 25, t0()).await;
        let fresh = [
            user("fresh@example.com").created_at(t0()).create(&env.users).await,
            user("newer@example.com").created_at(t0() + hours(1)).create(&env.users).await,
        ];

        let first = env.maintenance.purge_unverified_users(t0(), 10).await.unwrap();
        assert_eq!(first, 10);
        for (i, u) in stale.iter().enumerate() {
            assert_eq!(exists(&env, u).await, i >= 10, "stale user #{i} after the first batch");
        }
        let rest = batches(10, |n| env.maintenance.purge_unverified_users(t0(), n)).await;

        assert_eq!(rest, [10, 5, 0]);
        for u in &stale {
            assert!(!exists(&env, u).await);
        }
        for u in &fresh {
            assert!(exists(&env, u).await);
        }
    }
}

#[tokio::test]
async fn the_cleanup_reports_every_stale_user_however_many_batches_it_takes() {
    for env in backends().await {
        stale_users(&env, "stale", 25, t0()).await;
        let kept = user("kept@example.com").created_at(t0()).create(&env.users).await;

        let report = cleanup(&env.db, t0() + TTL, 10).run().await.unwrap();

        assert_eq!(report, CleanupReport { users: 25, ..CleanupReport::default() });
        assert_eq!(count_rows(&env.db, "users").await, 1);
        assert!(exists(&env, &kept).await);
        assert_eq!(cleanup(&env.db, t0() + TTL, 10).run().await.unwrap(), CleanupReport::default());
    }
}

#[tokio::test]
async fn deleting_a_user_deletes_their_verification_and_sessions() {
    for env in backends().await {
        let ann = user("ann@example.com")
            .created_at(t0() - micros(1))
            .with_verification(verification("ann", t0()))
            .create(&env.users)
            .await;
        let bob = user("bob@example.com")
            .created_at(t0())
            .with_verification(verification("bob", t0()))
            .create(&env.users)
            .await;
        for u in [&ann, &bob] {
            env.sessions.create(&session(u.id, t0())).await.unwrap();
            env.sessions.create(&session(u.id, t0() + secs(1))).await.unwrap();
        }

        assert_eq!(env.maintenance.purge_unverified_users(t0(), 10).await.unwrap(), 1);

        assert!(!exists(&env, &ann).await);
        assert_eq!(rows_of_user(&env.db, "email_verifications", ann.id).await, 0);
        assert_eq!(rows_of_user(&env.db, "sessions", ann.id).await, 0);
        assert!(exists(&env, &bob).await);
        assert_eq!(rows_of_user(&env.db, "email_verifications", bob.id).await, 1);
        assert_eq!(rows_of_user(&env.db, "sessions", bob.id).await, 2);
    }
}

// --- Sessions, codes, outbox ------------------------------------------------

fn expiring(user_id: Uuid, expires_at: DateTime<Utc>) -> NewSession {
    NewSession { expires_at, ..session(user_id, t0()) }
}

#[tokio::test]
async fn purge_expired_sessions_deletes_only_sessions_that_expired_before_now() {
    for env in backends().await {
        let ann = user("ann@example.com").verified_at(t0()).create(&env.users).await;
        let now = t0() + hours(24);
        let expired = expiring(ann.id, now - micros(1));
        let at_now = expiring(ann.id, now);
        let live = expiring(ann.id, now + hours(1));
        let revoked = expiring(ann.id, now + hours(1));
        for s in [&expired, &at_now, &live, &revoked] {
            env.sessions.create(s).await.unwrap();
        }
        env.sessions.revoke_family_of(revoked.id, t0() + hours(1)).await.unwrap();

        assert_eq!(env.maintenance.purge_expired_sessions(now, 10).await.unwrap(), 1);

        let mut kept = vec![at_now.id, live.id, revoked.id];
        kept.sort();
        assert_eq!(uuids(&env.db, "sessions", "id").await, kept);

        // Five more expired ones, in batches of two.
        for i in 1..=5 {
            env.sessions.create(&expiring(ann.id, now - hours(i))).await.unwrap();
        }
        assert_eq!(batches(2, |n| env.maintenance.purge_expired_sessions(now, n)).await, [2, 2, 1, 0]);
        assert_eq!(uuids(&env.db, "sessions", "id").await, kept);
        assert!(exists(&env, &ann).await);
    }
}

#[tokio::test]
async fn a_logins_first_session_stays_while_any_of_its_rotations_lives() {
    for env in backends().await {
        let ann = user("ann@example.com").verified_at(t0()).create(&env.users).await;
        let now = t0() + hours(24);
        // The first session has expired, its rotation lives on: rotations
        // and revocations lock the first one to order themselves.
        let first = expiring(ann.id, now - hours(1));
        env.sessions.create(&first).await.unwrap();
        let second = Uuid::now_v7();
        let rotated = env.sessions.rotate(first.id, second, now + hours(1), t0() + hours(1)).await.unwrap();
        assert_eq!(rotated, RotateOutcome::Rotated);
        let alone = expiring(ann.id, now - hours(1));
        env.sessions.create(&alone).await.unwrap();

        assert_eq!(env.maintenance.purge_expired_sessions(now, 10).await.unwrap(), 1, "only the lone expired login");
        let mut kept = vec![first.id, second];
        kept.sort();
        assert_eq!(uuids(&env.db, "sessions", "id").await, kept);
        // Once the whole login has expired, it goes.
        assert_eq!(env.maintenance.purge_expired_sessions(now + hours(2), 10).await.unwrap(), 2);
        assert!(uuids(&env.db, "sessions", "id").await.is_empty());
    }
}

#[tokio::test]
async fn purge_expired_verifications_deletes_only_verified_accounts_codes_that_expired_before_now() {
    for env in backends().await {
        let now = t0() + hours(24);
        // Codes are valid for an hour after they are sent.
        let with_code = |tag: &'static str, sent_at: DateTime<Utc>| {
            user(&format!("{tag}@example.com"))
                .verified_at(t0())
                .with_verification(verification(tag, sent_at))
                .create(&env.users)
        };
        let expired = with_code("ann", now - hours(1) - micros(1)).await;
        let at_now = with_code("bob", now - hours(1)).await;
        let live = with_code("carol", now).await;
        // An unverified account's expired code stays: its row counts the
        // guesses at all the account's codes, which a resend must not reset.
        let pending =
            user("dan@example.com").with_verification(verification("dan", now - hours(2))).create(&env.users).await;
        let limits = AttemptLimits { per_code: 5, per_account: 1 };
        assert!(matches!(env.users.count_attempt(pending.id, limits).await.unwrap(), AttemptCount::Counted { .. }));

        assert_eq!(env.maintenance.purge_expired_verifications(now, 10).await.unwrap(), 1);

        assert_eq!(env.users.find_verification(expired.id).await.unwrap(), None);
        assert!(env.users.find_verification(at_now.id).await.unwrap().is_some());
        assert!(env.users.find_verification(live.id).await.unwrap().is_some());
        // Only the code goes; its user stays.
        assert!(exists(&env, &expired).await);
        // The unverified account's next code still finds its guesses spent.
        assert!(env.users.find_verification(pending.id).await.unwrap().is_some(), "{:?}", env.backend);
        assert!(env.users.replace_verification(pending.id, &verification("dan-2", now), now).await.unwrap());
        assert_eq!(env.users.count_attempt(pending.id, limits).await.unwrap(), AttemptCount::AccountSpent);

        for tag in ["e", "f", "g"] {
            with_code(tag, now - hours(2)).await;
        }
        assert_eq!(batches(2, |n| env.maintenance.purge_expired_verifications(now, n)).await, [2, 1, 0]);
        let mut kept = vec![at_now.id, live.id, pending.id];
        kept.sort();
        assert_eq!(uuids(&env.db, "email_verifications", "user_id").await, kept);
    }
}

#[tokio::test]
async fn purge_relayed_outbox_deletes_old_relayed_entries_but_never_pending_or_parked_ones() {
    for env in backends().await {
        let cutoff = t0();
        let long_ago = cutoff - hours(24 * 30);
        let old_relayed: Vec<_> = (1..=5)
            .map(|i| OutboxRow { relayed_at: Some(cutoff - micros(i)), ..outbox_row(&format!("old{i}"), long_ago) })
            .collect();
        let kept = [
            OutboxRow { relayed_at: Some(cutoff), ..outbox_row("at-cutoff", long_ago) },
            OutboxRow { relayed_at: Some(cutoff + hours(1)), ..outbox_row("recent", long_ago) },
            outbox_row("pending", long_ago),
            OutboxRow { attempts: 3, last_error: Some("down".to_owned()), ..outbox_row("retrying", long_ago) },
            OutboxRow { claimed_until: Some(long_ago + secs(60)), ..outbox_row("claimed", long_ago) },
            OutboxRow { parked_at: Some(long_ago), attempts: 20, ..outbox_row("parked", long_ago) },
        ];
        insert_outbox(&env.db, &old_relayed).await;
        let mut kept_ids = insert_outbox(&env.db, &kept).await;
        kept_ids.sort();

        let first = env.maintenance.purge_relayed_outbox(cutoff, 2).await.unwrap();
        assert_eq!(first, 2);
        // The longest-relayed go first.
        let left = uuids(&env.db, "outbox", "id").await;
        assert!(!left.contains(&old_relayed[4].id) && !left.contains(&old_relayed[3].id), "{left:?}");
        let rest = batches(2, |n| env.maintenance.purge_relayed_outbox(cutoff, n)).await;

        assert_eq!(rest, [2, 1, 0]);
        assert_eq!(uuids(&env.db, "outbox", "id").await, kept_ids);
        // Even a cutoff far in the future only takes the relayed ones.
        assert_eq!(env.maintenance.purge_relayed_outbox(cutoff + hours(24 * 3650), 100).await.unwrap(), 2);
        assert_eq!(count_rows(&env.db, "outbox").await, 4);
    }
}

#[tokio::test]
async fn a_parked_entry_goes_with_the_relayed_ones_once_its_job_ran() {
    for env in backends().await {
        let long_ago = t0() - hours(24 * 30);
        let parked = |tag: &str| OutboxRow {
            relayed_at: Some(long_ago),
            parked_at: Some(long_ago + secs(300)),
            ..outbox_row(tag, long_ago)
        };
        let (waiting, retried) = (parked("waiting"), parked("retried"));
        insert_outbox(&env.db, &[waiting.clone(), retried.clone()]).await;
        assert_eq!(env.outbox.parked().await.unwrap(), 2);
        // An operator re-queued one from the dead set, and it ran.
        env.outbox.mark_delivered(retried.id, t0() - hours(24 * 20)).await.unwrap();
        assert_eq!(env.outbox.parked().await.unwrap(), 1, "{:?}: a delivered entry is no longer waiting", env.backend);

        assert_eq!(env.maintenance.purge_relayed_outbox(t0(), 10).await.unwrap(), 1);
        assert_eq!(uuids(&env.db, "outbox", "id").await, [waiting.id]);
    }
}

#[tokio::test]
async fn one_cleanup_run_purges_every_kind_of_row() {
    for env in backends().await {
        let now = t0() + TTL + hours(24);
        // Stale: created more than TTL before `now`; every fifth has a code.
        for i in 0..25 {
            let mut u = user(&format!("stale-{i}@example.com")).created_at(t0() - secs(i));
            if i % 5 == 0 {
                u = u.with_verification(verification(&format!("stale-{i}"), t0() - secs(i)));
            }
            u.create(&env.users).await;
        }
        // Kept: verified, with a long-expired code, three expired sessions and a live one.
        let kept = user("kept@example.com")
            .verified_at(t0())
            .with_verification(verification("kept", t0()))
            .create(&env.users)
            .await;
        for i in 1..=3 {
            env.sessions.create(&expiring(kept.id, now - secs(i))).await.unwrap();
        }
        env.sessions.create(&expiring(kept.id, now + hours(1))).await.unwrap();
        // Four entries relayed more than RETENTION ago, one recently.
        let relayed = |tag: &str, at: DateTime<Utc>| OutboxRow { relayed_at: Some(at), ..outbox_row(tag, t0()) };
        let mut rows: Vec<_> = (1..=4).map(|i| relayed(&format!("old{i}"), now - RETENTION - secs(i))).collect();
        rows.push(relayed("recent", now - hours(1)));
        // Six mails still waiting to be relayed, whoever they were for.
        rows.extend((0..6).map(|i| outbox_row(&format!("pending-{i}"), t0())));
        insert_outbox(&env.db, &rows).await;

        let report = cleanup(&env.db, now, 10).run().await.unwrap();

        // The stale users' codes went with them (cascade), uncounted.
        assert_eq!(report, CleanupReport { users: 25, sessions: 3, verifications: 1, outbox: 4, idempotency_keys: 0 });
        assert_eq!(uuids(&env.db, "users", "id").await, [kept.id]);
        assert_eq!(count_rows(&env.db, "email_verifications").await, 0);
        assert_eq!(rows_of_user(&env.db, "sessions", kept.id).await, 1);
        // The recent relayed entry and the six pending mails stay.
        assert_eq!(count_rows(&env.db, "outbox").await, 7);
        assert_eq!(cleanup(&env.db, now, 10).run().await.unwrap(), CleanupReport::default());
    }
}

// --- Concurrency ---------------------------------------------------------------

#[tokio::test]
async fn racing_cleanups_delete_each_stale_row_exactly_once() {
    for env in backends().await {
        let keeper = user("keeper@example.com").verified_at(t0()).create(&env.users).await;
        let mut kept_users = vec![keeper.id];
        for round in 1..=3_i64 {
            let now = t0() + TTL + hours(round);
            let stale = stale_users(&env, &format!("r{round}"), 25, t0()).await;
            for u in stale.iter().step_by(4) {
                // Expired sessions of stale users: either purge may take them.
                env.sessions.create(&expiring(u.id, now - secs(1))).await.unwrap();
            }
            // Created after the cutoff.
            kept_users.push(user(&format!("r{round}-kept@example.com")).created_at(now).create(&env.users).await.id);
            for i in 1..=12 {
                env.sessions.create(&expiring(keeper.id, now - secs(i))).await.unwrap();
            }
            let rows: Vec<_> = (1..=12)
                .map(|i| OutboxRow {
                    relayed_at: Some(now - RETENTION - secs(i)),
                    ..outbox_row(&format!("r{round}-{i}"), t0())
                })
                .collect();
            insert_outbox(&env.db, &rows).await;
            let sessions_before = count_rows(&env.db, "sessions").await;
            let (a, b) = (cleanup(&env.db, now, 10), cleanup(&env.db, now, 10));
            warm_pool(&env).await;

            let (ra, rb) = tokio::join!(a.run(), b.run());

            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            assert_eq!(ra.users + rb.users, 25, "round {round}: {ra:?} {rb:?}");
            assert_eq!(ra.outbox + rb.outbox, 12, "round {round}: {ra:?} {rb:?}");
            // The keeper's twelve, plus whichever stale users' sessions the
            // session purge reached before the user purge did.
            let sessions = ra.sessions + rb.sessions;
            assert!((12..=12 + 7).contains(&sessions), "round {round}: {ra:?} {rb:?}");
            assert_eq!(ra.verifications + rb.verifications, 0);
            kept_users.sort();
            assert_eq!(uuids(&env.db, "users", "id").await, kept_users, "round {round}");
            assert_eq!(count_rows(&env.db, "sessions").await, sessions_before - 12 - 7, "round {round}");
            assert_eq!(rows_of_user(&env.db, "sessions", keeper.id).await, 0);
            assert_eq!(count_rows(&env.db, "outbox").await, 0);
        }
    }
}
