//! `GET /api/v1/audit/verify`: the hash chains of every stream, or of one.

use axum::extract::State;
use axum::Json;
use domain::{EventId, Position, StreamId};
use eventstore::verify;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{PositionShape, StreamIdShape};
use super::{ApiError, ApiQuery, AppState, Principal, Role};

/// The audit routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_chains))
}

/// `?stream=` limits the check to one stream.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct VerifyParams {
    /// Check only this stream (`<category>-<id>`).
    stream: Option<String>,
}

/// What a verification found.
#[derive(Debug, Serialize, ToSchema)]
struct VerifyReport {
    /// Whether every chain checked is intact.
    intact: bool,
    streams: u64,
    events: u64,
    broken_streams: u64,
    /// The first broken link of each damaged stream (at most 100).
    broken: Vec<BrokenView>,
}

/// A stream's first broken link.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BrokenLink)]
struct BrokenView {
    #[schema(value_type = StreamIdShape)]
    stream_id: StreamId,
    version: u64,
    #[schema(value_type = Option<uuid::Uuid>)]
    event_id: Option<EventId>,
    #[schema(value_type = Option<PositionShape>)]
    position: Option<Position>,
    /// What is wrong, as a code.
    problem: String,
    /// What is wrong, for a person.
    description: String,
}

/// Verifies hash chains.
///
/// Walks the hash chains of every stream, or of one. Roles: auditor, ceo.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    tag = "audit",
    params(VerifyParams),
    responses(
        (status = 200, description = "What the walk found", body = VerifyReport),
        (status = 404, description = "No such stream (`not_found`)",
            body = super::problem::Problem, content_type = "application/problem+json"),
    ),
)]
async fn verify_chains(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<VerifyParams>,
) -> Result<Json<VerifyReport>, ApiError> {
    principal.require(&[Role::Auditor, Role::Ceo])?;
    let report = match params.stream {
        Some(stream) => {
            let stream: StreamId = stream
                .parse()
                .map_err(|e: domain::InvalidId| ApiError::invalid_field("stream", e.to_string()))?;
            if state.store.stream_head(&stream).await?.is_none() {
                return Err(ApiError::not_found(format!("no stream {stream}")));
            }
            verify::verify_stream(&*state.store, &stream).await?
        }
        None => verify::verify_all(&*state.store, |_| {}).await?,
    };
    Ok(Json(VerifyReport {
        intact: report.is_intact(),
        streams: report.streams,
        events: report.events,
        broken_streams: report.broken_streams,
        broken: report
            .broken
            .iter()
            .map(|(stream, link)| BrokenView {
                stream_id: stream.clone(),
                version: link.version,
                event_id: link.event.map(|(id, _)| id),
                position: link.event.map(|(_, at)| at),
                problem: link.problem.to_string(),
                description: verify::describe(stream, link),
            })
            .collect(),
    }))
}
