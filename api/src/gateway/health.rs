//! `/healthz` (the process answers) and `/readyz` (it can serve: the
//! database answers, NATS is connected when the process uses it, and every
//! projection this process runs is applying events and close to the head).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use commands::processor::{ProcessorState, ProcessorStatus};
use projections::{ProjectionState, ProjectionStatus};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState, Principal, Role};

/// How long readiness waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);
/// How far behind the head (in seconds of the oldest pending event's age) a
/// projection may be before the process is not ready, unless
/// [`AppState::max_projection_lag`] says otherwise.
pub const MAX_PROJECTION_LAG: Duration = Duration::from_secs(30);

/// The health routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness.
///
/// The process answers; no token, no dependency.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    responses((status = 200, description = "The process answers", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// What readiness found: the answer of `/readyz`, and the `checks` of its
/// 503 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok`, or `unavailable` (the cause is logged, not sent).
    #[schema(example = "ok")]
    pub database: &'static str,
    /// `connected`, `pending` (connecting), `disconnected`, or `not_used`
    /// (this process does not use NATS).
    #[schema(example = "not_used")]
    pub nats: &'static str,
    /// The lag beyond which a projection makes the process not ready.
    pub max_projection_lag_seconds: f64,
    /// Each projection this process runs, by name.
    pub projections: BTreeMap<String, ProjectionReadiness>,
}

/// A projection's part in readiness.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProjectionReadiness {
    /// Whether it lets the process be ready.
    pub ready: bool,
    /// `starting`, `catching_up`, `live`, `retrying`, `outdated`, or
    /// `stopped` (its runner ended).
    #[schema(example = "live")]
    pub state: &'static str,
    /// Every event up to this position is in its views (`<tx>:<seq>`).
    #[schema(example = "1042:0")]
    pub checkpoint: String,
    /// Events after the checkpoint, as last counted.
    pub lag_events: u64,
    /// How long ago the oldest event not yet applied was recorded (0 when
    /// caught up), at the time of this answer.
    pub lag_seconds: f64,
    /// Why it is not ready, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state of a projection's runner as the API names it: `stopped` once
/// the runner has ended (its status can no longer change).
pub(crate) fn projection_state(status: &watch::Receiver<ProjectionStatus>) -> &'static str {
    if status.has_changed().is_err() {
        return "stopped";
    }
    match status.borrow().state {
        ProjectionState::Starting => "starting",
        ProjectionState::CatchingUp => "catching_up",
        ProjectionState::Live => "live",
        ProjectionState::Retrying => "retrying",
        ProjectionState::Outdated => "outdated",
    }
}

/// The state of a processor as the API names it: `halted` while the stop
/// switch holds it, `stopped` once its runner has ended.
pub(crate) fn processor_state(status: &watch::Receiver<ProcessorStatus>) -> &'static str {
    if status.has_changed().is_err() {
        return "stopped";
    }
    let status = status.borrow();
    if status.halted {
        return "halted";
    }
    match status.state {
        ProcessorState::Starting => "starting",
        ProcessorState::Running => "running",
        ProcessorState::Retrying => "retrying",
    }
}

/// A projection's lag now: the age of its oldest pending event, or the
/// last reported lag if that is larger (0 when caught up).
pub(crate) fn projection_lag_seconds(status: &ProjectionStatus) -> f64 {
    let pending = status.oldest_pending.map_or(0.0, |oldest| {
        (Utc::now() - oldest)
            .to_std()
            .map_or(0.0, |age| age.as_secs_f64())
    });
    pending.max(status.lag_seconds).max(0.0)
}

/// Whether one projection lets the process be ready, and why not.
fn projection_readiness(
    status: &watch::Receiver<ProjectionStatus>,
    max_lag: Duration,
) -> ProjectionReadiness {
    let state = projection_state(status);
    let current = status.borrow().clone();
    let lag_seconds = projection_lag_seconds(&current);
    let reason = match state {
        "stopped" => Some("its runner has stopped".to_owned()),
        "starting" => Some("it is setting up its tables".to_owned()),
        "retrying" => Some("it is retrying after a failure".to_owned()),
        _ if lag_seconds > max_lag.as_secs_f64() => Some(format!(
            "it lags {lag_seconds:.1} s behind the log (the limit is {} s)",
            max_lag.as_secs_f64()
        )),
        _ => None,
    };
    ProjectionReadiness {
        ready: reason.is_none(),
        state,
        checkpoint: current.checkpoint.to_string(),
        lag_events: current.lag_events,
        lag_seconds,
        reason,
    }
}

/// The connection state of NATS as readiness reports it.
pub(crate) fn nats_state(nats: Option<&async_nats::Client>) -> &'static str {
    match nats.map(async_nats::Client::connection_state) {
        None => "not_used",
        Some(async_nats::connection::State::Connected) => "connected",
        Some(async_nats::connection::State::Pending) => "pending",
        Some(async_nats::connection::State::Disconnected) => "disconnected",
    }
}

/// Readiness.
///
/// 200 when the database answers within two seconds, NATS is
/// connected (if this process uses it) and every projection this process
/// runs is applying events no more than `max_projection_lag` (30 s by
/// default) behind the log; else 503 `not_ready`, whose `checks` hold the
/// same report. Roles: operator, auditor, ceo.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Not ready: `code` is `not_ready` and `checks` says why",
            body = super::problem::Problem, content_type = "application/problem+json"),
    ),
)]
async fn readyz(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Readiness>, ApiError> {
    principal.require(&[Role::Operator, Role::Auditor, Role::Ceo])?;
    let mut failing = Vec::new();
    let database =
        match tokio::time::timeout(DATABASE_TIMEOUT, state.db.query("SELECT 1", &[])).await {
            Ok(Ok(_)) => "ok",
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: the database failed");
                failing.push("the database does not answer".to_owned());
                "unavailable"
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer within 2 s");
                failing.push("the database does not answer".to_owned());
                "unavailable"
            }
        };
    let nats = nats_state(state.nats.as_ref());
    if !matches!(nats, "connected" | "not_used") {
        failing.push(format!("NATS is {nats}"));
    }
    let projections: BTreeMap<String, ProjectionReadiness> = state
        .projections
        .iter()
        .map(|(name, status)| {
            let readiness = projection_readiness(status, state.max_projection_lag);
            if let Some(reason) = &readiness.reason {
                failing.push(format!("the projection {name}: {reason}"));
            }
            (name.clone(), readiness)
        })
        .collect();
    let report = Readiness {
        status: if failing.is_empty() {
            "ready"
        } else {
            "not_ready"
        },
        database,
        nats,
        max_projection_lag_seconds: state.max_projection_lag.as_secs_f64(),
        projections,
    };
    if failing.is_empty() {
        return Ok(Json(report));
    }
    let checks = serde_json::to_value(&report).map_err(|e| ApiError::internal(&e))?;
    Err(ApiError::not_ready(
        format!("not ready: {}", failing.join("; ")),
        checks,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Position;

    fn status(state: ProjectionState, pending_for: Option<i64>) -> ProjectionStatus {
        ProjectionStatus {
            state,
            version: 1,
            active_generation: 1,
            active_version: 1,
            checkpoint: Position::new(7, 0),
            rebuilding: None,
            rebuild_checkpoint: None,
            applied: 3,
            failures: 0,
            lag_events: u64::from(pending_for.is_some()),
            oldest_pending: pending_for.map(|s| Utc::now() - chrono::Duration::seconds(s)),
            lag_seconds: 0.0,
            last_error: None,
        }
    }

    #[test]
    fn a_live_projection_within_the_limit_is_ready() {
        let (_tx, rx) = watch::channel(status(ProjectionState::Live, None));
        let found = projection_readiness(&rx, MAX_PROJECTION_LAG);
        assert!(found.ready, "{found:?}");
        assert_eq!(found.state, "live");
        assert_eq!(found.checkpoint, "7:0");
    }

    #[test]
    fn lag_is_measured_from_the_oldest_pending_event_now() {
        let (_tx, rx) = watch::channel(status(ProjectionState::CatchingUp, Some(45)));
        let found = projection_readiness(&rx, MAX_PROJECTION_LAG);
        assert!(!found.ready);
        assert!(found.lag_seconds >= 45.0, "{found:?}");
        assert!(found.reason.unwrap_or_default().contains("lags"));
    }

    #[test]
    fn retrying_starting_and_stopped_runners_are_not_ready() {
        let (_tx, rx) = watch::channel(status(ProjectionState::Retrying, None));
        assert_eq!(
            projection_readiness(&rx, MAX_PROJECTION_LAG).state,
            "retrying"
        );
        assert!(!projection_readiness(&rx, MAX_PROJECTION_LAG).ready);
        let (_tx, rx) = watch::channel(status(ProjectionState::Starting, None));
        assert!(!projection_readiness(&rx, MAX_PROJECTION_LAG).ready);
        let (tx, rx) = watch::channel(status(ProjectionState::Live, None));
        drop(tx);
        let found = projection_readiness(&rx, MAX_PROJECTION_LAG);
        assert_eq!(found.state, "stopped");
        assert!(!found.ready);
    }
}
