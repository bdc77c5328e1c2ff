//! `/support`: conversation history over REST, staff closing conversations,
//! and tickets for browser sockets. Live chat itself is `GET /ws`.

use actix_web::web::Data;
use coffee_app::Services;
use coffee_domain::support::{ConversationResource, HistoryWindow, SupportError};
use paperclip::actix::{api_v2_operation, web};
use uuid::Uuid;

use crate::dto::support::{
    ConversationDto, ConversationPage, HistoryQuery, MessagePage, PatchConversationRequest, TicketDto,
};
use crate::extract::{Authenticated, AuthenticatedUntil, JsonBody, ListParams, StrictQuery};
use crate::problem::{ApiError, Problem};
use crate::responses::Created;

/// Get a WebSocket ticket
///
/// A single-use ticket, valid for 30 seconds on any replica, for browsers (which cannot send
/// `Authorization` on a WebSocket): connect to `GET /ws?ticket=…` (the `Location`). A socket
/// opened with it closes (4001) when the access token used here expires. Each user gets at
/// most 10 tickets in 30 seconds (then 429 `too_many_tickets` with `Retry-After`).
#[api_v2_operation(operation_id = "createTicket", tags(Support))]
async fn create_ticket(
    services: Data<Services>,
    caller: AuthenticatedUntil,
) -> Result<Created<TicketDto>, Problem<SupportError>> {
    let ticket = services.support.issue_ticket(&caller.caller, caller.expires_at).await?;
    Ok(Created { location: format!("/ws?ticket={}", ticket.ticket), body: ticket.into() })
}

/// List conversations
///
/// Your own conversations, or every conversation for staff, with the list query language:
/// filter on `status`, `customer_id`, `last_message_at`, `created_at`; `sort` by `status`,
/// `last_message_at` or `created_at` (default newest first). A customer sees only their own
/// whatever filters they send.
#[api_v2_operation(operation_id = "listConversations", tags(Support))]
async fn list_conversations(
    services: Data<Services>,
    caller: Authenticated,
    query: ListParams<ConversationResource>,
) -> Result<web::Json<ConversationPage>, Problem<SupportError>> {
    Ok(web::Json(services.support.list(&caller.0, &query.get()?).await?.into()))
}

/// Get a conversation
///
/// One of your conversations (any, for staff).
#[api_v2_operation(operation_id = "getConversation", tags(Support))]
async fn get_conversation(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<web::Json<ConversationDto>, Problem<SupportError>> {
    Ok(web::Json(services.support.get(&caller.0, id.into_inner()).await?.into()))
}

/// Close a conversation
///
/// Staff close a conversation (`{"status":"closed"}`); closing a closed one changes nothing.
/// The customer and every agent get a `conversation` frame; the customer's next message opens a
/// new conversation. A closed conversation is not reopened (409 `conversation_closed`).
#[api_v2_operation(operation_id = "patchConversation", tags(Support))]
async fn patch_conversation(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    body: JsonBody<PatchConversationRequest>,
) -> Result<web::Json<ConversationDto>, Problem<SupportError>> {
    let body = body.get()?;
    let status = body.status.into();
    Ok(web::Json(services.support.set_status(&caller.0, id.into_inner(), status).await?.into()))
}

/// Read a conversation's messages
///
/// Messages ascending by `seq`: with `after_seq`, the first `limit` after it (read forward, as a
/// client catching up does); otherwise the latest `limit` before `before_seq` (or the newest).
/// `limit` is 1–100 (default 50); `has_more` says whether more lie in the direction read.
#[api_v2_operation(operation_id = "listMessages", tags(Support))]
async fn list_messages(
    services: Data<Services>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    query: StrictQuery<HistoryQuery>,
) -> Result<web::Json<MessagePage>, Problem<SupportError>> {
    let HistoryQuery { after_seq, before_seq, limit } = query.get()?;
    let window = HistoryWindow::new(after_seq, before_seq, limit).map_err(ApiError::validation)?;
    Ok(web::Json(services.support.history(&caller.0, id.into_inner(), window).await?.into()))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/support/tickets").route(web::post().to(create_ticket)))
        .service(web::resource("/support/conversations").route(web::get().to(list_conversations)))
        .service(
            web::resource("/support/conversations/{id}")
                .route(web::get().to(get_conversation))
                .route(web::patch().to(patch_conversation)),
        )
        .service(web::resource("/support/conversations/{id}/messages").route(web::get().to(list_messages)));
}
