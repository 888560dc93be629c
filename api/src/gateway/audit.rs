//! `GET /api/v1/audit/verify`: the hash chains of every stream, or of one.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use domain::{EventId, Position, StreamId};
use eventstore::verify;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState, Principal, Role};

/// The audit routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit/verify", get(verify_chains))
}

/// `?stream=` limits the check to one stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyParams {
    stream: Option<String>,
}

/// What a verification found.
#[derive(Debug, Serialize)]
struct VerifyReport {
    intact: bool,
    streams: u64,
    events: u64,
    broken_streams: u64,
    /// The first broken link of each damaged stream (at most 100).
    broken: Vec<BrokenView>,
}

/// A stream's first broken link.
#[derive(Debug, Serialize)]
struct BrokenView {
    stream_id: StreamId,
    version: u64,
    event_id: Option<EventId>,
    position: Option<Position>,
    problem: String,
    description: String,
}

/// Walks the chains (auditor, ceo); 404 for a stream that does not exist.
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
