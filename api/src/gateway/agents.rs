//! `GET /api/v1/agents`: the health of the processors, projections and
//! adapters this process runs, and the stop switch as it follows it.

use agents::adapters::{AdapterHealth, BreakerState};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::health::{processor_state, projection_lag_seconds, projection_state};
use super::openapi::PositionShape;
use super::{ApiError, AppState, Principal, Role};

/// The agents' route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(agents))
}

/// The health of the processors and projections this process runs.
#[derive(Debug, Serialize, ToSchema)]
struct AgentsReport {
    /// Whether the stop switch is engaged (`null` when this process does
    /// not follow it).
    stop_engaged: Option<bool>,
    processors: Vec<ProcessorHealth>,
    projections: Vec<ProjectionHealth>,
    /// The external systems' adapters: calls, failures and circuit breaker.
    adapters: Vec<AdapterReport>,
}

/// An adapter's health.
#[derive(Debug, Serialize, ToSchema)]
struct AdapterReport {
    /// The system, e.g. `erpnext`.
    system: &'static str,
    /// `closed` (calls go through), `open` (calls refused for a while after
    /// repeated failures) or `half_open` (one trial call out).
    circuit: &'static str,
    /// Milliseconds until an open circuit lets a trial call through.
    retry_after_ms: Option<u64>,
    /// Attempts made, retries included.
    calls: u64,
    /// Attempts failed.
    failures: u64,
    /// The last failure's message.
    last_error: Option<String>,
    /// When an attempt last succeeded.
    last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When an attempt last failed.
    last_failure_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<AdapterHealth> for AdapterReport {
    fn from(health: AdapterHealth) -> Self {
        let (circuit, retry_after_ms) = match health.circuit {
            BreakerState::Closed => ("closed", None),
            BreakerState::Open { retry_after_ms } => ("open", Some(retry_after_ms)),
            BreakerState::HalfOpen => ("half_open", None),
        };
        AdapterReport {
            system: health.system,
            circuit,
            retry_after_ms,
            calls: health.calls,
            failures: health.failures,
            last_error: health.last_error,
            last_success_at: health.last_success_at,
            last_failure_at: health.last_failure_at,
        }
    }
}

/// A processor's health.
#[derive(Debug, Serialize, ToSchema)]
struct ProcessorHealth {
    name: String,
    /// `starting`, `running`, `retrying`, `halted` (by the stop switch) or `stopped`.
    state: &'static str,
    /// Whether the stop switch holds it.
    halted: bool,
    /// Events handled (dead letters included).
    handled: u64,
    /// Commands sent.
    commands: u64,
    /// Deliveries failed and retried.
    retried: u64,
    /// Events given up on.
    dead_lettered: u64,
    /// The last event handled.
    #[schema(value_type = Option<PositionShape>)]
    last_position: Option<String>,
    /// Events waiting behind it, when the bus knows.
    lag_events: Option<u64>,
    /// How long after it was recorded the last event was handled.
    lag_seconds: f64,
    /// The last failure.
    last_error: Option<String>,
}

/// A projection's health.
#[derive(Debug, Serialize, ToSchema)]
struct ProjectionHealth {
    name: String,
    /// `starting`, `catching_up`, `live`, `retrying`, `outdated` or `stopped`.
    state: &'static str,
    /// The projection's version this runner runs.
    version: u32,
    /// Every event up to it is in the views.
    #[schema(value_type = PositionShape)]
    checkpoint: String,
    /// Events applied by this runner.
    applied: u64,
    /// Failures retried.
    failures: u64,
    /// Events after the checkpoint, as last counted.
    lag_events: u64,
    /// Age of the oldest event not yet applied (0 when caught up).
    lag_seconds: f64,
    /// The generation being rebuilt, if any.
    rebuilding: Option<i64>,
    /// The last failure.
    last_error: Option<String>,
}

/// The agents' health.
///
/// Each processor's and projection's state, progress and lag in this
/// process, its adapters' health, and the stop switch. Roles: ceo, operator, auditor.
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "control",
    responses((status = 200, description = "Their health", body = AgentsReport)),
)]
async fn agents(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<AgentsReport>, ApiError> {
    principal.require(&[Role::Ceo, Role::Operator, Role::Auditor])?;
    let processors = state
        .processors
        .iter()
        .map(|(name, status)| {
            let state = processor_state(status);
            let s = status.borrow().clone();
            ProcessorHealth {
                name: name.clone(),
                state,
                halted: s.halted,
                handled: s.handled,
                commands: s.commands,
                retried: s.retried,
                dead_lettered: s.dead_lettered,
                last_position: s.last_position.map(|p| p.to_string()),
                lag_events: s.lag_events,
                lag_seconds: s.lag_seconds,
                last_error: s.last_error,
            }
        })
        .collect();
    let projections = state
        .projections
        .iter()
        .map(|(name, status)| {
            let state = projection_state(status);
            let s = status.borrow().clone();
            ProjectionHealth {
                name: name.clone(),
                state,
                version: s.version,
                checkpoint: s.checkpoint.to_string(),
                applied: s.applied,
                failures: s.failures,
                lag_events: s.lag_events,
                lag_seconds: projection_lag_seconds(&s),
                rebuilding: s.rebuilding,
                last_error: s.last_error,
            }
        })
        .collect();
    Ok(Json(AgentsReport {
        stop_engaged: state.stop.as_ref().map(|s| *s.borrow()),
        processors,
        projections,
        adapters: state
            .adapters
            .snapshot()
            .into_iter()
            .map(AdapterReport::from)
            .collect(),
    }))
}
