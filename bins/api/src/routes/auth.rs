//! `/auth/*`: sign-up, verification, login, refresh and logout.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use coffee_app::Services;
use coffee_domain::auth::AuthError;
use coffee_domain::user::{Email, Password};
use paperclip::actix::{AcceptedJson, NoContent, api_v2_operation, web};

use crate::dto::MessageDto;
use crate::dto::auth::{
    LoginRequest, RefreshRequest, ResendRequest, SignupRequest, TokenDto, VerifyLinkQuery, VerifyRequest,
};
use crate::dto::user::UserDto;
use crate::extract::{JsonBody, JsonOrForm, StrictQuery};
use crate::problem::{ApiError, IntoProblem, Problem};
use crate::responses::Created;
use crate::verify_page::{self, Outcome};

/// Sign up
///
/// Creates an unverified account and sends a verification e-mail with a 6-digit code and a link.
/// The account must be verified before it can log in; unverified accounts are deleted after
/// `UNVERIFIED_USER_TTL`.
#[api_v2_operation(operation_id = "signup", tags(Auth))]
async fn signup(
    services: Data<Services>,
    body: JsonBody<SignupRequest>,
) -> Result<Created<UserDto>, Problem<AuthError>> {
    let body = body.get()?;
    let user = services.auth.signup(body.parse()?).await?;
    Ok(Created { location: format!("/users/{}", user.id), body: user.into() })
}

/// Verify an e-mail address
///
/// Confirms the address with the 6-digit code (`email` + `code`) or the link token (`token`).
/// Five wrong codes invalidate the code (429); request a new one with `/auth/verify/resend`.
#[api_v2_operation(operation_id = "verify", tags(Auth))]
async fn verify(
    services: Data<Services>,
    body: JsonBody<VerifyRequest>,
) -> Result<web::Json<UserDto>, Problem<AuthError>> {
    let body = body.get()?;
    let user = services.auth.verify(body.parse()?).await?;
    Ok(web::Json(user.into()))
}

/// What a JSON client opening a used verification link is told.
const ALREADY_VERIFIED_DETAIL: &str = "This e-mail address is verified; log in.";

/// Open a verification link
///
/// The target of the link in the verification mail. Answers with a short HTML page, or JSON when
/// the client accepts JSON (`application/json` or `application/problem+json`) and not HTML: the
/// user when this call verified it, `{"detail"}` saying the address is verified when the link was
/// opened before. Opening the link again still shows success, so mail scanners that prefetch
/// links do no harm.
#[api_v2_operation(operation_id = "verifyLink", tags(Auth), produces = "text/html, application/json")]
async fn verify_link(
    req: HttpRequest,
    services: Data<Services>,
    query: StrictQuery<VerifyLinkQuery>,
) -> Result<HttpResponse, Problem<AuthError>> {
    let wants_json = verify_page::wants_json(&req);
    let token = query.get()?.token;
    let token = token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let result = match token {
        Some(token) => services.auth.verify_link(token).await,
        None => Err(AuthError::InvalidVerificationCode),
    };
    if wants_json {
        // The account only to the call that verified it: a link opened again
        // (by anyone who saw the mail, for as long as its record is kept)
        // is told that the address is verified, and nothing else.
        let done = result?;
        if !done.newly {
            return Ok(HttpResponse::Ok().json(MessageDto { detail: ALREADY_VERIFIED_DETAIL.to_owned() }));
        }
        return Ok(HttpResponse::Ok().json(UserDto::from(done.user)));
    }
    let outcome = match result {
        Ok(done) if done.newly => Outcome::Verified,
        Ok(_) => Outcome::AlreadyVerified,
        Err(_) if token.is_none() => Outcome::Incomplete,
        Err(e) => {
            let e = e.into_problem();
            if e.problem().status >= 500 {
                return Err(e.into());
            }
            Outcome::NotValid
        }
    };
    Ok(verify_page::render(outcome, services.shop.info()))
}

/// Send a new verification code
///
/// Sends a new code and link that replace the previous ones, at most once per
/// `VERIFICATION_RESEND_COOLDOWN`. Always answers 202, whether or not the address has an
/// unverified account, so the endpoint does not reveal which addresses are registered.
#[api_v2_operation(operation_id = "resendVerification", tags(Auth))]
async fn resend(
    services: Data<Services>,
    body: JsonBody<ResendRequest>,
) -> Result<AcceptedJson<MessageDto>, Problem<AuthError>> {
    let body = body.get()?;
    let email = Email::parse("email", &body.email).map_err(|e| ApiError::validation(vec![e]))?;
    // The work happens after the answer, so the answer takes as long whether
    // or not the address has an account: its timing reveals nothing either.
    let auth = services.auth.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = auth.resend(email).await {
            tracing::error!(error = %coffee_domain::error::error_chain(&e), "resending a verification code failed");
        }
    });
    Ok(AcceptedJson(MessageDto {
        detail: "If this address belongs to an unverified account, a new code is on its way.".to_owned(),
    }))
}

/// Log in
///
/// Exchanges e-mail and password for an access token and a refresh token. Accepts JSON
/// (`email`, `password`) or an OAuth2 password-grant form (`username`, `password`). Unknown
/// e-mail and wrong password give the same 401.
#[api_v2_operation(operation_id = "login", tags(Auth))]
async fn login(
    services: Data<Services>,
    body: JsonOrForm<LoginRequest>,
) -> Result<web::Json<TokenDto>, Problem<AuthError>> {
    let body = body.get()?;
    // `grant_type`, when sent, is `password`: the type admits nothing else.
    let LoginRequest { email, password, grant_type: _ } = body;
    if password.is_empty() || password.chars().count() > Password::MAX_CHARS {
        return Err(ApiError::validation(vec![coffee_domain::FieldError::new(
            "password",
            "must be 1 to 128 characters long",
        )])
        .into());
    }
    Ok(web::Json(services.auth.login(&email, &password).await?.into()))
}

/// Refresh the tokens
///
/// Exchanges a refresh token for a new pair. Each refresh token works once: presenting a
/// used one again revokes every session of that login (theft detection) and answers 401.
#[api_v2_operation(operation_id = "refresh", tags(Auth))]
async fn refresh(
    services: Data<Services>,
    body: JsonBody<RefreshRequest>,
) -> Result<web::Json<TokenDto>, Problem<AuthError>> {
    let body = body.get()?;
    Ok(web::Json(services.auth.refresh(&body.refresh_token).await?.into()))
}

/// Log out
///
/// Revokes the session of the given refresh token. The access token stays valid until it
/// expires (at most `ACCESS_TOKEN_TTL`).
#[api_v2_operation(operation_id = "logout", tags(Auth))]
async fn logout(services: Data<Services>, body: JsonBody<RefreshRequest>) -> Result<NoContent, Problem<AuthError>> {
    let body = body.get()?;
    services.auth.logout(&body.refresh_token).await?;
    Ok(NoContent)
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/signup").route(web::post().to(signup)))
        .service(web::resource("/auth/verify").route(web::post().to(verify)).route(web::get().to(verify_link)))
        .service(web::resource("/auth/verify/resend").route(web::post().to(resend)))
        .service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)));
}
