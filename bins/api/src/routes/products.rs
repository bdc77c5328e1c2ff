//! `/products`: reads are public, writes (and images) admin-only.

use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::catalog::{CatalogError, ProductResource};
use paperclip::actix::{NoContent, api_v2_operation, web};
use uuid::Uuid;

use crate::dto::product::{ProductDto, ProductPage, ProductPatchRequest, ProductRequest, ProductView};
use crate::extract::{AdminAccess, JsonBody, ListParams};
use crate::problem::Problem;
use crate::rendered::RenderedPages;
use crate::responses::{Created, PageJson};
use crate::upload::ImageUpload;

/// List products
///
/// Pages through the menu with the list query language: filter on `name`, `price`,
/// `is_available`, `category_id`, `created_at`; `search` matches name and description;
/// `sort` by `name`, `price`, `is_available` or `created_at`. Each product lists its categories.
#[api_v2_operation(operation_id = "listProducts", tags(Menu))]
async fn list_products(
    services: Data<Services>,
    view: Data<ProductView>,
    rendered: Data<RenderedPages>,
    query: ListParams<ProductResource>,
) -> Result<PageJson<ProductPage>, Problem<CatalogError>> {
    let query = query.get()?;
    let page = services.catalog.list_products(&query).await?;
    Ok(rendered.json("products", &query, page, |page| view.page(page))?)
}

/// Get a product
///
/// Returns one product with its categories.
#[api_v2_operation(operation_id = "getProduct", tags(Menu))]
async fn get_product(
    services: Data<Services>,
    view: Data<ProductView>,
    id: web::Path<Uuid>,
) -> Result<web::Json<ProductDto>, Problem<CatalogError>> {
    let product = services.catalog.get_product(id.into_inner()).await?;
    Ok(web::Json(view.dto(product)))
}

/// Create a product (admin)
///
/// Creates a product in the categories named by `category_ids` (unknown ids give 422 naming
/// them). Prices are integers in minor units of the shop's currency.
#[api_v2_operation(operation_id = "createProduct", tags(Menu))]
async fn create_product(
    services: Data<Services>,
    view: Data<ProductView>,
    admin: AdminAccess,
    body: JsonBody<ProductRequest>,
) -> Result<Created<ProductDto>, Problem<CatalogError>> {
    let body = body.get()?;
    let product = services.catalog.create_product(admin.0, body.parse()?).await?;
    Ok(Created { location: format!("/products/{}", product.id), body: view.dto(product) })
}

/// Replace a product (admin)
///
/// Full replacement of the editable fields: absent `description` is cleared, absent
/// `is_available` becomes `true`, absent `category_ids` removes every category.
#[api_v2_operation(operation_id = "putProduct", tags(Menu))]
async fn put_product(
    services: Data<Services>,
    view: Data<ProductView>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
    body: JsonBody<ProductRequest>,
) -> Result<web::Json<ProductDto>, Problem<CatalogError>> {
    let body = body.get()?;
    let product = services.catalog.replace_product(admin.0, id.into_inner(), body.parse()?).await?;
    Ok(web::Json(view.dto(product)))
}

/// Update a product (admin)
///
/// Partial update: absent fields stay as they are; `null` clears the description;
/// `category_ids` replaces the whole set.
#[api_v2_operation(operation_id = "patchProduct", tags(Menu))]
async fn patch_product(
    services: Data<Services>,
    view: Data<ProductView>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
    body: JsonBody<ProductPatchRequest>,
) -> Result<web::Json<ProductDto>, Problem<CatalogError>> {
    let body = body.get()?;
    let product = services.catalog.update_product(admin.0, id.into_inner(), body.parse()?).await?;
    Ok(web::Json(view.dto(product)))
}

/// Delete a product (admin)
///
/// Deletes the product and its image. Orders keep their own copy of name and price.
#[api_v2_operation(operation_id = "deleteProduct", tags(Menu))]
async fn delete_product(
    services: Data<Services>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
) -> Result<NoContent, Problem<CatalogError>> {
    services.catalog.delete_product(admin.0, id.into_inner()).await?;
    Ok(NoContent)
}

/// Upload a product image (admin)
///
/// Sets the product's image from the multipart part `file`: PNG, JPEG or WebP, recognised by
/// content (not by file name or declared type; anything else, or a file that is not whole, gives 415),
/// at most 5 MiB (413). It is stored without its metadata (EXIF, XMP, comments, text chunks,
/// anything after the image), keeping its colour profile and orientation. The previous image is
/// removed. The image is served from `image_url`.
#[api_v2_operation(operation_id = "uploadProductImage", tags(Menu))]
async fn upload_image(
    services: Data<Services>,
    view: Data<ProductView>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
    upload: ImageUpload,
) -> Result<web::Json<ProductDto>, Problem<CatalogError>> {
    // Who may upload was settled by `AdminAccess` before a byte of the body is read.
    let bytes = upload.read().await?;
    let product = services.catalog.set_product_image(admin.0, id.into_inner(), bytes).await?;
    Ok(web::Json(view.dto(product)))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/products").route(web::get().to(list_products)).route(web::post().to(create_product)))
        .service(
            web::resource("/products/{id}")
                .route(web::get().to(get_product))
                .route(web::put().to(put_product))
                .route(web::patch().to(patch_product))
                .route(web::delete().to(delete_product)),
        )
        .service(web::resource("/products/{id}/image").route(web::post().to(upload_image)));
}
