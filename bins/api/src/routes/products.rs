//! `/products`: reads are public, writes (and images) admin-only.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::catalog::{ImageKind, ProductResource};
use futures_util::StreamExt;
use paperclip::actix::{NoContent, api_v2_operation, web};
use uuid::Uuid;

use crate::catalog_dto::{ProductDto, ProductPage, ProductPatchRequest, ProductRequest, ProductView};
use crate::extract::{AuthUser, JsonBody, ListParams};
use crate::problem::ApiError;
use crate::responses::Created;

/// Largest accepted image.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Room for the multipart envelope around the file.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

fn view(services: &Services) -> ProductView<'_> {
    ProductView { currency: &services.config.shop.info.currency, base_url: &services.config.public_base_url }
}

/// List products
///
/// Pages through the menu with the list query language: filter on `name`, `price`,
/// `is_available`, `category_id`, `created_at`; `search` matches name and description;
/// `sort` by `name`, `price`, `is_available` or `created_at`. Each product lists its categories.
#[api_v2_operation(operation_id = "listProducts", tags(Menu))]
async fn list_products(
    services: Data<Services>,
    query: ListParams<ProductResource>,
) -> Result<web::Json<ProductPage>, ApiError> {
    let page = services.catalog.list_products(&query.0).await?;
    Ok(web::Json(view(&services).page(page)))
}

/// Get a product
///
/// Returns one product with its categories.
#[api_v2_operation(operation_id = "getProduct", tags(Menu))]
async fn get_product(services: Data<Services>, id: web::Path<Uuid>) -> Result<web::Json<ProductDto>, ApiError> {
    let product = services.catalog.get_product(id.into_inner()).await?;
    Ok(web::Json(view(&services).dto(product)))
}

/// Create a product (admin)
///
/// Creates a product in the categories named by `category_ids` (unknown ids give 422 naming
/// them). Prices are integers in minor units of the shop's currency.
#[api_v2_operation(operation_id = "createProduct", tags(Menu))]
async fn create_product(
    services: Data<Services>,
    auth: AuthUser,
    body: JsonBody<ProductRequest>,
) -> Result<Created<ProductDto>, ApiError> {
    let product = services.catalog.create_product(auth.actor, body.0.parse()?).await?;
    Ok(Created { location: format!("/products/{}", product.id), body: view(&services).dto(product) })
}

/// Replace a product (admin)
///
/// Full replacement of the editable fields: absent `description` is cleared, absent
/// `is_available` becomes `true`, absent `category_ids` removes every category.
#[api_v2_operation(operation_id = "putProduct", tags(Menu))]
async fn put_product(
    services: Data<Services>,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: JsonBody<ProductRequest>,
) -> Result<web::Json<ProductDto>, ApiError> {
    let product = services.catalog.replace_product(auth.actor, id.into_inner(), body.0.parse()?).await?;
    Ok(web::Json(view(&services).dto(product)))
}

/// Update a product (admin)
///
/// Partial update: absent fields stay as they are; `null` clears the description;
/// `category_ids` replaces the whole set.
#[api_v2_operation(operation_id = "patchProduct", tags(Menu))]
async fn patch_product(
    services: Data<Services>,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: JsonBody<ProductPatchRequest>,
) -> Result<web::Json<ProductDto>, ApiError> {
    let product = services.catalog.update_product(auth.actor, id.into_inner(), body.0.parse()?).await?;
    Ok(web::Json(view(&services).dto(product)))
}

/// Delete a product (admin)
///
/// Deletes the product and its image. Orders keep their own copy of name and price.
#[api_v2_operation(operation_id = "deleteProduct", tags(Menu))]
async fn delete_product(services: Data<Services>, auth: AuthUser, id: web::Path<Uuid>) -> Result<NoContent, ApiError> {
    services.catalog.delete_product(auth.actor, id.into_inner()).await?;
    Ok(NoContent)
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The image is larger than 5 MiB.")
}

/// Reads the `file` part of a multipart body, refusing (413) as soon as it
/// passes [`MAX_IMAGE_BYTES`] — the rest of the body is never read.
async fn read_file_part(req: &HttpRequest, payload: actix_web::web::Payload) -> Result<Vec<u8>, ApiError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the image as multipart/form-data with a part named `file`.",
        ));
    }
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_IMAGE_BYTES + MULTIPART_OVERHEAD) {
        return Err(too_large());
    }
    let malformed = |e: actix_multipart::MultipartError| ApiError::malformed(format!("Malformed multipart body: {e}"));
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut other_bytes = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(malformed)?;
        let is_file = field.name() == Some("file");
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            if is_file {
                if bytes.len() + chunk.len() > MAX_IMAGE_BYTES {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            } else {
                other_bytes += chunk.len();
                if other_bytes > MULTIPART_OVERHEAD {
                    return Err(too_large());
                }
            }
        }
        if is_file {
            return Ok(bytes);
        }
    }
    Err(ApiError::validation(vec![coffee_domain::FieldError::new("file", "is required (a PNG, JPEG or WebP image)")]))
}

/// Upload a product image (admin)
///
/// Sets the product's image from the multipart part `file`: PNG, JPEG or WebP, recognised by
/// content (not by file name or declared type; anything else gives 415), at most 5 MiB (413).
/// The previous image is removed. The image is served from `image_url`.
#[api_v2_operation(operation_id = "uploadProductImage", tags(Menu))]
async fn upload_image(
    services: Data<Services>,
    auth: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<web::Json<ProductDto>, ApiError> {
    // Who may upload is settled before a byte of the body is read.
    services.catalog.require_admin(auth.actor).await?;
    let bytes = read_file_part(&req, payload).await?;
    let kind: ImageKind = coffee_media::recognise(&bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_type",
            "The file is not a PNG, JPEG or WebP image.",
        )
    })?;
    let product = services.catalog.set_product_image(auth.actor, id.into_inner(), kind, bytes).await?;
    Ok(web::Json(view(&services).dto(product)))
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
