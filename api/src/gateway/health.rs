//! `/healthz` (the process answers) and `/readyz` (it can serve: the
//! database answers).

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{ApiError, AppState, Principal, Role};

/// How long readiness waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness: no authentication, no dependency.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers within two seconds, else 503.
async fn readyz(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<serde_json::Value>, ApiError> {
    principal.require(&[Role::Operator, Role::Auditor, Role::Ceo])?;
    match tokio::time::timeout(DATABASE_TIMEOUT, state.db.query("SELECT 1", &[])).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(ApiError::unavailable(&e)),
        Err(_) => {
            return Err(ApiError::unavailable(
                &"the database did not answer within 2 s",
            ))
        }
    }
    let event_log = projections::models::event_log::active_checkpoint(
        &state.db,
        projections::models::event_log::NAME,
    )
    .await?;
    Ok(Json(json!({
        "status": "ready",
        "database": "ok",
        "projections": { "event_log": { "checkpoint": event_log } },
    })))
}
