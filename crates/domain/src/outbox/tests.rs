#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use super::fakes::{FailingJobs, InMemoryOutbox, RecordingJobs};
use crate::error::InfraError;
use crate::mail::Mail;
use crate::testing::{FixedClock, run};

use super::*;

/// A distinct job per `n`.
fn job(n: u32) -> Job {
    Job::SendMail(Mail::Verification {
        to: format!("user{n}@example.com"),
        code: format!("{n:06}"),
        link: format!("https://coffee.example/verify?token=t{n}"),
        valid_minutes: 1440,
    })
}

struct Setup {
    clock: Arc<FixedClock>,
    outbox: Arc<InMemoryOutbox>,
    jobs: Arc<RecordingJobs>,
    relay: OutboxRelay,
}

fn setup() -> Setup {
    let clock = Arc::new(FixedClock::default());
    let outbox = Arc::new(InMemoryOutbox::default());
    let jobs = Arc::new(RecordingJobs::default());
    let relay = OutboxRelay::new(outbox.clone(), jobs.clone(), clock.clone());
    Setup { clock, outbox, jobs, relay }
}

impl Setup {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A relay over the same outbox and clock whose queue is down, or
    /// (`runs_jobs`) runs each job and fails it.
    fn failing_relay(&self, runs_jobs: bool) -> OutboxRelay {
        OutboxRelay::new(
            self.outbox.clone(),
            Arc::new(FailingJobs { runs_jobs, ..FailingJobs::default() }),
            self.clock.clone(),
        )
    }

    /// Claims like a relay that then dies before handing anything over.
    fn claim_and_die(&self) -> Vec<OutboxEntry> {
        let now = self.now();
        run(self.outbox.claim_due(now, now + CLAIM_LEASE, 100)).unwrap()
    }
}

/// A queue that, while it accepts each job, lets a rival relay try to claim
/// from the same outbox at the same instant and records what it got.
struct RivalDuringHandOver {
    outbox: Arc<InMemoryOutbox>,
    clock: Arc<FixedClock>,
    rival_claims: Mutex<Vec<OutboxEntry>>,
}

#[async_trait]
impl JobQueue for RivalDuringHandOver {
    async fn enqueue(&self, _hand_over: HandOver, _job: Job) -> Result<(), InfraError> {
        let now = self.clock.now();
        let claimed = self.outbox.claim_due(now, now + CLAIM_LEASE, 100).await.unwrap();
        self.rival_claims.lock().unwrap().extend(claimed);
        Ok(())
    }
}

fn relayed(n: usize) -> RelayReport {
    RelayReport { relayed: n, ..RelayReport::default() }
}

#[test]
fn the_relay_hands_every_due_entry_to_the_queue_in_order_and_marks_it_relayed() {
    let s = setup();
    let now = s.now();
    let ids: Vec<Uuid> = (1..=3).map(|n| s.outbox.push(job(n), now - TimeDelta::seconds(10))).collect();

    let report = run(s.relay.relay_due(10)).unwrap();

    assert_eq!(report, relayed(3));
    assert_eq!(s.jobs.jobs(), vec![job(1), job(2), job(3)]);
    for id in ids {
        let row = s.outbox.row(id);
        assert_eq!(row.relayed_at, Some(now));
        assert_eq!(row.claimed_until, None);
        assert_eq!(row.attempts, 0);
    }
}

#[test]
fn the_relay_takes_the_oldest_available_entries_first_up_to_the_limit() {
    let s = setup();
    let now = s.now();
    s.outbox.push(job(1), now - TimeDelta::seconds(1));
    s.outbox.push(job(2), now - TimeDelta::seconds(30));
    s.outbox.push(job(3), now - TimeDelta::seconds(20));

    assert_eq!(run(s.relay.relay_due(2)).unwrap(), relayed(2));
    assert_eq!(s.jobs.jobs(), vec![job(2), job(3)]);

    assert_eq!(run(s.relay.relay_due(2)).unwrap(), relayed(1));
    assert_eq!(s.jobs.jobs(), vec![job(2), job(3), job(1)]);
}

#[test]
fn entries_being_handed_over_are_leased_so_a_concurrent_relay_cannot_claim_them() {
    let s = setup();
    let now = s.now();
    let ids: Vec<Uuid> = (1..=2).map(|n| s.outbox.push(job(n), now)).collect();
    let queue = Arc::new(RivalDuringHandOver {
        outbox: s.outbox.clone(),
        clock: s.clock.clone(),
        rival_claims: Mutex::default(),
    });
    let relay = OutboxRelay::new(s.outbox.clone(), queue.clone(), s.clock.clone());

    assert_eq!(run(relay.relay_due(10)).unwrap(), relayed(2));

    assert_eq!(*queue.rival_claims.lock().unwrap(), []);
    assert!(ids.iter().all(|&id| s.outbox.row(id).relayed_at == Some(now)));
}

#[test]
fn entries_not_yet_available_or_claimed_by_a_live_lease_are_left_alone() {
    let s = setup();
    let now = s.now();
    let leased = s.outbox.push(job(1), now);
    assert_eq!(s.claim_and_die().len(), 1, "another relay holds the lease");
    let later = s.outbox.push(job(2), now + TimeDelta::seconds(1));
    let due = s.outbox.push(job(3), now);

    let report = run(s.relay.relay_due(10)).unwrap();

    assert_eq!(report, relayed(1));
    assert_eq!(s.jobs.jobs(), vec![job(3)]);
    assert_eq!(s.outbox.row(due).relayed_at, Some(now));
    let leased_row = s.outbox.row(leased);
    assert_eq!((leased_row.relayed_at, leased_row.claimed_until), (None, Some(now + CLAIM_LEASE)));
    let later_row = s.outbox.row(later);
    assert_eq!((later_row.relayed_at, later_row.claimed_until), (None, None));
}

#[test]
fn an_entry_becomes_due_at_the_instant_it_is_available() {
    let s = setup();
    let id = s.outbox.push(job(1), s.now() + TimeDelta::seconds(5));

    s.clock.advance(TimeDelta::seconds(5) - TimeDelta::microseconds(1));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport::default());

    s.clock.advance(TimeDelta::microseconds(1));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), relayed(1));
    assert_eq!(s.outbox.row(id).relayed_at, Some(s.now()));
}

#[test]
fn with_a_failing_queue_an_entry_is_rescheduled_with_backoff_and_not_relayed() {
    let s = setup();
    let relay = s.failing_relay(false);
    let id = s.outbox.push(job(1), s.now());

    for attempts in 0..5 {
        let now = s.now();
        let report = run(relay.relay_due(10)).unwrap();

        assert_eq!(report, RelayReport { rescheduled: 1, ..RelayReport::default() });
        let row = s.outbox.row(id);
        assert_eq!(row.attempts, attempts + 1);
        assert_eq!(row.available_at, now + relay_backoff(attempts));
        assert_eq!((row.relayed_at, row.parked_at, row.claimed_until), (None, None, None));
        assert_eq!(row.last_error.as_deref(), Some("queue unavailable"));

        // Not due again before the backoff has passed, not even to a working queue.
        assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport::default());
        s.clock.advance(relay_backoff(attempts));
    }
    assert_eq!(s.jobs.len(), 0);
}

#[test]
fn a_queue_that_is_down_is_tried_once_per_pass_and_every_claimed_entry_waits() {
    let s = setup();
    let ids: Vec<_> = (1..=3).map(|n| s.outbox.push(job(n), s.now())).collect();
    let down = Arc::new(FailingJobs::default());
    let relay = OutboxRelay::new(s.outbox.clone(), down.clone(), s.clock.clone());

    let report = run(relay.relay_due(10)).unwrap();

    assert_eq!(report, RelayReport { rescheduled: 3, ..RelayReport::default() });
    assert_eq!(down.tried.load(std::sync::atomic::Ordering::Relaxed), 1, "one hand-over tried, not three");
    for id in &ids {
        let row = s.outbox.row(*id);
        assert_eq!((row.attempts, row.available_at, row.claimed_until), (1, s.now() + relay_backoff(0), None));
    }
    assert!(s.outbox.row(ids[2]).last_error.as_deref().is_some_and(|e| e.contains("queue unavailable")));
    // A queue that runs jobs fails each job on its own: every one is tried.
    let failing = Arc::new(FailingJobs { runs_jobs: true, ..FailingJobs::default() });
    let relay = OutboxRelay::new(s.outbox.clone(), failing.clone(), s.clock.clone());
    s.clock.advance(relay_backoff(0));
    assert_eq!(run(relay.relay_due(10)).unwrap().rescheduled, 3);
    assert_eq!(failing.tried.load(std::sync::atomic::Ordering::Relaxed), 3);
    // Back up: all three go out.
    s.clock.advance(relay_backoff(1));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), relayed(3));
}

#[test]
fn a_rescheduled_entry_is_relayed_once_the_queue_is_back() {
    let s = setup();
    let id = s.outbox.push(job(1), s.now());
    run(s.failing_relay(false).relay_due(10)).unwrap();

    s.clock.advance(relay_backoff(0));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), relayed(1));

    assert_eq!(s.jobs.jobs(), vec![job(1)]);
    let row = s.outbox.row(id);
    assert_eq!((row.attempts, row.relayed_at), (1, Some(s.now())));
    // A hand-over after a failed one is a new one (the refused push may
    // have reached the queue all the same; the runner does the job once).
    assert_eq!(s.jobs.hand_overs(), [HandOver { entry: id, attempts: 1 }]);
}

#[test]
fn relay_backoff_doubles_from_one_second_and_caps_at_five_minutes() {
    let secs = |attempts| relay_backoff(attempts).num_seconds();
    let expected = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300];
    for (attempts, want) in (0..).zip(expected) {
        assert_eq!(secs(attempts), want, "after {attempts} failed hand-overs");
    }
    assert_eq!(secs(MAX_RELAY_ATTEMPTS), 300);
    assert_eq!(secs(i32::MAX), 300);
    assert_eq!(secs(-1), 1, "a negative count is treated as none");
}

#[test]
fn after_max_relay_attempts_failed_runs_an_entry_is_parked_and_never_claimed_again() {
    let s = setup();
    let relay = s.failing_relay(true);
    let id = s.outbox.push(job(1), s.now());
    // A verification mail: tried while its code is valid (a day).
    let allowed = relay_attempts(&job(1));
    assert!(allowed < MAX_RELAY_ATTEMPTS);

    for attempts in 0..allowed - 1 {
        let report = run(relay.relay_due(10)).unwrap();
        assert_eq!(report, RelayReport { rescheduled: 1, ..RelayReport::default() }, "hand-over {}", attempts + 1);
        s.clock.advance(relay_backoff(attempts));
    }
    let parked_at = s.now();
    let report = run(relay.relay_due(10)).unwrap();

    assert_eq!(report, RelayReport { parked: 1, ..RelayReport::default() });
    let row = s.outbox.row(id);
    assert_eq!(row.attempts, allowed);
    assert_eq!((row.parked_at, row.relayed_at, row.claimed_until), (Some(parked_at), None, None));

    s.clock.advance(TimeDelta::days(30));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport::default());
    assert!(s.claim_and_die().is_empty());
    assert_eq!(s.jobs.len(), 0);
    assert_eq!(s.outbox.row(id).parked_at, Some(parked_at));
}

#[test]
fn a_verification_mail_is_worth_delivering_only_while_its_code_is_valid() {
    assert_eq!(give_up_after(&job(1)), TimeDelta::minutes(1440));
    let Job::SendMail(Mail::Verification { to, code, link, .. }) = job(2) else { unreachable!() };
    let for_a_week = Job::SendMail(Mail::Verification { to, code, link, valid_minutes: 7 * 1440 });
    assert_eq!(give_up_after(&for_a_week), GIVE_UP_AFTER, "never longer than any mail");
    // The embedded relay's tries span the same time.
    assert_eq!(relay_attempts(&for_a_week), MAX_RELAY_ATTEMPTS);
    let span = |job: &Job| -> i64 { (0..relay_attempts(job) - 1).map(|a| relay_backoff(a).num_seconds()).sum() };
    assert!((span(&job(1)) - 86_400).abs() <= 300, "{} s for a code valid a day", span(&job(1)));
}

#[test]
fn a_job_that_fails_for_a_passing_reason_is_tried_for_three_days_and_a_permanent_failure_parks_at_once() {
    // The tries before parking span GIVE_UP_AFTER, give or take one pause.
    let span: i64 = (0..MAX_RELAY_ATTEMPTS - 1).map(|a| relay_backoff(a).num_seconds()).sum();
    assert!((span - GIVE_UP_AFTER.num_seconds()).abs() <= 300, "{span} s of tries");

    let s = setup();
    let id = s.outbox.push(job(1), s.now());
    let refused = Arc::new(FailingJobs { runs_jobs: true, permanent: true, ..FailingJobs::default() });
    let relay = OutboxRelay::new(s.outbox.clone(), refused.clone(), s.clock.clone());
    assert_eq!(run(relay.relay_due(10)).unwrap(), RelayReport { parked: 1, ..RelayReport::default() });
    assert_eq!(refused.tried.load(std::sync::atomic::Ordering::Relaxed), 1);
    let row = s.outbox.row(id);
    assert_eq!((row.attempts, row.parked_at), (1, Some(s.now())));
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("mail refused")));
}

#[test]
fn an_entry_is_never_parked_while_the_queue_is_down_however_long_it_takes() {
    let s = setup();
    let id = s.outbox.push(job(1), s.now());
    for attempts in 0..MAX_RELAY_ATTEMPTS * 3 {
        let report = run(s.failing_relay(false).relay_due(10)).unwrap();
        assert_eq!(report, RelayReport { rescheduled: 1, ..RelayReport::default() }, "hand-over {}", attempts + 1);
        s.clock.advance(relay_backoff(attempts));
    }
    assert_eq!(s.outbox.row(id).parked_at, None);
    // Back after about three hours: the entry goes out.
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport { relayed: 1, ..RelayReport::default() });
    assert_eq!(s.jobs.len(), 1);
}

#[test]
fn a_second_relay_pass_right_after_a_successful_one_relays_nothing() {
    let s = setup();
    for n in 1..=3 {
        s.outbox.push(job(n), s.now());
    }
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), relayed(3));

    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport::default());
    s.clock.advance(CLAIM_LEASE + TimeDelta::seconds(1));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport::default());

    assert_eq!(s.jobs.jobs(), vec![job(1), job(2), job(3)]);
}

#[test]
fn an_entry_claimed_by_a_relay_that_died_is_claimed_again_once_the_lease_has_passed() {
    let s = setup();
    let id = s.outbox.push(job(1), s.now());
    let claimed = s.claim_and_die();
    assert_eq!(claimed, vec![OutboxEntry { id, job: Ok(job(1)), attempts: 0 }]);

    s.clock.advance(CLAIM_LEASE - TimeDelta::microseconds(1));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport::default(), "the lease is still live");

    s.clock.advance(TimeDelta::microseconds(1));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), relayed(1));

    assert_eq!(s.jobs.jobs(), vec![job(1)]);
    let row = s.outbox.row(id);
    assert_eq!((row.relayed_at, row.claimed_until, row.attempts), (Some(s.now()), None, 0));
}

#[test]
fn an_entry_the_queue_lost_is_handed_over_again_after_redeliver_after() {
    let s = setup();
    let (lost, delivered, parked) =
        (s.outbox.push(job(1), s.now()), s.outbox.push(job(2), s.now()), s.outbox.push(job(3), s.now()));
    assert_eq!(run(s.relay.relay_due(10)).unwrap().relayed, 3);
    run(s.outbox.mark_delivered(delivered, s.now())).unwrap();
    run(s.outbox.park(parked, s.now(), "gave up after JOB_MAX_ATTEMPTS runs")).unwrap();

    // Within the hour nothing is handed over again: the job may still be queued.
    s.clock.advance(REDELIVER_AFTER - TimeDelta::seconds(1));
    let fresh = s.outbox.push(job(4), s.now());
    assert_eq!(run(s.relay.relay_due(10)).unwrap().relayed, 1);
    assert_eq!(run(s.relay.rearm_lost()).unwrap(), 0);

    // Past it, the one neither delivered nor parked goes out again, once.
    s.clock.advance(TimeDelta::seconds(2));
    assert_eq!(run(s.relay.rearm_lost()).unwrap(), 1);
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport { relayed: 1, ..RelayReport::default() });
    assert_eq!(s.jobs.len(), 5, "three, the one after them, and the lost one again");
    // The same hand-over (no failure counted): a queue that still holds it adds nothing.
    let lost_hand_overs: Vec<_> = s.jobs.hand_overs().into_iter().filter(|h| h.entry == lost).collect();
    assert_eq!(lost_hand_overs, [HandOver { entry: lost, attempts: 0 }; 2]);
    assert_eq!(s.outbox.row(lost).relayed_at, Some(s.now()));
    assert_eq!(run(s.relay.rearm_lost()).unwrap(), 0, "handed over again just now");
    assert_eq!(s.outbox.row(fresh).relayed_at.map(|at| at < s.now()), Some(true));
}

/// An entry this version cannot read: a JSON object of an unknown kind
/// (`maybe_newer`), or not a job at all, recorded at `recorded_at`.
fn unreadable(maybe_newer: bool, recorded_at: DateTime<Utc>) -> Unreadable {
    Unreadable { error: "unknown variant `launch_rockets`".to_owned(), maybe_newer, recorded_at }
}

#[test]
fn an_unreadable_entry_is_left_for_a_newer_relay_for_three_days_else_parked_and_the_others_go_out() {
    let s = setup();
    let now = s.now();
    let earlier = now - TimeDelta::seconds(10);
    let garbage = s.outbox.push_unreadable(unreadable(false, earlier), earlier);
    let newer = s.outbox.push_unreadable(unreadable(true, earlier), earlier);
    // A newer version's job, but recorded longer ago than any deploy lasts.
    let stale = s.outbox.push_unreadable(unreadable(true, now - GIVE_UP_AFTER - TimeDelta::seconds(1)), earlier);
    s.outbox.push(job(1), now);

    let report = run(s.relay.relay_due(10)).unwrap();

    assert_eq!(report, RelayReport { relayed: 1, rescheduled: 1, parked: 2 });
    assert_eq!(s.jobs.jobs(), vec![job(1)], "only the job it reads is handed over");
    for (id, parked) in [(garbage, true), (newer, false), (stale, true)] {
        let row = s.outbox.row(id);
        let expected = if parked { (Some(now), earlier) } else { (None, now + relay_backoff(0)) };
        assert_eq!((row.parked_at, row.available_at), expected, "{row:?}");
        assert_eq!((row.attempts, row.claimed_until, row.relayed_at), (1, None, None));
        let error = row.last_error.unwrap_or_default();
        assert!(error.starts_with("undecodable job") && error.contains("launch_rockets"), "{error}");
    }

    // Due again, it is left again, a little longer each time…
    s.clock.advance(relay_backoff(0));
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport { rescheduled: 1, ..RelayReport::default() });
    assert_eq!(s.outbox.row(newer).available_at, s.now() + relay_backoff(1));
    // …until it is older than any deploy lasts: parked for an operator.
    s.clock.advance(GIVE_UP_AFTER);
    assert_eq!(run(s.relay.relay_due(10)).unwrap(), RelayReport { parked: 1, ..RelayReport::default() });
    assert_eq!(s.outbox.row(newer).parked_at, Some(s.now()));
}

#[test]
fn unreadable_entries_never_block_the_entries_behind_them_even_one_per_pass() {
    let s = setup();
    let earlier = s.now() - TimeDelta::seconds(10);
    s.outbox.push_unreadable(unreadable(false, earlier), earlier);
    s.outbox.push_unreadable(unreadable(true, earlier), earlier);
    s.outbox.push(job(1), s.now());
    s.outbox.push(job(2), s.now());

    for _ in 0..4 {
        run(s.relay.relay_due(1)).unwrap();
    }

    assert_eq!(s.jobs.jobs(), vec![job(1), job(2)]);
}

#[test]
fn an_unreadable_entry_behind_a_refused_one_is_still_judged_as_unreadable() {
    let s = setup();
    let now = s.now();
    s.outbox.push(job(1), now - TimeDelta::seconds(20));
    let garbage = s.outbox.push_unreadable(unreadable(false, now), now - TimeDelta::seconds(10));

    // Redis is down: the first entry is refused, the rest of the pass is not tried.
    let report = run(s.failing_relay(false).relay_due(10)).unwrap();

    assert_eq!(report, RelayReport { rescheduled: 1, parked: 1, ..RelayReport::default() });
    let row = s.outbox.row(garbage);
    assert_eq!(row.parked_at, Some(now), "parked at once, as in any pass");
    assert!(row.last_error.unwrap_or_default().contains("launch_rockets"), "its own error is kept");
}
