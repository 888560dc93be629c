//! The CEO's side of the API: directives, their tasks, the approvals inbox
//! and the stop switch.
//!
//! Writes go through the command handler and answer `202 Accepted` with the
//! global position of the last event written (`checkpoint`): a read that
//! passes it as `min_checkpoint` sees the write.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use commands::processor::derived_id;
use commands::{Envelope, Handled};
use domain::approval::{Approval, ApprovalCommand, DecideApproval, Decision};
use domain::control::{self, Control, ControlCommand, Switch};
use domain::directive::{
    CancelDirective, Directive, DirectiveCommand, Intervention, IssueDirective, Priority,
};
use domain::{Actor, Aggregate, CommandId, CorrelationId, Money, Position, StreamId};
use projections::models::directives::{
    self as model, ApprovalView, DirectiveQuery, DirectiveSummary, LlmUsageView, TaskView,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::{Principal, Role};
use super::extract::{ApiJson, ApiQuery};
use super::metrics::CommandOutcome;
use super::openapi::{
    ApprovalShape, DecisionShape, DirectiveShape, LlmUsageShape, MoneyShape, PositionShape,
    PriorityShape, TaskShape,
};
use super::problem::{ApiError, Problem};
use super::{AppState, Consistency};

/// The routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue, list))
        .routes(routes!(show))
        .routes(routes!(intervene))
        .routes(routes!(tasks))
        .routes(routes!(llm_usage))
        .routes(routes!(approvals))
        .routes(routes!(decide))
        .routes(routes!(engage_stop, lift_stop))
}

/// A path's segment as given, or a problem naming it.
fn path_segments<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(segments)| segments)
        .map_err(|e| ApiError::invalid_field("path", e.body_text()))
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
#[derive(Debug, Serialize, ToSchema)]
struct Accepted {
    /// The directive written to (directive writes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    directive_id: Option<Uuid>,
    /// The global position of the last event written (`null` when nothing
    /// was): pass it as `min_checkpoint` to read the write.
    #[schema(value_type = Option<PositionShape>)]
    checkpoint: Option<String>,
    /// Whether this was a resubmission that wrote nothing new.
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

/// Whose story a person's command belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Story {
    /// A new one (a new order, the company-wide stop switch).
    New,
    /// The story of the stream's first event: a decision on an approval or
    /// a step into a directive carries the order's correlation, so that
    /// the order's audit trail holds it and everything that follows.
    OfStream,
}

/// Sends a command on behalf of a person.
async fn send<A: Aggregate>(
    state: &AppState,
    principal: &Principal,
    stream: StreamId,
    command: A::Command,
    command_id: Option<CommandId>,
    story: Story,
) -> Result<Handled, ApiError> {
    let mut correlation_id = CorrelationId::from_uuid(Uuid::now_v7());
    if story == Story::OfStream {
        let first = state
            .store
            .read_stream(&stream, 1, eventstore::Direction::Forward, 1)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if let Some(first) = first.first() {
            correlation_id = first.metadata.correlation_id;
        }
    }
    let envelope = Envelope {
        stream,
        command,
        command_id: command_id.unwrap_or_else(|| CommandId::from_uuid(Uuid::now_v7())),
        correlation_id,
        causation_id: None,
        actor: actor(principal)?,
    };
    let handled = state.handler.handle::<A>(envelope).await;
    let (outcome, events) = match &handled {
        Ok(h) if h.duplicate => (CommandOutcome::Duplicate, 0),
        Ok(h) => (CommandOutcome::Accepted, h.events),
        Err(commands::HandleError::Rejected(_)) => (CommandOutcome::Rejected, 0),
        Err(_) => (CommandOutcome::Failed, 0),
    };
    state.metrics.record_command(A::CATEGORY, outcome, events);
    handled.map_err(ApiError::from)
}

/// A new directive.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDirective {
    /// The order, in the CEO's words.
    #[schema(example = "Order 500 units of SKU-42 from the cheapest supplier by Friday")]
    text: String,
    /// How urgent (default `normal`).
    #[serde(default)]
    #[schema(value_type = PriorityShape)]
    priority: Priority,
    /// When it must be done (RFC 3339).
    #[serde(default)]
    deadline: Option<DateTime<Utc>>,
    /// The most it may spend.
    #[serde(default)]
    #[schema(value_type = Option<MoneyShape>)]
    spending_limit: Option<Money>,
}

/// Issues a directive.
///
/// The same `Idempotency-Key` from the same person names the same
/// directive: a resubmission writes nothing new. Roles: ceo.
#[utoipa::path(
    post,
    path = "/api/v1/directives",
    tag = "directives",
    request_body = NewDirective,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1-200 visible ASCII characters; a resubmission with the same key writes nothing new")),
    responses(
        (status = 202, description = "Issued; the orchestrator plans it", body = Accepted),
        (status = 409, description = "A rule refused it, or the key was used for another request",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
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
        Story::New,
    )
    .await?;
    Ok(accepted(Some(directive_id), &handled))
}

/// The filters and page of the directives list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only directives in this status.
    status: Option<String>,
    /// Where the previous page's `next_cursor` said to go on.
    cursor: Option<String>,
    /// Directives per page, 1-500 (default 50).
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A page of directives, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct DirectivesPage {
    #[schema(value_type = Vec<DirectiveShape>)]
    directives: Vec<DirectiveSummary>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
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

/// Lists directives.
///
/// The directives read model, newest first. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/directives",
    tag = "directives",
    params(ListQuery),
    responses((status = 200, description = "A page of directives", body = DirectivesPage)),
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<ListQuery>,
) -> Result<(Consistency, Json<DirectivesPage>), ApiError> {
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
        Json(DirectivesPage {
            directives: page,
            next_cursor: next,
        }),
    ))
}

/// Read-your-writes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReadQuery {
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A directive with its plan and tasks.
#[derive(Debug, Serialize, ToSchema)]
struct DirectiveDetail {
    #[serde(flatten)]
    #[schema(value_type = DirectiveShape)]
    directive: DirectiveSummary,
    /// The plan as recorded (`null` until planned).
    plan: Option<PlanView>,
    /// Its tasks.
    #[schema(value_type = Vec<TaskShape>)]
    tasks: Vec<TaskView>,
    /// What its model calls used, per caller (`orchestrator` for planning,
    /// else the department); `llm_tokens` and `llm_cost_micro_usd` are the
    /// totals its budget caps.
    #[schema(value_type = Vec<LlmUsageShape>)]
    llm_usage: Vec<LlmUsageView>,
}

/// A directive's plan as recorded.
#[derive(Debug, Serialize, ToSchema)]
struct PlanView {
    /// Which planner planned it.
    planner: String,
    /// The model, if one answered.
    model: Option<String>,
    /// The digest of the planner's prompt.
    prompt_digest: Option<String>,
    /// The keys of its tasks.
    tasks: Vec<String>,
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no {what} {id:?}: ids are UUIDs")))
}

/// Shows a directive.
///
/// One directive with its plan and tasks. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/directives/{id}",
    tag = "directives",
    params(("id" = Uuid, Path, description = "The directive"), ReadQuery),
    responses(
        (status = 200, description = "The directive", body = DirectiveDetail),
        (status = 404, description = "No such directive (`not_found`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<String>, PathRejection>,
    query: ApiQuery<ReadQuery>,
) -> Result<(Consistency, Json<DirectiveDetail>), ApiError> {
    let consistency = readable(&state, &principal, query.0.min_checkpoint).await?;
    let id = parse_id(&path_segments(id)?, "directive")?;
    let directive = model::get_directive(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no directive {id}")))?;
    let tasks = model::tasks_of(&state.db, id).await?;
    let llm_usage = model::llm_usage_of(&state.db, id).await?;
    // The plan as recorded: who planned it and its tasks (in `tasks`).
    let plan = directive.planner.as_ref().map(|planner| PlanView {
        planner: planner.clone(),
        model: directive.model.clone(),
        prompt_digest: directive.prompt_digest.clone(),
        tasks: tasks.iter().map(|t| t.key.clone()).collect(),
    });
    Ok((
        consistency,
        Json(DirectiveDetail {
            directive,
            plan,
            tasks,
            llm_usage,
        }),
    ))
}

/// A person stepping in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InterventionBody {
    /// The reason (or, to answer, the answer); also accepted as `reason`
    /// or `answer`.
    #[serde(alias = "reason", alias = "answer")]
    text: String,
}

/// Steps in on a directive.
///
/// Cancels, pauses or resumes a directive, or answers the planner's
/// question. Roles: ceo.
#[utoipa::path(
    post,
    path = "/api/v1/directives/{id}/{action}",
    tag = "directives",
    request_body = InterventionBody,
    params(
        ("id" = Uuid, Path, description = "The directive"),
        ("action" = String, Path, description = "`cancel`, `pause`, `resume` or `answer`", example = "pause"),
    ),
    responses(
        (status = 202, description = "Done", body = Accepted),
        (status = 404, description = "No such action (`not_found`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The directive's state refuses it (its rule's code)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn intervene(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<(String, String)>, PathRejection>,
    body: ApiJson<InterventionBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&[Role::Ceo])?;
    let (id, action) = path_segments(path)?;
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
    let handled = send::<Directive>(
        &state,
        &principal,
        Directive::stream(id),
        command,
        None,
        Story::OfStream,
    )
    .await?;
    Ok(accepted(Some(id), &handled))
}

/// The filters of the tasks list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TaskQuery {
    /// Only this department's tasks.
    department: Option<String>,
    /// Only tasks in this status.
    status: Option<String>,
    /// At most this many (default 100).
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// Tasks.
#[derive(Debug, Serialize, ToSchema)]
struct TaskList {
    #[schema(value_type = Vec<TaskShape>)]
    tasks: Vec<TaskView>,
}

/// Lists tasks.
///
/// The tasks of every directive. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    tag = "directives",
    params(TaskQuery),
    responses((status = 200, description = "The tasks", body = TaskList)),
)]
async fn tasks(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<TaskQuery>,
) -> Result<(Consistency, Json<TaskList>), ApiError> {
    let query = query.0;
    let consistency = readable(&state, &principal, query.min_checkpoint).await?;
    let tasks = model::list_tasks(
        &state.db,
        query.department.as_deref(),
        query.status.as_deref(),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok((consistency, Json(TaskList { tasks })))
}

/// Model usage over every directive.
#[derive(Debug, Serialize, ToSchema)]
struct UsageReport {
    /// Per caller: `orchestrator` (planning), `logistics`, `finance`, `foundry`.
    #[schema(value_type = Vec<LlmUsageShape>)]
    callers: Vec<LlmUsageView>,
    /// All callers together (`caller` is `all`).
    #[schema(value_type = LlmUsageShape)]
    total: LlmUsageView,
}

/// Shows what model calls used.
///
/// Tokens and estimated cost of every model call made for a directive,
/// summed per caller over all directives (one directive's are in
/// `GET /api/v1/directives/{id}`). Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/llm-usage",
    tag = "directives",
    params(ReadQuery),
    responses((status = 200, description = "Usage per caller", body = UsageReport)),
)]
async fn llm_usage(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<ReadQuery>,
) -> Result<(Consistency, Json<UsageReport>), ApiError> {
    let consistency = readable(&state, &principal, query.0.min_checkpoint).await?;
    let callers = model::llm_usage_by_caller(&state.db).await?;
    let total = callers.iter().fold(
        LlmUsageView {
            caller: "all".to_owned(),
            calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_micro_usd: 0,
        },
        |sum, c| LlmUsageView {
            calls: sum.calls.saturating_add(c.calls),
            prompt_tokens: sum.prompt_tokens.saturating_add(c.prompt_tokens),
            completion_tokens: sum.completion_tokens.saturating_add(c.completion_tokens),
            cost_micro_usd: sum.cost_micro_usd.saturating_add(c.cost_micro_usd),
            ..sum
        },
    );
    Ok((consistency, Json(UsageReport { callers, total })))
}

/// The filters of the approvals inbox.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ApprovalQuery {
    /// Only approvals in this status (`pending`, `granted`, `rejected`, `expired`,
    /// `withdrawn`).
    status: Option<String>,
    /// Only the approvals of this directive.
    directive_id: Option<Uuid>,
    /// At most this many (default 100).
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// Approvals.
#[derive(Debug, Serialize, ToSchema)]
struct ApprovalList {
    #[schema(value_type = Vec<ApprovalShape>)]
    approvals: Vec<ApprovalView>,
}

/// The approvals inbox.
///
/// Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/approvals",
    tag = "directives",
    params(ApprovalQuery),
    responses((status = 200, description = "The approvals", body = ApprovalList)),
)]
async fn approvals(
    State(state): State<AppState>,
    principal: Principal,
    query: ApiQuery<ApprovalQuery>,
) -> Result<(Consistency, Json<ApprovalList>), ApiError> {
    let query = query.0;
    let consistency = readable(&state, &principal, query.min_checkpoint).await?;
    let approvals = model::list_approvals(
        &state.db,
        query.status.as_deref(),
        query.directive_id,
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok((consistency, Json(ApprovalList { approvals })))
}

/// A decision on an approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    /// `approve` or `reject`.
    #[schema(value_type = DecisionShape)]
    decision: Decision,
    /// Why (may be empty).
    #[serde(default)]
    reason: String,
}

/// Decides on an approval.
///
/// Approves or rejects a pending approval. Roles: ceo.
#[utoipa::path(
    post,
    path = "/api/v1/approvals/{id}",
    tag = "directives",
    request_body = DecisionBody,
    params(("id" = Uuid, Path, description = "The approval")),
    responses(
        (status = 202, description = "Decided", body = Accepted),
        (status = 409, description = "It is not pending (its rule's code)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<String>, PathRejection>,
    body: ApiJson<DecisionBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    principal.require(&[Role::Ceo])?;
    let id = parse_id(&path_segments(id)?, "approval")?;
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
        Story::OfStream,
    )
    .await?;
    Ok(accepted(None, &handled))
}

/// Why the stop switch is flipped.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StopBody {
    /// Why.
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
    let handled = send::<Control>(
        state,
        principal,
        control::stream_id(),
        command,
        None,
        Story::New,
    )
    .await?;
    Ok(accepted(None, &handled))
}

/// Engages the stop switch.
///
/// Processors take no new event until it is lifted. Roles: ceo, operator.
#[utoipa::path(
    post,
    path = "/api/v1/control/stop",
    tag = "control",
    request_body = StopBody,
    responses((status = 202, description = "Engaged", body = Accepted)),
)]
async fn engage_stop(
    State(state): State<AppState>,
    principal: Principal,
    body: ApiJson<StopBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    flip(&state, &principal, true, body.0.reason).await
}

/// Lifts the stop switch.
///
/// Processors take events again. Roles: ceo, operator.
#[utoipa::path(
    delete,
    path = "/api/v1/control/stop",
    tag = "control",
    request_body = StopBody,
    responses((status = 202, description = "Lifted", body = Accepted)),
)]
async fn lift_stop(
    State(state): State<AppState>,
    principal: Principal,
    body: ApiJson<StopBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    flip(&state, &principal, false, body.0.reason).await
}
