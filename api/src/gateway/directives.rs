//! The CEO's side of the API: directives, their tasks, the approvals inbox,
//! the stop switch and the agents' health.
//!
//! Writes go through the command handler and answer `202 Accepted` with the
//! global position of the last event written (`checkpoint`): a read that
//! passes it as `min_checkpoint` sees the write.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use commands::processor::derived_id;
use commands::{Envelope, Handled};
use domain::approval::{Approval, ApprovalCommand, DecideApproval, Decision};
use domain::control::{self, Control, ControlCommand, Switch};
use domain::directive::{
    CancelDirective, Directive, DirectiveCommand, Intervention, IssueDirective, Priority,
};
use domain::{Actor, Aggregate, CommandId, CorrelationId, Money, Position, StreamId};
use projections::models::directives::{self as model, DirectiveQuery};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::auth::{Principal, Role};
use super::extract::{ApiJson, ApiQuery};
use super::problem::ApiError;
use super::{AppState, Consistency};

/// The routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/directives", post(issue).get(list))
        .route("/api/v1/directives/{id}", get(show))
        .route("/api/v1/directives/{id}/{action}", post(intervene))
        .route("/api/v1/tasks", get(tasks))
        .route("/api/v1/approvals", get(approvals))
        .route("/api/v1/approvals/{id}", post(decide))
        .route("/api/v1/control/stop", post(engage_stop).delete(lift_stop))
        .route("/api/v1/agents", get(agents))
}

/// Lets any role read the directives read model once it holds `min`
/// (read-your-writes).
async fn readable(
    state: &AppState,
    principal: &Principal,
    min: Option<Position>,
) -> Result<Consistency, ApiError> {
    principal.require(&[Role::Ceo, Role::Operator, Role::Auditor, Role::Viewer])?;
    state.wait_for_checkpoint(model::NAME, min).await
}

/// What a write answers.
#[derive(Debug, Serialize)]
struct Accepted {
    #[serde(skip_serializing_if = "Option::is_none")]
    directive_id: Option<Uuid>,
    checkpoint: Option<String>,
    duplicate: bool,
}

fn accepted(directive_id: Option<Uuid>, handled: &Handled) -> (StatusCode, Json<Accepted>) {
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            directive_id,
            checkpoint: handled.position.map(|p| p.to_string()),
            duplicate: handled.duplicate,
        }),
    )
}

fn actor(principal: &Principal) -> Result<Actor, ApiError> {
    Ok(principal.actor())
}

/// Sends a command on behalf of a person.
async fn send<A: Aggregate>(
    state: &AppState,
    principal: &Principal,
    stream: StreamId,
    command: A::Command,
    command_id: Option<CommandId>,
) -> Result<Handled, ApiError> {
    let envelope = Envelope {
        stream,
        command,
        command_id: command_id.unwrap_or_else(|| CommandId::from_uuid(Uuid::now_v7())),
        correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
        causation_id: None,
        actor: actor(principal)?,
    };
    state
        .handler
        .handle::<A>(envelope)
        .await
        .map_err(ApiError::from)
}

/// `POST /api/v1/directives`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDirective {
    text: String,
    #[serde(default)]
    priority: Priority,
    #[serde(default)]
    deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    spending_limit: Option<Money>,
}

async fn issue(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: ApiJson<NewDirective>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&[Role::Ceo])?;
    let body = body.0;
    // The same key from the same person names the same directive and the
    // same command: a resubmission creates nothing new.
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    ApiError::invalid_field("Idempotency-Key", "1-200 visible ASCII characters")
                })?;
            Some(key.to_owned())
        }
    };
    let (directive_id, command_id) = match &key {
        Some(key) => {
            let id = derived_id(&[b"directive", principal.name.as_bytes(), key.as_bytes()]);
            (id, Some(CommandId::from_uuid(id)))
        }
        None => (Uuid::now_v7(), None),
    };
    let command = DirectiveCommand::Issue(IssueDirective {
        text: body.text,
        priority: body.priority,
        deadline: body.deadline,
        spending_limit: body.spending_limit,
        issued_by: actor(&principal)?,
        issued_at: Utc::now(),
    });
    let handled = send::<Directive>(
        &state,
        &principal,
        Directive::stream(directive_id),
        command,
        command_id,
    )
    .await?;
    Ok(accepted(Some(directive_id), &handled))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
    min_checkpoint: Option<Position>,
}

fn encode_cursor(order: (i64, i64)) -> String {
    format!("{}.{}", order.0, order.1)
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64), ApiError> {
    cursor
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| ApiError::invalid_field("cursor", "not a cursor this API gave out"))
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<ListQuery>,
) -> Result<(Consistency, Json<Value>), ApiError> {
    let query = query.0;
    let consistency = readable(&state, &principal, query.min_checkpoint).await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let page = model::list_directives(
        &state.db,
        &DirectiveQuery {
            status: query.status,
            before: query.cursor.as_deref().map(decode_cursor).transpose()?,
            limit,
        },
    )
    .await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last().map(|d| encode_cursor(d.order)))
        .flatten();
    Ok((
        consistency,
        Json(json!({ "directives": page, "next_cursor": next })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    min_checkpoint: Option<Position>,
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no {what} {id:?}: ids are UUIDs")))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: ApiQuery<ReadQuery>,
) -> Result<(Consistency, Json<Value>), ApiError> {
    let consistency = readable(&state, &principal, query.0.min_checkpoint).await?;
    let id = parse_id(&id, "directive")?;
    let directive = model::get_directive(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no directive {id}")))?;
    let tasks = model::tasks_of(&state.db, id).await?;
    let mut body = serde_json::to_value(&directive).map_err(|e| ApiError::internal(&e))?;
    if let Some(object) = body.as_object_mut() {
        // The plan as recorded: who planned it and its tasks (in `tasks`).
        let plan = directive.planner.as_ref().map(|planner| {
            json!({
                "planner": planner,
                "model": directive.model,
                "prompt_digest": directive.prompt_digest,
                "tasks": tasks.iter().map(|t| &t.key).collect::<Vec<_>>(),
            })
        });
        object.insert("plan".to_owned(), json!(plan));
        object.insert("tasks".to_owned(), json!(tasks));
    }
    Ok((consistency, Json(body)))
}

/// `POST /api/v1/directives/{id}/{cancel|pause|resume|answer}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterventionBody {
    /// The reason (or, to answer, the answer).
    #[serde(alias = "reason", alias = "answer")]
    text: String,
}

async fn intervene(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, action)): Path<(String, String)>,
    body: ApiJson<InterventionBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&[Role::Ceo])?;
    let id = parse_id(&id, "directive")?;
    let by = actor(&principal)?;
    let (text, at) = (body.0.text, Utc::now());
    let intervention = Intervention {
        text: text.clone(),
        by: by.clone(),
        at,
    };
    let command = match action.as_str() {
        "cancel" => DirectiveCommand::Cancel(CancelDirective {
            reason: text,
            cancelled_by: by,
            cancelled_at: at,
        }),
        "pause" => DirectiveCommand::Pause(intervention),
        "resume" => DirectiveCommand::Resume(intervention),
        "answer" => DirectiveCommand::AnswerClarification(intervention),
        other => {
            return Err(ApiError::not_found(format!(
                "no action {other:?}: cancel, pause, resume or answer"
            )))
        }
    };
    let handled =
        send::<Directive>(&state, &principal, Directive::stream(id), command, None).await?;
    Ok(accepted(Some(id), &handled))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    department: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    min_checkpoint: Option<Position>,
}

async fn tasks(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<TaskQuery>,
) -> Result<(Consistency, Json<Value>), ApiError> {
    let query = query.0;
    let consistency = readable(&state, &principal, query.min_checkpoint).await?;
    let tasks = model::list_tasks(
        &state.db,
        query.department.as_deref(),
        query.status.as_deref(),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok((consistency, Json(json!({ "tasks": tasks }))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalQuery {
    status: Option<String>,
    limit: Option<u32>,
    min_checkpoint: Option<Position>,
}

async fn approvals(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<ApprovalQuery>,
) -> Result<(Consistency, Json<Value>), ApiError> {
    let query = query.0;
    let consistency = readable(&state, &principal, query.min_checkpoint).await?;
    let approvals = model::list_approvals(
        &state.db,
        query.status.as_deref(),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok((consistency, Json(json!({ "approvals": approvals }))))
}

/// `POST /api/v1/approvals/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: Decision,
    #[serde(default)]
    reason: String,
}

async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: ApiJson<DecisionBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&[Role::Ceo])?;
    let id = parse_id(&id, "approval")?;
    let body = body.0;
    let handled = send::<Approval>(
        &state,
        &principal,
        Approval::stream(id),
        ApprovalCommand::Decide(DecideApproval {
            decision: body.decision,
            by: actor(&principal)?,
            reason: body.reason,
            at: Utc::now(),
        }),
        None,
    )
    .await?;
    Ok(accepted(None, &handled))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopBody {
    reason: String,
}

async fn flip(
    state: &AppState,
    principal: &Principal,
    engage: bool,
    reason: String,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&[Role::Ceo, Role::Operator])?;
    let switch = Switch {
        by: actor(principal)?,
        reason,
        at: Utc::now(),
    };
    let command = if engage {
        ControlCommand::Engage(switch)
    } else {
        ControlCommand::Lift(switch)
    };
    let handled = send::<Control>(state, principal, control::stream_id(), command, None).await?;
    Ok(accepted(None, &handled))
}

async fn engage_stop(
    State(state): State<AppState>,
    principal: Principal,
    body: ApiJson<StopBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    flip(&state, &principal, true, body.0.reason).await
}

async fn lift_stop(
    State(state): State<AppState>,
    principal: Principal,
    body: ApiJson<StopBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    flip(&state, &principal, false, body.0.reason).await
}

/// `GET /api/v1/agents`: each processor's and projection's health.
async fn agents(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require(&[Role::Ceo, Role::Operator, Role::Auditor])?;
    let processors: Vec<Value> = state
        .processors
        .iter()
        .map(|(name, status)| {
            let s = status.borrow().clone();
            json!({
                "name": name,
                "state": format!("{:?}", s.state).to_lowercase(),
                "halted": s.halted,
                "handled": s.handled,
                "commands": s.commands,
                "retried": s.retried,
                "dead_lettered": s.dead_lettered,
                "last_position": s.last_position.map(|p| p.to_string()),
                "lag_events": s.lag_events,
                "lag_seconds": s.lag_seconds,
                "last_error": s.last_error,
            })
        })
        .collect();
    let projections: Vec<Value> = state
        .projections
        .iter()
        .map(|(name, status)| {
            let s = status.borrow().clone();
            json!({
                "name": name,
                "state": format!("{:?}", s.state).to_lowercase(),
                "version": s.version,
                "checkpoint": s.checkpoint.to_string(),
                "applied": s.applied,
                "failures": s.failures,
                "lag_events": s.lag_events,
                "lag_seconds": s.lag_seconds,
                "rebuilding": s.rebuilding,
                "last_error": s.last_error,
            })
        })
        .collect();
    Ok(Json(json!({
        "stop_engaged": state.stop.as_ref().map(|s| *s.borrow()),
        "processors": processors,
        "projections": projections,
    })))
}
