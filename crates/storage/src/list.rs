//! Translates the domain's typed list queries into SeaORM conditions.
//!
//! Columns come from each repository's exhaustive `match` over its field
//! enum — never from client text — and every value is a bound parameter,
//! except a page's bounds (numbers the list language checked,
//! [`with_literal_bounds`]) and closed-set filter values (an enum's name
//! from its whitelist, a boolean, [`operand`]), written into the statement
//! for PostgreSQL's plans.

use coffee_domain::query::{Filter, ListQuery, Op, Value};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, IntoColumnRef, LikeExpr, NullOrdering, Query, SelectStatement, SimpleExpr, UnionType,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, ExprTrait, FromQueryResult, IdenStatic,
    Order, QueryFilter, QueryResult, QueryTrait, Select, Statement,
};

use crate::conn::{Conn, Plan};
use crate::totals::{Memo, PageMemo, Totals};

/// How one resource maps onto its table.
pub(crate) struct ListMapping<E: EntityTrait, F> {
    /// The column of each field.
    pub column: fn(F) -> E::Column,
    /// Columns matched by `search`: case-folded copies (see [`fold`]).
    pub search: &'static [E::Column],
    /// What else `search` matches: given the term, a statement that selects
    /// the id of each resource that other rows of it match (e.g. an order's
    /// lines, with [`contains`]); `None`: the columns alone.
    pub search_beyond: Option<fn(&str) -> SelectStatement>,
    /// The case-folded copy of a text field, matched by `__contains` and
    /// sorted by first (a sortable one needs an index on it and the text).
    pub folded: fn(F) -> Option<E::Column>,
    /// Unique tie-breaker so that pages never overlap.
    pub id: E::Column,
    /// Filters that are not a comparison on the resource's own column (e.g.
    /// membership through a join table); `None` means "use `column`".
    pub custom: fn(&Filter<F>) -> Option<SimpleExpr>,
    /// The `list_versions` row that changes with every write to the rows
    /// this list reads or shows (migration `m20261216_000019`): with one, a
    /// counted total is remembered per filter, and a page read through
    /// [`PageStatement::run_remembered`] per page, and reused while the
    /// version stays the same (`totals.rs`); `None`: read and counted on
    /// every request.
    pub version: Option<&'static str>,
}

/// Where a list's exact `total` comes from.
pub(crate) enum Total {
    /// `COUNT(*)` over every row the query matches.
    Count,
    /// A statement that returns it as one `BIGINT` (e.g. the sum of
    /// counters the database keeps), when the caller has one.
    From(Box<SelectStatement>),
}

/// The name of the page statement's extra column that carries the total.
const TOTAL: &str = "list_total";

/// Runs `select` narrowed by `query`, with the exact total of every row it
/// matches; each row read as an `M` (the entity's model, or a partial model
/// of the columns `select` names).
pub(crate) async fn fetch_page<E, F, M>(
    db: &Conn,
    select: Select<E>,
    query: &ListQuery<F>,
    mapping: &ListMapping<E, F>,
) -> Result<(Vec<M>, u64), DbErr>
where
    E: EntityTrait,
    F: Copy + PartialEq,
    M: FromQueryResult,
{
    fetch_page_with_total(db, select, query, mapping, Total::Count).await
}

/// [`fetch_page`] with the total from `total`.
pub(crate) async fn fetch_page_with_total<E, F, M>(
    db: &Conn,
    select: Select<E>,
    query: &ListQuery<F>,
    mapping: &ListMapping<E, F>,
    total: Total,
) -> Result<(Vec<M>, u64), DbErr>
where
    E: EntityTrait,
    F: Copy + PartialEq,
    M: FromQueryResult,
{
    let (rows, total) = PageStatement::new(db, select, query, mapping, total).run().await?;
    let items = rows.iter().map(|row| M::from_query_result(row, "")).collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// A list's page and its exact total, ready to run.
///
/// The page and its total come from **one statement**: the total is an
/// uncorrelated scalar subquery in the page's select list, which both engines
/// evaluate once. So they are read from the same snapshot — two statements
/// under READ COMMITTED could each see a different set of rows, and `total`
/// disagree with the items — and a list costs one round trip fewer. Only a
/// page with no rows needs a second statement: past the last page, to learn
/// the total (an empty first page means it is 0).
///
/// A counted total of a list with a version is remembered, and counted
/// again only when the version changed; so is a page, if its caller says how
/// to make and weigh its items ([`Self::run_remembered`], `totals.rs`).
/// Statements are built when they are about to run, so a page answered from
/// memory builds only the text that names it.
pub(crate) struct PageStatement {
    /// Where it runs (and, outside a transaction, the totals remembered).
    db: Conn,
    /// The page's rows in order, with the list's own columns only: the
    /// statements that run add the total or the version to it, and `join`.
    page: SelectStatement,
    /// Where the total comes from.
    total: Total,
    /// Adds other tables' rows to each item ([`Self::joined`]).
    join: Option<fn(&mut SelectStatement)>,
    /// The page's order, the unique id last: (column, order, where NULL goes).
    order: Vec<(&'static str, Order, Option<NullOrdering>)>,
    limit: u64,
    offset: u64,
    /// How PostgreSQL plans it: with the client's search terms, or range
    /// bounds off the leading sort key, when there are any (see [`Plan`]).
    plan: Plan,
    /// The list's `list_versions` row, for a counted list with a version
    /// outside a transaction (a unit of work may have written the rows
    /// itself, uncommitted): its pages and totals are remembered
    /// ([`Self::remembered`]).
    versioned: Option<&'static str>,
}

/// The page's own statement: `select` narrowed by `query`'s filters and
/// search, in its order (the unique id last), limited to its page; and that
/// order as (column, direction, where NULL goes).
#[allow(clippy::type_complexity)]
pub(crate) fn page_select<E, F>(
    select: Select<E>,
    query: &ListQuery<F>,
    mapping: &ListMapping<E, F>,
) -> (SelectStatement, Vec<(&'static str, Order, Option<NullOrdering>)>)
where
    E: EntityTrait,
    F: Copy + PartialEq,
{
    let mut order = Vec::new();
    for key in &query.sort {
        // NULL ranks above every value on both engines (PostgreSQL's default;
        // SQLite would put it first when ascending).
        let (direction, nulls) =
            if key.descending { (Order::Desc, NullOrdering::First) } else { (Order::Asc, NullOrdering::Last) };
        let column = (mapping.column)(key.field);
        // Text sorts ignore case: by the folded copy first, then by the text
        // itself, so that "Apple" and "apple" keep one order (an index on
        // both, and the id, serves it: migration `m20261218_000021`). A column that is
        // its own folded copy (`users.email`, stored lower-case) sorts once.
        // The text is NULL exactly when its folded copy is, so where
        // it follows the copy it takes no NULLS clause: SQLite walks an
        // index in order for a NULLS clause on the first term only, and
        // with one on the second it scanned and sorted the table.
        if let Some(folded) = (mapping.folded)(key.field).filter(|f| f.as_str() != column.as_str()) {
            order.push((folded.as_str(), direction.clone(), Some(nulls)));
            order.push((column.as_str(), direction, None));
        } else {
            order.push((column.as_str(), direction, Some(nulls)));
        }
    }
    let last_desc = query.sort.last().is_none_or(|k| k.descending);
    // Never NULL; left to the engine's default, which a composite index serves.
    order.push((mapping.id.as_str(), if last_desc { Order::Desc } else { Order::Asc }, None));
    let mut page = select.filter(condition(query, mapping)).into_query();
    for (column, direction, nulls) in &order {
        order_by(&mut page, (E::default(), Alias::new(*column)), direction, *nulls);
    }
    page.offset(query.offset()).limit(query.page_size);
    (page, order)
}

/// The name under which [`PageStatement::joined`] exposes the page.
pub(crate) const PAGE: &str = "page";

impl PageStatement {
    /// `select` narrowed, sorted and paged by `query`, with the total from
    /// `total`, to run on `db`: the pool (where pages and totals may be
    /// remembered) or a unit of work's transaction.
    pub(crate) fn new<E, F>(
        db: &Conn,
        select: Select<E>,
        query: &ListQuery<F>,
        mapping: &ListMapping<E, F>,
        total: Total,
    ) -> Self
    where
        E: EntityTrait,
        F: Copy + PartialEq,
    {
        let versioned = mapping.version.filter(|_| matches!((db, &total), (Conn::Pool(_), Total::Count)));
        let (page, order) = page_select(select, query, mapping);
        // A pattern may match five rows or half the table, and the best plan
        // differs (an index of trigrams, or a walk in the page's order that
        // stops at 20): searched lists are planned with their terms, every
        // time. So are lists with a range on a column the page is not sorted
        // by first: the range may hold no row or all of them, and the best
        // plan differs the same way (that column's index, or the walk). A
        // generic plan made after wide price ranges walked all 100 000
        // products for an empty one, 58 ms instead of 0.13 (`bench/README.md`,
        // "Ranges planned with their bounds"). A range on the leading sort
        // column is one walk of its index from the bound, whatever its width.
        // Other lists stay prepared: an unnamed statement for every filtered
        // list cost `/orders?status=ready` 29–40 % of its rate ("Search terms
        // planned with their values"), and closed-set values are written
        // into the statement ([`operand`]) so that their plans are made once.
        let pattern = query.search.is_some() || query.filters.iter().any(|f| f.op == Op::Contains);
        let leading = query.sort.first().map(|key| key.field);
        let range = query
            .filters
            .iter()
            .any(|f| matches!(f.op, Op::Gt | Op::Gte | Op::Lt | Op::Lte) && Some(f.field) != leading);
        let plan = if pattern || range { Plan::WithValues } else { Plan::Cached };
        let (limit, offset) = (query.page_size, query.offset());
        Self { db: db.clone(), page, total, join: None, order, limit, offset, plan, versioned }
    }

    /// The page as a subquery named [`PAGE`], for `join` to add rows of other
    /// tables to each item in the same statement, so from the same snapshot:
    /// `SELECT page.* FROM (…) AS page ORDER BY <the page's order>`, to which
    /// `join` adds joins, columns, and orderings within an item. An item
    /// with several joined rows comes as consecutive rows.
    pub(crate) fn joined(self, join: fn(&mut SelectStatement)) -> Self {
        Self { join: Some(join), ..self }
    }

    /// The page's rows and the total.
    pub(crate) async fn run(self) -> Result<(Vec<QueryResult>, u64), DbErr> {
        let (rows, total, _) = self.read(None).await?;
        Ok((rows, total))
    }

    /// The page's items, as `read` makes them of its rows, the total, and
    /// the version of the list's rows they were read at (`Page::version`).
    ///
    /// A page of a list with a version, outside a transaction, is remembered
    /// with the version it was read at, and answered from memory while the
    /// version stays the same: a primary-key lookup instead of the page's
    /// statement (`totals.rs`). `weigh` tells how many bytes an item holds
    /// beyond its own size, which bounds what is remembered. Within a
    /// transaction there is no version: what it reads may be its own
    /// uncommitted writes.
    pub(crate) async fn run_remembered<T>(
        self,
        read: impl FnOnce(&[QueryResult]) -> Result<Vec<T>, DbErr>,
        weigh: impl Fn(&T) -> usize,
    ) -> Result<(Vec<T>, u64, Option<i64>), DbErr>
    where
        T: Clone + Send + Sync + 'static,
    {
        let Some((list, totals)) = self.remembered() else {
            let (rows, total, _) = self.read(None).await?;
            return Ok((read(&rows)?, total, None));
        };
        // Named by the statement that reads its rows, columns added for the
        // total and version aside: the same text is the same page.
        let remembered = PageMemo::look_up(totals, list, &self.statement(|_| ()));
        let mut now = None;
        if remembered.is_known() {
            let version = remembered.current_version(&self.db).await?;
            if let Some((items, total)) = remembered.unchanged(version) {
                return Ok((items, total, version));
            }
            now = Some(version);
        }
        let (rows, total, version) = self.read(now).await?;
        let items = read(&rows)?;
        remembered.remember(version, &items, total, weigh);
        Ok((items, total, version))
    }

    /// The list's `list_versions` row and this process's memory of its pages
    /// and totals, if they are remembered.
    fn remembered(&self) -> Option<(&'static str, &Totals)> {
        match (self.versioned, &self.db) {
            (Some(list), Conn::Pool(pools)) => Some((list, pools.totals())),
            _ => None,
        }
    }

    /// The page's statement, bounded ([`with_literal_bounds`]) and joined,
    /// with `columns` added to the list's own.
    fn statement(&self, columns: impl FnOnce(&mut SelectStatement)) -> Statement {
        let mut page = self.page.clone();
        columns(&mut page);
        if let Some(join) = self.join {
            let mut outer = Query::select();
            outer.column((Alias::new(PAGE), Asterisk)).from_subquery(page, Alias::new(PAGE));
            for (column, direction, nulls) in &self.order {
                order_by(&mut outer, (Alias::new(PAGE), Alias::new(*column)), direction, *nulls);
            }
            join(&mut outer);
            page = outer;
        }
        with_literal_bounds(self.db.get_database_backend(), &page, self.limit, self.offset)
    }

    /// The statement of the total alone.
    fn total_statement(&self) -> SelectStatement {
        match &self.total {
            Total::Count => {
                let mut matches = self.page.clone();
                matches.clear_order_by().reset_limit().reset_offset();
                Query::select()
                    .expr(Expr::col(Asterisk).count())
                    .from_subquery(matches, Alias::new("matches"))
                    .to_owned()
            }
            Total::From(statement) => (**statement).clone(),
        }
    }

    /// Reads the page: its rows, the total, and the version they were read
    /// at (of a list with a version, when a row carries it). `now` is the
    /// list's version if it was just looked up and found moved, so a total
    /// remembered from before it is not checked: that would only find it
    /// out of date, one round trip later.
    async fn read(&self, now: Option<Option<i64>>) -> Result<(Vec<QueryResult>, u64, Option<i64>), DbErr> {
        let db = &self.db;
        let total = self.total_statement();
        let mut memo = self.remembered().map(|(list, totals)| {
            let mut memo = Memo::look_up(totals, list, db.get_database_backend(), &total);
            if let Some(now) = now {
                memo.keep_if_counted_at(now);
            }
            memo
        });
        // A total remembered: the page without its count, with the version.
        if let Some(memo) = memo.as_ref().filter(|memo| memo.is_known()) {
            let rows = db.query_all_planned(self.statement(|page| memo.add_version(page)), self.plan).await?;
            let Some(row) = rows.first() else {
                return Ok((rows, self.total_alone(total).await?, None));
            };
            let version = Memo::version_of(row)?;
            if let Some(total) = memo.unchanged(version) {
                return Ok((rows, list_total(total)?, version));
            }
        }
        let page = self.statement(|page| {
            page.expr_as(Expr::SubQuery(None, Box::new(total.clone().into())), Alias::new(TOTAL));
            if let Some(memo) = &memo {
                memo.add_version(page);
            }
        });
        let rows = db.query_all_planned(page, self.plan).await?;
        let Some(row) = rows.first() else {
            return Ok((rows, self.total_alone(total).await?, None));
        };
        let counted = row.try_get("", TOTAL)?;
        let version = match memo.take() {
            Some(memo) => {
                let version = Memo::version_of(row)?;
                memo.remember(version, counted);
                version
            }
            None => None,
        };
        Ok((rows, list_total(counted)?, version))
    }

    /// The total of a page that has no rows: 0 on the first page; past the
    /// last one, `total` alone.
    async fn total_alone(&self, total: SelectStatement) -> Result<u64, DbErr> {
        if self.offset == 0 {
            return Ok(0);
        }
        let db = &self.db;
        let total = db
            .query_all_planned(db.get_database_backend().build(&total), self.plan)
            .await?
            .first()
            .ok_or_else(|| DbErr::Custom("a list total query returned no row".to_owned()))?
            .try_get_by_index(0)?;
        list_total(total)
    }
}

/// A total read from the database, which a count never makes negative.
fn list_total(total: i64) -> Result<u64, DbErr> {
    u64::try_from(total).map_err(|_| DbErr::Custom(format!("a list total of {total}")))
}

/// Rows of a join ordered by its parent first (as [`PageStatement::joined`]
/// keeps them) grouped back: each parent once, read from its first row by
/// `parent`, with the children its consecutive rows carry (`child` gives
/// `None` for a row of NULLs: a parent without children). Parents are told
/// apart by the UUID in column `id`.
pub(crate) fn group_joined<P, C>(
    rows: &[QueryResult],
    id: &str,
    parent: impl Fn(&QueryResult) -> Result<P, DbErr>,
    child: impl Fn(&QueryResult) -> Result<Option<C>, DbErr>,
) -> Result<Vec<(P, Vec<C>)>, DbErr> {
    let mut groups: Vec<(uuid::Uuid, P, Vec<C>)> = Vec::new();
    for row in rows {
        let row_id: uuid::Uuid = row.try_get("", id)?;
        if groups.last().is_none_or(|(last, ..)| *last != row_id) {
            groups.push((row_id, parent(row)?, Vec::new()));
        }
        if let (Some(child), Some((.., children))) = (child(row)?, groups.last_mut()) {
            children.push(child);
        }
    }
    Ok(groups.into_iter().map(|(_, parent, children)| (parent, children)).collect())
}

/// `statement` built with its page's `LIMIT` and `OFFSET` written as
/// numbers instead of bound values.
///
/// PostgreSQL runs a prepared statement with one generic plan, made without
/// the values, once that plan's estimated cost is below the average of the
/// custom plans made so far for the statement on that connection, and then
/// keeps it. A generic plan must guess `LIMIT $n OFFSET $m` (a tenth of the
/// rows), which suits a deep page and ruins a first one: with 100 000
/// products, five requests for the last page made a connection switch the
/// menu's statement to a plan that hash-joins all of `product_categories`,
/// and its first pages took 40 ms instead of 9 from then on (`bench/README.md`,
/// "A page's bounds as numbers"). Written as numbers the bounds are known to
/// every plan, and a list without filters has no values left, so it is
/// planned once per connection instead of on every request. Each page size
/// and offset (and closed-set value) is its own statement text in the
/// connection's statement cache (sqlx keeps the 100 most recently used).
///
/// Search and open-set filter values stay bound (they are client text); the
/// same trap for search terms is closed by planning searched lists with them
/// ([`Plan::WithValues`]), and closed-set values are written in ([`operand`]).
///
/// The bounds must be the statement's last two values: nothing after the
/// page's `LIMIT … OFFSET …` takes one (joins compare columns, orderings name
/// them). If that ever changes, the bounds stay bound and a debug build says so.
fn with_literal_bounds(backend: DbBackend, statement: &SelectStatement, limit: u64, offset: u64) -> Statement {
    let mut built = backend.build(statement);
    let Some(values) = built.values.as_mut() else { return built };
    let n = values.0.len();
    let bounds = [sea_orm::Value::BigUnsigned(Some(limit)), sea_orm::Value::BigUnsigned(Some(offset))];
    let placeholders = match backend {
        DbBackend::Postgres => format!(" LIMIT ${} OFFSET ${}", n.saturating_sub(1), n),
        _ => " LIMIT ? OFFSET ?".to_owned(),
    };
    let at = built.sql.rfind(&placeholders).filter(|at| {
        n >= 2 && values.0[n - 2..] == bounds && !built.sql[at + placeholders.len()..].contains(['?', '$'])
    });
    debug_assert!(at.is_some(), "the page's bounds are not its statement's last values: {}", built.sql);
    if let Some(at) = at {
        built.sql.replace_range(at..at + placeholders.len(), &format!(" LIMIT {limit} OFFSET {offset}"));
        values.0.truncate(n - 2);
    }
    built
}

fn order_by(
    statement: &mut SelectStatement,
    column: impl IntoColumnRef,
    direction: &Order,
    nulls: Option<NullOrdering>,
) {
    match nulls {
        Some(nulls) => statement.order_by_with_nulls(column, direction.clone(), nulls),
        None => statement.order_by(column, direction.clone()),
    };
}

fn condition<E: EntityTrait, F: Copy>(query: &ListQuery<F>, mapping: &ListMapping<E, F>) -> Condition {
    let mut all = Condition::all();
    for filter in &query.filters {
        all = all.add((mapping.custom)(filter).unwrap_or_else(|| filter_expr(mapping, filter)));
    }
    if let Some(term) = &query.search {
        let own = mapping.search.iter().fold(Condition::any(), |any, col| any.add(contains(*col, term)));
        all = all.add(match mapping.search_beyond {
            None => own,
            // `own OR EXISTS (…)` left PostgreSQL one plan: every row scanned
            // and tested, costed so high that it compiled the scan (JIT; 221 ms
            // for an order search at 100 000 orders). Both index scans' ids,
            // united, take 0.1 ms for a rare term (`bench/README.md`).
            Some(beyond) => {
                let mut ids = Query::select().column(mapping.id).from(E::default()).cond_where(own).to_owned();
                ids.union(UnionType::Distinct, beyond(term));
                Expr::col((E::default(), mapping.id)).in_subquery(ids).into()
            }
        });
    }
    all
}

fn filter_expr<E: EntityTrait, F: Copy>(mapping: &ListMapping<E, F>, filter: &Filter<F>) -> SimpleExpr {
    let column = (mapping.column)(filter.field);
    let col = Expr::col(column.as_column_ref());
    // The parser gives every filter a value (`x__in=` is one empty text).
    let first = || filter.values.first().map_or(Expr::Value(sea_orm::Value::Bool(None)), operand);
    match filter.op {
        Op::Eq => col.eq(first()),
        Op::In => col.is_in(filter.values.iter().map(operand)),
        Op::Gt => col.gt(first()),
        Op::Gte => col.gte(first()),
        Op::Lt => col.lt(first()),
        Op::Lte => col.lte(first()),
        Op::Contains => match filter.values.first() {
            Some(Value::Text(term)) => contains((mapping.folded)(filter.field).unwrap_or(column), term),
            _ => col.eq(first()),
        },
    }
}

/// Folds text for case-insensitive matching: what the folded columns hold
/// and what search terms are compared in. Done here, in Rust, rather than
/// with SQL `lower()`, because SQLite's folds ASCII only: both engines then
/// answer the same. Canonically equivalent spellings fold alike (NFC): "é"
/// typed as one character or as "e" and a combining accent is one text.
///
/// SIMPLIFICATION: rows folded before NFC was added keep their fold until
/// they are next written (decomposed input was rare: keyboards and browsers
/// send composed text); a fuller version would refold them in a migration.
/// Lower-casing is not full case folding: Greek capital sigma lowers to
/// "ς" at the end of a word and to "σ" elsewhere, so `search=ΚΑΣ` misses
/// "ΚΑΣΤΑΝΟ" (folded "καστανο"). Full folding (Unicode `CaseFolding`)
/// would need the stored folds rewritten, and could make two category
/// names that differ only so collide.
pub(crate) fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    text.to_lowercase().nfc().collect()
}

/// `folded_col LIKE '%term%'` with the term folded and `%`, `_` and `\`
/// taken literally. On PostgreSQL a trigram index (pg_trgm) on the folded
/// column serves it; SQLite scans.
// SIMPLIFICATION: SQLite scans every row (about 2 ms at 10 000 products). An
// FTS5 trigram index was built and measured: 10 times faster for rare terms,
// 13 times slower for terms in most rows, no faster for the benchmark's
// (bench/README.md, "Menu search on SQLite"). A fuller version would choose
// per term, from the index's own statistics.
pub(crate) fn contains<C: ColumnTrait>(folded_col: C, term: &str) -> SimpleExpr {
    let escaped = fold(term).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Expr::col(folded_col).like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// `v` as an operand of a filter: bound, or written into the statement when
/// it comes from a closed set.
///
/// An enum's name (from its whitelist, never the client's text) and a
/// boolean are written as literals; everything else is bound. A column of a
/// few values is skewed (100 000 orders, 12 of them `ready`), so PostgreSQL's
/// generic plan for `status = $1`, made without the value, guesses a sixth of
/// the table and costs far more than the plan made with `ready`; the plan
/// cache then keeps planning the statement on every request, which halved
/// that statement's rate (`bench/README.md`, "Closed-set filter values as
/// literals"). As literals there is one statement text per value (at most a
/// handful per filter), each planned once per connection with its value
/// known. Open-set values (ids, numbers, times, text) stay bound: their
/// generic plans fit (PostgreSQL switches to them after five executions).
pub(crate) fn operand(v: &Value) -> Expr {
    match v {
        Value::Enum(_) | Value::Bool(_) => Expr::Constant(to_value(v)),
        _ => Expr::Value(to_value(v)),
    }
}

pub(crate) fn to_value(v: &Value) -> sea_orm::Value {
    match v {
        Value::Text(s) => s.clone().into(),
        Value::Enum(name) => (*name).into(),
        Value::Int(i) => (*i).into(),
        Value::Bool(b) => (*b).into(),
        Value::Timestamp(t) => (*t).into(),
        Value::Uuid(u) => (*u).into(),
    }
}

#[cfg(test)]
mod tests;
