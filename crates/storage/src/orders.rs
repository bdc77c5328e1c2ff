//! The order repository: orders with their lines, numbered by a PostgreSQL
//! sequence (or a one-row counter on SQLite), changed only by conditional
//! updates on status and version.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::cart::Quantity;
use coffee_domain::money::Money;
use coffee_domain::order::{NewOrder, Order, OrderChange, OrderField, OrderLine, OrderRepository, OrderStatus};
use coffee_domain::query::{ListQuery, Op, Page};
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, FromQueryResult, IdenStatic, Iterable, QueryFilter,
    QueryOrder, QueryResult, QuerySelect, Set,
};
use uuid::Uuid;

use crate::entity::{order_counts as oc, order_items as oi, orders};
use crate::list::{ListMapping, PAGE, PageStatement, Total, contains, fold, group_joined, operand};
use crate::{Conn, is_postgres, repo_err};

/// Makes deleting `users` — and their orders with them, by `ON DELETE
/// CASCADE` — safe from deadlocks with status changes; call it in the
/// deleting transaction, before the `DELETE`. PostgreSQL only (SQLite has
/// one writer at a time).
///
/// Every status change locks two `order_counts` rows from its triggers: a
/// slot of the old status, then a slot of the new one, and statuses only
/// move forward in [`OrderStatus::ALL`], so those locks are always taken in
/// that order. A cascade instead decrements a random slot per order, in
/// whatever order it meets the orders; holding one counter row while a
/// status change held the next could make each wait for the other until
/// PostgreSQL aborted one (40P01, a 5xx to an admin). So this first locks
/// the users' orders (a status change of one of them takes the order row
/// before any counter, so it either finishes first or waits here), then
/// every counter row in the order status changes take them — creating the
/// slots that do not exist yet, since an insert into a unique index waits
/// like a lock. The cascade's decrements then land on rows this
/// transaction already holds. Users without orders lock nothing.
pub(crate) async fn lock_counts_for_cascade(db: &impl ConnectionTrait, users: &[Uuid]) -> Result<(), DbErr> {
    if !is_postgres(db) || users.is_empty() {
        return Ok(());
    }
    let orders_of_users = orders::Entity::find()
        .select_only()
        .column(orders::Column::Id)
        .filter(orders::Column::UserId.is_in(users.iter().copied()))
        .order_by_asc(orders::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    if orders_of_users.is_empty() {
        return Ok(());
    }
    // Constants only (the status names and the slot count), no input.
    let statuses = OrderStatus::NAMES
        .iter()
        .enumerate()
        .map(|(rank, name)| format!("('{name}', {rank})"))
        .collect::<Vec<_>>()
        .join(", ");
    let slots = coffee_migrations::ORDER_COUNT_SLOTS;
    db.execute_unprepared(&format!(
        "INSERT INTO order_counts (status, slot, n) \
         SELECT t.status, s.slot::smallint, 0 FROM (VALUES {statuses}) AS t(status, rank), \
         generate_series(0, {slots} - 1) AS s(slot) ORDER BY t.rank, s.slot \
         ON CONFLICT (status, slot) DO UPDATE SET n = order_counts.n"
    ))
    .await?;
    Ok(())
}

/// [`OrderRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaOrderRepository {
    db: Conn,
}

impl SeaOrderRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

pub(crate) const MAPPING: ListMapping<orders::Entity, OrderField> = ListMapping {
    column: |f| match f {
        OrderField::Status => orders::Column::Status,
        OrderField::UserId => orders::Column::UserId,
        OrderField::Number => orders::Column::Number,
        OrderField::Total => orders::Column::Total,
        OrderField::PickupAt => orders::Column::PickupAt,
        OrderField::CreatedAt => orders::Column::CreatedAt,
        OrderField::Comment => orders::Column::Comment,
    },
    search: &[orders::Column::CommentFold],
    // The lines' product names are the order's text too: the orders of the
    // lines that match (a trigram index on `order_items.name_fold`).
    search_beyond: Some(|term| {
        Query::select()
            .column(oi::Column::OrderId)
            .from(oi::Entity)
            .and_where(contains(oi::Column::NameFold, term))
            .to_owned()
    }),
    folded: |f| match f {
        OrderField::Comment => Some(orders::Column::CommentFold),
        _ => None,
    },
    id: orders::Column::Id,
    custom: |_| None,
    version: None,
};

fn corrupt(what: String) -> RepoError {
    RepoError::Other(what.into())
}

fn line(m: oi::Model) -> Result<OrderLine, RepoError> {
    Ok(OrderLine {
        product_id: m.product_id,
        quantity: Quantity::from_stored(m.quantity)
            .ok_or_else(|| corrupt(format!("quantity {} out of range in order_items", m.quantity)))?,
        unit_price: Money::from_minor(m.unit_price).map_err(|e| RepoError::Other(Box::new(e)))?,
        line_total: Money::from_minor(m.line_total).map_err(|e| RepoError::Other(Box::new(e)))?,
        name: m.name,
    })
}

/// A stored status, or the store is corrupt.
pub(crate) fn order_status(stored: &str) -> Result<OrderStatus, RepoError> {
    OrderStatus::parse(stored).ok_or_else(|| corrupt(format!("unknown status {stored:?} in orders")))
}

fn order(m: orders::Model, items: Vec<OrderLine>) -> Result<Order, RepoError> {
    Ok(Order {
        status: order_status(&m.status)?,
        total: Money::from_minor(m.total).map_err(|e| RepoError::Other(Box::new(e)))?,
        id: m.id,
        number: m.number,
        user_id: m.user_id,
        items,
        comment: m.comment,
        pickup_at: m.pickup_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    })
}

/// The prefix of the line columns in [`list`](SeaOrderRepository)'s joined rows.
const LINE: &str = "line_";

/// The orders of a page joined to their lines (see [`PageStatement::joined`]),
/// in the page's order: an order's rows are consecutive, one per line.
fn orders_of(rows: &[QueryResult]) -> Result<Vec<Order>, RepoError> {
    // An order without lines (the API never makes one) comes as one row of NULLs.
    let line_of = |row: &QueryResult| match row.try_get::<Option<i32>>(LINE, oi::Column::Position.as_str())? {
        Some(_) => oi::Model::from_query_result(row, LINE).map(Some),
        None => Ok(None),
    };
    let read =
        group_joined(rows, orders::Column::Id.as_str(), |row| orders::Model::from_query_result(row, ""), line_of)
            .map_err(repo_err)?;
    read.into_iter().map(|(m, lines)| order(m, lines.into_iter().map(line).collect::<Result<_, _>>()?)).collect()
}

async fn insert_lines(db: &impl ConnectionTrait, order_id: Uuid, lines: &[OrderLine]) -> Result<(), DbErr> {
    if lines.is_empty() {
        return Ok(());
    }
    let rows = lines.iter().enumerate().map(|(i, l)| oi::ActiveModel {
        order_id: Set(order_id),
        position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
        product_id: Set(l.product_id),
        name: Set(l.name.clone()),
        name_fold: Set(Some(fold(&l.name))),
        unit_price: Set(l.unit_price.minor()),
        quantity: Set(i32::try_from(l.quantity.get()).unwrap_or(i32::MAX)),
        line_total: Set(l.line_total.minor()),
    });
    oi::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

/// The exact total of `query` from the `order_counts` counters, when its
/// filters are none or `status = X` alone (the admin board's commonest
/// lists), or [`Total::Count`] to count the rows. The counters are kept by
/// triggers on `orders` (migration `m20261206_000009_order_counts`) in the
/// same transaction as every insert, status change and deletion, and the sum
/// is read in the page's own statement, so it is what `COUNT(*)` would
/// answer there, for a few rows read instead of every order. Not for an
/// owner's list: the counters are not per user.
fn order_total(query: &ListQuery<OrderField>, owner: Option<Uuid>) -> Total {
    if owner.is_some() || query.search.is_some() {
        return Total::Count;
    }
    // PostgreSQL's SUM(bigint) is numeric: cast back.
    let total = Func::cast_as(Func::coalesce([Expr::col(oc::Column::N).sum(), Expr::val(0_i64)]), "BIGINT");
    let mut sum = Query::select();
    sum.expr(total).from(oc::Entity);
    match query.filters.as_slice() {
        [] => {}
        [f] if f.field == OrderField::Status && f.op == Op::Eq && f.values.len() == 1 => {
            sum.and_where(Expr::col(oc::Column::Status).eq(operand(&f.values[0])));
        }
        _ => return Total::Count,
    }
    Total::From(Box::new(sum))
}

/// The next order number on SQLite: one writer at a time, so the counter row
/// hands out each number once (PostgreSQL uses the column's sequence default).
async fn next_number_sqlite(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "UPDATE order_numbers SET last = last + 1 WHERE id = 1 RETURNING last",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the order number counter is missing".to_owned()))?;
    row.try_get_by_index(0)
}

#[async_trait]
impl OrderRepository for SeaOrderRepository {
    async fn insert(&self, new: &NewOrder) -> Result<Order, RepoError> {
        use orders::Column as C;
        let atomic = self.db.atomic().await.map_err(repo_err)?;
        let db = atomic.conn();
        let mut columns = vec![
            C::Id,
            C::UserId,
            C::Status,
            C::Total,
            C::Comment,
            C::CommentFold,
            C::PickupAt,
            C::CreatedAt,
            C::UpdatedAt,
            C::Version,
        ];
        let mut values: Vec<sea_orm::sea_query::SimpleExpr> = vec![
            new.id.into(),
            new.user_id.into(),
            OrderStatus::Pending.as_str().into(),
            new.total.minor().into(),
            new.comment.clone().into(),
            new.comment.as_deref().map(fold).into(),
            new.pickup_at.into(),
            new.created_at.into(),
            new.created_at.into(),
            1_i64.into(),
        ];
        if !is_postgres(db) {
            columns.push(C::Number);
            values.push(next_number_sqlite(db).await.map_err(repo_err)?.into());
        }
        let insert = Query::insert()
            .into_table(orders::Entity)
            .columns(columns)
            .values(values)
            .map_err(|e| RepoError::Other(Box::new(e)))?
            .returning_col(C::Number)
            .to_owned();
        let number: i64 = db
            .query_one(&insert)
            .await
            .map_err(repo_err)?
            .ok_or_else(|| corrupt("the order insert returned no number".to_owned()))?
            .try_get_by_index(0)
            .map_err(repo_err)?;
        insert_lines(db, new.id, &new.items).await.map_err(repo_err)?;
        atomic.commit().await.map_err(repo_err)?;
        Ok(Order {
            id: new.id,
            number,
            user_id: new.user_id,
            status: OrderStatus::Pending,
            items: new.items.clone(),
            total: new.total,
            comment: new.comment.clone(),
            pickup_at: new.pickup_at,
            created_at: new.created_at,
            updated_at: new.created_at,
            version: 1,
        })
    }

    async fn find(&self, id: Uuid) -> Result<Option<Order>, RepoError> {
        // The order and its lines in one statement (a join), so from one
        // snapshot: an edit between two reads would give one version's ETag
        // to another's lines. One round trip, where a read-only transaction
        // around two reads took five (measured in bench/README.md).
        let found = orders::Entity::find_by_id(id)
            .find_with_related(oi::Entity)
            .order_by_asc(oi::Column::Position)
            .all(&self.db)
            .await
            .map_err(repo_err)?;
        found
            .into_iter()
            .next()
            .map(|(m, lines)| order(m, lines.into_iter().map(line).collect::<Result<_, _>>()?))
            .transpose()
    }

    async fn list(&self, query: &ListQuery<OrderField>, owner: Option<Uuid>) -> Result<Page<Order>, RepoError> {
        let mut select = orders::Entity::find();
        if let Some(owner) = owner {
            select = select.filter(orders::Column::UserId.eq(owner));
        }
        // The page, its total and its orders' lines in one statement, so
        // from one snapshot: two reads could give one version's total and
        // ETag to another version's lines.
        let (rows, total) = PageStatement::new(&self.db, select, query, &MAPPING, order_total(query, owner))
            .joined(|outer| {
                for c in oi::Column::iter() {
                    outer.expr_as(Expr::col((oi::Entity, c)), Alias::new(format!("{LINE}{}", c.as_str())));
                }
                outer
                    .left_join(
                        oi::Entity,
                        Expr::col((oi::Entity, oi::Column::OrderId)).equals((Alias::new(PAGE), orders::Column::Id)),
                    )
                    .order_by((oi::Entity, oi::Column::Position), sea_orm::Order::Asc);
            })
            .run()
            .await
            .map_err(repo_err)?;
        Ok(query.page_of(orders_of(&rows)?, total))
    }

    async fn update(
        &self,
        id: Uuid,
        status: OrderStatus,
        version: i64,
        change: &OrderChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, RepoError> {
        use orders::Column as C;
        let atomic = self.db.atomic().await.map_err(repo_err)?;
        let db = atomic.conn();
        let mut update = Query::update();
        update
            .table(orders::Entity)
            .value(C::Version, Expr::col(C::Version).add(1))
            .value(C::UpdatedAt, now)
            .and_where(Expr::col(C::Id).eq(id))
            .and_where(Expr::col(C::Status).eq(status.as_str()))
            .and_where(Expr::col(C::Version).eq(version));
        if let Some(s) = change.status {
            update.value(C::Status, s.as_str());
        }
        if let Some(c) = &change.comment {
            update.value(C::Comment, c.clone());
            update.value(C::CommentFold, c.as_deref().map(fold));
        }
        if let Some(p) = change.pickup_at {
            update.value(C::PickupAt, p);
        }
        if let Some((_, total)) = &change.items {
            update.value(C::Total, total.minor());
        }
        // The conditional update is the gate: of two changes judged against
        // the same status and version, exactly one matches.
        update.returning_all();
        let row = db.query_one(&update).await.map_err(repo_err)?;
        let Some(row) = row else { return Ok(None) };
        let m = <orders::Model as sea_orm::FromQueryResult>::from_query_result(&row, "").map_err(repo_err)?;
        let items = match &change.items {
            Some((items, _)) => {
                oi::Entity::delete_many().filter(oi::Column::OrderId.eq(id)).exec(db).await.map_err(repo_err)?;
                insert_lines(db, id, items).await.map_err(repo_err)?;
                items.clone()
            }
            // In the update's transaction: the lines of the version it wrote.
            None => oi::Entity::find()
                .filter(oi::Column::OrderId.eq(id))
                .order_by_asc(oi::Column::Position)
                .all(db)
                .await
                .map_err(repo_err)?
                .into_iter()
                .map(line)
                .collect::<Result<_, _>>()?,
        };
        atomic.commit().await.map_err(repo_err)?;
        order(m, items).map(Some)
    }

    async fn delete(&self, id: Uuid, version: i64) -> Result<bool, RepoError> {
        // The lines go with it (ON DELETE CASCADE).
        let deleted = orders::Entity::delete_many()
            .filter(orders::Column::Id.eq(id))
            .filter(orders::Column::Version.eq(version))
            .exec(&self.db)
            .await
            .map_err(repo_err)?;
        Ok(deleted.rows_affected > 0)
    }
}
