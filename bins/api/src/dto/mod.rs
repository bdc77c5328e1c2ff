//! Wire formats: one module per resource, each with its response types
//! (`…Dto`, `…Page`) and its request types (`…Request`) that parse into
//! domain values, reporting every invalid field at once (422).

pub mod auth;
pub mod cart;
pub mod category;
pub mod health;
pub mod info;
pub mod order;
pub mod product;
pub mod support;
pub mod user;

use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Deserializer, Serialize};

/// `null` → `Some(None)`, absent → `None` (with `#[serde(default)]`).
pub fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be left out but, when sent, may not be `null`
/// (with `#[serde(default)]`): `null` is a 422 naming the field instead of
/// silently meaning "absent".
pub fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    use serde::de::Error;
    Option::<T>::deserialize(d)?
        .map(Some)
        .ok_or_else(|| D::Error::custom("must not be null (leave the field out instead)"))
}

/// A short confirmation.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct MessageDto {
    /// What happened, for humans.
    pub detail: String,
}

/// Declares the page type of a list: `{items, total, page, page_size, pages}`.
macro_rules! page_dto {
    ($(#[$doc:meta])* $page:ident of $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, paperclip::actix::Apiv2Schema)]
        pub struct $page {
            /// The items of this page.
            pub items: Vec<$item>,
            /// Items matching the filters, over all pages.
            pub total: u64,
            /// This page (1-based).
            pub page: u64,
            /// Page size.
            pub page_size: u64,
            /// Number of pages.
            pub pages: u64,
        }

        impl $page {
            /// The JSON form of `page`, each item converted by `item`.
            pub fn from_page<T>(page: coffee_domain::query::Page<T>, item: impl FnMut(T) -> $item) -> Self {
                let pages = page.pages();
                let page = page.map(item);
                Self { items: page.items, total: page.total, page: page.page, page_size: page.page_size, pages }
            }
        }
    };
}
pub(crate) use page_dto;
