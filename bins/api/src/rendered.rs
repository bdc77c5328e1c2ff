//! Pages of lists with a version, remembered as the JSON they were answered
//! with.
//!
//! A page that carries the version of the rows it was read at
//! (`Page::version`: the menu's, `crates/storage/src/totals.rs`) is the same
//! page whenever the same query is answered at that version, so its JSON is
//! the same too. The store answers a repeated page from its own memory after
//! one primary-key lookup, and making its JSON again (each item's DTO, then
//! serde, into a growing buffer) was work repeated on every request:
//! answered with the bytes made before, a repeated menu page serves 5–22 %
//! more requests (`bench/README.md`, "A remembered page answered with its
//! JSON"). This memory keeps, per list and query, the body last made and the version it
//! was made of; a page at that version is answered with those bytes, a page
//! at any other is made again and kept in their place.
//!
//! **Never stale.** The bytes answer only a page whose version is the one
//! they were made of, and the page (so its version) comes from the store in
//! the same request, after the store looked the version up. Each replica
//! keeps its own bodies, checked against the version every request reads:
//! nothing to invalidate across replicas. A page without a version (none
//! kept, or read with no rows) is made every time.
//!
//! **Bounded.** At most [`CAPACITY_BYTES`] of keys and bodies per process;
//! beyond that the memory evicts (S3-FIFO, `quick_cache`), keyed with std's
//! SipHash since clients choose the keys (they hold search terms).

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::web::Bytes;
use coffee_app::PageJsonStats;
use coffee_domain::query::Page;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use serde::Serialize;

use crate::problem::ApiError;
use crate::responses::PageJson;

/// Bytes of remembered bodies (and their keys) one process may hold.
pub const CAPACITY_BYTES: u64 = 8 << 20;

/// What an entry costs beside its key and body: the cache's bookkeeping.
const ENTRY_BYTES: u64 = 64;

/// The JSON bodies of pages of lists with a version, per list and query.
pub struct RenderedPages {
    cache: Cache<String, Rendered, ByLength>,
    /// Pages with a version answered with the bytes made before, and made.
    remembered: AtomicU64,
    made: AtomicU64,
}

/// A page's JSON and the version of the rows it was made of.
#[derive(Clone)]
struct Rendered {
    version: i64,
    body: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct ByLength;

impl Weighter<String, Rendered> for ByLength {
    fn weight(&self, key: &String, rendered: &Rendered) -> u64 {
        let bytes = key.len().saturating_add(rendered.body.len());
        u64::try_from(bytes).unwrap_or(u64::MAX).saturating_add(ENTRY_BYTES)
    }
}

impl RenderedPages {
    /// An empty memory of at most `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> Self {
        // The estimate sizes the cache's tables: a page of 20 products is 8–10 KiB.
        let estimated = usize::try_from(capacity_bytes / 8192).unwrap_or(usize::MAX).max(1);
        Self {
            cache: Cache::with_weighter(estimated, capacity_bytes, ByLength),
            remembered: AtomicU64::new(0),
            made: AtomicU64::new(0),
        }
    }

    /// How the JSON of pages with a version was answered since start, for the metrics.
    pub fn stats(&self) -> PageJsonStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PageJsonStats { remembered: load(&self.remembered), made: load(&self.made) }
    }

    /// `page`, the answer to `query` of the list `list`, as JSON: the body
    /// made of it before, if it was made at the page's version, or the body
    /// `render` makes of it now. `render` must depend on the page alone (and
    /// on what stays the same while the process runs, such as the shop's
    /// currency), as a DTO conversion does.
    ///
    /// # Errors
    /// The DTO cannot be serialized (a broken invariant: 500).
    pub fn json<T, D: Serialize>(
        &self,
        list: &'static str,
        query: &impl Debug,
        page: Page<T>,
        render: impl FnOnce(Page<T>) -> D,
    ) -> Result<PageJson<D>, ApiError> {
        let Some(version) = page.version else {
            return to_json(&render(page));
        };
        let key = format!("{list}\n{query:?}");
        if let Some(rendered) = self.cache.get(&key).filter(|rendered| rendered.version == version) {
            self.remembered.fetch_add(1, Ordering::Relaxed);
            return Ok(PageJson { body: rendered.body, schema: PhantomData });
        }
        self.made.fetch_add(1, Ordering::Relaxed);
        let json = to_json(&render(page))?;
        self.cache.insert(key, Rendered { version, body: json.body.clone() });
        Ok(json)
    }
}

impl Debug for RenderedPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedPages").field("pages", &self.cache.len()).finish()
    }
}

fn to_json<D: Serialize>(dto: &D) -> Result<PageJson<D>, ApiError> {
    let body = serde_json::to_vec(dto).map_err(|e| ApiError::internal(&e))?;
    Ok(PageJson { body: Bytes::from(body), schema: PhantomData })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use super::*;

    fn page(items: &[&str], version: Option<i64>) -> Page<String> {
        let items = items.iter().map(|item| (*item).to_owned()).collect();
        Page { items, total: 2, page: 1, page_size: 20, version }
    }

    /// Renders `page` through `pages`, counting the times it was made.
    fn json(pages: &RenderedPages, query: &str, page: Page<String>, made: &Cell<u32>) -> Bytes {
        let render = |page: Page<String>| {
            made.set(made.get() + 1);
            page.items
        };
        pages.json("products", &query, page, render).unwrap().body
    }

    #[test]
    fn a_page_at_the_version_it_was_made_of_is_answered_with_the_same_bytes() {
        let pages = RenderedPages::new(CAPACITY_BYTES);
        let made = Cell::new(0);
        let first = json(&pages, "page=1", page(&["espresso", "latte"], Some(7)), &made);
        assert_eq!(&first[..], br#"["espresso","latte"]"#);
        // What the store answers at version 7 is the same page: not made again.
        let again = json(&pages, "page=1", page(&["espresso", "latte"], Some(7)), &made);
        assert_eq!((again, made.get()), (first, 1));
        assert_eq!(pages.stats(), PageJsonStats { remembered: 1, made: 1 });
    }

    #[test]
    fn a_page_at_another_version_or_query_is_made_again() {
        let pages = RenderedPages::new(CAPACITY_BYTES);
        let made = Cell::new(0);
        json(&pages, "page=1", page(&["espresso"], Some(7)), &made);
        let moved = json(&pages, "page=1", page(&["ristretto"], Some(8)), &made);
        assert_eq!((&moved[..], made.get()), (&br#"["ristretto"]"#[..], 2), "the version moved");
        let other = json(&pages, "page=2", page(&["mocha"], Some(8)), &made);
        assert_eq!((&other[..], made.get()), (&br#"["mocha"]"#[..], 3), "another query");
        // The newer body took the older one's place.
        json(&pages, "page=1", page(&["ristretto"], Some(8)), &made);
        assert_eq!(made.get(), 3);
    }

    #[test]
    fn a_page_without_a_version_is_made_every_time_and_not_kept() {
        let pages = RenderedPages::new(CAPACITY_BYTES);
        let made = Cell::new(0);
        json(&pages, "page=1", page(&["espresso"], None), &made);
        let again = json(&pages, "page=1", page(&["latte"], None), &made);
        assert_eq!((&again[..], made.get()), (&br#"["latte"]"#[..], 2));
        assert_eq!(pages.cache.len(), 0);
        assert_eq!(pages.stats(), PageJsonStats::default(), "the metrics count pages with a version");
    }

    #[test]
    fn what_is_kept_stays_within_the_capacity() {
        let pages = RenderedPages::new(64 << 10);
        let made = Cell::new(0);
        let item = "x".repeat(1000);
        for n in 0..1000 {
            json(&pages, &format!("page={n}"), page(&[&item], Some(1)), &made);
        }
        assert!(pages.cache.weight() <= 64 << 10, "{} bytes kept", pages.cache.weight());
        assert!(pages.cache.len() < 1000);
    }
}
