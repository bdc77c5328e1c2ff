//! `/cart`: the caller's own cart.

use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::cart::CartError;
use paperclip::actix::{NoContent, api_v2_operation, web};
use uuid::Uuid;

use crate::dto::cart::{AddToCartRequest, CartDto, CartLineDto, SetQuantityRequest};
use crate::extract::{Authenticated, JsonBody};
use crate::problem::Problem;
use crate::responses::{Created, CreatedOrMerged};

/// Your cart
///
/// Your cart with the menu's current prices and availability, its total quantity and total.
/// An unavailable line stays in the cart (and fails a checkout) until you remove it; a product
/// deleted from the menu disappears from it.
#[api_v2_operation(operation_id = "getCart", tags(Cart))]
async fn get_cart(services: Data<Services>, caller: Authenticated) -> Result<web::Json<CartDto>, Problem<CartError>> {
    let cart = services.carts.get(&caller.0).await?;
    Ok(web::Json(CartDto::new(cart, services.shop.currency())))
}

/// Add to your cart
///
/// Puts `quantity` (default 1) of a product in your cart; a product already there is merged into
/// its line, which holds at most 99. An unknown product gives 404, an unavailable one 409
/// `product_unavailable`. Answers with the whole cart: 201 when a new line was made, 200 when the
/// product joined its line; `Location` names the line either way.
#[api_v2_operation(operation_id = "addToCart", tags(Cart))]
async fn add_to_cart(
    services: Data<Services>,
    caller: Authenticated,
    body: JsonBody<AddToCartRequest>,
) -> Result<CreatedOrMerged<CartDto>, Problem<CartError>> {
    let body = body.get()?;
    let quantity = body.quantity()?;
    let added = services.carts.add(&caller.0, body.product_id, quantity).await?;
    let body = CartDto::new(added.cart, services.shop.currency());
    Ok(CreatedOrMerged { merged: added.merged, created: Created { location: format!("/cart/{}", added.line), body } })
}

/// One line of your cart
///
/// A line of your cart (the `Location` of `POST /cart`) with the menu's current price and
/// availability. A line that is not in your cart gives 404.
#[api_v2_operation(operation_id = "getCartItem", tags(Cart))]
async fn get_item(
    services: Data<Services>,
    caller: Authenticated,
    item_id: web::Path<Uuid>,
) -> Result<web::Json<CartLineDto>, Problem<CartError>> {
    Ok(web::Json(CartLineDto::from(services.carts.line(&caller.0, item_id.into_inner()).await?)))
}

/// Change a cart line
///
/// Sets the quantity (1–99) of one line of your cart. Answers with the whole cart.
#[api_v2_operation(operation_id = "updateCartItem", tags(Cart))]
async fn update_item(
    services: Data<Services>,
    caller: Authenticated,
    item_id: web::Path<Uuid>,
    body: JsonBody<SetQuantityRequest>,
) -> Result<web::Json<CartDto>, Problem<CartError>> {
    let body = body.get()?;
    let cart = services.carts.set_quantity(&caller.0, item_id.into_inner(), body.quantity()?).await?;
    Ok(web::Json(CartDto::new(cart, services.shop.currency())))
}

/// Remove a cart line
///
/// Removes one line from your cart.
#[api_v2_operation(operation_id = "removeCartItem", tags(Cart))]
async fn remove_item(
    services: Data<Services>,
    caller: Authenticated,
    item_id: web::Path<Uuid>,
) -> Result<NoContent, Problem<CartError>> {
    services.carts.remove(&caller.0, item_id.into_inner()).await?;
    Ok(NoContent)
}

/// Empty your cart
///
/// Removes every line from your cart.
#[api_v2_operation(operation_id = "clearCart", tags(Cart))]
async fn clear_cart(services: Data<Services>, caller: Authenticated) -> Result<NoContent, Problem<CartError>> {
    services.carts.clear(&caller.0).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/cart")
            .route(web::get().to(get_cart))
            .route(web::post().to(add_to_cart))
            .route(web::delete().to(clear_cart)),
    )
    .service(
        web::resource("/cart/{item_id}")
            .route(web::get().to(get_item))
            .route(web::patch().to(update_item))
            .route(web::delete().to(remove_item)),
    );
}
