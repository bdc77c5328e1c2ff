//! In-memory fakes of the menu store and the image store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CatalogRepository, CatalogWriteError, Category, CategoryChanges, CategoryField, CategoryRef, ImageKind,
    ImageSaveError, ImageStore, NewProduct, PricedProduct, Product, ProductChanges, ProductField,
};
use crate::error::{InfraError, RepoError};
use crate::query::{ListQuery, Page};
use crate::testing::lock;

#[derive(Debug, Default)]
struct Tables {
    categories: BTreeMap<Uuid, Category>,
    products: BTreeMap<Uuid, (Product, BTreeSet<Uuid>)>,
    /// Delete the product when its image is next set (a concurrent delete).
    vanish_before_image: bool,
    /// Set the next image, then fail as if the commit's answer were lost.
    lose_image_commit: bool,
}

impl Tables {
    fn refs(&self, ids: &BTreeSet<Uuid>) -> Vec<CategoryRef> {
        let mut refs: Vec<CategoryRef> = ids
            .iter()
            .filter_map(|id| self.categories.get(id))
            .map(|c| CategoryRef { id: c.id, name: c.name.clone() })
            .collect();
        refs.sort_by(|a, b| (a.name.to_lowercase(), &a.name).cmp(&(b.name.to_lowercase(), &b.name)));
        refs
    }

    fn product(&self, id: Uuid) -> Option<Product> {
        self.products.get(&id).map(|(p, cats)| Product { categories: self.refs(cats), ..p.clone() })
    }

    fn check_categories(&self, ids: &[Uuid]) -> Result<(), CatalogWriteError> {
        let missing: Vec<Uuid> = ids.iter().copied().filter(|id| !self.categories.contains_key(id)).collect();
        if missing.is_empty() { Ok(()) } else { Err(CatalogWriteError::UnknownCategories(missing)) }
    }

    fn name_taken(&self, name: &str, except: Option<Uuid>) -> bool {
        self.categories.values().any(|c| Some(c.id) != except && c.name.to_lowercase() == name.to_lowercase())
    }
}

/// A [`CatalogRepository`] in maps.
#[derive(Debug, Default)]
pub(crate) struct InMemoryCatalog(Mutex<Tables>);

impl InMemoryCatalog {
    /// Stores `product` directly (test set-up).
    pub(crate) fn insert(&self, product: Product) {
        lock(&self.0).products.insert(product.id, (product, BTreeSet::new()));
    }

    /// Deletes a product behind the services' back (an admin deleting it).
    pub(crate) fn remove(&self, id: Uuid) {
        lock(&self.0).products.remove(&id);
    }

    /// Changes a product's price and availability (an admin editing the menu).
    pub(crate) fn edit(&self, id: Uuid, price: crate::money::Money, is_available: bool) {
        if let Some((p, _)) = lock(&self.0).products.get_mut(&id) {
            p.price = price;
            p.is_available = is_available;
        }
    }

    /// Makes the next image update find its product deleted, as if another
    /// request deleted it right before.
    pub(crate) fn vanish_before_next_image_update(&self) {
        lock(&self.0).vanish_before_image = true;
    }

    /// The next image update is made, but its caller is told it failed.
    pub(crate) fn lose_commit_of_next_image_update(&self) {
        lock(&self.0).lose_image_commit = true;
    }
}

/// One page of `items`, newest first.
// SIMPLIFICATION: filters, search and sort are the storage adapter's
// business and are tested there; the fake pages by creation time only.
fn page<T: Clone>(mut items: Vec<(DateTime<Utc>, Uuid, T)>, query: &ListQuery<impl Copy>) -> Page<T> {
    items.sort_by_key(|item| std::cmp::Reverse((item.0, item.1)));
    let total = items.len() as u64;
    let skip = usize::try_from(query.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(query.page_size).unwrap_or(usize::MAX);
    let items = items.into_iter().skip(skip).take(take).map(|(_, _, t)| t).collect();
    query.page_of(items, total)
}

#[async_trait]
impl CatalogRepository for InMemoryCatalog {
    async fn create_category(&self, category: &Category) -> Result<(), CatalogWriteError> {
        let mut t = lock(&self.0);
        if t.name_taken(&category.name, None) {
            return Err(CatalogWriteError::NameTaken);
        }
        t.categories.insert(category.id, category.clone());
        Ok(())
    }

    async fn find_category(&self, id: Uuid) -> Result<Option<Category>, RepoError> {
        Ok(lock(&self.0).categories.get(&id).cloned())
    }

    async fn list_categories(&self, query: &ListQuery<CategoryField>) -> Result<Page<Category>, RepoError> {
        let t = lock(&self.0);
        Ok(page(t.categories.values().map(|c| (c.created_at, c.id, c.clone())).collect(), query))
    }

    async fn update_category(
        &self,
        id: Uuid,
        changes: &CategoryChanges,
        now: DateTime<Utc>,
    ) -> Result<Category, CatalogWriteError> {
        let mut t = lock(&self.0);
        if !t.categories.contains_key(&id) {
            return Err(CatalogWriteError::NotFound);
        }
        if changes.name.as_deref().is_some_and(|n| t.name_taken(n, Some(id))) {
            return Err(CatalogWriteError::NameTaken);
        }
        let c = t.categories.get_mut(&id).ok_or(CatalogWriteError::NotFound)?;
        let before = c.clone();
        if let Some(name) = &changes.name {
            c.name.clone_from(name);
        }
        if let Some(description) = &changes.description {
            c.description.clone_from(description);
        }
        // As the store: a change to nothing keeps `updated_at`.
        if *c != before {
            c.updated_at = now;
        }
        Ok(c.clone())
    }

    async fn delete_category(&self, id: Uuid) -> Result<(), CatalogWriteError> {
        let mut t = lock(&self.0);
        t.categories.remove(&id).ok_or(CatalogWriteError::NotFound)?;
        for (_, cats) in t.products.values_mut() {
            cats.remove(&id);
        }
        Ok(())
    }

    async fn create_product(&self, new: &NewProduct) -> Result<Product, CatalogWriteError> {
        let mut t = lock(&self.0);
        t.check_categories(&new.category_ids)?;
        let cats = new.category_ids.iter().copied().collect();
        t.products.insert(new.product.id, (new.product.clone(), cats));
        t.product(new.product.id).ok_or(CatalogWriteError::NotFound)
    }

    async fn find_product(&self, id: Uuid) -> Result<Option<Product>, RepoError> {
        Ok(lock(&self.0).product(id))
    }

    async fn priced(&self, ids: &[Uuid]) -> Result<Vec<PricedProduct>, RepoError> {
        let t = lock(&self.0);
        Ok(ids
            .iter()
            .filter_map(|id| t.products.get(id))
            .map(|(p, _)| PricedProduct {
                id: p.id,
                name: p.name.clone(),
                price: p.price,
                is_available: p.is_available,
            })
            .collect())
    }

    async fn list_products(&self, query: &ListQuery<ProductField>) -> Result<Page<Product>, RepoError> {
        let t = lock(&self.0);
        let all = t.products.keys().filter_map(|id| t.product(*id)).map(|p| (p.created_at, p.id, p)).collect();
        Ok(page(all, query))
    }

    async fn update_product(
        &self,
        id: Uuid,
        changes: &ProductChanges,
        now: DateTime<Utc>,
    ) -> Result<Product, CatalogWriteError> {
        let mut t = lock(&self.0);
        if !t.products.contains_key(&id) {
            return Err(CatalogWriteError::NotFound);
        }
        if let Some(ids) = &changes.category_ids {
            t.check_categories(ids)?;
        }
        let (p, cats) = t.products.get_mut(&id).ok_or(CatalogWriteError::NotFound)?;
        let before = (p.clone(), cats.clone());
        if let Some(v) = &changes.name {
            p.name.clone_from(v);
        }
        if let Some(v) = &changes.description {
            p.description.clone_from(v);
        }
        if let Some(v) = changes.price {
            p.price = v;
        }
        if let Some(v) = changes.is_available {
            p.is_available = v;
        }
        if let Some(ids) = &changes.category_ids {
            *cats = ids.iter().copied().collect();
        }
        // As the store: a change to nothing keeps `updated_at`.
        if (&*p, &*cats) != (&before.0, &before.1) {
            p.updated_at = now;
        }
        t.product(id).ok_or(CatalogWriteError::NotFound)
    }

    async fn delete_product(&self, id: Uuid) -> Result<Option<String>, CatalogWriteError> {
        let (p, _) = lock(&self.0).products.remove(&id).ok_or(CatalogWriteError::NotFound)?;
        Ok(p.image)
    }

    async fn set_product_image(
        &self,
        id: Uuid,
        image: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, CatalogWriteError> {
        let mut t = lock(&self.0);
        if std::mem::take(&mut t.vanish_before_image) {
            t.products.remove(&id);
        }
        let lose_answer = std::mem::take(&mut t.lose_image_commit);
        let (p, _) = t.products.get_mut(&id).ok_or(CatalogWriteError::NotFound)?;
        p.updated_at = now;
        let old = p.image.replace(image.to_owned());
        if lose_answer {
            return Err(RepoError::Unavailable("connection lost at COMMIT".into()).into());
        }
        Ok(old)
    }
}

/// Files the fake image store holds: name → bytes.
#[derive(Debug, Default)]
pub(crate) struct InMemoryImages(Mutex<BTreeMap<String, Vec<u8>>>);

impl InMemoryImages {
    /// A PNG as far as [`ImageStore::recognise`] is concerned.
    pub(crate) const PNG: &'static [u8] = b"\x89PNG fake image";
    /// Recognised as a PNG, but not whole: [`ImageStore::save`] refuses it.
    pub(crate) const PNG_CUT_SHORT: &'static [u8] = b"\x89PNG fake im";

    /// The names of the stored files.
    pub(crate) fn files(&self) -> Vec<String> {
        lock(&self.0).keys().cloned().collect()
    }
}

#[async_trait]
impl ImageStore for InMemoryImages {
    fn recognise(&self, bytes: &[u8]) -> Option<ImageKind> {
        bytes.starts_with(b"\x89PNG").then_some(ImageKind::Png)
    }

    fn locate(&self, name: &str) -> Option<(PathBuf, ImageKind)> {
        let kind = ImageKind::from_extension(name.split_once('.')?.1)?;
        lock(&self.0).contains_key(name).then(|| (PathBuf::from(name), kind))
    }

    async fn save(&self, bytes: Vec<u8>, kind: ImageKind) -> Result<String, ImageSaveError> {
        if !bytes.ends_with(b"image") {
            return Err(ImageSaveError::Unreadable);
        }
        let name = format!("{}.{}", Uuid::now_v7().simple(), kind.extension());
        lock(&self.0).insert(name.clone(), bytes);
        Ok(name)
    }

    async fn delete(&self, name: &str) -> Result<(), InfraError> {
        lock(&self.0).remove(name);
        Ok(())
    }
}
