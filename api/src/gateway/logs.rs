//! `GET /api/v1/logs`: the activity log, each component's recent log lines
//! in this process (see [`crate::activity`]).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use tracing::Level;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiQuery, AppState, Principal, Role};
use crate::activity::LogLine;

/// Lines answered at most.
const MAX_LIMIT: usize = 1000;

/// The activity log's route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logs))
}

/// The filters of `/api/v1/logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsParams {
    /// Only this component's lines (`brain`, `relay`, `runner`, `processor`, `clock` …).
    component: Option<String>,
    /// `error`, `warn` or `info` (the default): this level and above.
    level: Option<String>,
    /// At most this many lines, newest first (1-1000, default 100).
    limit: Option<usize>,
}

/// Recent log lines.
#[derive(Debug, Serialize, ToSchema)]
struct LogsPage {
    /// The components that have logged, by name.
    components: Vec<String>,
    /// Newest first.
    lines: Vec<LogLine>,
}

/// The activity log.
///
/// The most recent log lines (INFO and above) of each component of this
/// process, newest first. Roles: ceo, operator, auditor.
#[utoipa::path(
    get,
    path = "/api/v1/logs",
    tag = "control",
    params(LogsParams),
    responses((status = 200, description = "Recent log lines", body = LogsPage)),
)]
async fn logs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<LogsParams>,
) -> Result<Json<LogsPage>, ApiError> {
    principal.require(&[Role::Ceo, Role::Operator, Role::Auditor])?;
    let level = match params.level.as_deref().unwrap_or("info") {
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "info" => Level::INFO,
        other => {
            return Err(ApiError::invalid_field(
                "level",
                format!("{other:?} is not error, warn or info"),
            ))
        }
    };
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("{limit} is not between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(Json(LogsPage {
        components: state.activity.components(),
        lines: state
            .activity
            .recent(params.component.as_deref(), level, limit),
    }))
}
