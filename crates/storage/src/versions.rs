//! Lookups of a list's version, shared by the requests that wait for one.
//!
//! A remembered menu page costs one statement: the primary-key lookup of its
//! list's version (`totals.rs`). Under load, many requests on one thread
//! want that version at the same moment, and each sent its own lookup: at
//! 32 connections the database answered as many lookups as the API answered
//! pages, and most requests first waited for a connection to send theirs on.
//! Here a pool's requests queue for a list's version instead, and a lookup
//! answers every request that arrived before it was sent. On PostgreSQL a
//! pool is one worker thread's; on SQLite every thread shares the one pool
//! (and the read-only connections its lists run on), so one queue.
//!
//! **Waiting only where it waited before.** As many lookups run at once as
//! the pool has connections for lists (its lender's on PostgreSQL, the
//! read-only ones on SQLite), so a request waits only when every
//! connection it could send its lookup on is busy, as it waited for one
//! before. While it waits, the next lookup sent
//! (by the first request in line that no lookup covers) answers it and every
//! request in line behind it. With a few requests at a time nothing changes:
//! each finds a connection and sends its own lookup.
//!
//! **Never stale.** A request takes only a version that a lookup sent after
//! it arrived has read, so that version shows every write committed before
//! the request arrived, as the request's own lookup would have: a client
//! that changed the menu and then lists it sees its change, on any replica.
//! A lookup already running when a request arrives may have read the
//! version before a write the client has seen committed; the request waits
//! for a later one instead.
//!
//! **A failed lookup is not shared.** The requests it would have answered
//! send their own lookups, at once and side by side, as they did before
//! this queue; so a connection that breaks under one lookup fails one
//! request, and when the database is down the waiters do not wait for its
//! timeout one after another. A request that gives up (its client went
//! away) gives its turn to the next in line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::DbErr;
use tokio::sync::{Semaphore, watch};

/// The version queues of one pool: one per list with a version.
pub(crate) struct VersionQueues {
    lists: Mutex<HashMap<&'static str, Arc<VersionQueue>>>,
    /// Lookups sent since start, counted with other pools' (the metrics).
    sent: Arc<AtomicU64>,
}

impl VersionQueues {
    /// Queues that count the lookups they send in `sent`.
    pub(crate) fn new(sent: Arc<AtomicU64>) -> Self {
        Self { lists: Mutex::default(), sent }
    }

    /// The queue for the version of `list`, made on first use to run
    /// `at_once()` lookups at once (the connections its lookups run on).
    pub(crate) fn of(&self, list: &'static str, at_once: impl FnOnce() -> usize) -> Arc<VersionQueue> {
        let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
        let queue = lists.entry(list).or_insert_with(|| Arc::new(VersionQueue::new(at_once(), Arc::clone(&self.sent))));
        Arc::clone(queue)
    }
}

/// Requests waiting for the version of one list on one pool.
pub(crate) struct VersionQueue {
    /// The requests so far, numbered in the order they arrived: the next
    /// one's number.
    arrived: AtomicU64,
    /// A turn per lookup that may run at once. tokio's semaphore is fair:
    /// the requests take their turns in the order they asked.
    turns: Semaphore,
    /// The lookups running and the last answer; waiting requests watch it.
    state: watch::Sender<State>,
    /// Lookups sent, shared by the pool's queues.
    sent: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct State {
    /// The answer of the latest-sent lookup of those that finished.
    last: Option<Answer>,
    /// The `covers` of each lookup running now.
    running: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Answer {
    /// The requests numbered below this one arrived before the lookup was sent.
    covers: u64,
    /// The version it read; `None` if it failed.
    version: Option<Option<i64>>,
}

impl State {
    /// What the last lookup read, if it was sent after request `me` arrived.
    fn answer_for(&self, me: u64) -> Option<Option<Option<i64>>> {
        self.last.filter(|answer| me < answer.covers).map(|answer| answer.version)
    }

    /// Whether a lookup running now was sent after request `me` arrived.
    fn runs_for(&self, me: u64) -> bool {
        self.running.iter().any(|&covers| me < covers)
    }
}

/// A lookup running; dropped unfinished (its request gave up), it stops
/// counting as running, and the requests that waited for it take turns.
struct Running<'a> {
    queue: &'a VersionQueue,
    covers: u64,
    answer: Option<Answer>,
}

impl Running<'_> {
    fn finish(mut self, version: Option<Option<i64>>) {
        self.answer = Some(Answer { covers: self.covers, version });
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let (covers, answer) = (self.covers, self.answer);
        self.queue.state.send_modify(|state| {
            if let Some(at) = state.running.iter().position(|&c| c == covers) {
                state.running.swap_remove(at);
            }
            // Lookups sent side by side may finish in any order.
            if let Some(answer) = answer
                && state.last.is_none_or(|last| last.covers < answer.covers)
            {
                state.last = Some(answer);
            }
        });
    }
}

impl VersionQueue {
    fn new(at_once: usize, sent: Arc<AtomicU64>) -> Self {
        let (turns, state) = (Semaphore::new(at_once.max(1)), watch::Sender::new(State::default()));
        Self { arrived: AtomicU64::new(0), turns, state, sent }
    }

    /// The list's version as `look_up` reads it, from a lookup sent after
    /// this call began: this request's own, or one it shares.
    ///
    /// # Errors
    /// This request's own lookup failed (one it would have shared is not
    /// passed on: the request then looks up on its own).
    pub(crate) async fn version<F>(&self, look_up: impl FnOnce() -> F) -> Result<Option<i64>, DbErr>
    where
        F: Future<Output = Result<Option<i64>, DbErr>>,
    {
        // Numbered before waiting, so that a lookup sent from now on covers it.
        let me = self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut watching = self.state.subscribe();
        let _turn = loop {
            // While a lookup sent since it arrived runs, it waits for that one.
            let answer = match watching.wait_for(|state| state.answer_for(me).is_some() || !state.runs_for(me)).await {
                Ok(state) => state.answer_for(me),
                // The sender lives as long as `self`.
                Err(_) => None,
            };
            match answer {
                Some(Some(version)) => return Ok(version),
                Some(None) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    return look_up().await;
                }
                None => {}
            }
            // None: its own lookup, on a turn. The semaphore is never
            // closed; were it, the request looks up without one.
            let turn = self.turns.acquire().await.ok();
            let state = self.state.borrow();
            // A lookup for it may have been sent, or have answered, meanwhile.
            if state.answer_for(me).is_none() && !state.runs_for(me) {
                break turn;
            }
        };
        let mut covers = 0;
        // Every request numbered below `covers` arrived before the lookup is
        // sent. No one waits for a lookup to start: no one is woken.
        self.state.send_if_modified(|state| {
            covers = self.arrived.load(Ordering::SeqCst);
            state.running.push(covers);
            false
        });
        let running = Running { queue: self, covers, answer: None };
        self.sent.fetch_add(1, Ordering::Relaxed);
        let version = look_up().await;
        running.finish(version.as_ref().ok().copied());
        version
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicBool, AtomicI64};
    use std::time::Duration;

    use futures_util::FutureExt as _;
    use futures_util::future::join_all;

    use super::*;

    /// A database with one version. Its lookups read the version (or fail)
    /// when they are sent, and each answers when the test says so.
    struct Database {
        version: AtomicI64,
        failing: AtomicBool,
        /// Lookups sent so far: the next one's number.
        sent: AtomicU64,
        /// Bit `i` set: lookup `i` may answer.
        answers: watch::Sender<u64>,
    }

    impl Database {
        fn new(version: i64) -> Self {
            let answers = watch::Sender::new(0);
            Self { version: AtomicI64::new(version), failing: AtomicBool::new(false), sent: AtomicU64::new(0), answers }
        }

        async fn look_up(&self) -> Result<Option<i64>, DbErr> {
            let i = self.sent.fetch_add(1, Ordering::SeqCst);
            let (read, failing) = (self.version.load(Ordering::SeqCst), self.failing.load(Ordering::SeqCst));
            self.answers.subscribe().wait_for(|answers| answers & (1 << i) != 0).await.unwrap();
            if failing { Err(DbErr::Custom("connection reset".into())) } else { Ok(Some(read)) }
        }

        /// Lets lookup `i` (in the order they were sent) answer.
        fn answer(&self, i: u64) {
            self.answers.send_modify(|answers| *answers |= 1 << i);
        }

        fn sent(&self) -> u64 {
            self.sent.load(Ordering::SeqCst)
        }
    }

    /// A queue running `at_once` lookups at once.
    fn queue(at_once: usize) -> Arc<VersionQueue> {
        VersionQueues::new(Arc::default()).of("products", || at_once)
    }

    fn arrived(queue: &VersionQueue) -> u64 {
        queue.arrived.load(Ordering::SeqCst)
    }

    /// Yields until `done`: the other futures of the task run meanwhile.
    /// Fails if they never make it so (yielding alone, a test would spin
    /// and its timeout never fire).
    async fn until(done: impl Fn() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("what the test waits for did not happen");
    }

    async fn within_5s<T>(all: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), all).await.unwrap()
    }

    fn versions(answers: Vec<Read>) -> Vec<Option<Option<i64>>> {
        answers.into_iter().map(Result::ok).collect()
    }

    /// What a request gets: the version, or its lookup's error.
    type Read = Result<Option<i64>, DbErr>;

    /// A request, and `more` requests that arrive once its lookup is sent.
    fn one_then<'a>(
        queue: &'a VersionQueue,
        db: &'a Database,
        more: usize,
    ) -> (impl Future<Output = Read> + 'a, impl Future<Output = Vec<Read>> + 'a) {
        let first = queue.version(|| db.look_up());
        let rest = async move {
            until(|| db.sent() == 1).await;
            join_all((0..more).map(|_| queue.version(|| db.look_up()))).await
        };
        (first, rest)
    }

    #[tokio::test]
    async fn requests_that_arrive_while_a_lookup_runs_share_the_next_one() {
        let (db, queue) = (Database::new(1), queue(1));
        let (first, rest) = one_then(&queue, &db, 9);
        let database = async {
            // The nine arrive while the first lookup runs; then a write commits.
            until(|| arrived(&queue) == 10).await;
            db.version.store(2, Ordering::SeqCst);
            db.answer(0);
            until(|| db.sent() == 2).await;
            db.answer(1);
        };
        let (first, rest, ()) = within_5s(async { tokio::join!(first, rest, database) }).await;
        assert_eq!(first.unwrap(), Some(1));
        assert_eq!(versions(rest), [Some(Some(2)); 9], "none takes a lookup sent before it arrived");
        assert_eq!(db.sent(), 2, "ten requests, two lookups");
        assert_eq!(queue.sent.load(Ordering::SeqCst), 2, "counted for the metrics");
    }

    #[tokio::test]
    async fn as_many_lookups_run_at_once_as_there_are_connections_for_them() {
        let (db, queue) = (Database::new(1), queue(2));
        let two = join_all((0..2).map(|_| queue.version(|| db.look_up())));
        let rest = async {
            until(|| db.sent() == 2).await;
            join_all((0..5).map(|_| queue.version(|| db.look_up()))).await
        };
        let database = async {
            // Two sent at once; five arrive while they run, and a write commits.
            until(|| arrived(&queue) == 7).await;
            db.version.store(2, Ordering::SeqCst);
            db.answer(0);
            // A turn is free: the first of the five sends a lookup, which
            // answers all five. The next turn to free finds the other four
            // covered by it while it runs: they wait for it, none sends one.
            until(|| db.sent() == 3).await;
            db.answer(1);
            until(|| arrived(&queue) == 7 && queue.turns.available_permits() == 1).await;
            db.answer(2);
        };
        let (two, rest, ()) = within_5s(async { tokio::join!(two, rest, database) }).await;
        assert_eq!(versions(two), [Some(Some(1)); 2]);
        assert_eq!(versions(rest), [Some(Some(2)); 5]);
        assert_eq!(db.sent(), 3, "seven requests, three lookups");
    }

    #[tokio::test]
    async fn one_request_at_a_time_sends_its_own_lookup_each_time() {
        let (db, queue) = (Database::new(0), queue(1));
        for version in 1..=3 {
            db.version.store(version, Ordering::SeqCst);
            let i = db.sent();
            let (read, ()) = tokio::join!(queue.version(|| db.look_up()), async {
                until(|| db.sent() == i + 1).await;
                db.answer(i);
            });
            assert_eq!(read.unwrap(), Some(version));
        }
        assert_eq!(db.sent(), 3);
    }

    #[tokio::test]
    async fn the_requests_a_failed_lookup_covered_send_their_own() {
        let (db, queue) = (Database::new(7), queue(1));
        let (first, rest) = one_then(&queue, &db, 3);
        let database = async {
            until(|| arrived(&queue) == 4).await;
            db.failing.store(true, Ordering::SeqCst);
            db.answer(0);
            // The lookup sent for the three fails …
            until(|| db.sent() == 2).await;
            db.failing.store(false, Ordering::SeqCst);
            db.answer(1);
            // … so the two it covered send their own, side by side.
            until(|| db.sent() == 4).await;
            db.answer(2);
            db.answer(3);
        };
        let (first, rest, ()) = within_5s(async { tokio::join!(first, rest, database) }).await;
        assert_eq!(first.unwrap(), Some(7));
        assert_eq!(versions(rest), [None, Some(Some(7)), Some(Some(7))], "only the failed lookup's sender fails");
        assert_eq!(db.sent(), 4, "the first, the failed one, two of their own");
    }

    #[tokio::test]
    async fn the_requests_waiting_for_a_lookup_whose_request_gave_up_send_their_own() {
        let (db, queue) = (Database::new(5), queue(2));
        let mut pending = Vec::new();
        for _ in 0..4 {
            let mut request = Box::pin(queue.version(|| db.look_up()));
            assert!((&mut request).now_or_never().is_none());
            pending.push(request);
        }
        let [first, second, mut gives_up, mut waits] = <[_; 4]>::try_from(pending).ok().unwrap();
        assert_eq!(db.sent(), 2, "two turns: the last two wait");
        db.answer(0);
        assert_eq!(within_5s(first).await.unwrap(), Some(5));
        assert!((&mut gives_up).now_or_never().is_none(), "its turn: a lookup for it and the last");
        db.answer(1);
        assert_eq!(within_5s(second).await.unwrap(), Some(5));
        assert!((&mut waits).now_or_never().is_none(), "a turn, but the third lookup runs for it");
        assert_eq!(db.sent(), 3);
        drop(gives_up);
        let (waited, ()) = within_5s(async {
            tokio::join!(waits, async {
                until(|| db.sent() == 4).await;
                db.answer(3);
            })
        })
        .await;
        assert_eq!(waited.unwrap(), Some(5));
    }

    #[tokio::test]
    async fn a_request_that_gives_up_while_its_lookup_runs_leaves_the_turn_to_the_next() {
        let (db, queue) = (Database::new(3), queue(1));
        let mut gives_up = Box::pin(queue.version(|| db.look_up()));
        let mut next = Box::pin(queue.version(|| db.look_up()));
        assert!((&mut gives_up).now_or_never().is_none(), "its lookup sent");
        assert!((&mut next).now_or_never().is_none(), "waits for a turn");
        assert_eq!(db.sent(), 1);
        // Its client went away: the request is dropped while its lookup runs.
        drop(gives_up);
        let (next, ()) = within_5s(async {
            tokio::join!(next, async {
                until(|| db.sent() == 2).await;
                db.answer(1);
            })
        })
        .await;
        assert_eq!(next.unwrap(), Some(3));
    }
}
