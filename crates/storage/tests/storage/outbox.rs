//! The transactional outbox: jobs written with the user changes that cause
//! them, and the relay's claims (leases, retries, parking, concurrency).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use coffee_domain::outbox::{OutboxEntry, OutboxRepository};
use coffee_domain::uow::UnitOfWork;
use coffee_domain::user::UserRepository;
use coffee_storage::SeaOutboxRepository;
use uuid::Uuid;

use crate::support::{
    OutboxRow, backends, count_rows, hours, insert_outbox, mail_job, micros, outbox_row, outbox_row_by_id, outbox_rows,
    secs, t0, user, verification, warm_pool,
};

/// The lease the tests claim with: a minute.
fn lease(now: DateTime<Utc>) -> DateTime<Utc> {
    now + secs(60)
}

fn ids(entries: &[OutboxEntry]) -> Vec<Uuid> {
    entries.iter().map(|e| e.id).collect()
}

/// The entry that claiming `row` (which sends `mail(tag)`) should return.
fn entry(id: Uuid, tag: &str, attempts: i32) -> OutboxEntry {
    OutboxEntry { id, job: Ok(mail_job(tag)), attempts }
}

// --- Writing the outbox in a unit of work ---------------------------------

/// Signs a user up as the auth service does: the user, its verification and
/// its mail in one unit of work.
async fn sign_up(env: &crate::support::Env, builder: crate::support::UserBuilder, tag: &str) -> Result<(), String> {
    let tx = env.uow.begin().await.map_err(|e| e.to_string())?;
    tx.outbox().record(&mail_job(tag), t0()).await.map_err(|e| e.to_string())?;
    tx.users().create(&builder.build(), Some(&verification(tag, t0()))).await.map_err(|e| format!("{e:?}"))?;
    tx.commit().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_committed_unit_of_work_records_exactly_its_mail() {
    for env in backends().await {
        sign_up(&env, user("ann@example.com"), "ann").await.unwrap();

        let rows = outbox_rows(&env.db).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!((row.created_at, row.available_at), (t0(), t0()));
        assert_eq!((row.attempts, row.claimed_until, row.relayed_at, row.parked_at), (0, None, None, None));
        assert_eq!(row.last_error, None);

        let claimed = env.outbox.claim_due(t0(), lease(t0()), 10).await.unwrap();
        assert_eq!(claimed, [entry(row.id, "ann", 0)]);
    }
}

#[tokio::test]
async fn creating_users_records_nothing_in_the_outbox() {
    for env in backends().await {
        user("ann@example.com").with_verification(verification("ann", t0())).create(&env.users).await;
        user("root@example.com").admin().verified_at(t0()).create(&env.users).await;

        assert_eq!(count_rows(&env.db, "outbox").await, 0);
        assert_eq!(env.outbox.claim_due(t0() + hours(1), lease(t0() + hours(1)), 10).await.unwrap(), []);
    }
}

#[tokio::test]
async fn a_unit_of_work_that_fails_midway_leaves_neither_user_nor_mail() {
    for env in backends().await {
        sign_up(&env, user("ann@example.com"), "ann").await.unwrap();

        // The address is taken: the mail was recorded first, then the users insert fails.
        let twin = user("ann@example.com");
        let twin_id = twin.build().user.id;
        let result = sign_up(&env, twin, "twin").await;
        assert!(result.as_ref().is_err_and(|e| e.contains("EmailTaken")), "got {result:?}");
        assert_eq!(env.users.find_verification(twin_id).await.unwrap(), None);

        // The token is taken: the user row is written, then the verification
        // insert fails and the whole transaction rolls back.
        let bob = user("bob@example.com");
        let bob_id = bob.build().user.id;
        assert!(sign_up(&env, bob, "ann").await.is_err());
        assert_eq!(env.users.find(bob_id).await.unwrap(), None);

        let rows = outbox_rows(&env.db).await;
        assert_eq!(rows.len(), 1, "only the committed mail: {rows:?}");
        let claimed = env.outbox.claim_due(t0(), lease(t0()), 10).await.unwrap();
        assert_eq!(claimed, [entry(rows[0].id, "ann", 0)]);
    }
}

#[tokio::test]
async fn a_unit_of_work_dropped_without_commit_writes_nothing() {
    for env in backends().await {
        let ann = user("ann@example.com");
        let ann_id = ann.build().user.id;
        {
            let tx = env.uow.begin().await.unwrap();
            tx.users().create(&ann.build(), Some(&verification("ann", t0()))).await.unwrap();
            tx.outbox().record(&mail_job("ann"), t0()).await.unwrap();
            // Inside the transaction its own writes are visible.
            assert_eq!(tx.users().find(ann_id).await.unwrap().map(|u| u.id), Some(ann_id));
            if env.backend == coffee_testkit::Backend::Postgres {
                // Outside, nothing yet (SQLite's single connection is held by the transaction).
                assert_eq!(env.users.find(ann_id).await.unwrap(), None);
            }
        }
        assert_eq!(env.users.find(ann_id).await.unwrap(), None);
        assert_eq!(count_rows(&env.db, "email_verifications").await, 0);
        assert_eq!(count_rows(&env.db, "outbox").await, 0);
    }
}

#[tokio::test]
async fn replace_verification_replaces_the_code_only_after_the_cooldown() {
    for env in backends().await {
        let ann = user("ann@example.com").with_verification(verification("old", t0())).create(&env.users).await;
        let bob = user("bob@example.com").create(&env.users).await;

        // Within the 60 s cooldown: nothing replaced.
        let soon = t0() + secs(30);
        assert!(!env.users.replace_verification(ann.id, &verification("early", soon), soon - secs(60)).await.unwrap());
        // After it: replaced; a first verification for a user without one is written too.
        let later = t0() + secs(60);
        assert!(env.users.replace_verification(ann.id, &verification("new", later), later - secs(60)).await.unwrap());
        assert!(env.users.replace_verification(bob.id, &verification("bob", later), later - secs(60)).await.unwrap());
        assert_eq!(
            env.users.find_verification(ann.id).await.unwrap().map(|v| v.code_hash).as_deref(),
            Some("code-new")
        );
        assert_eq!(count_rows(&env.db, "outbox").await, 0, "the repository never writes the outbox itself");
    }
}

// --- Claiming --------------------------------------------------------------

#[tokio::test]
async fn claim_due_returns_only_due_entries_oldest_first() {
    for env in backends().await {
        let now = t0();
        // Inserted newest first, so that neither insertion nor id order is
        // the order asked for.
        let not_yet = outbox_row("not-yet", now + micros(1));
        let due_now = outbox_row("due-now", now);
        let lease_over = OutboxRow { claimed_until: Some(now), ..outbox_row("lease-over", now - secs(30)) };
        let leased = OutboxRow { claimed_until: Some(now + micros(1)), ..outbox_row("leased", now - secs(40)) };
        let relayed = OutboxRow { relayed_at: Some(now - secs(45)), ..outbox_row("relayed", now - secs(50)) };
        let parked =
            OutboxRow { parked_at: Some(now - secs(45)), attempts: 20, ..outbox_row("parked", now - secs(50)) };
        let lease_expired = OutboxRow { claimed_until: Some(now - secs(10)), ..outbox_row("expired", now - secs(20)) };
        // Created first, rescheduled three times since.
        let retried = OutboxRow {
            created_at: now - hours(2),
            attempts: 3,
            last_error: Some("queue down".to_owned()),
            ..outbox_row("retried", now - hours(1))
        };
        let all = [not_yet, due_now, lease_over, leased, relayed, parked, lease_expired, retried];
        insert_outbox(&env.db, &all).await;
        let [not_yet, due_now, lease_over, leased, relayed, parked, lease_expired, retried] = all;

        let claimed = env.outbox.claim_due(now, lease(now), 100).await.unwrap();

        assert_eq!(
            claimed,
            [
                entry(retried.id, "retried", 3),
                entry(lease_over.id, "lease-over", 0),
                entry(lease_expired.id, "expired", 0),
                entry(due_now.id, "due-now", 0),
            ]
        );
        // The claimed rows are leased; the others are untouched.
        for id in ids(&claimed) {
            assert_eq!(outbox_row_by_id(&env.db, id).await.claimed_until, Some(lease(now)));
        }
        for row in [not_yet, leased, relayed, parked] {
            assert_eq!(outbox_row_by_id(&env.db, row.id).await, row);
        }
    }
}

#[tokio::test]
async fn claim_due_returns_at_most_limit_entries_oldest_first() {
    for env in backends().await {
        let now = t0();
        // Five due entries, inserted in the reverse of their age.
        let rows: Vec<_> = (0..5).map(|i| outbox_row(&format!("m{i}"), now - secs(i))).collect();
        insert_outbox(&env.db, &rows).await;
        let oldest_first: Vec<_> = rows.iter().rev().map(|r| r.id).collect();

        let mut batches = Vec::new();
        for _ in 0..4 {
            batches.push(ids(&env.outbox.claim_due(now, lease(now), 2).await.unwrap()));
        }

        assert_eq!(
            batches,
            [oldest_first[0..2].to_vec(), oldest_first[2..4].to_vec(), oldest_first[4..].to_vec(), vec![]]
        );
    }
}

#[tokio::test]
async fn a_claimed_entry_is_claimed_again_only_once_its_lease_ends() {
    for env in backends().await {
        let row = outbox_row("ann", t0());
        insert_outbox(&env.db, std::slice::from_ref(&row)).await;
        let first = env.outbox.claim_due(t0(), lease(t0()), 10).await.unwrap();
        assert_eq!(first, [entry(row.id, "ann", 0)]);

        // Any time before the lease ends, another relay gets nothing.
        for now in [t0(), t0() + secs(30), lease(t0()) - micros(1)] {
            assert_eq!(env.outbox.claim_due(now, lease(now), 10).await.unwrap(), [], "at {now}");
        }

        // At its end the entry is due again (the first relay died), with a new lease.
        let end = lease(t0());
        assert_eq!(env.outbox.claim_due(end, lease(end), 10).await.unwrap(), [entry(row.id, "ann", 0)]);
        assert_eq!(outbox_row_by_id(&env.db, row.id).await.claimed_until, Some(lease(end)));
        assert_eq!(env.outbox.claim_due(end + secs(1), lease(end + secs(1)), 10).await.unwrap(), []);
    }
}

#[tokio::test]
async fn a_relayed_entry_is_never_claimed_again() {
    for env in backends().await {
        let ann = outbox_row("ann", t0());
        let bob = outbox_row("bob", t0() + micros(1));
        insert_outbox(&env.db, &[ann.clone(), bob.clone()]).await;
        env.outbox.claim_due(t0(), lease(t0()), 1).await.unwrap();

        env.outbox.mark_relayed(ann.id, t0() + secs(1)).await.unwrap();

        let stored = outbox_row_by_id(&env.db, ann.id).await;
        assert_eq!(stored, OutboxRow { relayed_at: Some(t0() + secs(1)), ..ann });
        let much_later = t0() + hours(24);
        assert_eq!(env.outbox.claim_due(much_later, lease(much_later), 10).await.unwrap(), [entry(bob.id, "bob", 0)]);
    }
}

#[tokio::test]
async fn an_entry_handed_over_long_ago_and_never_delivered_is_due_again() {
    for env in backends().await {
        let relayed = |tag: &str, at| OutboxRow { relayed_at: Some(at), ..outbox_row(tag, t0()) };
        let lost = relayed("lost", t0());
        let delivered = relayed("delivered", t0());
        let parked = OutboxRow { parked_at: Some(t0()), ..relayed("parked", t0()) };
        let recent = relayed("recent", t0() + hours(2));
        insert_outbox(&env.db, &[lost.clone(), delivered.clone(), parked.clone(), recent.clone()]).await;
        env.outbox.mark_delivered(delivered.id, t0() + secs(5)).await.unwrap();

        let now = t0() + hours(2) + secs(1);
        assert_eq!(env.outbox.rearm_undelivered(t0() + hours(1), now).await.unwrap(), 1);

        let stored = outbox_row_by_id(&env.db, lost.id).await;
        assert_eq!((stored.relayed_at, stored.available_at, stored.attempts), (None, now, 0));
        assert!(stored.last_error.is_some_and(|e| e.contains("not delivered")));
        assert_eq!(env.outbox.claim_due(now, lease(now), 10).await.unwrap(), [entry(lost.id, "lost", 0)]);
        for untouched in [&delivered, &parked, &recent] {
            assert_eq!(outbox_row_by_id(&env.db, untouched.id).await.relayed_at, untouched.relayed_at);
        }
    }
}

#[tokio::test]
async fn reschedule_counts_the_attempt_and_delays_the_entry() {
    for env in backends().await {
        let row = outbox_row("ann", t0());
        insert_outbox(&env.db, std::slice::from_ref(&row)).await;
        env.outbox.claim_due(t0(), lease(t0()), 10).await.unwrap();

        let retry_at = t0() + secs(2);
        env.outbox.reschedule(row.id, retry_at, "redis: connection refused").await.unwrap();

        let stored = outbox_row_by_id(&env.db, row.id).await;
        let expected = OutboxRow {
            attempts: 1,
            available_at: retry_at,
            claimed_until: None,
            last_error: Some("redis: connection refused".to_owned()),
            ..row.clone()
        };
        assert_eq!(stored, expected);

        // Not due before `retry_at` (although its lease was released), due at it.
        let early = retry_at - micros(1);
        assert_eq!(env.outbox.claim_due(early, lease(early), 10).await.unwrap(), []);
        assert_eq!(env.outbox.claim_due(retry_at, lease(retry_at), 10).await.unwrap(), [entry(row.id, "ann", 1)]);

        // Again, with an overlong (multi-byte) error: counted, and the text kept bounded.
        let retry_again = retry_at + secs(4);
        env.outbox.reschedule(row.id, retry_again, &"é".repeat(5000)).await.unwrap();
        let stored = outbox_row_by_id(&env.db, row.id).await;
        assert_eq!((stored.attempts, stored.available_at, stored.claimed_until), (2, retry_again, None));
        assert_eq!(stored.last_error, Some("é".repeat(1000)));
        assert_eq!(env.outbox.claim_due(retry_again, lease(retry_again), 10).await.unwrap(), [entry(row.id, "ann", 2)]);
    }
}

#[tokio::test]
async fn a_parked_entry_stays_but_is_never_claimed_again() {
    for env in backends().await {
        let ann = OutboxRow { attempts: 19, ..outbox_row("ann", t0()) };
        let bob = outbox_row("bob", t0() + micros(1));
        insert_outbox(&env.db, &[ann.clone(), bob.clone()]).await;
        env.outbox.claim_due(t0(), lease(t0()), 1).await.unwrap();

        env.outbox.park(ann.id, t0() + secs(1), "queue refused it 20 times").await.unwrap();

        let stored = outbox_row_by_id(&env.db, ann.id).await;
        let expected = OutboxRow {
            attempts: 20,
            parked_at: Some(t0() + secs(1)),
            last_error: Some("queue refused it 20 times".to_owned()),
            ..ann
        };
        assert_eq!(stored, expected);
        let much_later = t0() + hours(24 * 365);
        assert_eq!(env.outbox.claim_due(much_later, lease(much_later), 10).await.unwrap(), [entry(bob.id, "bob", 0)]);
    }
}

#[tokio::test]
async fn a_deferred_entry_is_handed_over_again_later_unless_it_is_too_old_delivered_or_parked() {
    for env in backends().await {
        let relayed = |tag: &str, created_at: DateTime<Utc>| OutboxRow {
            relayed_at: Some(created_at + secs(1)),
            ..outbox_row(tag, created_at)
        };
        let (ann, old, done, parked) =
            (relayed("ann", t0()), relayed("old", t0() - hours(80)), relayed("done", t0()), relayed("parked", t0()));
        let parked = OutboxRow { parked_at: Some(t0() + secs(2)), ..parked };
        insert_outbox(&env.db, &[ann.clone(), old.clone(), done.clone(), parked.clone()]).await;
        env.outbox.mark_delivered(done.id, t0() + secs(2)).await.unwrap();
        let (now, until, recorded_after) = (t0() + secs(300), t0() + secs(1200), t0() - hours(72));

        for (row, taken_back) in [(&ann, true), (&old, false), (&done, false), (&parked, false)] {
            let deferred = env.outbox.defer(row.id, until, recorded_after, "451 try later").await.unwrap();
            assert_eq!(deferred, taken_back, "{:?}: {}", env.backend, row.job);
        }
        let stored = outbox_row_by_id(&env.db, ann.id).await;
        let expected = OutboxRow {
            attempts: 1,
            available_at: until,
            relayed_at: None,
            last_error: Some("451 try later".to_owned()),
            ..ann.clone()
        };
        assert_eq!(stored, expected);
        assert_eq!(outbox_row_by_id(&env.db, old.id).await, old, "too old: left for the caller to give up on");
        // Due again at `until`, not before.
        assert_eq!(env.outbox.claim_due(now, lease(now), 10).await.unwrap(), []);
        assert_eq!(env.outbox.claim_due(until, lease(until), 10).await.unwrap(), [entry(ann.id, "ann", 1)]);
    }
}

#[tokio::test]
async fn concurrent_claims_never_share_an_entry_and_together_take_every_due_one() {
    for env in backends().await {
        let (a, b) = (SeaOutboxRepository::new(env.pools.clone()), SeaOutboxRepository::new(env.pools.clone()));
        for round in 1..=5 {
            let now = t0() + hours(round);
            let rows: Vec<_> = (0..30).map(|i| outbox_row(&format!("r{round}-{i}"), now - secs(i))).collect();
            // Not due (in any round): must be claimed by neither.
            insert_outbox(&env.db, &[outbox_row(&format!("r{round}-later"), t0() + hours(1000))]).await;
            let due: HashSet<Uuid> = insert_outbox(&env.db, &rows).await.into_iter().collect();
            warm_pool(&env).await;

            let (ra, rb) = tokio::join!(a.claim_due(now, lease(now), 20), b.claim_due(now, lease(now), 20));

            let (ra, rb) = (ids(&ra.unwrap()), ids(&rb.unwrap()));
            let (sa, sb): (HashSet<Uuid>, HashSet<Uuid>) = (ra.iter().copied().collect(), rb.iter().copied().collect());
            assert_eq!(sa.len() + sb.len(), ra.len() + rb.len(), "round {round}: a claim returned a row twice");
            assert!(sa.is_disjoint(&sb), "round {round}: both claimed {:?}", sa.intersection(&sb));
            assert!(ra.len() <= 20 && rb.len() <= 20, "round {round}: {} and {}", ra.len(), rb.len());
            assert_eq!(&sa | &sb, due, "round {round}: a={} b={}", ra.len(), rb.len());
            for id in due {
                env.outbox.mark_relayed(id, now).await.unwrap();
            }
        }
    }
}

// --- Undecodable entries ---------------------------------------------------

/// Jobs this version cannot read back: text no version wrote, and a JSON
/// job of a kind it does not know (a newer version's, perhaps).
fn undecodable(available_at: DateTime<Utc>) -> [OutboxRow; 2] {
    let base = outbox_row("bad", available_at);
    [
        OutboxRow { job: "not json at all".to_owned(), ..base.clone() },
        OutboxRow { id: Uuid::now_v7(), job: r#"{"type":"launch_rockets"}"#.to_owned(), ..base },
    ]
}

#[tokio::test]
async fn an_undecodable_entry_is_claimed_as_unreadable_with_its_age_and_whether_it_may_be_a_newer_job() {
    // What becomes of it is the relay's decision (coffee-domain's tests).
    for env in backends().await {
        let now = t0();
        let [garbage, unknown] = undecodable(now - secs(10));
        let good = outbox_row("ann", now - secs(5));
        insert_outbox(&env.db, &[garbage.clone(), unknown.clone(), good.clone()]).await;

        let claimed = env.outbox.claim_due(now, lease(now), 10).await.unwrap();

        assert_eq!(ids(&claimed), [garbage.id, unknown.id, good.id], "{:?}", env.backend);
        let unreadable = |entry: &OutboxEntry| entry.job.clone().expect_err("cannot be read");
        let (not_json, newer) = (unreadable(&claimed[0]), unreadable(&claimed[1]));
        assert_eq!((not_json.maybe_newer, not_json.recorded_at), (false, garbage.created_at));
        assert_eq!((newer.maybe_newer, newer.recorded_at), (true, unknown.created_at));
        assert!(newer.error.contains("launch_rockets"), "{}", newer.error);
        assert_eq!(claimed[2], entry(good.id, "ann", 0));
        // Claimed like any entry: not due again while the lease lasts.
        assert!(env.outbox.claim_due(now, lease(now), 10).await.unwrap().is_empty());
    }
}

/// Whether entry `id` is recorded delivered, asked the way a run asks.
async fn is_delivered(outbox: &SeaOutboxRepository, id: Uuid) -> bool {
    let asked = outbox.lease_delivery(id, Uuid::now_v7(), t0(), t0()).await.unwrap();
    asked == coffee_domain::outbox::DeliveryLease::Delivered
}

#[tokio::test]
async fn an_entry_is_recorded_delivered_once_and_unknown_entries_are_not_delivered() {
    for env in backends().await {
        let ids = insert_outbox(&env.db, &[outbox_row("ann", t0()), outbox_row("bob", t0())]).await;
        assert!(!is_delivered(&env.outbox, ids[0]).await);
        env.outbox.mark_delivered(ids[0], t0()).await.unwrap();
        assert!(is_delivered(&env.outbox, ids[0]).await, "{:?}", env.backend);
        assert!(!is_delivered(&env.outbox, ids[1]).await, "only that entry");
        // A second mark (a repeated run that slipped through) keeps the first time.
        env.outbox.mark_delivered(ids[0], t0() + secs(5)).await.unwrap();
        assert!(is_delivered(&env.outbox, ids[0]).await);
        assert!(!is_delivered(&env.outbox, Uuid::now_v7()).await, "never recorded");
    }
}

#[tokio::test]
async fn the_backlog_counts_entries_neither_relayed_nor_parked() {
    for env in backends().await {
        assert_eq!(env.outbox.backlog().await.unwrap(), 0);
        let later = t0() + hours(1);
        let rows = [
            outbox_row("due", t0()),
            // Waiting for a retry, and claimed by a relay: still to be handed over.
            OutboxRow { attempts: 3, ..outbox_row("retrying", later) },
            OutboxRow { claimed_until: Some(later), ..outbox_row("claimed", t0()) },
            OutboxRow { relayed_at: Some(t0()), ..outbox_row("relayed", t0()) },
            OutboxRow { parked_at: Some(t0()), attempts: 20, ..outbox_row("parked", t0()) },
        ];
        insert_outbox(&env.db, &rows).await;
        assert_eq!(env.outbox.backlog().await.unwrap(), 3);
        assert_eq!(env.outbox.parked().await.unwrap(), 1);
        env.outbox.mark_relayed(rows[0].id, t0()).await.unwrap();
        assert_eq!(env.outbox.backlog().await.unwrap(), 2);
    }
}

#[tokio::test]
async fn the_backfill_records_delivered_what_was_handed_over_before_it() {
    use coffee_migrations::{Migrator, MigratorTrait};
    for env in backends().await {
        crate::support::down_to_before(&env, "m20261209_000012_outbox_redelivery").await;
        let now = chrono::Utc::now();
        let old = OutboxRow { relayed_at: Some(now - hours(2)), ..outbox_row("old", t0()) };
        let recent = OutboxRow { relayed_at: Some(now - secs(30)), ..outbox_row("recent", t0()) };
        let waiting = outbox_row("waiting", t0());
        insert_outbox(&env.db, &[old.clone(), recent.clone(), waiting.clone()]).await;
        Migrator::up(&env.db, None).await.unwrap();

        let delivered = |id: uuid::Uuid| {
            let db = env.db.clone();
            async move { is_delivered(&SeaOutboxRepository::new(db), id).await }
        };
        assert!(delivered(old.id).await, "handed over long ago: recorded delivered");
        assert!(!delivered(waiting.id).await, "never handed over: still to send");
        // SQLite is the embedded profile, whose hand-over was the delivery; on
        // PostgreSQL a young one may still wait in Redis, for the worker to record.
        let sqlite = env.db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite;
        assert_eq!(delivered(recent.id).await, sqlite, "{:?}", env.backend);
    }
}
