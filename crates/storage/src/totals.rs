//! Exact list totals and pages, remembered per filter and per version of
//! the rows they read.
//!
//! SPEC §3 gives every page the exact `total` of what its filters match, and
//! counting is most of a big list's cost: at 100 000 products the count of
//! a common search term (5 000 matches) took 14–21 ms where its page took
//! under 1, and the unfiltered menu's count 11–14 ms (`bench/README.md`,
//! "Menu search at 100 000 products"). The menu changes seldom, so most
//! counts repeat a count made before, and most pages a page read before.
//!
//! A list with a version (`ListMapping::version`, a row of `list_versions`
//! that the database changes to a new random value in every transaction
//! that writes the rows the list reads or shows, migrations
//! `m20261216_000019` and `m20261217_000020`) reads the version beside every
//! page, and remembers:
//!
//! - **the page** (its items, as the repository made them of its rows, and
//!   its total) with the version it was read at. Asked for again, the page
//!   is answered after one primary-key lookup of the version (shared by
//!   the requests of a thread that want it at once, `versions.rs`): the same
//!   version, and the remembered page is the answer; another one, and the
//!   page is read again (`bench/README.md`, "Menu pages remembered").
//! - **the total** per filter (all pages of it) with the version it was
//!   counted at. When a total is remembered but not the page, the page is
//!   asked for without a count, with the version beside it: the same
//!   version, and the remembered total is the page's total; another one,
//!   and the page is asked for again with its count (one more round trip,
//!   once per filter and replica after each change of the menu). Left out
//!   of the statement, the count is neither run nor planned (a searched
//!   list is planned on every request): a repeated search answered 16–22 %
//!   more requests than with the count skipped inside the statement by a
//!   `CASE` (`bench/README.md`, "Menu totals remembered").
//!
//! **Still exact, never stale.** The version and the page (and the count,
//! when there is one) are read by one statement, so from one snapshot; and
//! every committed write to the rows changes the version. A snapshot that
//! shows the version a page was read or a total counted under therefore
//! shows the same rows: the answer is what a read would return when the
//! version is read. Each replica remembers its own pages and totals and
//! checks the shared version on every request, so a write on one replica
//! is seen by the next list on every other: nothing to invalidate across
//! replicas. A page and its total still agree (a test changes the rows and
//! reads the list again, on both engines).
//!
//! **Bounded.** At most [`CAPACITY_BYTES`] of totals' keys (the count's SQL
//! and its values, which hold the client's search terms) and
//! [`PAGE_CAPACITY_BYTES`] of pages (keys and items, as the list weighs
//! them) per process; beyond that the caches evict (S3-FIFO,
//! `quick_cache`), keyed with std's SipHash since clients choose the keys.
//! A term no one searched before is read and counted as before, so a client
//! sending new terms costs what it did without this.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{ConnectionTrait as _, DbBackend, DbErr, QueryResult, Statement};

use crate::conn::{Conn, Plan};
use crate::versions::VersionQueues;

/// Bytes of remembered totals one process may hold: keys, plus
/// [`ENTRY_BYTES`] for each entry.
pub const CAPACITY_BYTES: u64 = 4 << 20;

/// Bytes of remembered pages one process may hold: keys and items, as
/// their lists weigh them.
pub const PAGE_CAPACITY_BYTES: u64 = 8 << 20;

/// What an entry costs beside its key: the value and the cache's bookkeeping.
const ENTRY_BYTES: u64 = 64;

/// The name of a page's extra column that carries the version it was read at.
const VERSION: &str = "list_version";

/// The remembered totals and pages of one process, shared by its pools' clones.
#[derive(Clone)]
pub(crate) struct Totals(Arc<Inner>);

struct Inner {
    cache: Cache<String, Known, ByKeyLength>,
    pages: Cache<String, KnownPage, ByPageWeight>,
    /// Totals of lists with a version answered from memory, and counted.
    remembered: AtomicU64,
    counted: AtomicU64,
    /// Pages of lists with a version answered from memory, and read.
    pages_remembered: AtomicU64,
    pages_read: AtomicU64,
    /// The requests waiting for a list's version, per pool (`versions.rs`).
    queues: Box<[VersionQueues]>,
    /// Version lookups sent, by every pool's queues.
    version_lookups: Arc<AtomicU64>,
}

/// How the pages and totals of lists with a version were answered since
/// start, for the metrics (a low share remembered means the menu changes
/// often, or clients rarely repeat a list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TotalsStats {
    /// Totals answered from memory, with their page or alone: the version
    /// had not moved.
    pub remembered: u64,
    /// Counted: nothing remembered for the filter, or the version moved.
    pub counted: u64,
    /// Pages answered from memory: the version had not moved.
    pub pages_remembered: u64,
    /// Pages read from the database: not remembered, or the version moved.
    pub pages_read: u64,
    /// Lookups of a version sent, before answering a remembered page: one
    /// answers every request that waited for it (`versions.rs`), so under
    /// load there are fewer than pages remembered.
    pub version_lookups: u64,
}

impl Totals {
    /// The memory of a process whose requests use `pools` pools.
    pub(crate) fn new(pools: usize) -> Self {
        // The estimate sizes the cache's tables; a key is a few hundred bytes.
        let estimated_entries = usize::try_from(CAPACITY_BYTES / 512).unwrap_or(usize::MAX);
        // A page of 20 products weighs 5–10 KiB.
        let estimated_pages = usize::try_from(PAGE_CAPACITY_BYTES / 8192).unwrap_or(usize::MAX);
        let version_lookups = Arc::new(AtomicU64::new(0));
        Self(Arc::new(Inner {
            cache: Cache::with_weighter(estimated_entries, CAPACITY_BYTES, ByKeyLength),
            pages: Cache::with_weighter(estimated_pages, PAGE_CAPACITY_BYTES, ByPageWeight),
            remembered: AtomicU64::new(0),
            counted: AtomicU64::new(0),
            pages_remembered: AtomicU64::new(0),
            pages_read: AtomicU64::new(0),
            queues: (0..pools).map(|_| VersionQueues::new(Arc::clone(&version_lookups))).collect(),
            version_lookups,
        }))
    }

    pub(crate) fn stats(&self) -> TotalsStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TotalsStats {
            remembered: load(&self.0.remembered),
            counted: load(&self.0.counted),
            pages_remembered: load(&self.0.pages_remembered),
            pages_read: load(&self.0.pages_read),
            version_lookups: load(&self.0.version_lookups),
        }
    }
}

impl std::fmt::Debug for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totals")
            .field("entries", &self.0.cache.len())
            .field("pages", &self.0.pages.len())
            .field("stats", &self.stats())
            .finish()
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

/// A page's items (a `Vec` of its list's item type), its total, and the
/// version of the rows they were read at.
#[derive(Clone)]
pub(crate) struct KnownPage {
    version: i64,
    total: u64,
    items: Arc<dyn Any + Send + Sync>,
    /// What the key and items weigh.
    weight: u64,
}

#[derive(Debug, Clone, Copy)]
struct ByPageWeight;

impl Weighter<String, KnownPage> for ByPageWeight {
    fn weight(&self, _: &String, page: &KnownPage) -> u64 {
        page.weight
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

    /// The version a page's `row` was read at (none if its row was deleted by hand).
    pub(crate) fn version_of(row: &QueryResult) -> Result<Option<i64>, DbErr> {
        row.try_get::<Option<i64>>("", VERSION)
    }

    /// Forgets the remembered total unless it was counted at `version`: a
    /// page checked against it would only find it moved.
    pub(crate) fn keep_if_counted_at(&mut self, version: Option<i64>) {
        self.known = self.known.filter(|known| Some(known.version) == version);
    }

    /// Adds to `page` a column with the version of the rows it reads.
    pub(crate) fn add_version(&self, page: &mut SelectStatement) {
        page.expr_as(version(self.list), Alias::new(VERSION));
    }

    /// The remembered total, if the page was read at `version`, the
    /// version it was counted at.
    pub(crate) fn unchanged(&self, version: Option<i64>) -> Option<i64> {
        let total = self.known.filter(|known| Some(known.version) == version).map(|known| known.total);
        if total.is_some() {
            self.totals.0.remembered.fetch_add(1, Ordering::Relaxed);
        }
        total
    }

    /// Remembers `total`, counted by the statement that read the page at `version`.
    pub(crate) fn remember(self, version: Option<i64>, total: i64) {
        self.totals.0.counted.fetch_add(1, Ordering::Relaxed);
        // No version (its row deleted by hand): counted every time, as without one.
        if let Some(version) = version {
            self.totals.0.cache.insert(self.key, Known { version, total });
        }
    }
}

/// One page of a list with a version: what is remembered of it, and where
/// to remember it.
pub(crate) struct PageMemo {
    totals: Totals,
    /// The `list_versions` row.
    list: &'static str,
    /// The list, and the SQL and values of the page's statement without
    /// its total and version columns (its bounds written into the SQL).
    key: String,
    known: Option<KnownPage>,
}

impl PageMemo {
    /// The page built as `page` (its SQL and values) of the list `list`,
    /// remembered in `totals`, if it is.
    pub(crate) fn look_up(totals: &Totals, list: &'static str, page: &Statement) -> Self {
        let key = format!("{list}\n{}\n{:?}", page.sql, page.values);
        let known = totals.0.pages.get(&key);
        Self { totals: totals.clone(), list, key, known }
    }

    /// Whether the page is remembered, at some version.
    pub(crate) fn is_known(&self) -> bool {
        self.known.is_some()
    }

    /// The list's version now (none if its row was deleted by hand): one
    /// primary-key lookup, prepared once per connection. On a pool, it is
    /// sent after this call began, and shared with the calling thread's
    /// requests that wait for a connection to send theirs (`versions.rs`).
    pub(crate) async fn current_version(&self, db: &Conn) -> Result<Option<i64>, DbErr> {
        let look_up = || async {
            let statement = db.get_database_backend().build(&version_select(self.list));
            let rows = db.query_all_planned(statement, Plan::Cached).await?;
            Ok(rows.first().map(|row| row.try_get_by_index::<Option<i64>>(0)).transpose()?.flatten())
        };
        let queue = match db {
            Conn::Pool(pools) => {
                self.totals.0.queues.get(pools.index()).map(|queues| queues.of(self.list, || pools.list_connections()))
            }
            Conn::Tx(_) => None,
        };
        match queue {
            Some(queue) => queue.version(look_up).await,
            None => look_up().await,
        }
    }

    /// The remembered page and its total, if it was read at `version`.
    pub(crate) fn unchanged<T: Clone + 'static>(&self, version: Option<i64>) -> Option<(Vec<T>, u64)> {
        let known = self.known.as_ref().filter(|known| Some(known.version) == version)?;
        let items = known.items.downcast_ref::<Vec<T>>()?.clone();
        self.totals.0.pages_remembered.fetch_add(1, Ordering::Relaxed);
        self.totals.0.remembered.fetch_add(1, Ordering::Relaxed);
        Some((items, known.total))
    }

    /// Remembers `items` and `total`, read at `version`; `weigh` tells what
    /// an item holds, in bytes.
    pub(crate) fn remember<T: Clone + Send + Sync + 'static>(
        self,
        version: Option<i64>,
        items: &[T],
        total: u64,
        weigh: impl Fn(&T) -> usize,
    ) {
        self.totals.0.pages_read.fetch_add(1, Ordering::Relaxed);
        // No version (its row deleted by hand, or an empty page, which
        // carries none): read every time, as without one.
        let Some(version) = version else { return };
        let bytes = items.iter().map(|item| size_of::<T>().saturating_add(weigh(item))).fold(0, usize::saturating_add);
        let weight =
            u64::try_from(self.key.len().saturating_add(bytes)).unwrap_or(u64::MAX).saturating_add(ENTRY_BYTES);
        let items: Arc<dyn Any + Send + Sync> = Arc::new(items.to_vec());
        self.totals.0.pages.insert(self.key, KnownPage { version, total, items, weight });
    }
}

/// `SELECT version FROM list_versions WHERE name = '<list>'`.
fn version_select(list: &'static str) -> SelectStatement {
    Query::select()
        .column(Alias::new("version"))
        .from(Alias::new("list_versions"))
        .and_where(Expr::col(Alias::new("name")).eq(Expr::Constant(list.into())))
        .to_owned()
}

/// `(SELECT version FROM list_versions WHERE name = '<list>')`.
fn version(list: &'static str) -> Expr {
    Expr::SubQuery(None, Box::new(version_select(list).into()))
}
