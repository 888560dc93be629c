//! The orchestrator, "the Brain": an event processor that turns directives
//! into plans and follows them through.
//!
//! It decides nothing about order or progress itself: the directive's
//! aggregate does ([`domain::directive`]), and records each decision as an
//! event. The Brain translates those events into commands:
//!
//! | event | commands |
//! | --- | --- |
//! | `DirectiveIssued`, `ClarificationAnswered` | ask the planner; `RecordPlan` on the directive, with task ids and the approvals policy demands |
//! | `DirectivePlanned` | `Plan` each task |
//! | `TasksReleased` | `Dispatch` each task, or request its approval and let it wait |
//! | `TasksWithdrawn` | `Cancel` each task (a task that ended meanwhile refuses; that is expected) |
//! | `TaskCompleted`, `TaskFailed`, `TaskCancelled` | `SettleTask` on the directive |
//! | `ApprovalGranted` (of an approval it requested) | dispatch the waiting task |
//! | `ApprovalRejected`, `ApprovalExpired` | cancel the waiting task |
//!
//! Only planning looks outside the log; what the planner answered is
//! recorded with the plan, and the command that records it has an id
//! derived from the event, so a redelivery records nothing twice and a
//! replay never calls a planner again.
//!
//! Planning can run in a lane of its own ([`Brain::split`]): a second
//! processor, [`PlanningLane`], with its own consumer and partitions, so a
//! new order's plan never queues behind the work that follows earlier
//! plans (each directive costs the rest of the Brain several commands).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::processor::{derived_id, Command, HandlerError, Processor};
use domain::approval::{Approval, ApprovalCommand, ApprovalEvent, RequestApproval};
use domain::directive::{
    Directive, DirectiveCommand, DirectiveEvent, RecordPlan, ReleasedTask, SettleTask,
};
use domain::planning::PlanOutcome;
use domain::policy::{gates, Policy};
use domain::task::{PlanTask, Task, TaskCommand, TaskEvent, TaskStatus};
use domain::{Actor, Aggregate, DomainEvent, RecordedEvent, StreamId};
use eventstore::{Direction, EventFilter, EventStore};
use uuid::Uuid;

use crate::planner::{PlanRequest, Planner};

/// The Brain's name: its consumer, and its actor `agent:brain`.
pub const NAME: &str = "brain";

/// How long an approval the Brain requests stays open.
const APPROVAL_TTL: chrono::Duration = chrono::Duration::days(3);

/// The planning lane's name: its consumer, and its actor
/// `agent:brain_planner`.
pub const PLANNING_LANE: &str = "brain_planner";

/// The events that call for a plan.
const PLANNING_EVENTS: [&str; 2] = ["DirectiveIssued", "ClarificationAnswered"];

/// The orchestrator.
#[derive(Clone)]
pub struct Brain {
    store: Arc<dyn EventStore>,
    planner: Arc<dyn Planner>,
    policy: Policy,
    /// Whether it plans (else a [`PlanningLane`] does).
    plans: bool,
}

impl Brain {
    /// A Brain that reads streams from `store`, plans with `planner` and
    /// gates tasks by `policy`.
    pub fn new(store: Arc<dyn EventStore>, planner: Arc<dyn Planner>, policy: Policy) -> Self {
        Self {
            store,
            planner,
            policy,
            plans: true,
        }
    }

    /// The Brain without planning, and the lane that plans: two processors
    /// that together do what the Brain alone does.
    pub fn split(self) -> (Brain, PlanningLane) {
        let lane = PlanningLane {
            brain: self.clone(),
        };
        (
            Brain {
                plans: false,
                ..self
            },
            lane,
        )
    }

    fn actor() -> Actor {
        Actor::Agent(NAME.to_owned())
    }

    async fn load<A: Aggregate>(
        &self,
        stream: &StreamId,
        version: Option<u64>,
    ) -> Result<(A, Vec<A::Event>), HandlerError> {
        crate::history::load::<A>(&*self.store, stream, version).await
    }

    /// Asks the planner and records its answer, unless its answer to this
    /// event is on record already (a redelivery, a replay): the planner is
    /// never asked twice about one event.
    async fn plan(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        // One read: the directive as of this event, and what came after it.
        let history = self
            .store
            .read_stream(&event.stream_id, 1, Direction::Forward, usize::MAX)
            .await?;
        let (before, later) =
            history.split_at(history.partition_point(|e| e.stream_version <= event.stream_version));
        let answered = later
            .iter()
            .any(|e| e.metadata.causation_id == Some(event.event_id.as_uuid()));
        if answered {
            return Ok(Vec::new());
        }
        let decoded = before
            .iter()
            .map(DirectiveEvent::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let directive = Directive::replay(&decoded);
        let Some(issued) = directive.issued.as_ref() else {
            return Ok(Vec::new());
        };
        let request = PlanRequest {
            directive_id: event.stream_id.id(),
            text: issued.text.clone(),
            issued_at: issued.issued_at,
            spending_limit: issued.spending_limit,
            clarification: (!directive.clarifications.is_empty())
                .then(|| directive.clarifications.join("\n")),
            llm_spent: directive.llm_usage(),
        };
        let answer = self
            .planner
            .plan(&request)
            .await
            .map_err(|e| HandlerError::from(e.to_string()))?;
        let (task_ids, gates) = match &answer.outcome {
            PlanOutcome::Plan { plan } => (
                plan.tasks
                    .iter()
                    .map(|task| task_id(event, &task.key))
                    .collect(),
                gates(&self.policy, plan, issued.spending_limit),
            ),
            PlanOutcome::Clarify { .. } => (Vec::new(), Vec::new()),
        };
        Ok(vec![Command::new::<Directive>(
            event.stream_id.clone(),
            DirectiveCommand::RecordPlan(RecordPlan {
                answer,
                task_ids,
                gates,
                at: Utc::now(),
            }),
        )])
    }

    /// What a directive's event calls for.
    async fn on_directive(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let directive_id = event.stream_id.id();
        let now = Utc::now();
        Ok(match DirectiveEvent::decode(event)? {
            DirectiveEvent::DirectiveIssued(_) | DirectiveEvent::ClarificationAnswered(_) => {
                if !self.plans {
                    return Ok(Vec::new());
                }
                return self.plan(event).await;
            }
            DirectiveEvent::DirectivePlanned(planned) => planned
                .tasks
                .into_iter()
                .map(|task| {
                    let plan = PlanTask {
                        directive_id,
                        department: task.department,
                        kind: task.kind,
                        params: task.params,
                        depends_on: task.depends_on,
                        planned_by: Self::actor(),
                    };
                    Command::new::<Task>(Task::stream(task.task_id), TaskCommand::Plan(plan, now))
                })
                .collect(),
            DirectiveEvent::TasksReleased(released) => released
                .tasks
                .into_iter()
                .flat_map(|task| release(directive_id, task, now))
                .collect(),
            DirectiveEvent::TasksWithdrawn(withdrawn) => withdrawn
                .task_ids
                .into_iter()
                .map(|task_id| {
                    Command::new::<Task>(
                        Task::stream(task_id),
                        TaskCommand::Cancel {
                            reason: withdrawn.reason.clone(),
                            by: Self::actor(),
                            at: now,
                        },
                    )
                    .refusal_expected()
                })
                .collect(),
            _ => Vec::new(),
        })
    }

    /// A task that ended settles on its directive.
    async fn on_task(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let (status, text, at) = match TaskEvent::decode(event)? {
            TaskEvent::TaskCompleted(e) => (TaskStatus::Completed, e.text, e.at),
            TaskEvent::TaskFailed(e) => (TaskStatus::Failed, e.text, e.at),
            TaskEvent::TaskCancelled(e) => (TaskStatus::Cancelled, e.reason, e.at),
            _ => return Ok(Vec::new()),
        };
        let (_, history) = self.load::<Task>(&event.stream_id, Some(1)).await?;
        let Some(TaskEvent::TaskPlanned(planned)) = history.first() else {
            return Err(format!("task {} has no plan", event.stream_id).into());
        };
        Ok(vec![Command::new::<Directive>(
            Directive::stream(planned.directive_id),
            DirectiveCommand::SettleTask(SettleTask {
                task_id: event.stream_id.id(),
                status,
                text,
                at,
            }),
        )])
    }

    /// A decision on an approval the Brain asked for moves its task on.
    async fn on_approval(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let approval_id = event.stream_id.id();
        let now = Utc::now();
        let command = match ApprovalEvent::decode(event)? {
            ApprovalEvent::ApprovalGranted(_) => TaskCommand::DispatchApproved {
                approval_id,
                at: now,
            },
            ApprovalEvent::ApprovalRejected(d) => TaskCommand::Cancel {
                reason: format!("approval rejected by {}: {}", d.by, d.reason),
                by: d.by,
                at: now,
            },
            ApprovalEvent::ApprovalExpired(_) => TaskCommand::Cancel {
                reason: "the approval expired undecided".to_owned(),
                by: Self::actor(),
                at: now,
            },
            // Withdrawn by whoever asked (a department agent), who moves on.
            ApprovalEvent::ApprovalRequested(_) | ApprovalEvent::ApprovalWithdrawn(_) => {
                return Ok(Vec::new())
            }
        };
        let (_, history) = self.load::<Approval>(&event.stream_id, Some(1)).await?;
        let Some(ApprovalEvent::ApprovalRequested(requested)) = history.first() else {
            return Err(format!("approval {} has no request", event.stream_id).into());
        };
        if requested.requested_by != Self::actor() {
            // A department agent's approval: that agent follows it.
            return Ok(Vec::new());
        }
        let task = Task::stream(requested.task_id);
        Ok(vec![Command::new::<Task>(task, command).refusal_expected()])
    }
}

#[async_trait]
impl Processor for Brain {
    fn name(&self) -> &str {
        NAME
    }

    fn filter(&self) -> EventFilter {
        let planning = if self.plans {
            &PLANNING_EVENTS[..]
        } else {
            &[]
        };
        let following = [
            "DirectivePlanned",
            "TasksReleased",
            "TasksWithdrawn",
            "TaskCompleted",
            "TaskFailed",
            "TaskCancelled",
            "ApprovalGranted",
            "ApprovalRejected",
            "ApprovalExpired",
        ];
        let types: Vec<&str> = planning.iter().chain(&following).copied().collect();
        EventFilter::of(
            &[Directive::CATEGORY, Task::CATEGORY, Approval::CATEGORY],
            &types,
        )
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        match event.stream_id.category() {
            c if c == Directive::CATEGORY => self.on_directive(event).await,
            c if c == Task::CATEGORY => self.on_task(event).await,
            c if c == Approval::CATEGORY => self.on_approval(event).await,
            _ => Ok(Vec::new()),
        }
    }
}

/// The Brain's planning, as a processor of its own (see [`Brain::split`]).
pub struct PlanningLane {
    brain: Brain,
}

#[async_trait]
impl Processor for PlanningLane {
    fn name(&self) -> &str {
        PLANNING_LANE
    }

    fn filter(&self) -> EventFilter {
        EventFilter::of(&[Directive::CATEGORY], &PLANNING_EVENTS)
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        match DirectiveEvent::decode(event)? {
            DirectiveEvent::DirectiveIssued(_) | DirectiveEvent::ClarificationAnswered(_) => {
                self.brain.plan(event).await
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The commands that release one task: dispatch it, or ask for the approval
/// policy demands and let it wait.
fn release(directive_id: Uuid, task: ReleasedTask, now: DateTime<Utc>) -> Vec<Command> {
    let stream = Task::stream(task.task_id);
    let Some(gate) = task.approval else {
        return vec![Command::new::<Task>(stream, TaskCommand::Dispatch(now))];
    };
    let approval_id = derived_id(&[b"approval", task.task_id.as_bytes()]);
    let what = match gate.amount {
        Some(amount) => format!("{} ({:?}), up to {amount}", task.kind, task.department),
        None => format!("{} ({:?})", task.kind, task.department),
    };
    vec![
        Command::new::<Approval>(
            Approval::stream(approval_id),
            ApprovalCommand::Request(RequestApproval {
                task_id: task.task_id,
                directive_id,
                what,
                why: format!("policy: {}", gate.rule),
                amount: gate.amount,
                requested_by: Brain::actor(),
                expires_at: now + APPROVAL_TTL,
                at: now,
            }),
        ),
        Command::new::<Task>(
            stream,
            TaskCommand::AwaitApproval {
                approval_id,
                reason: format!("policy: {}", gate.rule),
                at: now,
            },
        ),
    ]
}

/// The id of a planned task: derived from the event that planned it, so
/// every retry names the same task, and a re-plan after a question new ones.
fn task_id(event: &RecordedEvent, key: &str) -> Uuid {
    derived_id(&[b"task", event.event_id.as_uuid().as_bytes(), key.as_bytes()])
}
