//! A task of a directive's plan, carried out by one department:
//! planned → dispatched → in progress ⇄ awaiting approval → completed,
//! or failed / cancelled, with the reason at each step. A task the policy
//! gates waits for its approval before dispatch (planned → awaiting approval
//! → dispatched), and only that approval dispatches it.
//!
//! Which step may follow which is one table, [`TaskStatus::may_become`];
//! `decide` only checks a command against it and the command's own fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;

/// The longest reason or summary, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// The department that carries a task out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Department {
    /// Inventory, purchase orders, shipments.
    Logistics,
    /// Invoices, cash flow, payments.
    Finance,
    /// Maintenance of AgentOS itself.
    Foundry,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not planned (an empty stream).
    #[default]
    Unknown,
    /// In a plan, waiting for its dependencies.
    Planned,
    /// Handed to its department.
    Dispatched,
    /// Its department works on it.
    InProgress,
    /// Waiting for a person's decision.
    AwaitingApproval,
    /// Done.
    Completed,
    /// Given up, with a reason.
    Failed,
    /// Withdrawn, with a reason.
    Cancelled,
}

impl TaskStatus {
    /// Whether nothing can follow.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    /// The lifecycle: whether a task in this status may move to `next`.
    pub fn may_become(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, next),
            (Unknown, Planned)
                | (Planned, Dispatched)
                | (Planned, AwaitingApproval)
                | (AwaitingApproval, Dispatched)
                | (Dispatched, InProgress)
                | (InProgress, AwaitingApproval)
                | (AwaitingApproval, InProgress)
                | (InProgress, Completed)
                | (Dispatched | InProgress | AwaitingApproval, Failed)
                | (
                    Planned | Dispatched | InProgress | AwaitingApproval,
                    Cancelled
                )
        )
    }
}

/// Put a task into a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTask {
    /// The directive it serves.
    pub directive_id: Uuid,
    /// Who carries it out.
    pub department: Department,
    /// What kind of work, in the department's vocabulary (e.g. `reorder`).
    pub kind: String,
    /// The kind's typed parameters, as JSON.
    pub params: Value,
    /// Tasks that must complete first.
    pub depends_on: Vec<Uuid>,
    /// Who planned it (the orchestrator).
    pub planned_by: Actor,
}

/// What can be asked of a task; each carries the caller's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    /// Put it into a plan.
    Plan(PlanTask, DateTime<Utc>),
    /// Hand it to its department.
    Dispatch(DateTime<Utc>),
    /// Hand it to its department once the approval it waited for before
    /// dispatch was granted.
    DispatchApproved {
        /// The approval granted.
        approval_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The department's agent starts.
    Start {
        /// Which agent.
        agent: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Wait for a person's decision.
    AwaitApproval {
        /// The approval asked for.
        approval_id: Uuid,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The approval was granted: carry on.
    Resume {
        /// The approval granted.
        approval_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// Done.
    Complete {
        /// What was done.
        summary: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Give up.
    Fail {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Withdraw.
    Cancel {
        /// Why.
        reason: String,
        /// Who.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What can happen to a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TaskEvent {
    /// It was put into a plan.
    TaskPlanned(TaskPlanned),
    /// It was handed to its department.
    TaskDispatched(TaskStep),
    /// Its department started.
    TaskStarted(TaskStarted),
    /// It waits for a person's decision.
    TaskAwaitingApproval(TaskApproval),
    /// The decision came: it carries on.
    TaskResumed(TaskApproval),
    /// It is done.
    TaskCompleted(TaskClosed),
    /// It was given up.
    TaskFailed(TaskClosed),
    /// It was withdrawn.
    TaskCancelled(TaskCancelled),
}

/// A task was put into a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPlanned {
    /// The directive it serves.
    pub directive_id: Uuid,
    /// Who carries it out.
    pub department: Department,
    /// What kind of work.
    pub kind: String,
    /// The kind's parameters.
    pub params: Value,
    /// Tasks that must complete first.
    pub depends_on: Vec<Uuid>,
    /// Who planned it.
    pub planned_by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// A step with nothing but its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStep {
    /// When.
    pub at: DateTime<Utc>,
}

/// An agent started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStarted {
    /// Which agent.
    pub agent: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// A step about an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskApproval {
    /// The approval.
    pub approval_id: Uuid,
    /// Why (empty when resuming).
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The task ended: what was done, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskClosed {
    /// The summary or the reason.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The task was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCancelled {
    /// Why.
    pub reason: String,
    /// Who.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

impl DomainEvent for TaskEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "TaskPlanned",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskDispatched",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskStarted",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskAwaitingApproval",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskResumed",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskCompleted",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskFailed",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "TaskCancelled",
            version: 1,
            upcasters: &[],
        },
    ];
}

impl TaskEvent {
    /// The status this event leaves a task in.
    pub fn status(&self) -> TaskStatus {
        match self {
            TaskEvent::TaskPlanned(_) => TaskStatus::Planned,
            TaskEvent::TaskDispatched(_) => TaskStatus::Dispatched,
            TaskEvent::TaskStarted(_) | TaskEvent::TaskResumed(_) => TaskStatus::InProgress,
            TaskEvent::TaskAwaitingApproval(_) => TaskStatus::AwaitingApproval,
            TaskEvent::TaskCompleted(_) => TaskStatus::Completed,
            TaskEvent::TaskFailed(_) => TaskStatus::Failed,
            TaskEvent::TaskCancelled(_) => TaskStatus::Cancelled,
        }
    }
}

/// Why a task command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRejection {
    /// The task is in a plan already.
    #[error("this task has already been planned")]
    AlreadyPlanned,
    /// No such task.
    #[error("no such task")]
    NotFound,
    /// The task has ended.
    #[error("this task has already ended ({0:?})")]
    Ended(TaskStatus),
    /// The lifecycle does not allow this step now.
    #[error("a {from:?} task cannot become {to:?}")]
    InvalidTransition {
        /// Where it stands.
        from: TaskStatus,
        /// Where the command would take it.
        to: TaskStatus,
    },
    /// A task needs a kind.
    #[error("a task needs a kind")]
    KindEmpty,
    /// A task cannot depend on itself or twice on one task.
    #[error("a task's dependencies must be distinct")]
    DependenciesRepeated,
    /// This step needs a reason or a summary.
    #[error("this step needs a reason")]
    ReasonEmpty,
    /// A text is longer than [`MAX_TEXT_CHARS`].
    #[error("texts are limited to {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    /// Dispatched without the approval it waits for.
    #[error("this task waits for approval {0} before it is dispatched")]
    ApprovalPending(Uuid),
    /// Resumed with another approval than the one it waits for.
    #[error("this task waits for approval {awaited}, not {given}")]
    WrongApproval {
        /// The approval it waits for.
        awaited: Uuid,
        /// The one given.
        given: Uuid,
    },
}

impl Rejection for TaskRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::AlreadyPlanned => "task.already_planned",
            Self::NotFound => "task.not_found",
            Self::Ended(_) => "task.ended",
            Self::InvalidTransition { .. } => "task.invalid_transition",
            Self::KindEmpty => "task.kind_empty",
            Self::DependenciesRepeated => "task.dependencies_repeated",
            Self::ReasonEmpty => "task.reason_empty",
            Self::TextTooLong => "task.text_too_long",
            Self::WrongApproval { .. } => "task.wrong_approval",
            Self::ApprovalPending(_) => "task.approval_pending",
        }
    }
}

/// A task's state, as far as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Where it stands.
    pub status: TaskStatus,
    /// The approval it waits for, while it waits.
    pub awaiting: Option<Uuid>,
    /// Whether it was ever dispatched (an approval awaited before dispatch
    /// dispatches it; one awaited after resumes it).
    pub dispatched: bool,
}

/// A required, trimmed, bounded text.
fn text(value: &str) -> Result<String, TaskRejection> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TaskRejection::ReasonEmpty);
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(TaskRejection::TextTooLong);
    }
    Ok(value.to_owned())
}

impl Aggregate for Task {
    const CATEGORY: &'static str = "task";
    type Command = TaskCommand;
    type Event = TaskEvent;
    type Rejection = TaskRejection;

    fn decide(&self, command: &TaskCommand) -> Result<Vec<TaskEvent>, TaskRejection> {
        let event = self.event_for(command)?;
        let to = event.status();
        match self.status {
            TaskStatus::Unknown if to != TaskStatus::Planned => Err(TaskRejection::NotFound),
            from if from.is_final() => Err(TaskRejection::Ended(from)),
            from if to == TaskStatus::Planned && from != TaskStatus::Unknown => {
                Err(TaskRejection::AlreadyPlanned)
            }
            from if !from.may_become(to) => Err(TaskRejection::InvalidTransition { from, to }),
            _ => Ok(vec![event]),
        }
    }

    fn evolve(self, event: &TaskEvent) -> Self {
        Task {
            status: event.status(),
            awaiting: match event {
                TaskEvent::TaskAwaitingApproval(e) => Some(e.approval_id),
                _ => None,
            },
            dispatched: self.dispatched || matches!(event, TaskEvent::TaskDispatched(_)),
        }
    }
}

impl Task {
    /// Whether `approval_id` is the approval this task waits for, awaited
    /// after dispatch (`dispatched`) or before.
    fn check_awaited(&self, approval_id: Uuid, dispatched: bool) -> Result<(), TaskRejection> {
        if let Some(awaited) = self.awaiting.filter(|a| *a != approval_id) {
            return Err(TaskRejection::WrongApproval {
                awaited,
                given: approval_id,
            });
        }
        if self.status == TaskStatus::AwaitingApproval && self.dispatched != dispatched {
            let to = if dispatched {
                TaskStatus::InProgress
            } else {
                TaskStatus::Dispatched
            };
            return Err(TaskRejection::InvalidTransition {
                from: self.status,
                to,
            });
        }
        Ok(())
    }

    /// The event a command would record, checked against its own fields.
    fn event_for(&self, command: &TaskCommand) -> Result<TaskEvent, TaskRejection> {
        Ok(match command {
            TaskCommand::Plan(plan, at) => {
                if plan.kind.trim().is_empty() {
                    return Err(TaskRejection::KindEmpty);
                }
                let mut seen = std::collections::HashSet::new();
                if !plan.depends_on.iter().all(|d| seen.insert(*d)) {
                    return Err(TaskRejection::DependenciesRepeated);
                }
                TaskEvent::TaskPlanned(TaskPlanned {
                    directive_id: plan.directive_id,
                    department: plan.department,
                    kind: plan.kind.trim().to_owned(),
                    params: plan.params.clone(),
                    depends_on: plan.depends_on.clone(),
                    planned_by: plan.planned_by.clone(),
                    at: *at,
                })
            }
            TaskCommand::Dispatch(at) => {
                if let Some(awaited) = self.awaiting {
                    return Err(TaskRejection::ApprovalPending(awaited));
                }
                TaskEvent::TaskDispatched(TaskStep { at: *at })
            }
            TaskCommand::DispatchApproved { approval_id, at } => {
                self.check_awaited(*approval_id, false)?;
                TaskEvent::TaskDispatched(TaskStep { at: *at })
            }
            TaskCommand::Start { agent, at } => TaskEvent::TaskStarted(TaskStarted {
                agent: agent.clone(),
                at: *at,
            }),
            TaskCommand::AwaitApproval {
                approval_id,
                reason,
                at,
            } => TaskEvent::TaskAwaitingApproval(TaskApproval {
                approval_id: *approval_id,
                reason: text(reason)?,
                at: *at,
            }),
            TaskCommand::Resume { approval_id, at } => {
                self.check_awaited(*approval_id, true)?;
                TaskEvent::TaskResumed(TaskApproval {
                    approval_id: *approval_id,
                    reason: String::new(),
                    at: *at,
                })
            }
            TaskCommand::Complete { summary, at } => TaskEvent::TaskCompleted(TaskClosed {
                text: text(summary)?,
                at: *at,
            }),
            TaskCommand::Fail { reason, at } => TaskEvent::TaskFailed(TaskClosed {
                text: text(reason)?,
                at: *at,
            }),
            TaskCommand::Cancel { reason, by, at } => TaskEvent::TaskCancelled(TaskCancelled {
                reason: text(reason)?,
                by: by.clone(),
                at: *at,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::spec::given;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
            .single()
            .expect("valid")
    }

    fn plan() -> TaskCommand {
        TaskCommand::Plan(
            PlanTask {
                directive_id: Uuid::nil(),
                department: Department::Logistics,
                kind: "reorder".to_owned(),
                params: serde_json::json!({"sku": "SKU-000042", "quantity": 120}),
                depends_on: vec![],
                planned_by: Actor::Agent("brain".to_owned()),
            },
            at(),
        )
    }

    fn history(commands: &[TaskCommand]) -> Vec<TaskEvent> {
        let mut task = Task::default();
        let mut events = Vec::new();
        for command in commands {
            for event in task.decide(command).expect("accepted") {
                task = task.evolve(&event);
                events.push(event);
            }
        }
        events
    }

    fn start() -> TaskCommand {
        TaskCommand::Start {
            agent: Actor::Agent("logistics".to_owned()),
            at: at(),
        }
    }

    fn approval(id: u128) -> Uuid {
        Uuid::from_u128(id)
    }

    #[test]
    fn a_task_runs_through_its_lifecycle() {
        let events = history(&[
            plan(),
            TaskCommand::Dispatch(at()),
            start(),
            TaskCommand::AwaitApproval {
                approval_id: approval(1),
                reason: "a purchase order above 1,000 EUR".to_owned(),
                at: at(),
            },
            TaskCommand::Resume {
                approval_id: approval(1),
                at: at(),
            },
            TaskCommand::Complete {
                summary: "PO-17 submitted to Acme".to_owned(),
                at: at(),
            },
        ]);
        let statuses: Vec<_> = events.iter().map(TaskEvent::status).collect();
        use TaskStatus::*;
        assert_eq!(
            statuses,
            [
                Planned,
                Dispatched,
                InProgress,
                AwaitingApproval,
                InProgress,
                Completed
            ]
        );
    }

    #[test]
    fn steps_out_of_order_are_refused_with_where_the_task_stands() {
        given::<Task>([])
            .when(TaskCommand::Dispatch(at()))
            .then_rejected("task.not_found");
        given::<Task>(history(&[plan()]))
            .when(plan())
            .then_rejected("task.already_planned");
        given::<Task>(history(&[plan()]))
            .when(start())
            .then_rejected("task.invalid_transition");
        given::<Task>(history(&[plan(), TaskCommand::Dispatch(at())]))
            .when(TaskCommand::Complete {
                summary: "done".to_owned(),
                at: at(),
            })
            .then_rejected("task.invalid_transition");
    }

    #[test]
    fn ends_need_reasons_and_are_final() {
        let cancel = |reason: &str| TaskCommand::Cancel {
            reason: reason.to_owned(),
            by: Actor::User("ceo".to_owned()),
            at: at(),
        };
        given::<Task>(history(&[plan()]))
            .when(cancel(" "))
            .then_rejected("task.reason_empty");
        let cancelled = history(&[plan(), cancel("the order was withdrawn")]);
        given::<Task>(cancelled)
            .when(TaskCommand::Dispatch(at()))
            .then_rejected("task.ended");
    }

    #[test]
    fn only_the_awaited_approval_resumes_a_task() {
        let waiting = history(&[
            plan(),
            TaskCommand::Dispatch(at()),
            start(),
            TaskCommand::AwaitApproval {
                approval_id: approval(1),
                reason: "over the limit".to_owned(),
                at: at(),
            },
        ]);
        given::<Task>(waiting)
            .when(TaskCommand::Resume {
                approval_id: approval(2),
                at: at(),
            })
            .then_rejected("task.wrong_approval");
    }

    #[test]
    fn plans_need_a_kind_and_distinct_dependencies() {
        let TaskCommand::Plan(mut p, when) = plan() else {
            unreachable!()
        };
        p.depends_on = vec![approval(7), approval(7)];
        given::<Task>([])
            .when(TaskCommand::Plan(p.clone(), when))
            .then_rejected("task.dependencies_repeated");
        p.depends_on.clear();
        p.kind = String::new();
        given::<Task>([])
            .when(TaskCommand::Plan(p, when))
            .then_rejected("task.kind_empty");
    }

    fn any_command() -> impl Strategy<Value = TaskCommand> {
        prop_oneof![
            Just(plan()),
            Just(TaskCommand::Dispatch(at())),
            Just(start()),
            (0_u128..3).prop_map(|id| TaskCommand::AwaitApproval {
                approval_id: approval(id),
                reason: "policy".to_owned(),
                at: at(),
            }),
            (0_u128..3).prop_map(|id| TaskCommand::Resume {
                approval_id: approval(id),
                at: at(),
            }),
            (0_u128..3).prop_map(|id| TaskCommand::DispatchApproved {
                approval_id: approval(id),
                at: at(),
            }),
            Just(TaskCommand::Complete {
                summary: "done".to_owned(),
                at: at()
            }),
            Just(TaskCommand::Fail {
                reason: "supplier unreachable".to_owned(),
                at: at()
            }),
            Just(TaskCommand::Cancel {
                reason: "withdrawn".to_owned(),
                by: Actor::User("ceo".to_owned()),
                at: at()
            }),
        ]
    }

    #[test]
    fn an_approval_awaited_before_dispatch_dispatches_the_task() {
        let wait = TaskCommand::AwaitApproval {
            approval_id: approval(7),
            reason: "a payment above 500 EUR".to_owned(),
            at: at(),
        };
        let events = history(&[
            plan(),
            wait.clone(),
            TaskCommand::DispatchApproved {
                approval_id: approval(7),
                at: at(),
            },
            start(),
        ]);
        let statuses: Vec<_> = events.iter().map(TaskEvent::status).collect();
        use TaskStatus::*;
        assert_eq!(
            statuses,
            [Planned, AwaitingApproval, Dispatched, InProgress]
        );
        let waiting = history(&[plan(), wait]);
        given::<Task>(waiting.clone())
            .when(TaskCommand::Dispatch(at()))
            .then_rejected("task.approval_pending");
        given::<Task>(waiting.clone())
            .when(TaskCommand::Resume {
                approval_id: approval(7),
                at: at(),
            })
            .then_rejected("task.invalid_transition");
        given::<Task>(waiting)
            .when(TaskCommand::DispatchApproved {
                approval_id: approval(8),
                at: at(),
            })
            .then_rejected("task.wrong_approval");
    }

    proptest! {
        /// Whatever is asked in whatever order, every recorded step is one
        /// the lifecycle allows, and an ended task never changes again.
        #[test]
        fn every_accepted_step_follows_the_lifecycle(commands in prop::collection::vec(any_command(), 0..40)) {
            let mut task = Task::default();
            for command in &commands {
                let before = task.status;
                match task.decide(command) {
                    Ok(events) => {
                        prop_assert!(!before.is_final());
                        for event in &events {
                            prop_assert!(task.status.may_become(event.status()),
                                "{:?} → {:?}", task.status, event.status());
                            task = task.clone().evolve(event);
                        }
                    }
                    Err(_) => prop_assert_eq!(task.status, before),
                }
            }
        }
    }
}
