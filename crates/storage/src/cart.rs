//! The cart repository: one line per user and product, joined with the
//! menu's current prices when read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::cart::{CartEntry, CartRepository, CartWriteError, Quantity};
use coffee_domain::money::Money;
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, SqlErr};
use uuid::Uuid;

use crate::entity::{cart_items as ci, products};
use crate::{Conn, repo_err};

/// [`CartRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaCartRepository {
    db: Conn,
}

impl SeaCartRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

/// Deletes the cart lines `lines` selects, as the first write of a
/// transaction that goes on to delete what they belong to (a product, a
/// user), before it locks that row.
///
/// A checkout takes its cart's lines first, then reads the products with
/// `FOR KEY SHARE` and inserts an order that references the user. A
/// deletion that locked the product or the user first and reached the
/// lines only through the foreign key's cascade took the same locks the
/// other way round: the two deadlocked, and PostgreSQL aborted one of them
/// after a second. Deleting the lines first, it waits for the checkout to
/// commit, and the checkout never waits for it.
pub(crate) async fn delete_lines_first(txn: &impl ConnectionTrait, lines: SimpleExpr) -> Result<(), DbErr> {
    ci::Entity::delete_many().filter(lines).exec(txn).await?;
    Ok(())
}

fn write_err(e: DbErr) -> CartWriteError {
    match e.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => CartWriteError::UnknownProduct,
        _ => CartWriteError::Repo(repo_err(e)),
    }
}

fn quantity(raw: i32) -> Result<Quantity, RepoError> {
    Quantity::from_stored(raw)
        .ok_or_else(|| RepoError::Other(format!("quantity {raw} out of range in cart_items").into()))
}

fn money(raw: i64) -> Result<Money, RepoError> {
    Money::from_minor(raw).map_err(|e| RepoError::Other(Box::new(e)))
}

#[async_trait]
impl CartRepository for SeaCartRepository {
    async fn entries(&self, user_id: Uuid) -> Result<Vec<CartEntry>, RepoError> {
        let stmt = Query::select()
            .column((ci::Entity, ci::Column::Id))
            .column((ci::Entity, ci::Column::ProductId))
            .column((products::Entity, products::Column::Name))
            .column((products::Entity, products::Column::Price))
            .column((products::Entity, products::Column::IsAvailable))
            .column((ci::Entity, ci::Column::Quantity))
            .from(ci::Entity)
            .inner_join(
                products::Entity,
                Expr::col((products::Entity, products::Column::Id)).equals((ci::Entity, ci::Column::ProductId)),
            )
            .and_where(Expr::col((ci::Entity, ci::Column::UserId)).eq(user_id))
            .order_by((ci::Entity, ci::Column::CreatedAt), sea_orm::Order::Asc)
            .order_by((ci::Entity, ci::Column::Id), sea_orm::Order::Asc)
            .to_owned();
        let rows = self.db.query_all(&stmt).await.map_err(repo_err)?;
        rows.into_iter()
            .map(|r| {
                let get = |e: DbErr| repo_err(e);
                Ok(CartEntry {
                    id: r.try_get_by_index(0).map_err(get)?,
                    product_id: r.try_get_by_index(1).map_err(get)?,
                    name: r.try_get_by_index(2).map_err(get)?,
                    unit_price: money(r.try_get_by_index(3).map_err(get)?)?,
                    is_available: r.try_get_by_index(4).map_err(get)?,
                    quantity: quantity(r.try_get_by_index(5).map_err(get)?)?,
                })
            })
            .collect()
    }

    async fn add(
        &self,
        user_id: Uuid,
        new_id: Uuid,
        product_id: Uuid,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> Result<Uuid, CartWriteError> {
        use ci::Column as C;
        let merged = Expr::col((ci::Entity, C::Quantity)).add(Expr::col((Alias::new("excluded"), C::Quantity)));
        // One statement: a new line, or the sum on the existing one as long
        // as it stays within 99 (otherwise nothing changes and nothing returns).
        let upsert = Query::insert()
            .into_table(ci::Entity)
            .columns([C::Id, C::UserId, C::ProductId, C::Quantity, C::CreatedAt, C::UpdatedAt])
            .values_panic([
                new_id.into(),
                user_id.into(),
                product_id.into(),
                i32::try_from(quantity.get()).unwrap_or(i32::MAX).into(),
                now.into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns([C::UserId, C::ProductId])
                    .value(C::Quantity, merged.clone())
                    .value(C::UpdatedAt, Expr::col((Alias::new("excluded"), C::UpdatedAt)))
                    .action_and_where(merged.lte(coffee_domain::cart::MAX_LINE_QUANTITY))
                    .to_owned(),
            )
            .returning_col(C::Id)
            .to_owned();
        if let Some(row) = self.db.query_one(&upsert).await.map_err(write_err)? {
            return row.try_get_by_index::<Uuid>(0).map_err(|e| CartWriteError::Repo(repo_err(e)));
        }
        let current = ci::Entity::find()
            .filter(C::UserId.eq(user_id))
            .filter(C::ProductId.eq(product_id))
            .one(&self.db)
            .await
            .map_err(write_err)?
            .map_or(0, |m| u32::try_from(m.quantity).unwrap_or(0));
        Err(CartWriteError::TooMany { current })
    }

    async fn set_quantity(
        &self,
        user_id: Uuid,
        item_id: Uuid,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> Result<(), CartWriteError> {
        let updated = ci::Entity::update_many()
            .col_expr(ci::Column::Quantity, Expr::value(i32::try_from(quantity.get()).unwrap_or(i32::MAX)))
            .col_expr(ci::Column::UpdatedAt, Expr::value(now))
            .filter(ci::Column::Id.eq(item_id))
            .filter(ci::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(write_err)?;
        if updated.rows_affected == 0 { Err(CartWriteError::NotFound) } else { Ok(()) }
    }

    async fn remove(&self, user_id: Uuid, item_id: Uuid) -> Result<(), CartWriteError> {
        let deleted = ci::Entity::delete_many()
            .filter(ci::Column::Id.eq(item_id))
            .filter(ci::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await
            .map_err(write_err)?;
        if deleted.rows_affected == 0 { Err(CartWriteError::NotFound) } else { Ok(()) }
    }

    async fn clear(&self, user_id: Uuid) -> Result<(), RepoError> {
        ci::Entity::delete_many().filter(ci::Column::UserId.eq(user_id)).exec(&self.db).await.map_err(repo_err)?;
        Ok(())
    }

    async fn take(&self, user_id: Uuid) -> Result<Vec<(Uuid, Quantity)>, RepoError> {
        use ci::Column as C;
        // One statement claims the lines: of two concurrent checkouts of one
        // cart, the second waits for the first's row locks and then finds
        // the rows gone (PostgreSQL); SQLite runs one writer at a time.
        let stmt = Query::delete()
            .from_table(ci::Entity)
            .and_where(Expr::col(C::UserId).eq(user_id))
            .returning(Query::returning().columns([C::ProductId, C::Quantity, C::CreatedAt, C::Id]))
            .to_owned();
        let mut lines = Vec::new();
        for row in self.db.query_all(&stmt).await.map_err(repo_err)? {
            let product: Uuid = row.try_get("", "product_id").map_err(repo_err)?;
            let n: i32 = row.try_get("", "quantity").map_err(repo_err)?;
            let created_at: DateTime<Utc> = row.try_get("", "created_at").map_err(repo_err)?;
            let id: Uuid = row.try_get("", "id").map_err(repo_err)?;
            lines.push((created_at, id, product, quantity(n)?));
        }
        // RETURNING comes in no particular order; the cart's is oldest first.
        lines.sort_by_key(|&(created_at, id, ..)| (created_at, id));
        Ok(lines.into_iter().map(|(_, _, product, q)| (product, q)).collect())
    }
}
