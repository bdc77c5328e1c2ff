//! Exact list totals, remembered per filter and per version of the rows they
//! count.
//!
//! SPEC §3 gives every page the exact `total` of what its filters match, and
//! counting is most of a big list's cost: at 100 000 products the count of
//! a common search term (5 000 matches) took 14–21 ms where its page took
//! under 1, and the unfiltered menu's count 11–14 ms (`bench/README.md`,
//! "Menu search at 100 000 products"). The menu changes seldom, so most
//! counts repeat a count made before.
//!
//! A list with a version (`ListMapping::version`, a row of `list_versions`
//! that the database changes to a new random value in every transaction
//! that writes the rows the list reads, migration `m20261216_000019`) reads
//! the version beside every page it counts, and remembers the total with the
//! version it was counted at. When a total is remembered, the page is asked
//! for without a count, with the version beside it: the same version, and
//! the remembered total is the page's total; another one, and the page is
//! asked for again with its count (one more round trip, once per filter and
//! replica after each change of the menu). Left out of the statement, the
//! count is neither run nor planned (a searched list is planned on every
//! request): a repeated search answered 16–22 % more requests than with the
//! count skipped inside the statement by a `CASE` (`bench/README.md`).
//!
//! **Still exact, never stale.** The version and the page (and the count,
//! when there is one) are read by one statement, so from one snapshot; and
//! every committed write to the rows changes the version. A snapshot that
//! shows the version a total was counted under therefore shows the same
//! rows that total counted. Each replica remembers its own totals and
//! checks the shared version on every request, so a write on one replica
//! is seen by the next list on every other: nothing to invalidate across
//! replicas. A page and its total still agree (a test changes the rows and
//! reads the list again, on both engines).
//!
//! **Bounded.** At most [`CAPACITY_BYTES`] of keys (the count's SQL and its
//! values, which hold the client's search terms) per process; beyond that
//! the cache evicts (S3-FIFO, `quick_cache`), keyed with std's SipHash since
//! clients choose the keys. A term no one searched before is counted as
//! before, so a client sending new terms costs what it did without this.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{DbBackend, DbErr, QueryResult};

/// Bytes of remembered totals one process may hold: keys, plus
/// [`ENTRY_BYTES`] for each entry.
pub const CAPACITY_BYTES: u64 = 4 << 20;

/// What an entry costs beside its key: the value and the cache's bookkeeping.
const ENTRY_BYTES: u64 = 64;

/// The name of a page's extra column that carries the version it was read at.
const VERSION: &str = "list_version";

/// The remembered totals of one process, shared by its pools' clones.
#[derive(Clone)]
pub(crate) struct Totals(Arc<Inner>);

struct Inner {
    cache: Cache<String, Known, ByKeyLength>,
    /// Totals of lists with a version answered from memory, and counted.
    remembered: AtomicU64,
    counted: AtomicU64,
}

/// How the totals of lists with a version were answered since start, for
/// the metrics (a low share remembered means the menu changes often, or
/// clients rarely repeat a list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotalsStats {
    /// Answered from memory: the version had not moved.
    pub remembered: u64,
    /// Counted: nothing remembered for the filter, or the version moved.
    pub counted: u64,
}

impl Totals {
    pub(crate) fn new() -> Self {
        // The estimate sizes the cache's tables; a key is a few hundred bytes.
        let estimated_entries = usize::try_from(CAPACITY_BYTES / 512).unwrap_or(usize::MAX);
        Self(Arc::new(Inner {
            cache: Cache::with_weighter(estimated_entries, CAPACITY_BYTES, ByKeyLength),
            remembered: AtomicU64::new(0),
            counted: AtomicU64::new(0),
        }))
    }

    pub(crate) fn stats(&self) -> TotalsStats {
        TotalsStats {
            remembered: self.0.remembered.load(Ordering::Relaxed),
            counted: self.0.counted.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Debug for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totals").field("entries", &self.0.cache.len()).field("stats", &self.stats()).finish()
    }
}

/// A total and the version of the rows it was counted at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    version: i64,
    total: i64,
}

#[derive(Debug, Clone, Copy)]
struct ByKeyLength;

impl Weighter<String, Known> for ByKeyLength {
    fn weight(&self, key: &String, _: &Known) -> u64 {
        u64::try_from(key.len()).unwrap_or(u64::MAX).saturating_add(ENTRY_BYTES)
    }
}

/// One list's total: what is remembered of it, and where to remember it.
#[derive(Debug)]
pub(crate) struct Memo {
    totals: Totals,
    /// The `list_versions` row.
    list: &'static str,
    /// The count statement as built (its SQL and values): the same key is
    /// the same set of rows at the same version.
    key: String,
    known: Option<Known>,
}

impl Memo {
    /// The total of `count` (a statement of the list `list`) remembered in `totals`, if any.
    pub(crate) fn look_up(totals: &Totals, list: &'static str, backend: DbBackend, count: &SelectStatement) -> Self {
        let built = backend.build(count);
        let key = format!("{list}\n{}\n{:?}", built.sql, built.values);
        let known = totals.0.cache.get(&key);
        Self { totals: totals.clone(), list, key, known }
    }

    /// Whether a total is remembered for this list and filter.
    pub(crate) fn is_known(&self) -> bool {
        self.known.is_some()
    }

    /// Adds to `page` a column with the version of the rows it reads.
    pub(crate) fn add_version(&self, page: &mut SelectStatement) {
        page.expr_as(version(self.list), Alias::new(VERSION));
    }

    /// The remembered total, if the page's `row` was read at the version it
    /// was counted at.
    pub(crate) fn unchanged(&self, row: &QueryResult) -> Result<Option<i64>, DbErr> {
        let version = row.try_get::<Option<i64>>("", VERSION)?;
        let total = self.known.filter(|known| Some(known.version) == version).map(|known| known.total);
        if total.is_some() {
            self.totals.0.remembered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(total)
    }

    /// Remembers `total`, counted by the statement that read the page's `row`.
    pub(crate) fn remember(self, row: &QueryResult, total: i64) -> Result<(), DbErr> {
        self.totals.0.counted.fetch_add(1, Ordering::Relaxed);
        // No version (its row deleted by hand): counted every time, as without one.
        if let Some(version) = row.try_get::<Option<i64>>("", VERSION)? {
            self.totals.0.cache.insert(self.key, Known { version, total });
        }
        Ok(())
    }
}

/// `(SELECT version FROM list_versions WHERE name = '<list>')`.
fn version(list: &'static str) -> Expr {
    let select = Query::select()
        .column(Alias::new("version"))
        .from(Alias::new("list_versions"))
        .and_where(Expr::col(Alias::new("name")).eq(Expr::Constant(list.into())))
        .to_owned();
    Expr::SubQuery(None, Box::new(select.into()))
}
