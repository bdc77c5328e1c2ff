//! `GET /ws` (and `/ws/support`): the WebSocket of the support chat and of
//! live order updates. The frames are described in the OpenAPI document's
//! text (`openapi.rs`), as OpenAPI cannot describe a socket.

pub mod connection;
pub mod doc;
mod frame_limit;
pub mod frames;
pub mod hub;

use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use coffee_app::Services;
use coffee_domain::access::{Actor, Caller};
use coffee_domain::error::error_chain;
use coffee_domain::user::Role;
use tokio::time::Instant;
use uuid::Uuid;

use self::connection::{Socket, slot_lease};
use self::hub::{Hub, Refused};
use crate::csrf::AllowedOrigins;
use crate::extract::{authenticate_until, query_pairs};
use crate::problem::catalogue as c;
use crate::problem::{ApiError, IntoProblem};

/// Sockets one user may hold at once, over every replica.
pub const MAX_SOCKETS_PER_USER: usize = 5;

/// Seconds a client refused for holding too many sockets should wait.
const TOO_MANY_SOCKETS_RETRY_SECS: u64 = 5;

/// Mounts the socket routes (outside the OpenAPI document).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources (not `cfg.route`, which guards the path by method) so that
    // another method on a socket path is 405, as on every other route; two,
    // so that the metrics and the log name each path as it was asked for.
    cfg.service(web::resource("/ws").route(web::get().to(upgrade)))
        .service(web::resource("/ws/support").route(web::get().to(upgrade)));
}

/// Whether the request asks to become a WebSocket.
fn is_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Checks, in order: that the replica is not draining or shutting down (503), that
/// this is an upgrade (400), the browser origin (403), the credential (401;
/// a ticket is consumed only here), the per-user socket bound (429), and
/// shutdown again as the socket registers (503); then upgrades and runs the
/// socket.
async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    services: Data<Services>,
    hub: Data<Hub>,
    origins: Data<AllowedOrigins>,
) -> Result<HttpResponse, ApiError> {
    // From the drain on (readiness 503, `Connection: close` on every answer,
    // which a 101 cannot carry), a new socket is sent elsewhere at once
    // rather than opened and closed with 1001 a few seconds later.
    if services.lifecycle.is_draining() || services.lifecycle.sockets_closing().is_cancelled() {
        return Err(shutting_down());
    }
    if !is_upgrade(&req) {
        return Err(ApiError::with_detail(
            c::BAD_REQUEST,
            "This is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket).",
        ));
    }
    if let Some(why) = origins.refusal(req.headers()) {
        return Err(ApiError::with_detail(c::FORBIDDEN, format!("{why} No socket is opened.")));
    }
    let Credential { caller, expires_at, ticket } = credential(&req, &services).await?;
    let user = caller.id();
    let id = Uuid::now_v7();
    let slots = &services.live.slots;
    match slots.acquire(user, id, MAX_SOCKETS_PER_USER, slot_lease(services.config.ws_ping_interval)).await {
        Ok(true) => {}
        Ok(false) => return Err(too_many_sockets()),
        // The replica's own bound (below) still holds while the shared store is down.
        Err(e) => tracing::warn!(error = %error_chain(&e), "socket slots unavailable; bounding this replica only"),
    }
    // Shutdown may have begun since the check above (the credential and the
    // slot take a while): the hub then refuses the socket, which would
    // otherwise miss the one `close_all` and never be told 1001.
    let registration = match hub.register(user, caller.admin().is_some(), MAX_SOCKETS_PER_USER) {
        Ok(registration) => registration,
        Err(refused) => {
            let _ = slots.release(user, id).await;
            return Err(match refused {
                Refused::Full => too_many_sockets(),
                Refused::Closed => shutting_down(),
            });
        }
    };
    let upgraded = frame_limit::limit_frames(&req, body, connection::MAX_FRAME_BYTES)
        .and_then(|body| actix_ws::handle(&req, body));
    let (response, session, stream) = match upgraded {
        Ok(upgraded) => upgraded,
        Err(e) => {
            let _ = slots.release(user, id).await;
            return Err(ApiError::with_detail(c::BAD_REQUEST, format!("The WebSocket handshake failed: {e}.")));
        }
    };
    // The ticket is spent only now that the socket has a place and its
    // handshake was accepted: a refusal above leaves it good for another
    // try. Of concurrent upgrades with one ticket, each may get this far;
    // one spends it, the others are refused here.
    if let Some(ticket) = ticket {
        let spent = services.support.redeem_ticket(&ticket).await.map_err(IntoProblem::into_problem);
        if !matches!(&spent, Ok(Some(grant)) if grant.user_id == user && grant.session_id == caller.session()) {
            drop(registration);
            let _ = slots.release(user, id).await;
            return Err(spent.err().unwrap_or_else(ticket_refused));
        }
    }
    let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
    let socket = Socket { services, caller, id, expires_at: Instant::now() + left, registration, session };
    actix_web::rt::spawn(socket.run(stream));
    Ok(response)
}

/// 429: the user holds [`MAX_SOCKETS_PER_USER`] sockets. A ticket that
/// came with the upgrade is not spent: it works for another try within its
/// lifetime.
fn too_many_sockets() -> ApiError {
    let detail = format!(
        "You have {MAX_SOCKETS_PER_USER} live sockets open, as many as allowed: close one first, then connect \
         again (a ticket sent stays good until it expires)."
    );
    ApiError::with_detail(c::TOO_MANY_SOCKETS, detail).retry_after(TOO_MANY_SOCKETS_RETRY_SECS)
}

/// 503: the replica is shutting down; another takes the socket.
fn shutting_down() -> ApiError {
    ApiError::with_detail(c::SERVICE_UNAVAILABLE, "This replica is shutting down; connect again.").retry_after(1)
}

/// 401: the ticket is unknown, spent or expired.
fn ticket_refused() -> ApiError {
    ApiError::with_detail(
        c::INVALID_TOKEN,
        "The ticket is unknown, used or expired: get a new one from POST /support/tickets.",
    )
}

/// Who connects, until when, and the ticket to spend once the socket has a
/// place (none with a bearer token).
struct Credential {
    caller: Caller,
    expires_at: DateTime<Utc>,
    ticket: Option<String>,
}

/// Who connects, and until when: a bearer token in `Authorization`, or a
/// ticket from `POST /support/tickets` in `?ticket=`, read but not spent
/// yet. Tokens in the URL are refused (URLs end up in logs and histories).
async fn credential(req: &HttpRequest, services: &Services) -> Result<Credential, ApiError> {
    let pairs = query_pairs(req.query_string())?;
    if pairs.iter().any(|(name, _)| matches!(name.as_str(), "token" | "access_token" | "jwt" | "authorization")) {
        return Err(ApiError::with_detail(
            c::INVALID_TOKEN,
            "Tokens are never accepted in the URL: send `Authorization: Bearer <token>`, or get a ticket from \
             POST /support/tickets and connect with `?ticket=`.",
        ));
    }
    if req.headers().contains_key(header::AUTHORIZATION) {
        let (caller, expires_at) = authenticate_until(req).await?;
        return Ok(Credential { caller, expires_at, ticket: None });
    }
    let Some((_, ticket)) = pairs.iter().find(|(name, _)| name == "ticket") else {
        return Err(ApiError::with_detail(
            c::MISSING_TOKEN,
            "Send `Authorization: Bearer <token>`, or connect with `?ticket=` from POST /support/tickets.",
        ));
    };
    let grant =
        services.support.peek_ticket(ticket).await.map_err(IntoProblem::into_problem)?.ok_or_else(ticket_refused)?;
    if grant.expires_at <= Utc::now() {
        return Err(c::TOKEN_EXPIRED.into());
    }
    // The role is re-read from the account, not taken from the ticket.
    let caller = services
        .access
        .caller(Actor { id: grant.user_id, role: Role::User, session: grant.session_id })
        .await
        .map_err(IntoProblem::into_problem)?;
    Ok(Credential { caller, expires_at: grant.expires_at, ticket: Some(ticket.clone()) })
}
