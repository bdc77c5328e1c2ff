//! `/categories`: reads are public, writes admin-only.

use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::catalog::{CatalogError, CategoryResource};
use paperclip::actix::{NoContent, api_v2_operation, web};
use uuid::Uuid;

use crate::dto::category::{CategoryDto, CategoryPage, CategoryPatchRequest, CategoryRequest};
use crate::extract::{AdminAccess, JsonBody, ListParams};
use crate::problem::Problem;
use crate::responses::Created;

/// List categories
///
/// Pages through the menu's categories with the list query language: filter on `name`,
/// `created_at`; `search` matches name and description; `sort` by `name` or `created_at`.
#[api_v2_operation(operation_id = "listCategories", tags(Menu))]
async fn list_categories(
    services: Data<Services>,
    query: ListParams<CategoryResource>,
) -> Result<web::Json<CategoryPage>, Problem<CatalogError>> {
    Ok(web::Json(services.catalog.list_categories(&query.get()?).await?.into()))
}

/// Get a category
///
/// Returns one category.
#[api_v2_operation(operation_id = "getCategory", tags(Menu))]
async fn get_category(
    services: Data<Services>,
    id: web::Path<Uuid>,
) -> Result<web::Json<CategoryDto>, Problem<CatalogError>> {
    Ok(web::Json(services.catalog.get_category(id.into_inner()).await?.into()))
}

/// Create a category (admin)
///
/// Creates a category. Names are unique, ignoring case (409 otherwise).
#[api_v2_operation(operation_id = "createCategory", tags(Menu))]
async fn create_category(
    services: Data<Services>,
    admin: AdminAccess,
    body: JsonBody<CategoryRequest>,
) -> Result<Created<CategoryDto>, Problem<CatalogError>> {
    let body = body.get()?;
    let category = services.catalog.create_category(admin.0, body.parse()?).await?;
    Ok(Created { location: format!("/categories/{}", category.id), body: category.into() })
}

/// Replace a category (admin)
///
/// Full replacement of the editable fields: an absent description is cleared.
#[api_v2_operation(operation_id = "putCategory", tags(Menu))]
async fn put_category(
    services: Data<Services>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
    body: JsonBody<CategoryRequest>,
) -> Result<web::Json<CategoryDto>, Problem<CatalogError>> {
    let body = body.get()?;
    let category = services.catalog.replace_category(admin.0, id.into_inner(), body.parse()?).await?;
    Ok(web::Json(category.into()))
}

/// Update a category (admin)
///
/// Partial update: absent fields stay as they are; `null` clears the description.
#[api_v2_operation(operation_id = "patchCategory", tags(Menu))]
async fn patch_category(
    services: Data<Services>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
    body: JsonBody<CategoryPatchRequest>,
) -> Result<web::Json<CategoryDto>, Problem<CatalogError>> {
    let body = body.get()?;
    let category = services.catalog.update_category(admin.0, id.into_inner(), body.parse()?).await?;
    Ok(web::Json(category.into()))
}

/// Delete a category (admin)
///
/// Deletes the category. Its products stay on the menu, detached from it.
#[api_v2_operation(operation_id = "deleteCategory", tags(Menu))]
async fn delete_category(
    services: Data<Services>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
) -> Result<NoContent, Problem<CatalogError>> {
    services.catalog.delete_category(admin.0, id.into_inner()).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/categories").route(web::get().to(list_categories)).route(web::post().to(create_category)),
    )
    .service(
        web::resource("/categories/{id}")
            .route(web::get().to(get_category))
            .route(web::put().to(put_category))
            .route(web::patch().to(patch_category))
            .route(web::delete().to(delete_category)),
    );
}
