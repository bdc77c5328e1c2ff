//! The catalog repository: categories, products and their many-to-many link.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use coffee_domain::RepoError;
use coffee_domain::catalog::{
    CatalogRepository, CatalogWriteError, Category, CategoryChanges, CategoryField, CategoryRef, NewProduct,
    PricedProduct, Product, ProductChanges, ProductField,
};
use coffee_domain::money::Money;
use coffee_domain::query::{ListQuery, Op, Page};
use sea_orm::sea_query::{Alias, Expr, IntoColumnRef, LockType, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, FromQueryResult, IdenStatic,
    Iterable, QueryFilter, QueryOrder, QueryResult, QuerySelect, Set, TransactionError, TransactionTrait,
};
use uuid::Uuid;

use crate::cart::delete_lines_first;
use crate::entity::{cart_items, categories, product_categories as pc, products};
use crate::list::{ListMapping, PAGE, PageStatement, Total, fetch_page, fold, group_joined, to_value};
use crate::{Conn, repo_err};

/// [`CatalogRepository`] over SeaORM.
#[derive(Debug, Clone)]
pub struct SeaCatalogRepository {
    db: Conn,
}

impl SeaCatalogRepository {
    /// A repository on the pool, or inside a unit of work.
    pub fn new(db: impl Into<Conn>) -> Self {
        Self { db: db.into() }
    }
}

pub(crate) const CATEGORY_MAPPING: ListMapping<categories::Entity, CategoryField> = ListMapping {
    column: |f| match f {
        CategoryField::Name => categories::Column::Name,
        CategoryField::Description => categories::Column::Description,
        CategoryField::CreatedAt => categories::Column::CreatedAt,
    },
    search: &[categories::Column::NameKey, categories::Column::DescriptionFold],
    search_beyond: None,
    folded: |f| match f {
        CategoryField::Name => Some(categories::Column::NameKey),
        CategoryField::Description => Some(categories::Column::DescriptionFold),
        CategoryField::CreatedAt => None,
    },
    id: categories::Column::Id,
    custom: |_| None,
    version: None,
};

pub(crate) const PRODUCT_MAPPING: ListMapping<products::Entity, ProductField> = ListMapping {
    column: |f| match f {
        ProductField::Name => products::Column::Name,
        ProductField::Description => products::Column::Description,
        ProductField::Price => products::Column::Price,
        ProductField::IsAvailable => products::Column::IsAvailable,
        // Filtered through the join table by `custom`; never sortable.
        ProductField::CategoryId => products::Column::Id,
        ProductField::CreatedAt => products::Column::CreatedAt,
    },
    search: &[products::Column::NameFold, products::Column::DescriptionFold],
    search_beyond: None,
    folded: |f| match f {
        ProductField::Name => Some(products::Column::NameFold),
        ProductField::Description => Some(products::Column::DescriptionFold),
        ProductField::Price | ProductField::IsAvailable | ProductField::CategoryId | ProductField::CreatedAt => None,
    },
    id: products::Column::Id,
    custom: |filter| match filter.field {
        // `category_id=…` / `category_id__in=…`: the product is in one of these categories.
        ProductField::CategoryId => {
            let ids: Vec<sea_orm::Value> = filter.values.iter().map(to_value).collect();
            let members = Query::select()
                .column(pc::Column::ProductId)
                .from(pc::Entity)
                .and_where(Expr::col(pc::Column::CategoryId).is_in(ids))
                .to_owned();
            debug_assert!(matches!(filter.op, Op::Eq | Op::In));
            Some(Expr::col((products::Entity, products::Column::Id)).in_subquery(members))
        }
        _ => None,
    },
    // Every write to `products` or `product_categories` changes it.
    version: Some("products"),
};

fn category(m: categories::Model) -> Category {
    Category { id: m.id, name: m.name, description: m.description, created_at: m.created_at, updated_at: m.updated_at }
}

fn product(m: products::Model, categories: Vec<CategoryRef>) -> Result<Product, DbErr> {
    let price = Money::from_minor(m.price).map_err(|_| DbErr::Type(format!("negative price in products {}", m.id)))?;
    Ok(Product {
        id: m.id,
        name: m.name,
        description: m.description,
        price,
        is_available: m.is_available,
        image: m.image,
        categories,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// The key that makes category names unique ignoring case (and that
/// searches match), folded in Rust so that PostgreSQL and SQLite agree
/// beyond ASCII.
fn name_key(name: &str) -> String {
    fold(name)
}

fn write_err(e: DbErr) -> CatalogWriteError {
    match repo_err(e) {
        RepoError::Conflict(_) => CatalogWriteError::NameTaken,
        other => CatalogWriteError::Repo(other),
    }
}

fn tx_err(e: TransactionError<CatalogWriteError>) -> CatalogWriteError {
    match e {
        TransactionError::Connection(e) => write_err(e),
        TransactionError::Transaction(e) => e,
    }
}

/// A product's categories in the order of `GET /categories?sort=name`:
/// ignoring case, then by code point.
fn by_category_name() -> [((categories::Entity, categories::Column), sea_orm::Order); 2] {
    [
        ((categories::Entity, categories::Column::NameKey), sea_orm::Order::Asc),
        ((categories::Entity, categories::Column::Name), sea_orm::Order::Asc),
    ]
}

/// Joins each product row of `statement` (its id in `product_id`) to its
/// categories, by name: a product comes as one row per category, or as one
/// row of NULLs when it has none (read back by [`products_of`]).
fn with_categories(statement: &mut SelectStatement, product_id: impl IntoColumnRef) {
    statement
        .expr_as(Expr::col((categories::Entity, categories::Column::Id)), "category_id")
        .expr_as(Expr::col((categories::Entity, categories::Column::Name)), "category_name")
        .left_join(pc::Entity, Expr::col((pc::Entity, pc::Column::ProductId)).equals(product_id))
        .left_join(
            categories::Entity,
            Expr::col((categories::Entity, categories::Column::Id)).equals((pc::Entity, pc::Column::CategoryId)),
        )
        .order_by_columns(by_category_name());
}

/// The products of rows joined by [`with_categories`], in their order.
fn products_of(rows: &[QueryResult]) -> Result<Vec<Product>, DbErr> {
    let category = |row: &QueryResult| {
        let id = row.try_get::<Option<Uuid>>("", "category_id")?;
        Ok(id.zip(row.try_get::<Option<String>>("", "category_name")?).map(|(id, name)| CategoryRef { id, name }))
    };
    let read =
        group_joined(rows, products::Column::Id.as_str(), |row| products::Model::from_query_result(row, ""), category)?;
    read.into_iter().map(|(m, cats)| product(m, cats)).collect()
}

/// What a product holds beyond its own size, in bytes (a remembered page's weight).
fn product_bytes(product: &Product) -> usize {
    let text = |text: &Option<String>| text.as_ref().map_or(0, String::capacity);
    let categories = product.categories.iter().map(|c| size_of::<CategoryRef>() + c.name.capacity());
    product.name.capacity() + text(&product.description) + text(&product.image) + categories.sum::<usize>()
}

/// Checks that every id names a category; returns them with their names.
async fn existing_categories(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<CategoryRef>, CatalogWriteError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(Uuid, String)> = categories::Entity::find()
        .select_only()
        .column(categories::Column::Id)
        .column(categories::Column::Name)
        .filter(categories::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(categories::Column::NameKey)
        .order_by_asc(categories::Column::Name)
        // Called in the product's transaction: a concurrent DELETE of one of
        // these categories waits for it to commit (then takes the links with
        // it), instead of the links failing their foreign key (a 500). As in
        // `priced`; SQLite has no row locks and one writer.
        .lock(LockType::KeyShare)
        .into_tuple()
        .all(conn)
        .await
        .map_err(write_err)?;
    let known: BTreeSet<Uuid> = found.iter().map(|(id, _)| *id).collect();
    let missing: Vec<Uuid> = ids.iter().copied().filter(|id| !known.contains(id)).collect();
    if !missing.is_empty() {
        return Err(CatalogWriteError::UnknownCategories(missing));
    }
    Ok(found.into_iter().map(|(id, name)| CategoryRef { id, name }).collect())
}

async fn link(conn: &impl ConnectionTrait, product_id: Uuid, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows =
        ids.iter().map(|category_id| pc::ActiveModel { product_id: Set(product_id), category_id: Set(*category_id) });
    pc::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}

/// A product row, locked for the rest of the transaction (PostgreSQL) with
/// `lock`: `NoKeyUpdate` to edit it, which orders edits among themselves
/// but lets checkouts pricing it (`FOR KEY SHARE`) go on; `Update` to
/// delete it, which waits for those checkouts.
async fn find_product_locked(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lock: LockType,
) -> Result<products::Model, CatalogWriteError> {
    products::Entity::find_by_id(id).lock(lock).one(conn).await.map_err(write_err)?.ok_or(CatalogWriteError::NotFound)
}

/// One product with its categories, in one statement (a join), so from one
/// snapshot: two reads could pair one version's fields with another's
/// categories.
async fn load_product(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<Product>, DbErr> {
    let mut stmt = Query::select()
        .columns(products::Column::iter().map(|c| (products::Entity, c)))
        .from(products::Entity)
        .and_where(Expr::col((products::Entity, products::Column::Id)).eq(id))
        .to_owned();
    with_categories(&mut stmt, (products::Entity, products::Column::Id));
    Ok(products_of(&conn.query_all(&stmt).await?)?.pop())
}

#[async_trait]
impl CatalogRepository for SeaCatalogRepository {
    async fn create_category(&self, c: &Category) -> Result<(), CatalogWriteError> {
        let row = categories::ActiveModel {
            id: Set(c.id),
            name: Set(c.name.clone()),
            name_key: Set(name_key(&c.name)),
            description: Set(c.description.clone()),
            description_fold: Set(c.description.as_deref().map(fold)),
            created_at: Set(c.created_at),
            updated_at: Set(c.updated_at),
        };
        categories::Entity::insert(row).exec_without_returning(&self.db).await.map_err(write_err)?;
        Ok(())
    }

    async fn find_category(&self, id: Uuid) -> Result<Option<Category>, RepoError> {
        Ok(categories::Entity::find_by_id(id).one(&self.db).await.map_err(repo_err)?.map(category))
    }

    async fn list_categories(&self, query: &ListQuery<CategoryField>) -> Result<Page<Category>, RepoError> {
        let (rows, total) =
            fetch_page(&self.db, categories::Entity::find(), query, &CATEGORY_MAPPING).await.map_err(repo_err)?;
        Ok(query.page_of(rows.into_iter().map(category).collect(), total))
    }

    async fn update_category(
        &self,
        id: Uuid,
        changes: &CategoryChanges,
        now: DateTime<Utc>,
    ) -> Result<Category, CatalogWriteError> {
        let changes = changes.clone();
        self.db
            .transaction::<_, Category, CatalogWriteError>(|txn| {
                Box::pin(async move {
                    // Locked, as a product is: what the patch is compared
                    // with is what it is written over. Unlocked, a patch
                    // naming the old name while another renamed it was "no
                    // change" and answered the old name, which was gone.
                    let current = categories::Entity::find_by_id(id)
                        .lock_exclusive()
                        .one(txn)
                        .await
                        .map_err(write_err)?
                        .ok_or(CatalogWriteError::NotFound)?;
                    let mut row: categories::ActiveModel = current.clone().into();
                    // Only what differs is written: a patch that changes
                    // nothing (`{}`, or the values the category has) keeps
                    // its `updated_at`.
                    if let Some(name) = changes.name.filter(|name| *name != current.name) {
                        row.name_key = Set(name_key(&name));
                        row.name = Set(name);
                    }
                    if let Some(description) = changes.description.filter(|d| *d != current.description) {
                        row.description_fold = Set(description.as_deref().map(fold));
                        row.description = Set(description);
                    }
                    if !row.is_changed() {
                        return Ok(category(current));
                    }
                    row.updated_at = Set(now);
                    Ok(category(row.update(txn).await.map_err(|e| match e {
                        DbErr::RecordNotUpdated => CatalogWriteError::NotFound,
                        e => write_err(e),
                    })?))
                })
            })
            .await
            .map_err(tx_err)
    }

    async fn delete_category(&self, id: Uuid) -> Result<(), CatalogWriteError> {
        // The join rows go with it (ON DELETE CASCADE): its products stay, detached.
        let result = categories::Entity::delete_by_id(id).exec(&self.db).await.map_err(write_err)?;
        if result.rows_affected == 0 { Err(CatalogWriteError::NotFound) } else { Ok(()) }
    }

    async fn create_product(&self, new: &NewProduct) -> Result<Product, CatalogWriteError> {
        let new = new.clone();
        self.db
            .transaction::<_, Product, CatalogWriteError>(|txn| {
                Box::pin(async move {
                    let cats = existing_categories(txn, &new.category_ids).await?;
                    let p = &new.product;
                    let row = products::ActiveModel {
                        id: Set(p.id),
                        name: Set(p.name.clone()),
                        description: Set(p.description.clone()),
                        name_fold: Set(Some(fold(&p.name))),
                        description_fold: Set(p.description.as_deref().map(fold)),
                        price: Set(p.price.minor()),
                        is_available: Set(p.is_available),
                        image: Set(None),
                        created_at: Set(p.created_at),
                        updated_at: Set(p.updated_at),
                    };
                    products::Entity::insert(row).exec_without_returning(txn).await.map_err(write_err)?;
                    link(txn, p.id, &new.category_ids).await.map_err(write_err)?;
                    Ok(Product { categories: cats, image: None, ..new.product })
                })
            })
            .await
            .map_err(tx_err)
    }

    async fn find_product(&self, id: Uuid) -> Result<Option<Product>, RepoError> {
        load_product(&self.db, id).await.map_err(repo_err)
    }

    async fn priced(&self, ids: &[Uuid]) -> Result<Vec<PricedProduct>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut select = products::Entity::find()
            .select_only()
            .columns([
                products::Column::Id,
                products::Column::Name,
                products::Column::Price,
                products::Column::IsAvailable,
            ])
            .filter(products::Column::Id.is_in(ids.iter().copied()));
        if matches!(self.db, Conn::Tx(_)) {
            // A checkout: an admin's concurrent DELETE waits for its commit,
            // so no order is placed for a product already gone. `FOR KEY
            // SHARE` conflicts with a DELETE only: edits of name, price or
            // availability do not wait. SQLite (one writer at a time) has no
            // row locks; sea-query leaves it out.
            select = select.lock(LockType::KeyShare);
        }
        let rows: Vec<(Uuid, String, i64, bool)> = select.into_tuple().all(&self.db).await.map_err(repo_err)?;
        rows.into_iter()
            .map(|(id, name, price, is_available)| {
                let price = Money::from_minor(price).map_err(|e| RepoError::Other(Box::new(e)))?;
                Ok(PricedProduct { id, name, price, is_available })
            })
            .collect()
    }

    async fn list_products(&self, query: &ListQuery<ProductField>) -> Result<Page<Product>, RepoError> {
        // The page and its products' categories in one statement, so from
        // one snapshot: two reads could pair a product's old fields with its
        // new categories. The menu has a version, so a page read before is
        // answered from memory while the menu stays the same.
        let (items, total, version) =
            PageStatement::new(&self.db, products::Entity::find(), query, &PRODUCT_MAPPING, Total::Count)
                .joined(|outer| with_categories(outer, (Alias::new(PAGE), products::Column::Id)))
                .run_remembered(products_of, product_bytes)
                .await
                .map_err(repo_err)?;
        Ok(Page { version, ..query.page_of(items, total) })
    }

    async fn update_product(
        &self,
        id: Uuid,
        changes: &ProductChanges,
        now: DateTime<Utc>,
    ) -> Result<Product, CatalogWriteError> {
        let changes = changes.clone();
        self.db
            .transaction::<_, Product, CatalogWriteError>(|txn| {
                Box::pin(async move {
                    let current = find_product_locked(txn, id, LockType::NoKeyUpdate).await?;
                    let mut row: products::ActiveModel = current.clone().into();
                    // Only what differs is written: a patch that changes
                    // nothing (`{}`, or the values the product has) keeps
                    // its `updated_at`.
                    if let Some(v) = changes.name.filter(|v| *v != current.name) {
                        row.name_fold = Set(Some(fold(&v)));
                        row.name = Set(v);
                    }
                    if let Some(v) = changes.description.filter(|v| *v != current.description) {
                        row.description_fold = Set(v.as_deref().map(fold));
                        row.description = Set(v);
                    }
                    if let Some(v) = changes.price.filter(|v| v.minor() != current.price) {
                        row.price = Set(v.minor());
                    }
                    if let Some(v) = changes.is_available.filter(|v| *v != current.is_available) {
                        row.is_available = Set(v);
                    }
                    let mut changed = row.is_changed();
                    if let Some(ids) = changes.category_ids {
                        existing_categories(txn, &ids).await?;
                        let linked = pc::Entity::find()
                            .filter(pc::Column::ProductId.eq(id))
                            .all(txn)
                            .await
                            .map_err(write_err)?;
                        let linked: BTreeSet<Uuid> = linked.into_iter().map(|l| l.category_id).collect();
                        if linked != ids.iter().copied().collect() {
                            pc::Entity::delete_many()
                                .filter(pc::Column::ProductId.eq(id))
                                .exec(txn)
                                .await
                                .map_err(write_err)?;
                            link(txn, id, &ids).await.map_err(write_err)?;
                            changed = true;
                        }
                    }
                    if changed {
                        row.updated_at = Set(now);
                        row.update(txn).await.map_err(write_err)?;
                    }
                    load_product(txn, id).await.map_err(write_err)?.ok_or(CatalogWriteError::NotFound)
                })
            })
            .await
            .map_err(tx_err)
    }

    async fn delete_product(&self, id: Uuid) -> Result<Option<String>, CatalogWriteError> {
        self.db
            .transaction::<_, Option<String>, CatalogWriteError>(|txn| {
                Box::pin(async move {
                    delete_lines_first(txn, cart_items::Column::ProductId.eq(id)).await.map_err(write_err)?;
                    let current = find_product_locked(txn, id, LockType::Update).await?;
                    products::Entity::delete_by_id(id).exec(txn).await.map_err(write_err)?;
                    Ok(current.image)
                })
            })
            .await
            .map_err(tx_err)
    }

    async fn set_product_image(
        &self,
        id: Uuid,
        image: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, CatalogWriteError> {
        let image = image.to_owned();
        self.db
            .transaction::<_, Option<String>, CatalogWriteError>(|txn| {
                Box::pin(async move {
                    let current = find_product_locked(txn, id, LockType::NoKeyUpdate).await?;
                    products::Entity::update_many()
                        .col_expr(products::Column::Image, Expr::value(image))
                        .col_expr(products::Column::UpdatedAt, Expr::value(now))
                        .filter(products::Column::Id.eq(id))
                        .exec(txn)
                        .await
                        .map_err(write_err)?;
                    Ok(current.image)
                })
            })
            .await
            .map_err(tx_err)
    }
}
