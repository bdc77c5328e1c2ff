//! `/me` and `/users/*`.

use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::user::{UserError, UserResource};
use paperclip::actix::{NoContent, api_v2_operation, web};
use uuid::Uuid;

use crate::dto::user::{PatchUserRequest, PutUserRequest, UpdateMeRequest, UserDto, UserPage};
use crate::extract::{AdminAccess, Authenticated, JsonBody, ListParams};
use crate::problem::Problem;

/// Your account
///
/// Returns the account of the access token's owner.
#[api_v2_operation(operation_id = "getMe", tags(Users))]
async fn get_me(caller: Authenticated) -> web::Json<UserDto> {
    web::Json(caller.0.into_user().into())
}

/// Update your profile
///
/// Changes your own `first_name`, `last_name` and `phone`. Absent fields stay as they are;
/// `null` clears a field. Other fields are refused with 422.
#[api_v2_operation(operation_id = "updateMe", tags(Users))]
async fn update_me(
    services: Data<Services>,
    caller: Authenticated,
    body: JsonBody<UpdateMeRequest>,
) -> Result<web::Json<UserDto>, Problem<UserError>> {
    let body = body.get()?;
    let patch = body.into_patch()?;
    Ok(web::Json(services.users.update(&caller.0, caller.0.id(), patch).await?.into()))
}

/// List users (admin)
///
/// Pages through users with the list query language: filter on `email`, `first_name`,
/// `last_name`, `role`, `is_verified`, `created_at`; `search` matches e-mail and names;
/// `sort` by any of those fields (default `-created_at`).
#[api_v2_operation(operation_id = "listUsers", tags(Users))]
async fn list_users(
    services: Data<Services>,
    admin: AdminAccess,
    query: ListParams<UserResource>,
) -> Result<web::Json<UserPage>, Problem<UserError>> {
    Ok(web::Json(services.users.list(admin.0, &query.get()?).await?.into()))
}

/// Get a user
///
/// Returns one user: any, for an admin; yourself, for anyone else (other users' ids give 404,
/// like the other `/users/{id}` routes).
#[api_v2_operation(operation_id = "getUser", tags(Users))]
async fn get_user(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<web::Json<UserDto>, Problem<UserError>> {
    Ok(web::Json(services.users.get(&caller.0, id.into_inner()).await?.into()))
}

/// Update a user
///
/// Partial update. Anyone may update their own profile fields; admins may update anyone and
/// also change `email`, `role` and `is_verified`. A user sending a different value for an
/// admin-only field gets 403, and so does an admin changing their own `is_verified` (it would
/// lock them out of login); another user's id gives 404. Demoting the last admin gives 409.
#[api_v2_operation(operation_id = "patchUser", tags(Users))]
async fn patch_user(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: JsonBody<PatchUserRequest>,
) -> Result<web::Json<UserDto>, Problem<UserError>> {
    let body = body.get()?;
    let patch = body.into_patch()?;
    Ok(web::Json(services.users.update(&caller.0, id.into_inner(), patch).await?.into()))
}

/// Replace a user's profile
///
/// Full replacement of the profile fields (`first_name`, `last_name`, `phone`: absent means
/// cleared). `email`, `role` and `is_verified` are admin-only and stay unchanged when absent.
/// Same permission rules as PATCH.
#[api_v2_operation(operation_id = "putUser", tags(Users))]
async fn put_user(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: JsonBody<PutUserRequest>,
) -> Result<web::Json<UserDto>, Problem<UserError>> {
    let body = body.get()?;
    let patch = PatchUserRequest::from(body).into_patch()?;
    Ok(web::Json(services.users.update(&caller.0, id.into_inner(), patch).await?.into()))
}

/// Delete a user (admin)
///
/// Deletes the user with everything that belongs to them. Deleting the last admin gives 409.
#[api_v2_operation(operation_id = "deleteUser", tags(Users))]
async fn delete_user(
    services: Data<Services>,
    admin: AdminAccess,
    id: web::Path<Uuid>,
) -> Result<NoContent, Problem<UserError>> {
    services.users.delete(admin.0, id.into_inner()).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me").route(web::get().to(get_me)).route(web::patch().to(update_me)))
        .service(web::resource("/users").route(web::get().to(list_users)))
        .service(
            web::resource("/users/{id}")
                .route(web::get().to(get_user))
                .route(web::patch().to(patch_user))
                .route(web::put().to(put_user))
                .route(web::delete().to(delete_user)),
        );
}
