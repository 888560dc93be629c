//! `GET /api/v1/session`: who the presented token is, so a client (the
//! dashboard) can check a token at sign-in and show what its role allows.
//! The server still checks the role on every call.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, Principal};

/// The session route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(session))
}

/// The token's holder.
#[derive(Debug, Serialize, ToSchema)]
struct Session {
    /// The token's name.
    name: String,
    /// `ceo`, `operator`, `auditor` or `viewer`.
    #[schema(example = "ceo")]
    role: &'static str,
}

/// Shows who the token is.
///
/// The name and role of the bearer token presented; 401 for a missing,
/// malformed, unknown or revoked token. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    tag = "session",
    responses(
        (status = 200, description = "The token's name and role", body = Session),
    ),
)]
async fn session(principal: Principal) -> Json<Session> {
    Json(Session {
        name: principal.name,
        role: principal.role.as_str(),
    })
}
