//! The directives read model: each directive with its plan and the live
//! status of its tasks, the tasks per department, the approvals inbox, and
//! what each directive's model calls cost, per caller.
//! One projection, because its three tables change together: a plan creates
//! task rows, an approval request marks its task, and so on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::approval::{Approval, ApprovalEvent};
use domain::directive::{Directive, DirectiveEvent, DirectiveTask, PlanningRecord};
use domain::planning::{LlmCaller, LlmUsage};
use domain::task::{Task, TaskEvent};
use domain::{Aggregate, DomainEvent, RecordedEvent};
use eventstore::EventFilter;
use serde::Serialize;
use serde_json::Value as Json;
use uuid::Uuid;

use super::columns::{count, id, int, label, time, undecodable};
use crate::{Db, Projection, ProjectionError, RowWrites, Tables, Tx, Value};

/// The projection's name.
pub const NAME: &str = "directives";
const LIST: &str = "directives_list";
const TASKS: &str = "directives_tasks";
const APPROVALS: &str = "directives_approvals";
const USAGE: &str = "directives_llm_usage";

/// The directives read model.
pub struct Directives;

fn json(value: &impl Serialize) -> Value {
    serde_json::to_string(value).map_or(Value::Null, Value::Text)
}

#[async_trait]
impl Projection for Directives {
    fn name(&self) -> &str {
        NAME
    }

    /// 2: a directive's model usage is the sum over its planning rounds.
    /// 3: and over its departments' calls, kept per caller too.
    fn version(&self) -> u32 {
        3
    }

    fn filter(&self) -> EventFilter {
        EventFilter::of(
            &[Directive::CATEGORY, Task::CATEGORY, Approval::CATEGORY],
            &[],
        )
    }

    fn tables(&self) -> Vec<&'static str> {
        vec![LIST, TASKS, APPROVALS, USAGE]
    }

    fn schema(&self, tables: &Tables) -> Result<Vec<String>, ProjectionError> {
        let (list, tasks, approvals, usage) = (
            tables.get(LIST)?,
            tables.get(TASKS)?,
            tables.get(APPROVALS)?,
            tables.get(USAGE)?,
        );
        Ok(vec![
            format!(
                "CREATE TABLE {list} (directive_id TEXT PRIMARY KEY, seq_tx BIGINT NOT NULL, \
                 seq BIGINT NOT NULL, text TEXT NOT NULL, status TEXT NOT NULL, \
                 priority TEXT NOT NULL, paused BIGINT NOT NULL DEFAULT 0, \
                 deadline TEXT, spending_limit TEXT, issued_by TEXT NOT NULL, \
                 issued_at TEXT NOT NULL, correlation_id TEXT NOT NULL, question TEXT, \
                 planner TEXT, model TEXT, prompt_digest TEXT, llm_tokens BIGINT NOT NULL DEFAULT 0, \
                 llm_cost_micro_usd BIGINT NOT NULL DEFAULT 0, escalation TEXT, summary TEXT, \
                 updated_at TEXT NOT NULL)"
            ),
            format!("CREATE INDEX {list}_order ON {list} (seq_tx, seq)"),
            format!("CREATE INDEX {list}_status ON {list} (status, seq_tx, seq)"),
            format!(
                "CREATE TABLE {tasks} (task_id TEXT PRIMARY KEY, directive_id TEXT NOT NULL, \
                 ordinal BIGINT NOT NULL, key TEXT NOT NULL, department TEXT NOT NULL, \
                 kind TEXT NOT NULL, params TEXT NOT NULL, depends_on TEXT NOT NULL, \
                 status TEXT NOT NULL, approval_rule TEXT, approval_id TEXT, note TEXT, \
                 agent TEXT, updated_at TEXT NOT NULL)"
            ),
            format!("CREATE INDEX {tasks}_directive ON {tasks} (directive_id, ordinal)"),
            format!("CREATE INDEX {tasks}_department ON {tasks} (department, status)"),
            format!(
                "CREATE TABLE {approvals} (approval_id TEXT PRIMARY KEY, seq_tx BIGINT NOT NULL, \
                 seq BIGINT NOT NULL, task_id TEXT NOT NULL, directive_id TEXT NOT NULL, \
                 what TEXT NOT NULL, why TEXT NOT NULL, amount TEXT, requested_by TEXT NOT NULL, \
                 requested_at TEXT NOT NULL, expires_at TEXT NOT NULL, status TEXT NOT NULL, \
                 decided_by TEXT, reason TEXT, decided_at TEXT)"
            ),
            format!("CREATE INDEX {approvals}_status ON {approvals} (status, seq_tx, seq)"),
            format!(
                "CREATE TABLE {usage} (directive_id TEXT NOT NULL, caller TEXT NOT NULL, \
                 calls BIGINT NOT NULL DEFAULT 0, prompt_tokens BIGINT NOT NULL DEFAULT 0, \
                 completion_tokens BIGINT NOT NULL DEFAULT 0, \
                 cost_micro_usd BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (directive_id, caller))"
            ),
        ])
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, tables, std::slice::from_ref(event))
            .await
    }

    /// The batch's row changes are staged, then written in a few multi-row
    /// statements ([`RowWrites`]): one statement per change cost a round trip
    /// each, and was most of the time from a plan to its row under load.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut writes = RowWrites::new();
        for event in events {
            stage(&mut writes, tables, event)
                .map_err(|e| ProjectionError::cannot_apply(NAME, event, e))?;
        }
        writes.flush(tx).await
    }
}

/// Stages the row changes of one event.
fn stage(
    writes: &mut RowWrites,
    tables: &Tables,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let category = event.stream_id.category();
    if category == Directive::CATEGORY {
        directive(writes, tables, event)
    } else if category == Task::CATEGORY {
        task(writes, tables, event)
    } else if category == Approval::CATEGORY {
        approval(writes, tables, event)
    } else {
        Ok(())
    }
}

/// The planner's columns: who planned last.
fn planning_columns(planning: &PlanningRecord) -> Vec<(&'static str, Value)> {
    vec![
        ("planner", Value::from(planning.planner.clone())),
        ("model", Value::from(planning.model.clone())),
        ("prompt_digest", Value::from(planning.prompt_digest.clone())),
    ]
}

/// Adds a model call's usage to the directive's totals and to its caller's
/// row (a directive is planned again after each clarification, and its
/// departments may call models for their tasks).
fn add_usage(
    writes: &mut RowWrites,
    tables: &Tables,
    directive_id: &Value,
    caller: LlmCaller,
    usage: Option<LlmUsage>,
) -> Result<(), ProjectionError> {
    let Some(usage) = usage else {
        return Ok(());
    };
    writes.add(
        tables.get(LIST)?,
        vec![("directive_id", directive_id.clone())],
        vec![
            (
                "llm_tokens",
                count(usage.prompt_tokens.saturating_add(usage.completion_tokens)),
            ),
            ("llm_cost_micro_usd", count(usage.cost_micro_usd)),
        ],
    );
    let table = tables.get(USAGE)?;
    let key = || {
        vec![
            ("directive_id", directive_id.clone()),
            ("caller", label(&caller)),
        ]
    };
    writes.insert(table, key(), vec![]);
    writes.add(
        table,
        key(),
        vec![
            ("calls", 1),
            ("prompt_tokens", count(usage.prompt_tokens)),
            ("completion_tokens", count(usage.completion_tokens)),
            ("cost_micro_usd", count(usage.cost_micro_usd)),
        ],
    );
    Ok(())
}

fn directive(
    writes: &mut RowWrites,
    tables: &Tables,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let list = tables.get(LIST)?;
    let directive_id = id(event.stream_id.id());
    let now = time(event.recorded_at);
    // Each event changes some columns of its directive's row (the issue
    // creates it, a plan adds task rows too).
    let mut columns: Vec<(&'static str, Value)> =
        match DirectiveEvent::decode(event).map_err(|e| undecodable(event, e))? {
            DirectiveEvent::DirectiveIssued(issued) => {
                writes.insert(
                    list,
                    vec![("directive_id", directive_id)],
                    vec![
                        ("seq_tx", int(event.position.tx)),
                        ("seq", int(event.position.seq)),
                        ("text", Value::from(issued.text)),
                        ("status", Value::from("planning")),
                        ("priority", label(&issued.priority)),
                        ("deadline", issued.deadline.map_or(Value::Null, time)),
                        (
                            "spending_limit",
                            issued.spending_limit.map_or(Value::Null, |m| json(&m)),
                        ),
                        ("issued_by", Value::from(issued.issued_by.to_string())),
                        ("issued_at", time(issued.issued_at)),
                        (
                            "correlation_id",
                            Value::from(event.metadata.correlation_id.to_string()),
                        ),
                        ("updated_at", now),
                    ],
                );
                return Ok(());
            }
            DirectiveEvent::DirectivePlanned(planned) => {
                insert_tasks(writes, tables, &directive_id, &planned.tasks, &now)?;
                let mut columns = vec![
                    ("status", Value::from("in_progress")),
                    ("question", Value::Null),
                ];
                columns.extend(planning_columns(&planned.planning));
                let usage = planned.planning.usage;
                add_usage(
                    writes,
                    tables,
                    &directive_id,
                    LlmCaller::Orchestrator,
                    usage,
                )?;
                columns
            }
            DirectiveEvent::ClarificationRequested(asked) => {
                let mut columns = vec![
                    ("status", Value::from("awaiting_clarification")),
                    ("question", Value::from(asked.question)),
                ];
                columns.extend(planning_columns(&asked.planning));
                let usage = asked.planning.usage;
                add_usage(
                    writes,
                    tables,
                    &directive_id,
                    LlmCaller::Orchestrator,
                    usage,
                )?;
                columns
            }
            DirectiveEvent::ClarificationAnswered(_) => vec![("status", Value::from("planning"))],
            DirectiveEvent::DirectiveEscalated(escalated) => {
                vec![("escalation", Value::from(escalated.reason))]
            }
            DirectiveEvent::DirectivePaused(_) => vec![("paused", Value::Int(1))],
            DirectiveEvent::DirectiveResumed(_) => vec![("paused", Value::Int(0))],
            DirectiveEvent::DirectiveCancelled(cancelled) => vec![
                ("status", Value::from("cancelled")),
                (
                    "summary",
                    Value::from(format!(
                        "cancelled by {}: {}",
                        cancelled.cancelled_by, cancelled.reason
                    )),
                ),
            ],
            DirectiveEvent::DirectiveClosed(closed) => vec![
                ("status", label(&closed.status)),
                ("summary", Value::from(closed.summary)),
            ],
            DirectiveEvent::LlmUsageRecorded(recorded) => {
                let caller = recorded.department.into();
                return add_usage(writes, tables, &directive_id, caller, Some(recorded.usage));
            }
            DirectiveEvent::TasksReleased(_)
            | DirectiveEvent::TaskSettled(_)
            | DirectiveEvent::TasksWithdrawn(_) => return Ok(()),
        };
    columns.push(("updated_at", now));
    writes.set(list, vec![("directive_id", directive_id)], columns);
    Ok(())
}

/// A plan's task rows, in plan order.
fn insert_tasks(
    writes: &mut RowWrites,
    tables: &Tables,
    directive_id: &Value,
    planned: &[DirectiveTask],
    now: &Value,
) -> Result<(), ProjectionError> {
    let tasks = tables.get(TASKS)?;
    for (ordinal, task) in planned.iter().enumerate() {
        writes.insert(
            tasks,
            vec![("task_id", id(task.task_id))],
            vec![
                ("directive_id", directive_id.clone()),
                ("ordinal", int(ordinal as u64)),
                ("key", Value::from(task.key.as_str())),
                ("department", label(&task.department)),
                ("kind", Value::from(task.kind.as_str())),
                ("params", json(&task.params)),
                ("depends_on", json(&task.depends_on)),
                ("status", Value::from("planned")),
                (
                    "approval_rule",
                    task.approval
                        .as_ref()
                        .map_or(Value::Null, |g| g.rule.clone().into()),
                ),
                ("updated_at", now.clone()),
            ],
        );
    }
    Ok(())
}

fn task(
    writes: &mut RowWrites,
    tables: &Tables,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let tasks = tables.get(TASKS)?;
    let decoded = TaskEvent::decode(event).map_err(|e| undecodable(event, e))?;
    let mut columns = vec![
        ("status", label(&decoded.status())),
        ("updated_at", time(event.recorded_at)),
    ];
    match &decoded {
        TaskEvent::TaskStarted(started) => {
            columns.push(("agent", Value::from(started.agent.to_string())));
        }
        TaskEvent::TaskAwaitingApproval(waiting) => {
            columns.push(("approval_id", id(waiting.approval_id)));
            columns.push(("note", Value::from(waiting.reason.as_str())));
        }
        TaskEvent::TaskCompleted(closed) | TaskEvent::TaskFailed(closed) => {
            columns.push(("note", Value::from(closed.text.as_str())));
        }
        TaskEvent::TaskCancelled(cancelled) => {
            columns.push(("note", Value::from(cancelled.reason.as_str())));
        }
        TaskEvent::TaskPlanned(_) | TaskEvent::TaskDispatched(_) | TaskEvent::TaskResumed(_) => {}
    }
    writes.set(tasks, vec![("task_id", id(event.stream_id.id()))], columns);
    Ok(())
}

fn approval(
    writes: &mut RowWrites,
    tables: &Tables,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let approvals = tables.get(APPROVALS)?;
    let approval_id = id(event.stream_id.id());
    let (status, decided) = match ApprovalEvent::decode(event).map_err(|e| undecodable(event, e))? {
        ApprovalEvent::ApprovalRequested(requested) => {
            writes.insert(
                approvals,
                vec![("approval_id", approval_id)],
                vec![
                    ("seq_tx", int(event.position.tx)),
                    ("seq", int(event.position.seq)),
                    ("task_id", id(requested.task_id)),
                    ("directive_id", id(requested.directive_id)),
                    ("what", Value::from(requested.what)),
                    ("why", Value::from(requested.why)),
                    ("amount", requested.amount.map_or(Value::Null, |m| json(&m))),
                    (
                        "requested_by",
                        Value::from(requested.requested_by.to_string()),
                    ),
                    ("requested_at", time(requested.requested_at)),
                    ("expires_at", time(requested.expires_at)),
                    ("status", Value::from("pending")),
                ],
            );
            return Ok(());
        }
        ApprovalEvent::ApprovalGranted(d) => ("granted", Some(d)),
        ApprovalEvent::ApprovalRejected(d) => ("rejected", Some(d)),
        ApprovalEvent::ApprovalExpired(_) => ("expired", None),
        ApprovalEvent::ApprovalWithdrawn(d) => ("withdrawn", Some(d)),
    };
    let mut columns = vec![("status", Value::from(status))];
    if let Some(d) = decided {
        columns.push(("decided_by", Value::from(d.by.to_string())));
        columns.push(("reason", Value::from(d.reason)));
        columns.push(("decided_at", time(d.decided_at)));
    }
    writes.set(approvals, vec![("approval_id", approval_id)], columns);
    Ok(())
}

// ---- queries ----

/// A directive as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectiveSummary {
    /// Its id.
    pub id: Uuid,
    /// The order.
    pub text: String,
    /// Where it stands (`planning`, `awaiting_clarification`, `in_progress`,
    /// `completed`, `failed`, `cancelled`).
    pub status: String,
    /// Whether a person paused it.
    pub paused: bool,
    /// How urgent.
    pub priority: String,
    /// Its deadline.
    pub deadline: Option<String>,
    /// Its spending limit.
    pub spending_limit: Option<Json>,
    /// Who gave it.
    pub issued_by: String,
    /// When.
    pub issued_at: String,
    /// The correlation id its whole story carries.
    pub correlation_id: String,
    /// The planner's open question.
    pub question: Option<String>,
    /// Which planner planned it, and the model.
    pub planner: Option<String>,
    /// The model, if one answered.
    pub model: Option<String>,
    /// The digest of the planner's prompt.
    pub prompt_digest: Option<String>,
    /// Model tokens its calls used (planning and departments).
    pub llm_tokens: i64,
    /// Their estimated cost, in millionths of a dollar.
    pub llm_cost_micro_usd: i64,
    /// The last failure escalated.
    pub escalation: Option<String>,
    /// How it ended.
    pub summary: Option<String>,
    /// When it last changed.
    pub updated_at: String,
    /// Its place in the list, for cursors.
    #[serde(skip)]
    pub order: (i64, i64),
}

/// A task as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    /// Its id.
    pub id: Uuid,
    /// Its directive.
    pub directive_id: Uuid,
    /// Its key in the plan.
    pub key: String,
    /// Its department.
    pub department: String,
    /// Its kind.
    pub kind: String,
    /// Its parameters.
    pub params: Json,
    /// The tasks it waits for.
    pub depends_on: Json,
    /// Where it stands.
    pub status: String,
    /// The policy rule that gates it.
    pub approval_rule: Option<String>,
    /// The approval it waits or waited for.
    pub approval_id: Option<String>,
    /// The last reason, summary or wait.
    pub note: Option<String>,
    /// The agent working on it.
    pub agent: Option<String>,
    /// When it last changed.
    pub updated_at: String,
}

/// An approval as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalView {
    /// Its id.
    pub id: Uuid,
    /// The task it gates.
    pub task_id: Uuid,
    /// The directive.
    pub directive_id: Uuid,
    /// What would be done.
    pub what: String,
    /// Why approval is needed.
    pub why: String,
    /// The money involved.
    pub amount: Option<Json>,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: String,
    /// When it lapses.
    pub expires_at: String,
    /// `pending`, `granted`, `rejected` or `expired`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Its place in the list, for cursors.
    #[serde(skip)]
    pub order: (i64, i64),
}

struct Row<'a>(&'a [Value], usize);

impl Row<'_> {
    fn text(&mut self) -> Result<String, ProjectionError> {
        self.opt()?
            .ok_or_else(|| ProjectionError::Query(format!("column {} is null", self.1 - 1)))
    }
    fn opt(&mut self) -> Result<Option<String>, ProjectionError> {
        let i = self.1;
        self.1 += 1;
        match self.0.get(i) {
            Some(Value::Text(s)) => Ok(Some(s.clone())),
            Some(Value::Null) | None => Ok(None),
            Some(other) => Err(ProjectionError::Query(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
    fn int(&mut self) -> Result<i64, ProjectionError> {
        let i = self.1;
        self.1 += 1;
        self.0
            .get(i)
            .and_then(Value::as_i64)
            .ok_or_else(|| ProjectionError::Query(format!("column {i}: expected an integer")))
    }
    fn uuid(&mut self) -> Result<Uuid, ProjectionError> {
        let text = self.text()?;
        text.parse()
            .map_err(|_| ProjectionError::Query(format!("not a uuid: {text}")))
    }
    fn json(&mut self) -> Result<Option<Json>, ProjectionError> {
        self.opt()?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| ProjectionError::Query(format!("stored JSON: {e}")))
    }
}

const SUMMARY_COLUMNS: &str = "directive_id, text, status, paused, priority, deadline, \
     spending_limit, issued_by, issued_at, correlation_id, question, planner, model, \
     prompt_digest, llm_tokens, llm_cost_micro_usd, escalation, summary, updated_at, seq_tx, seq";

fn summary(row: &[Value]) -> Result<DirectiveSummary, ProjectionError> {
    let mut r = Row(row, 0);
    Ok(DirectiveSummary {
        id: r.uuid()?,
        text: r.text()?,
        status: r.text()?,
        paused: r.int()? != 0,
        priority: r.text()?,
        deadline: r.opt()?,
        spending_limit: r.json()?,
        issued_by: r.text()?,
        issued_at: r.text()?,
        correlation_id: r.text()?,
        question: r.opt()?,
        planner: r.opt()?,
        model: r.opt()?,
        prompt_digest: r.opt()?,
        llm_tokens: r.int()?,
        llm_cost_micro_usd: r.int()?,
        escalation: r.opt()?,
        summary: r.opt()?,
        updated_at: r.text()?,
        order: (r.int()?, r.int()?),
    })
}

/// Which directives to list: newest first, after `before` (a cursor).
#[derive(Debug, Clone, Default)]
pub struct DirectiveQuery {
    /// Only with this status.
    pub status: Option<String>,
    /// Only older than this place in the list.
    pub before: Option<(i64, i64)>,
    /// At most this many.
    pub limit: u32,
}

/// Directives, newest first.
pub async fn list_directives(
    db: &Db,
    query: &DirectiveQuery,
) -> Result<Vec<DirectiveSummary>, ProjectionError> {
    let (before_tx, before_seq) = query.before.unwrap_or((i64::MAX, i64::MAX));
    let rows = db
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM {LIST} \
                 WHERE ($1 = '' OR status = $1) AND (seq_tx < $2 OR (seq_tx = $2 AND seq < $3)) \
                 ORDER BY seq_tx DESC, seq DESC LIMIT $4"
            ),
            &[
                Value::from(query.status.clone().unwrap_or_default()),
                Value::Int(before_tx),
                Value::Int(before_seq),
                Value::Int(i64::from(query.limit.clamp(1, 500))),
            ],
        )
        .await?;
    rows.iter().map(|r| summary(r)).collect()
}

/// One directive, if known.
pub async fn get_directive(
    db: &Db,
    directive_id: Uuid,
) -> Result<Option<DirectiveSummary>, ProjectionError> {
    let rows = db
        .query(
            &format!("SELECT {SUMMARY_COLUMNS} FROM {LIST} WHERE directive_id = $1"),
            &[id(directive_id)],
        )
        .await?;
    rows.first().map(|r| summary(r)).transpose()
}

const TASK_COLUMNS: &str = "task_id, directive_id, key, department, kind, params, depends_on, \
     status, approval_rule, approval_id, note, agent, updated_at";

fn task_view(row: &[Value]) -> Result<TaskView, ProjectionError> {
    let mut r = Row(row, 0);
    Ok(TaskView {
        id: r.uuid()?,
        directive_id: r.uuid()?,
        key: r.text()?,
        department: r.text()?,
        kind: r.text()?,
        params: r.json()?.unwrap_or(Json::Null),
        depends_on: r.json()?.unwrap_or(Json::Null),
        status: r.text()?,
        approval_rule: r.opt()?,
        approval_id: r.opt()?,
        note: r.opt()?,
        agent: r.opt()?,
        updated_at: r.text()?,
    })
}

/// A directive's tasks, in plan order.
pub async fn tasks_of(db: &Db, directive_id: Uuid) -> Result<Vec<TaskView>, ProjectionError> {
    let rows = db
        .query(
            &format!("SELECT {TASK_COLUMNS} FROM {TASKS} WHERE directive_id = $1 ORDER BY ordinal"),
            &[id(directive_id)],
        )
        .await?;
    rows.iter().map(|r| task_view(r)).collect()
}

/// Tasks, optionally of one department and status, most recently changed
/// first (at most `limit`).
pub async fn list_tasks(
    db: &Db,
    department: Option<&str>,
    status: Option<&str>,
    limit: u32,
) -> Result<Vec<TaskView>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT {TASK_COLUMNS} FROM {TASKS} WHERE ($1 = '' OR department = $1) \
                 AND ($2 = '' OR status = $2) ORDER BY updated_at DESC, task_id LIMIT $3"
            ),
            &[
                Value::from(department.unwrap_or_default()),
                Value::from(status.unwrap_or_default()),
                Value::Int(i64::from(limit.clamp(1, 500))),
            ],
        )
        .await?;
    rows.iter().map(|r| task_view(r)).collect()
}

const APPROVAL_COLUMNS: &str = "approval_id, task_id, directive_id, what, why, amount, \
     requested_by, requested_at, expires_at, status, decided_by, reason, decided_at, seq_tx, seq";

fn approval_view(row: &[Value]) -> Result<ApprovalView, ProjectionError> {
    let mut r = Row(row, 0);
    Ok(ApprovalView {
        id: r.uuid()?,
        task_id: r.uuid()?,
        directive_id: r.uuid()?,
        what: r.text()?,
        why: r.text()?,
        amount: r.json()?,
        requested_by: r.text()?,
        requested_at: r.text()?,
        expires_at: r.text()?,
        status: r.text()?,
        decided_by: r.opt()?,
        reason: r.opt()?,
        decided_at: r.opt()?,
        order: (r.int()?, r.int()?),
    })
}

/// Approvals, optionally of one status, newest first (at most `limit`).
pub async fn list_approvals(
    db: &Db,
    status: Option<&str>,
    directive_id: Option<Uuid>,
    limit: u32,
) -> Result<Vec<ApprovalView>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT {APPROVAL_COLUMNS} FROM {APPROVALS} WHERE ($1 = '' OR status = $1) \
                 AND ($2 = '' OR directive_id = $2) \
                 ORDER BY seq_tx DESC, seq DESC LIMIT $3"
            ),
            &[
                Value::from(status.unwrap_or_default()),
                Value::from(directive_id.map(|id| id.to_string()).unwrap_or_default()),
                Value::Int(i64::from(limit.clamp(1, 500))),
            ],
        )
        .await?;
    rows.iter().map(|r| approval_view(r)).collect()
}

/// Pending approvals whose deadline is at or before `now`, oldest deadline
/// first: what the clock must expire.
pub async fn lapsed_approvals(
    db: &Db,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ApprovalView>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT {APPROVAL_COLUMNS} FROM {APPROVALS} \
                 WHERE status = 'pending' AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2"
            ),
            // The same fixed-width UTC text the column holds, so that text
            // order is time order.
            &[time(now), Value::Int(i64::from(limit.clamp(1, 500)))],
        )
        .await?;
    rows.iter().map(|r| approval_view(r)).collect()
}

/// One approval, if known.
pub async fn get_approval(
    db: &Db,
    approval_id: Uuid,
) -> Result<Option<ApprovalView>, ProjectionError> {
    let rows = db
        .query(
            &format!("SELECT {APPROVAL_COLUMNS} FROM {APPROVALS} WHERE approval_id = $1"),
            &[id(approval_id)],
        )
        .await?;
    rows.first().map(|r| approval_view(r)).transpose()
}

/// What one caller's model calls used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmUsageView {
    /// `orchestrator`, or the department that made the calls.
    pub caller: String,
    /// How many calls (a planning round with retries counts once).
    pub calls: i64,
    /// Tokens in the prompts.
    pub prompt_tokens: i64,
    /// Tokens in the answers.
    pub completion_tokens: i64,
    /// Estimated cost, in millionths of a US dollar.
    pub cost_micro_usd: i64,
}

fn usage_view(row: &[Value]) -> Result<LlmUsageView, ProjectionError> {
    let mut r = Row(row, 0);
    Ok(LlmUsageView {
        caller: r.text()?,
        calls: r.int()?,
        prompt_tokens: r.int()?,
        completion_tokens: r.int()?,
        cost_micro_usd: r.int()?,
    })
}

/// One directive's model usage per caller, by caller name.
pub async fn llm_usage_of(
    db: &Db,
    directive_id: Uuid,
) -> Result<Vec<LlmUsageView>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT caller, calls, prompt_tokens, completion_tokens, cost_micro_usd \
                 FROM {USAGE} WHERE directive_id = $1 ORDER BY caller"
            ),
            &[id(directive_id)],
        )
        .await?;
    rows.iter().map(|r| usage_view(r)).collect()
}

/// Model usage per caller over every directive, by caller name.
pub async fn llm_usage_by_caller(db: &Db) -> Result<Vec<LlmUsageView>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT caller, CAST(sum(calls) AS BIGINT), CAST(sum(prompt_tokens) AS BIGINT), \
                 CAST(sum(completion_tokens) AS BIGINT), CAST(sum(cost_micro_usd) AS BIGINT) \
                 FROM {USAGE} GROUP BY caller ORDER BY caller"
            ),
            &[],
        )
        .await?;
    rows.iter().map(|r| usage_view(r)).collect()
}
