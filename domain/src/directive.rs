//! The CEO's order and its workflow: issued; planned (or a question asked
//! back and answered); its tasks released to the departments as their
//! dependencies complete, settled one by one, withdrawn when they can no
//! longer run; paused, resumed or cancelled by a person; closed with a
//! summary once every task has settled.
//!
//! The directive's stream is the orchestrator's workflow state: every rule
//! about what may run next is decided here, purely, and recorded as an event,
//! so the orchestrator only translates events into commands and a replay
//! rebuilds the same state without calling a planner again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;
use crate::money::Money;
use crate::plan::PlanError;
use crate::planning::{LlmCaller, LlmUsage, PlanOutcome, PlannerAnswer};
use crate::task::{Department, TaskStatus};

/// The longest directive text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// How urgent a directive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// When there is time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before normal work.
    High,
    /// Now.
    Urgent,
}

/// What can be asked of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectiveCommand {
    /// Give a new order.
    Issue(IssueDirective),
    /// Withdraw an order.
    Cancel(CancelDirective),
    /// Record the planner's answer (the orchestrator).
    RecordPlan(RecordPlan),
    /// Answer the planner's question (the CEO).
    AnswerClarification(Intervention),
    /// Record how one of its tasks ended (the orchestrator).
    SettleTask(SettleTask),
    /// Hold back every task not yet released.
    Pause(Intervention),
    /// Release what a pause held back.
    Resume(Intervention),
    /// Record a model call a department made for one of the tasks.
    RecordLlmUsage(RecordLlmUsage),
}

/// A department's model call, made while working on one of the tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLlmUsage {
    /// The task it was made for (its department is the caller).
    pub task_id: Uuid,
    /// The model.
    pub model: String,
    /// What the call was for, in a few words.
    pub purpose: String,
    /// What it used.
    pub usage: LlmUsage,
    /// The agent that made it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// Give a new order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueDirective {
    /// The order in plain language.
    pub text: String,
    /// How urgent it is.
    pub priority: Priority,
    /// When it must be done by, if ever.
    pub deadline: Option<DateTime<Utc>>,
    /// The most the agents may spend on it, if limited.
    pub spending_limit: Option<Money>,
    /// Who gave the order.
    pub issued_by: Actor,
    /// When it was given (the caller's clock; the domain has none).
    pub issued_at: DateTime<Utc>,
}

/// Withdraw an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelDirective {
    /// Why.
    pub reason: String,
    /// Who withdrew it.
    pub cancelled_by: Actor,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// A person steps in: answers a question, pauses or resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    /// The answer, or why.
    pub text: String,
    /// Who.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// Record the planner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    /// The answer and how it came about.
    pub answer: PlannerAnswer,
    /// The id of each planned task's stream, in plan order (the orchestrator
    /// derives them, so a retry names the same tasks).
    pub task_ids: Vec<Uuid>,
    /// For each planned task, in plan order, the approval policy demands
    /// before it may be dispatched (decided by the orchestrator from the
    /// policy in force, and recorded here with the plan).
    pub gates: Vec<Option<ApprovalGate>>,
    /// When.
    pub at: DateTime<Utc>,
}

/// How a task ended, as the directive records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleTask {
    /// The task.
    pub task_id: Uuid,
    /// Completed, failed or cancelled.
    pub status: TaskStatus,
    /// Its summary or reason.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A person must approve a task before it is dispatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalGate {
    /// The rule that asks for it, in words.
    pub rule: String,
    /// The money the task may commit, if known.
    pub amount: Option<Money>,
}

/// A task of a recorded plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveTask {
    /// Its stream's id.
    pub task_id: Uuid,
    /// Its key in the plan.
    pub key: String,
    /// Who carries it out.
    pub department: Department,
    /// What kind of work.
    pub kind: String,
    /// The kind's parameters.
    pub params: Value,
    /// The tasks that must complete first.
    pub depends_on: Vec<Uuid>,
    /// The approval it needs before dispatch, if any.
    pub approval: Option<ApprovalGate>,
}

/// What can happen to a directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DirectiveEvent {
    /// An order was given.
    DirectiveIssued(DirectiveIssued),
    /// An order was withdrawn.
    DirectiveCancelled(DirectiveCancelled),
    /// The planner's plan was recorded.
    DirectivePlanned(DirectivePlanned),
    /// The planner asked the CEO a question instead of guessing.
    ClarificationRequested(ClarificationRequested),
    /// The CEO answered; the order is planned again with the answer.
    ClarificationAnswered(DirectiveIntervention),
    /// Tasks whose dependencies are complete may go to their departments.
    TasksReleased(TasksReleased),
    /// A task ended.
    TaskSettled(TaskSettled),
    /// Tasks that can no longer run are to be cancelled.
    TasksWithdrawn(TasksWithdrawn),
    /// A task failed: the CEO is told.
    DirectiveEscalated(DirectiveEscalated),
    /// Nothing more is released until resumed.
    DirectivePaused(DirectiveIntervention),
    /// Releasing goes on.
    DirectiveResumed(DirectiveIntervention),
    /// Every task settled: the directive is closed.
    DirectiveClosed(DirectiveClosed),
    /// A department made a model call for one of the tasks.
    LlmUsageRecorded(LlmUsageRecorded),
}

/// A department made a model call for one of the directive's tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmUsageRecorded {
    /// The task.
    pub task_id: Uuid,
    /// The task's department: who the call is counted to.
    pub department: Department,
    /// The model.
    pub model: String,
    /// What the call was for.
    pub purpose: String,
    /// What it used.
    pub usage: LlmUsage,
    /// The agent that made it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// An order was given (schema version 2: priority, deadline and spending limit
/// were added; version 1 had only the text, who and when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveIssued {
    /// The order in plain language.
    pub text: String,
    /// How urgent it is.
    pub priority: Priority,
    /// When it must be done by.
    pub deadline: Option<DateTime<Utc>>,
    /// The most the agents may spend on it.
    pub spending_limit: Option<Money>,
    /// Who gave the order.
    pub issued_by: Actor,
    /// When it was given.
    pub issued_at: DateTime<Utc>,
}

/// An order was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveCancelled {
    /// Why.
    pub reason: String,
    /// Who withdrew it.
    pub cancelled_by: Actor,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// How the planner's answer came about (everything but the outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanningRecord {
    /// Which planner answered.
    pub planner: String,
    /// The model, when a model answered.
    pub model: Option<String>,
    /// SHA-256 (hex) of the prompt.
    pub prompt_digest: String,
    /// The answer as given.
    pub raw_answer: String,
    /// What the model calls cost.
    pub usage: Option<LlmUsage>,
}

/// The planner's plan was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectivePlanned {
    /// How the answer came about.
    pub planning: PlanningRecord,
    /// The tasks, in plan order.
    pub tasks: Vec<DirectiveTask>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The planner asked a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClarificationRequested {
    /// How the answer came about.
    pub planning: PlanningRecord,
    /// The question.
    pub question: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A person stepped in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveIntervention {
    /// The answer, or why.
    pub text: String,
    /// Who.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// A task released to its department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedTask {
    /// The task.
    pub task_id: Uuid,
    /// Its department.
    pub department: Department,
    /// Its kind.
    pub kind: String,
    /// The approval it needs before dispatch, if any.
    pub approval: Option<ApprovalGate>,
}

/// Tasks released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TasksReleased {
    /// The tasks, in plan order.
    pub tasks: Vec<ReleasedTask>,
}

/// A task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSettled {
    /// The task.
    pub task_id: Uuid,
    /// Completed, failed or cancelled.
    pub status: TaskStatus,
    /// Its summary or reason.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Tasks to cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TasksWithdrawn {
    /// The tasks.
    pub task_ids: Vec<Uuid>,
    /// Why.
    pub reason: String,
}

/// A task failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveEscalated {
    /// The task.
    pub task_id: Uuid,
    /// Why it failed.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The directive closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveClosed {
    /// Completed (every task completed) or failed (some did not).
    pub status: DirectiveStatus,
    /// What happened, in words.
    pub summary: String,
    /// Tasks completed.
    pub completed: u32,
    /// Tasks failed.
    pub failed: u32,
    /// Tasks cancelled.
    pub cancelled: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// `DirectiveIssued` v1 → v2: orders given before priorities existed are normal,
/// without deadline or spending limit.
fn directive_issued_v1_to_v2(mut data: Value) -> Result<Value, String> {
    let object = data.as_object_mut().ok_or("expected a JSON object")?;
    object
        .entry("priority")
        .or_insert_with(|| Value::from("normal"));
    object.entry("deadline").or_insert(Value::Null);
    object.entry("spending_limit").or_insert(Value::Null);
    Ok(data)
}

/// A first version of an event type, without upcasters.
const fn v1(event_type: &'static str) -> EventSchema {
    EventSchema {
        event_type,
        version: 1,
        upcasters: &[],
    }
}

impl DomainEvent for DirectiveEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "DirectiveIssued",
            version: 2,
            upcasters: &[directive_issued_v1_to_v2],
        },
        v1("DirectiveCancelled"),
        v1("DirectivePlanned"),
        v1("ClarificationRequested"),
        v1("ClarificationAnswered"),
        v1("TasksReleased"),
        v1("TaskSettled"),
        v1("TasksWithdrawn"),
        v1("DirectiveEscalated"),
        v1("DirectivePaused"),
        v1("DirectiveResumed"),
        v1("DirectiveClosed"),
        v1("LlmUsageRecorded"),
    ];
}

/// Why a directive command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveRejection {
    /// The order has no text.
    #[error("a directive needs a text")]
    TextEmpty,
    /// The order's text is longer than [`MAX_TEXT_CHARS`].
    #[error("a directive's text is limited to {MAX_TEXT_CHARS} characters, this one has {0}")]
    TextTooLong(usize),
    /// The deadline has already passed when the order is given.
    #[error("the deadline {deadline} is before the time of issue {issued_at}")]
    DeadlineInPast {
        /// The deadline asked for.
        deadline: DateTime<Utc>,
        /// When the order was given.
        issued_at: DateTime<Utc>,
    },
    /// A spending limit of zero or less.
    #[error("a spending limit must be above zero, got {0}")]
    SpendingLimitNotPositive(Money),
    /// The directive exists already.
    #[error("this directive has already been issued")]
    AlreadyIssued,
    /// The directive does not exist.
    #[error("no such directive")]
    NotFound,
    /// The directive is no longer open.
    #[error("this directive is already closed")]
    AlreadyClosed,
    /// A cancellation must say why.
    #[error("a cancellation needs a reason")]
    ReasonEmpty,
    /// A plan or a question is recorded only while the directive waits for one.
    #[error("this directive is not waiting for a plan")]
    NotPlanning,
    /// The plan is not a valid plan.
    #[error("invalid plan: {0}")]
    PlanInvalid(String),
    /// An answer is given only to a question asked.
    #[error("this directive asked no question")]
    NoQuestion,
    /// The task is not one of this directive's.
    #[error("task {0} is not in this directive's plan")]
    UnknownTask(Uuid),
    /// A task settles as completed, failed or cancelled.
    #[error("a task settles as completed, failed or cancelled, not {0:?}")]
    NotFinal(TaskStatus),
    /// Paused already.
    #[error("this directive is already paused")]
    AlreadyPaused,
    /// Not paused.
    #[error("this directive is not paused")]
    NotPaused,
    /// A model call is recorded with its model and purpose.
    #[error("a model call is recorded with the model's name and what the call was for")]
    UsageUnnamed,
}

impl Rejection for DirectiveRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::TextEmpty => "directive.text_empty",
            Self::TextTooLong(_) => "directive.text_too_long",
            Self::DeadlineInPast { .. } => "directive.deadline_in_past",
            Self::SpendingLimitNotPositive(_) => "directive.spending_limit_not_positive",
            Self::AlreadyIssued => "directive.already_issued",
            Self::NotFound => "directive.not_found",
            Self::AlreadyClosed => "directive.already_closed",
            Self::ReasonEmpty => "directive.reason_empty",
            Self::NotPlanning => "directive.not_planning",
            Self::PlanInvalid(_) => "directive.plan_invalid",
            Self::NoQuestion => "directive.no_question",
            Self::UnknownTask(_) => "directive.unknown_task",
            Self::NotFinal(_) => "directive.task_not_final",
            Self::AlreadyPaused => "directive.already_paused",
            Self::NotPaused => "directive.not_paused",
            Self::UsageUnnamed => "directive.llm_usage_unnamed",
        }
    }
}

/// Where a directive stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectiveStatus {
    /// Not issued yet (an empty stream).
    #[default]
    Unknown,
    /// Issued; waiting for the planner.
    Planning,
    /// The planner asked the CEO a question.
    AwaitingClarification,
    /// Planned; its tasks are under way.
    InProgress,
    /// Closed: every task completed.
    Completed,
    /// Closed: some task failed or was cancelled.
    Failed,
    /// Withdrawn.
    Cancelled,
}

impl DirectiveStatus {
    /// Whether it is closed for good.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// A task of the plan, as the directive follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSlot {
    /// The task as planned.
    pub task: DirectiveTask,
    /// Released to its department.
    pub released: bool,
    /// Asked to be cancelled.
    pub withdrawn: bool,
    /// How it ended, once it has.
    pub settled: Option<TaskStatus>,
}

/// A directive's state, as far as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// Where it stands.
    pub status: DirectiveStatus,
    /// Whether a person paused it.
    pub paused: bool,
    /// The order, as issued.
    pub issued: Option<DirectiveIssued>,
    /// The CEO's answers to the planner's questions, oldest first.
    pub clarifications: Vec<String>,
    /// The plan's tasks, in plan order.
    pub tasks: Vec<TaskSlot>,
    /// What its model calls cost so far, per caller.
    pub llm_usage_by_caller: BTreeMap<LlmCaller, LlmUsage>,
}

impl Aggregate for Directive {
    const CATEGORY: &'static str = "directive";
    type Command = DirectiveCommand;
    type Event = DirectiveEvent;
    type Rejection = DirectiveRejection;

    fn decide(
        &self,
        command: &DirectiveCommand,
    ) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        if let DirectiveCommand::Issue(issue) = command {
            return self.issue(issue);
        }
        if self.status == DirectiveStatus::Unknown {
            return Err(DirectiveRejection::NotFound);
        }
        match command {
            DirectiveCommand::Issue(_) => Err(DirectiveRejection::AlreadyIssued),
            DirectiveCommand::SettleTask(settle) => self.settle(settle),
            // A call already made is a fact, even one reported after the close.
            DirectiveCommand::RecordLlmUsage(record) => self.record_usage(record),
            _ if self.status.is_closed() => Err(DirectiveRejection::AlreadyClosed),
            DirectiveCommand::Cancel(cancel) => self.cancel(cancel),
            DirectiveCommand::RecordPlan(record) => self.record_plan(record),
            DirectiveCommand::AnswerClarification(answer) => {
                if self.status != DirectiveStatus::AwaitingClarification {
                    return Err(DirectiveRejection::NoQuestion);
                }
                Ok(vec![DirectiveEvent::ClarificationAnswered(intervention(
                    answer,
                )?)])
            }
            DirectiveCommand::Pause(pause) => {
                if self.paused {
                    return Err(DirectiveRejection::AlreadyPaused);
                }
                Ok(vec![DirectiveEvent::DirectivePaused(intervention(pause)?)])
            }
            DirectiveCommand::Resume(resume) => {
                if !self.paused {
                    return Err(DirectiveRejection::NotPaused);
                }
                let mut events = vec![DirectiveEvent::DirectiveResumed(intervention(resume)?)];
                let mut resumed = self.clone();
                resumed.paused = false;
                events.extend(resumed.release());
                Ok(events)
            }
        }
    }

    fn evolve(mut self, event: &DirectiveEvent) -> Self {
        match event {
            DirectiveEvent::DirectiveIssued(issued) => {
                self.status = DirectiveStatus::Planning;
                self.issued = Some(issued.clone());
            }
            DirectiveEvent::DirectiveCancelled(_) => self.status = DirectiveStatus::Cancelled,
            DirectiveEvent::DirectivePlanned(planned) => {
                self.status = DirectiveStatus::InProgress;
                self.count(&planned.planning);
                self.tasks = planned
                    .tasks
                    .iter()
                    .map(|task| TaskSlot {
                        task: task.clone(),
                        released: false,
                        withdrawn: false,
                        settled: None,
                    })
                    .collect();
            }
            DirectiveEvent::ClarificationRequested(asked) => {
                self.status = DirectiveStatus::AwaitingClarification;
                self.count(&asked.planning);
            }
            DirectiveEvent::ClarificationAnswered(answer) => {
                self.status = DirectiveStatus::Planning;
                self.clarifications.push(answer.text.clone());
            }
            DirectiveEvent::TasksReleased(released) => {
                for task in &released.tasks {
                    self.slot_mut(task.task_id, |slot| slot.released = true);
                }
            }
            DirectiveEvent::TaskSettled(settled) => {
                self.slot_mut(settled.task_id, |slot| slot.settled = Some(settled.status));
            }
            DirectiveEvent::TasksWithdrawn(withdrawn) => {
                for &task_id in &withdrawn.task_ids {
                    self.slot_mut(task_id, |slot| slot.withdrawn = true);
                }
            }
            DirectiveEvent::DirectiveEscalated(_) => {}
            DirectiveEvent::DirectivePaused(_) => self.paused = true,
            DirectiveEvent::DirectiveResumed(_) => self.paused = false,
            DirectiveEvent::DirectiveClosed(closed) => self.status = closed.status,
            DirectiveEvent::LlmUsageRecorded(recorded) => {
                self.spend(recorded.department.into(), recorded.usage);
            }
        }
        self
    }
}

/// A required, trimmed, bounded text.
fn required(text: &str) -> Result<String, DirectiveRejection> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DirectiveRejection::ReasonEmpty);
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(DirectiveRejection::TextTooLong(chars));
    }
    Ok(text.to_owned())
}

fn intervention(cmd: &Intervention) -> Result<DirectiveIntervention, DirectiveRejection> {
    Ok(DirectiveIntervention {
        text: required(&cmd.text)?,
        by: cmd.by.clone(),
        at: cmd.at,
    })
}

impl Directive {
    /// What its model calls cost so far, all callers together: what its
    /// budget caps.
    pub fn llm_usage(&self) -> LlmUsage {
        self.llm_usage_by_caller
            .values()
            .fold(LlmUsage::default(), |sum, usage| sum.plus(*usage))
    }

    fn count(&mut self, planning: &PlanningRecord) {
        if let Some(usage) = planning.usage {
            self.spend(LlmCaller::Orchestrator, usage);
        }
    }

    fn spend(&mut self, caller: LlmCaller, usage: LlmUsage) {
        let spent = self.llm_usage_by_caller.entry(caller).or_default();
        *spent = spent.plus(usage);
    }

    fn record_usage(
        &self,
        cmd: &RecordLlmUsage,
    ) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        let slot = self
            .tasks
            .iter()
            .find(|s| s.task.task_id == cmd.task_id)
            .ok_or(DirectiveRejection::UnknownTask(cmd.task_id))?;
        let model = required(&cmd.model).map_err(|_| DirectiveRejection::UsageUnnamed)?;
        let purpose = required(&cmd.purpose).map_err(|_| DirectiveRejection::UsageUnnamed)?;
        Ok(vec![DirectiveEvent::LlmUsageRecorded(LlmUsageRecorded {
            task_id: cmd.task_id,
            department: slot.task.department,
            model,
            purpose,
            usage: cmd.usage,
            by: cmd.by.clone(),
            at: cmd.at,
        })])
    }

    fn slot_mut(&mut self, task_id: Uuid, change: impl FnOnce(&mut TaskSlot)) {
        if let Some(slot) = self.tasks.iter_mut().find(|s| s.task.task_id == task_id) {
            change(slot);
        }
    }

    /// The tasks that may run next: not released, not withdrawn, not
    /// settled, every dependency completed. None while paused or closed.
    pub fn ready(&self) -> Vec<&DirectiveTask> {
        if self.paused || self.status != DirectiveStatus::InProgress {
            return Vec::new();
        }
        let completed: BTreeSet<Uuid> = self
            .tasks
            .iter()
            .filter(|s| s.settled == Some(TaskStatus::Completed))
            .map(|s| s.task.task_id)
            .collect();
        self.tasks
            .iter()
            .filter(|s| !s.released && !s.withdrawn && s.settled.is_none())
            .filter(|s| s.task.depends_on.iter().all(|d| completed.contains(d)))
            .map(|s| &s.task)
            .collect()
    }

    /// The release of what is ready, if anything is.
    fn release(&self) -> Option<DirectiveEvent> {
        let tasks: Vec<ReleasedTask> = self
            .ready()
            .into_iter()
            .map(|task| ReleasedTask {
                task_id: task.task_id,
                department: task.department,
                kind: task.kind.clone(),
                approval: task.approval.clone(),
            })
            .collect();
        (!tasks.is_empty()).then_some(DirectiveEvent::TasksReleased(TasksReleased { tasks }))
    }

    /// Applies events to a copy (to decide what follows them).
    fn after(&self, events: &[DirectiveEvent]) -> Directive {
        events
            .iter()
            .fold(self.clone(), |state, event| state.evolve(event))
    }

    fn issue(&self, cmd: &IssueDirective) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        if self.status != DirectiveStatus::Unknown {
            return Err(DirectiveRejection::AlreadyIssued);
        }
        let text = cmd.text.trim();
        if text.is_empty() {
            return Err(DirectiveRejection::TextEmpty);
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(DirectiveRejection::TextTooLong(chars));
        }
        if let Some(deadline) = cmd.deadline.filter(|d| *d < cmd.issued_at) {
            return Err(DirectiveRejection::DeadlineInPast {
                deadline,
                issued_at: cmd.issued_at,
            });
        }
        if let Some(limit) = cmd.spending_limit.filter(|l| !l.is_positive()) {
            return Err(DirectiveRejection::SpendingLimitNotPositive(limit));
        }
        Ok(vec![DirectiveEvent::DirectiveIssued(DirectiveIssued {
            text: text.to_owned(),
            priority: cmd.priority,
            deadline: cmd.deadline,
            spending_limit: cmd.spending_limit,
            issued_by: cmd.issued_by.clone(),
            issued_at: cmd.issued_at,
        })])
    }

    fn cancel(&self, cmd: &CancelDirective) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        let reason = cmd.reason.trim();
        if reason.is_empty() {
            return Err(DirectiveRejection::ReasonEmpty);
        }
        let mut events = vec![DirectiveEvent::DirectiveCancelled(DirectiveCancelled {
            reason: reason.to_owned(),
            cancelled_by: cmd.cancelled_by.clone(),
            cancelled_at: cmd.cancelled_at,
        })];
        let open: Vec<Uuid> = self
            .tasks
            .iter()
            .filter(|s| s.settled.is_none() && !s.withdrawn)
            .map(|s| s.task.task_id)
            .collect();
        if !open.is_empty() {
            events.push(DirectiveEvent::TasksWithdrawn(TasksWithdrawn {
                task_ids: open,
                reason: format!("the directive was cancelled: {reason}"),
            }));
        }
        Ok(events)
    }

    fn record_plan(&self, cmd: &RecordPlan) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        if self.status != DirectiveStatus::Planning {
            return Err(DirectiveRejection::NotPlanning);
        }
        let answer = &cmd.answer;
        let planning = PlanningRecord {
            planner: answer.planner.clone(),
            model: answer.model.clone(),
            prompt_digest: answer.prompt_digest.clone(),
            raw_answer: answer.raw_answer.clone(),
            usage: answer.usage,
        };
        let plan = match &answer.outcome {
            PlanOutcome::Clarify { question } => {
                let question = required(question)
                    .map_err(|_| DirectiveRejection::PlanInvalid("an empty question".into()))?;
                return Ok(vec![DirectiveEvent::ClarificationRequested(
                    ClarificationRequested {
                        planning,
                        question,
                        at: cmd.at,
                    },
                )]);
            }
            PlanOutcome::Plan { plan } => plan,
        };
        plan.validate()
            .map_err(|e: PlanError| DirectiveRejection::PlanInvalid(e.to_string()))?;
        if cmd.task_ids.len() != plan.tasks.len() || cmd.gates.len() != plan.tasks.len() {
            return Err(DirectiveRejection::PlanInvalid(format!(
                "{} tasks planned but {} task ids and {} approval gates given",
                plan.tasks.len(),
                cmd.task_ids.len(),
                cmd.gates.len()
            )));
        }
        let ids: BTreeMap<&str, Uuid> = plan
            .tasks
            .iter()
            .map(|t| t.key.as_str())
            .zip(cmd.task_ids.iter().copied())
            .collect();
        if ids.values().collect::<BTreeSet<_>>().len() != ids.len() {
            return Err(DirectiveRejection::PlanInvalid(
                "two tasks were given the same id".into(),
            ));
        }
        let tasks = plan
            .tasks
            .iter()
            .zip(&cmd.task_ids)
            .zip(&cmd.gates)
            .map(|((task, &task_id), gate)| DirectiveTask {
                task_id,
                key: task.key.clone(),
                department: task.department,
                kind: task.kind.clone(),
                params: task.params.clone(),
                // Every dependency is in `ids`: the plan validated.
                depends_on: task
                    .depends_on
                    .iter()
                    .filter_map(|d| ids.get(d.as_str()).copied())
                    .collect(),
                approval: gate.clone(),
            })
            .collect();
        let mut events = vec![DirectiveEvent::DirectivePlanned(DirectivePlanned {
            planning,
            tasks,
            at: cmd.at,
        })];
        events.extend(self.after(&events).release());
        Ok(events)
    }

    fn settle(&self, cmd: &SettleTask) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        if !cmd.status.is_final() {
            return Err(DirectiveRejection::NotFinal(cmd.status));
        }
        let slot = self
            .tasks
            .iter()
            .find(|s| s.task.task_id == cmd.task_id)
            .ok_or(DirectiveRejection::UnknownTask(cmd.task_id))?;
        if slot.settled.is_some() {
            // Told twice (a redelivery): nothing new.
            return Ok(Vec::new());
        }
        let text = required(&cmd.text).unwrap_or_else(|_| format!("{:?}", cmd.status));
        let mut events = vec![DirectiveEvent::TaskSettled(TaskSettled {
            task_id: cmd.task_id,
            status: cmd.status,
            text: text.clone(),
            at: cmd.at,
        })];
        if cmd.status == TaskStatus::Failed && !self.status.is_closed() {
            events.push(DirectiveEvent::DirectiveEscalated(DirectiveEscalated {
                task_id: cmd.task_id,
                reason: text.clone(),
                at: cmd.at,
            }));
        }
        if cmd.status != TaskStatus::Completed {
            let blocked = self.after(&events).dependents_of(cmd.task_id);
            if !blocked.is_empty() {
                events.push(DirectiveEvent::TasksWithdrawn(TasksWithdrawn {
                    task_ids: blocked,
                    reason: format!(
                        "task {} it depends on ended {:?}: {text}",
                        slot.task.key, cmd.status
                    ),
                }));
            }
        }
        let state = self.after(&events);
        if let Some(release) = state.release() {
            events.push(release);
        }
        if let Some(closed) = state.closing(cmd.at) {
            events.push(closed);
        }
        Ok(events)
    }

    /// The open tasks that depend on `task_id`, directly or not, in plan order.
    fn dependents_of(&self, task_id: Uuid) -> Vec<Uuid> {
        let mut blocked = BTreeSet::from([task_id]);
        // Plans are acyclic and dependencies precede in topological order, but
        // not necessarily in plan order: repeat until nothing changes.
        loop {
            let before = blocked.len();
            for slot in &self.tasks {
                if slot.task.depends_on.iter().any(|d| blocked.contains(d)) {
                    blocked.insert(slot.task.task_id);
                }
            }
            if blocked.len() == before {
                break;
            }
        }
        self.tasks
            .iter()
            .filter(|s| s.task.task_id != task_id && blocked.contains(&s.task.task_id))
            .filter(|s| s.settled.is_none() && !s.withdrawn)
            .map(|s| s.task.task_id)
            .collect()
    }

    /// The closing event, once every task has settled (never for a
    /// cancelled directive: its cancellation closed it).
    fn closing(&self, at: DateTime<Utc>) -> Option<DirectiveEvent> {
        if self.status != DirectiveStatus::InProgress
            || self.tasks.iter().any(|s| s.settled.is_none())
        {
            return None;
        }
        let count = |status| {
            let n = self
                .tasks
                .iter()
                .filter(|s| s.settled == Some(status))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        let (completed, failed, cancelled) = (
            count(TaskStatus::Completed),
            count(TaskStatus::Failed),
            count(TaskStatus::Cancelled),
        );
        let all = completed + failed + cancelled;
        let status = if completed == all {
            DirectiveStatus::Completed
        } else {
            DirectiveStatus::Failed
        };
        let summary = if completed == all {
            format!("all {all} tasks completed")
        } else {
            format!("{completed} of {all} tasks completed, {failed} failed, {cancelled} cancelled")
        };
        Some(DirectiveEvent::DirectiveClosed(DirectiveClosed {
            status,
            summary,
            completed,
            failed,
            cancelled,
            at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::aggregate::spec::given;
    use crate::codec::check_registry;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn ceo() -> Actor {
        "user:ceo".parse().expect("valid actor")
    }

    fn issue(text: &str) -> IssueDirective {
        IssueDirective {
            text: text.to_owned(),
            priority: Priority::High,
            deadline: Some(at(18)),
            spending_limit: Some(Money::new(500_000, "EUR".parse().expect("valid"))),
            issued_by: ceo(),
            issued_at: at(9),
        }
    }

    fn issued() -> DirectiveEvent {
        let cmd = issue("Restock SKU-1 to 40 units");
        DirectiveEvent::DirectiveIssued(DirectiveIssued {
            text: cmd.text,
            priority: cmd.priority,
            deadline: cmd.deadline,
            spending_limit: cmd.spending_limit,
            issued_by: cmd.issued_by,
            issued_at: cmd.issued_at,
        })
    }

    fn cancel(reason: &str) -> DirectiveCommand {
        DirectiveCommand::Cancel(CancelDirective {
            reason: reason.to_owned(),
            cancelled_by: ceo(),
            cancelled_at: at(10),
        })
    }

    #[test]
    fn the_registry_is_consistent() {
        check_registry(DirectiveEvent::SCHEMAS).expect("consistent registry");
    }

    #[test]
    fn issuing_records_the_trimmed_order() {
        given::<Directive>([])
            .when(DirectiveCommand::Issue(issue(
                "  Restock SKU-1 to 40 units \n",
            )))
            .then([issued()]);
    }

    #[test]
    fn an_order_needs_text_within_the_limit() {
        given::<Directive>([])
            .when(DirectiveCommand::Issue(issue(" \t")))
            .then_rejected("directive.text_empty");
        given::<Directive>([])
            .when(DirectiveCommand::Issue(issue(
                &"x".repeat(MAX_TEXT_CHARS + 1),
            )))
            .then_rejected("directive.text_too_long");
    }

    #[test]
    fn a_deadline_cannot_be_in_the_past() {
        let mut cmd = issue("Forecast cash");
        cmd.deadline = Some(at(8));
        given::<Directive>([])
            .when(DirectiveCommand::Issue(cmd))
            .then_rejected("directive.deadline_in_past");
    }

    #[test]
    fn a_spending_limit_must_be_positive() {
        let mut cmd = issue("Pay the approved invoices");
        cmd.spending_limit = Some(Money::new(0, "EUR".parse().expect("valid")));
        given::<Directive>([])
            .when(DirectiveCommand::Issue(cmd))
            .then_rejected("directive.spending_limit_not_positive");
    }

    #[test]
    fn a_directive_is_issued_once() {
        given::<Directive>([issued()])
            .when(DirectiveCommand::Issue(issue("again")))
            .then_rejected("directive.already_issued");
    }

    #[test]
    fn cancelling_needs_an_open_directive_and_a_reason() {
        given::<Directive>([])
            .when(cancel("changed my mind"))
            .then_rejected("directive.not_found");
        given::<Directive>([issued()])
            .when(cancel("  "))
            .then_rejected("directive.reason_empty");
        given::<Directive>([issued()])
            .when(cancel(" supplier closed "))
            .then([DirectiveEvent::DirectiveCancelled(DirectiveCancelled {
                reason: "supplier closed".to_owned(),
                cancelled_by: ceo(),
                cancelled_at: at(10),
            })]);
        let cancelled = DirectiveEvent::DirectiveCancelled(DirectiveCancelled {
            reason: "x".to_owned(),
            cancelled_by: ceo(),
            cancelled_at: at(10),
        });
        given::<Directive>([issued(), cancelled])
            .when(cancel("again"))
            .then_rejected("directive.already_closed");
    }

    #[test]
    fn version_one_issued_events_upcast_to_normal_priority_without_limits() {
        let v1 = r#"{"text":"Audit invoices","issued_by":"user:ceo","issued_at":"2026-01-05T08:00:00Z"}"#;
        let event = DirectiveEvent::decode_parts("DirectiveIssued", 1, v1).expect("upcast");
        let DirectiveEvent::DirectiveIssued(issued) = event else {
            panic!("wrong variant: {event:?}");
        };
        assert_eq!(issued.priority, Priority::Normal);
        assert_eq!(issued.deadline, None);
        assert_eq!(issued.spending_limit, None);
        assert_eq!(issued.text, "Audit invoices");
    }
}

#[cfg(test)]
mod workflow_tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::aggregate::spec::given;
    use crate::plan::{Plan, PlannedTask};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, minute, 0)
            .single()
            .expect("valid time")
    }

    fn ceo() -> Actor {
        "user:ceo".parse().expect("valid actor")
    }

    fn issued() -> DirectiveEvent {
        DirectiveEvent::DirectiveIssued(DirectiveIssued {
            text: "audit the invoices and pay the approved ones".to_owned(),
            priority: Priority::Normal,
            deadline: None,
            spending_limit: None,
            issued_by: ceo(),
            issued_at: at(0),
        })
    }

    fn id(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn planned_task(key: &str, deps: &[&str]) -> PlannedTask {
        PlannedTask {
            key: key.to_owned(),
            department: Department::Finance,
            kind: "invoice_audit".to_owned(),
            params: json!({}),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn answer(outcome: PlanOutcome) -> PlannerAnswer {
        PlannerAnswer {
            outcome,
            planner: "rules".to_owned(),
            model: None,
            prompt_digest: "ab".repeat(32),
            raw_answer: "{}".to_owned(),
            usage: None,
        }
    }

    /// t1 ← t2 ← t3, and t4 on its own.
    fn record() -> DirectiveCommand {
        let plan = Plan {
            tasks: vec![
                planned_task("t1", &[]),
                planned_task("t2", &["t1"]),
                planned_task("t3", &["t2"]),
                planned_task("t4", &[]),
            ],
        };
        DirectiveCommand::RecordPlan(RecordPlan {
            answer: answer(PlanOutcome::Plan { plan }),
            task_ids: vec![id(1), id(2), id(3), id(4)],
            gates: vec![None, None, None, None],
            at: at(1),
        })
    }

    fn events_of(state: &Directive, command: DirectiveCommand) -> Vec<DirectiveEvent> {
        state.decide(&command).expect("accepted")
    }

    fn step(state: Directive, command: DirectiveCommand) -> Directive {
        let events = events_of(&state, command);
        apply(state, &events)
    }

    fn apply(state: Directive, events: &[DirectiveEvent]) -> Directive {
        events.iter().fold(state, |s, e| s.evolve(e))
    }

    fn released(events: &[DirectiveEvent]) -> Vec<Uuid> {
        events
            .iter()
            .filter_map(|e| match e {
                DirectiveEvent::TasksReleased(r) => Some(r.tasks.iter().map(|t| t.task_id)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn settle(task: u8, status: TaskStatus) -> DirectiveCommand {
        DirectiveCommand::SettleTask(SettleTask {
            task_id: id(task),
            status,
            text: "done".to_owned(),
            at: at(5),
        })
    }

    fn planned() -> Directive {
        let state = apply(Directive::default(), &[issued()]);
        let events = events_of(&state, record());
        apply(state, &events)
    }

    #[test]
    fn a_plan_is_recorded_with_its_tasks_and_releases_those_without_dependencies() {
        let state = apply(Directive::default(), &[issued()]);
        let events = events_of(&state, record());
        let DirectiveEvent::DirectivePlanned(plan) = &events[0] else {
            panic!("first the plan: {events:?}");
        };
        assert_eq!(plan.tasks[1].depends_on, vec![id(1)]);
        assert_eq!(plan.tasks[2].depends_on, vec![id(2)]);
        assert_eq!(released(&events), vec![id(1), id(4)]);
        let state = apply(state, &events);
        assert_eq!(state.status, DirectiveStatus::InProgress);
        given::<Directive>([issued()].into_iter().chain(events))
            .when(record())
            .then_rejected("directive.not_planning");
    }

    #[test]
    fn an_invalid_plan_is_refused() {
        let plan = Plan {
            tasks: vec![planned_task("t1", &["t9"])],
        };
        given::<Directive>([issued()])
            .when(DirectiveCommand::RecordPlan(RecordPlan {
                answer: answer(PlanOutcome::Plan { plan }),
                task_ids: vec![id(1)],
                gates: vec![None],
                at: at(1),
            }))
            .then_rejected("directive.plan_invalid");
        let plan = Plan {
            tasks: vec![planned_task("t1", &[])],
        };
        given::<Directive>([issued()])
            .when(DirectiveCommand::RecordPlan(RecordPlan {
                answer: answer(PlanOutcome::Plan { plan }),
                task_ids: vec![id(1), id(2)],
                gates: vec![None],
                at: at(1),
            }))
            .then_rejected("directive.plan_invalid");
    }

    #[test]
    fn a_question_waits_for_the_ceo_whose_answer_starts_planning_again() {
        let state = apply(Directive::default(), &[issued()]);
        let events = events_of(
            &state,
            DirectiveCommand::RecordPlan(RecordPlan {
                answer: answer(PlanOutcome::Clarify {
                    question: "Which warehouse?".to_owned(),
                }),
                task_ids: vec![],
                gates: vec![],
                at: at(1),
            }),
        );
        let state = apply(state, &events);
        assert_eq!(state.status, DirectiveStatus::AwaitingClarification);
        let answer = DirectiveCommand::AnswerClarification(Intervention {
            text: " the main one ".to_owned(),
            by: ceo(),
            at: at(2),
        });
        let events = events_of(&state, answer.clone());
        let state = apply(state, &events);
        assert_eq!(state.status, DirectiveStatus::Planning);
        assert_eq!(state.clarifications, vec!["the main one".to_owned()]);
        assert_eq!(
            state.decide(&answer).expect_err("no question now").code(),
            "directive.no_question"
        );
    }

    #[test]
    fn completing_a_task_releases_its_dependents_and_the_last_one_closes_the_directive() {
        let state = planned();
        let events = events_of(&state, settle(1, TaskStatus::Completed));
        assert_eq!(released(&events), vec![id(2)]);
        let state = apply(state, &events);
        let again = events_of(&state, settle(1, TaskStatus::Completed));
        assert!(again.is_empty(), "a redelivered outcome changes nothing");
        let state = step(state, settle(4, TaskStatus::Completed));
        let state = step(state, settle(2, TaskStatus::Completed));
        let last = events_of(&state, settle(3, TaskStatus::Completed));
        let Some(DirectiveEvent::DirectiveClosed(closed)) = last.last() else {
            panic!("closed at the end: {last:?}");
        };
        assert_eq!(closed.status, DirectiveStatus::Completed);
        assert_eq!((closed.completed, closed.failed), (4, 0));
        assert_eq!(apply(state, &last).status, DirectiveStatus::Completed);
    }

    #[test]
    fn a_failure_is_escalated_and_withdraws_what_depends_on_it() {
        let state = planned();
        let events = events_of(&state, settle(1, TaskStatus::Failed));
        assert!(matches!(events[1], DirectiveEvent::DirectiveEscalated(_)));
        let DirectiveEvent::TasksWithdrawn(withdrawn) = &events[2] else {
            panic!("withdrawn: {events:?}");
        };
        assert_eq!(withdrawn.task_ids, vec![id(2), id(3)]);
        assert!(released(&events).is_empty());
        let state = apply(state, &events);
        let state = step(state, settle(2, TaskStatus::Cancelled));
        let state = step(state, settle(3, TaskStatus::Cancelled));
        let last = events_of(&state, settle(4, TaskStatus::Completed));
        let Some(DirectiveEvent::DirectiveClosed(closed)) = last.last() else {
            panic!("closed: {last:?}");
        };
        assert_eq!(closed.status, DirectiveStatus::Failed);
        assert_eq!(
            (closed.completed, closed.failed, closed.cancelled),
            (1, 1, 2)
        );
    }

    #[test]
    fn a_pause_holds_releases_until_resumed() {
        let state = planned();
        let pause = Intervention {
            text: "budget review".to_owned(),
            by: ceo(),
            at: at(3),
        };
        let state = step(state, DirectiveCommand::Pause(pause.clone()));
        assert_eq!(
            state
                .decide(&DirectiveCommand::Pause(pause.clone()))
                .expect_err("paused")
                .code(),
            "directive.already_paused"
        );
        let events = events_of(&state, settle(1, TaskStatus::Completed));
        assert!(released(&events).is_empty(), "held while paused");
        let state = apply(state, &events);
        let events = events_of(&state, DirectiveCommand::Resume(pause));
        assert_eq!(released(&events), vec![id(2)]);
    }

    #[test]
    fn cancelling_withdraws_every_open_task_and_closes_the_directive() {
        let state = planned();
        let state = step(state, settle(1, TaskStatus::Completed));
        let events = events_of(
            &state,
            DirectiveCommand::Cancel(CancelDirective {
                reason: "no longer needed".to_owned(),
                cancelled_by: ceo(),
                cancelled_at: at(9),
            }),
        );
        let DirectiveEvent::TasksWithdrawn(withdrawn) = &events[1] else {
            panic!("withdrawn: {events:?}");
        };
        assert_eq!(withdrawn.task_ids, vec![id(2), id(3), id(4)]);
        let state = apply(state, &events);
        assert_eq!(state.status, DirectiveStatus::Cancelled);
        let late = events_of(&state, settle(2, TaskStatus::Cancelled));
        assert_eq!(late.len(), 1, "recorded, nothing released: {late:?}");
        assert_eq!(
            state
                .decide(&DirectiveCommand::Pause(Intervention {
                    text: "x".to_owned(),
                    by: ceo(),
                    at: at(9)
                }))
                .expect_err("closed")
                .code(),
            "directive.already_closed"
        );
    }

    #[test]
    fn settling_checks_the_task_and_the_outcome() {
        let state = planned();
        assert_eq!(
            state
                .decide(&settle(9, TaskStatus::Completed))
                .expect_err("unknown")
                .code(),
            "directive.unknown_task"
        );
        assert_eq!(
            state
                .decide(&settle(1, TaskStatus::InProgress))
                .expect_err("not final")
                .code(),
            "directive.task_not_final"
        );
    }

    fn model_call(task: u8, tokens: u64, cost: u64) -> DirectiveCommand {
        DirectiveCommand::RecordLlmUsage(RecordLlmUsage {
            task_id: id(task),
            model: "gpt-4o-mini".to_owned(),
            purpose: "match invoice lines".to_owned(),
            usage: LlmUsage {
                prompt_tokens: tokens,
                completion_tokens: tokens / 4,
                cost_micro_usd: cost,
            },
            by: "agent:finance".parse().expect("valid actor"),
            at: at(3),
        })
    }

    #[test]
    fn a_departments_model_call_is_counted_to_its_tasks_department() {
        let state = planned();
        let events = events_of(&state, model_call(2, 400, 90));
        let [DirectiveEvent::LlmUsageRecorded(recorded)] = &events[..] else {
            panic!("one usage event: {events:?}");
        };
        assert_eq!(recorded.department, Department::Finance, "the task's own");
        let state = apply(state, &events);
        assert_eq!(state.llm_usage().cost_micro_usd, 90);
        assert_eq!(
            state.llm_usage_by_caller.keys().collect::<Vec<_>>(),
            [&LlmCaller::Finance],
            "the rule-based plan called no model"
        );
    }

    #[test]
    fn a_model_call_names_a_task_of_the_plan_a_model_and_a_purpose() {
        let state = planned();
        let code = |command| state.decide(&command).expect_err("refused").code();
        assert_eq!(code(model_call(9, 1, 1)), "directive.unknown_task");
        let DirectiveCommand::RecordLlmUsage(call) = model_call(1, 1, 1) else {
            unreachable!("a usage command")
        };
        for (model, purpose) in [(" ", "match"), ("gpt", "")] {
            let command = DirectiveCommand::RecordLlmUsage(RecordLlmUsage {
                model: model.to_owned(),
                purpose: purpose.to_owned(),
                ..call.clone()
            });
            assert_eq!(code(command), "directive.llm_usage_unnamed");
        }
        assert_eq!(
            Directive::default()
                .decide(&model_call(1, 1, 1))
                .expect_err("no directive")
                .code(),
            "directive.not_found"
        );
    }

    #[test]
    fn a_model_call_reported_after_the_close_is_still_counted() {
        let cancel = DirectiveCommand::Cancel(CancelDirective {
            reason: "no longer needed".to_owned(),
            cancelled_by: ceo(),
            cancelled_at: at(2),
        });
        let state = step(planned(), cancel);
        assert!(state.status.is_closed());
        let state = step(state, model_call(4, 100, 5));
        assert_eq!(state.llm_usage().cost_micro_usd, 5);
    }

    /// Plans of up to 8 tasks, each depending on some earlier ones, and an
    /// order in which to settle them (with outcomes).
    fn scenario() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<(usize, u8)>)> {
        (1usize..8)
            .prop_flat_map(|n| {
                let deps = (0..n)
                    .map(|i| proptest::collection::btree_set(0..i.max(1), 0..=i.min(3)))
                    .collect::<Vec<_>>();
                let order = proptest::collection::vec((0..n, 0u8..10), 0..24);
                (deps, order)
            })
            .prop_map(|(deps, order)| {
                let deps = deps
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| d.into_iter().filter(|&x| x < i).collect())
                    .collect();
                (deps, order)
            })
    }

    proptest! {
        /// Planning rounds and departments' calls in any mix: each is
        /// counted once, to its caller (the orchestrator, or the task's
        /// department), and the total the budget caps is their sum.
        #[test]
        fn model_calls_are_counted_once_each_to_their_caller(
            rounds in proptest::collection::vec((0u64..10_000, 0u64..10_000, 0u64..1_000_000), 0..4),
            calls in proptest::collection::vec((1u8..=4, 0u64..10_000, 0u64..1_000_000), 0..12),
        ) {
            let question = |(prompt, completion, cost): (u64, u64, u64)| {
                DirectiveEvent::ClarificationRequested(ClarificationRequested {
                    planning: PlanningRecord {
                        planner: "llm".to_owned(),
                        model: Some("m".to_owned()),
                        prompt_digest: "ab".repeat(32),
                        raw_answer: "{}".to_owned(),
                        usage: Some(LlmUsage { prompt_tokens: prompt, completion_tokens: completion, cost_micro_usd: cost }),
                    },
                    question: "which?".to_owned(),
                    at: at(1),
                })
            };
            let mut state = apply(Directive::default(), &[issued()]);
            for round in &rounds {
                let answered = DirectiveEvent::ClarificationAnswered(DirectiveIntervention {
                    text: "these".to_owned(),
                    by: ceo(),
                    at: at(2),
                });
                state = apply(state, &[question(*round), answered]);
            }
            let plan = events_of(&state, record());
            state = apply(state, &plan);
            let mut departments = LlmUsage::default();
            for (task, tokens, cost) in calls {
                // As `model_call` builds it.
                departments = departments.plus(LlmUsage {
                    prompt_tokens: tokens,
                    completion_tokens: tokens / 4,
                    cost_micro_usd: cost,
                });
                state = step(state, model_call(task, tokens, cost));
            }
            let planning = rounds.iter().fold(LlmUsage::default(), |sum, &(p, c, cost)| {
                sum.plus(LlmUsage { prompt_tokens: p, completion_tokens: c, cost_micro_usd: cost })
            });
            let of = |caller| state.llm_usage_by_caller.get(&caller).copied().unwrap_or_default();
            prop_assert_eq!(of(LlmCaller::Orchestrator), planning);
            prop_assert_eq!(of(LlmCaller::Finance), departments, "the plan's tasks are finance's");
            prop_assert_eq!(state.llm_usage(), planning.plus(departments));
        }

        /// Whatever the plan and whatever the outcomes: a task is released
        /// at most once and only after all its dependencies completed, a
        /// withdrawn task is never released, and the directive closes exactly
        /// when every task has settled.
        #[test]
        fn releases_follow_the_dependencies((deps, order) in scenario()) {
            let plan = Plan {
                tasks: deps
                    .iter()
                    .enumerate()
                    .map(|(i, d)| PlannedTask {
                        key: format!("t{i}"),
                        department: Department::Logistics,
                        kind: "reorder".to_owned(),
                        params: json!({}),
                        depends_on: d.iter().map(|x| format!("t{x}")).collect(),
                    })
                    .collect(),
            };
            let n = deps.len();
            let ids: Vec<Uuid> = (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect();
            let mut state = apply(Directive::default(), &[issued()]);
            let mut all = events_of(&state, DirectiveCommand::RecordPlan(RecordPlan {
                answer: answer(PlanOutcome::Plan { plan }),
                task_ids: ids.clone(),
                gates: vec![None; n],
                at: at(1),
            }));
            state = apply(state, &all);
            for (task, outcome) in order {
                let status = match outcome {
                    0 => TaskStatus::Failed,
                    1 => TaskStatus::Cancelled,
                    _ => TaskStatus::Completed,
                };
                // Only released or withdrawn tasks can end, as in real life.
                let slot = &state.tasks[task];
                if !(slot.released || slot.withdrawn) {
                    continue;
                }
                let status = if slot.withdrawn { TaskStatus::Cancelled } else { status };
                let events = events_of(&state, DirectiveCommand::SettleTask(SettleTask {
                    task_id: ids[task], status, text: "x".to_owned(), at: at(2),
                }));
                state = apply(state, &events);
                all.extend(events);
            }
            let mut seen_released = BTreeSet::new();
            let mut completed = BTreeSet::new();
            let mut withdrawn = BTreeSet::new();
            for event in &all {
                match event {
                    DirectiveEvent::TasksReleased(r) => for t in &r.tasks {
                        prop_assert!(seen_released.insert(t.task_id), "released twice");
                        prop_assert!(!withdrawn.contains(&t.task_id), "released after withdrawal");
                        let i = ids.iter().position(|x| *x == t.task_id).expect("known");
                        for d in &deps[i] {
                            prop_assert!(completed.contains(&ids[*d]), "released before its dependency");
                        }
                    },
                    DirectiveEvent::TaskSettled(s) if s.status == TaskStatus::Completed => {
                        completed.insert(s.task_id);
                    }
                    DirectiveEvent::TasksWithdrawn(w) => withdrawn.extend(w.task_ids.iter().copied()),
                    _ => {}
                }
            }
            let closed = all.iter().filter(|e| matches!(e, DirectiveEvent::DirectiveClosed(_))).count();
            let settled = state.tasks.iter().all(|s| s.settled.is_some());
            prop_assert_eq!(closed, usize::from(settled));
            prop_assert_eq!(state.status.is_closed(), settled);
        }
    }
}
