//! The Brain end to end on the embedded bus, on SQLite and PostgreSQL: a
//! directive becomes a plan and tasks; tasks are dispatched as their
//! dependencies complete; a gated task waits for its approval and proceeds
//! once approved, or is cancelled when rejected (and what depends on it
//! withdrawn); a question goes back to the CEO; a full replay of the
//! Brain's input changes nothing and calls no planner; and the directives
//! read model, run beside it, shows the same story.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::brain::{Brain, NAME};
use agents::planner::{PlanRequest, Planner, PlannerError};
use async_trait::async_trait;
use chrono::Utc;
use commands::processor::{Processor, ProcessorConfig, ProcessorRunner};
use commands::{CommandHandler, Envelope};
use domain::approval::{Approval, ApprovalCommand, ApprovalEvent, DecideApproval, Decision};
use domain::directive::{
    Directive, DirectiveCommand, DirectiveEvent, DirectiveStatus, Intervention, IssueDirective,
    Priority, RecordLlmUsage,
};
use domain::plan::{Plan, PlannedTask};
use domain::planning::{LlmCaller, LlmUsage, PlanOutcome, PlannerAnswer};
use domain::policy::Policy;
use domain::task::{Department, Task, TaskCommand, TaskEvent, TaskStatus};
use domain::{Actor, Aggregate, CommandId, CorrelationId, DomainEvent, Position, StreamId};
use eventstore::bus::store::StoreBus;
use eventstore::bus::Bus;
use eventstore::testing::{TestPostgres, TestSqlite};
use eventstore::{Direction, EventStore};
use projections::models::directives::{self, Directives};
use projections::{Db, ProjectionRunner, RunnerConfig};
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Plans every order the same way: audit → payment run of 600.00 EUR
/// (gated: payments above 500) → forecast; an order ending in `?` gets a
/// question back, unless it was answered.
#[derive(Default)]
struct Scripted {
    calls: AtomicUsize,
}

#[async_trait]
impl Planner for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn plan(&self, request: &PlanRequest) -> Result<PlannerAnswer, PlannerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let outcome = if request.text.ends_with('?') && request.clarification.is_none() {
            PlanOutcome::Clarify {
                question: "Which month?".to_owned(),
            }
        } else {
            let task = |key: &str, kind: &str, params, deps: &[&str]| PlannedTask {
                key: key.to_owned(),
                department: Department::Finance,
                kind: kind.to_owned(),
                params,
                depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            };
            PlanOutcome::Plan {
                plan: Plan {
                    tasks: vec![
                        task("audit", "invoice_audit", json!({}), &[]),
                        task(
                            "pay",
                            "payment_run",
                            json!({"amount_cap": {"minor": 60_000, "currency": "EUR"}}),
                            &["audit"],
                        ),
                        task("forecast", "cash_flow_forecast", json!({}), &["pay"]),
                    ],
                },
            }
        };
        Ok(PlannerAnswer {
            raw_answer: serde_json::to_string(&outcome).expect("json"),
            outcome,
            planner: "scripted".to_owned(),
            model: None,
            prompt_digest: "00".repeat(32),
            // As if a model had answered: each round's usage adds up.
            usage: Some(LlmUsage {
                prompt_tokens: 100,
                completion_tokens: 20,
                cost_micro_usd: 7,
            }),
        })
    }
}

struct World {
    store: Arc<dyn EventStore>,
    handler: CommandHandler,
    planner: Arc<Scripted>,
    brain: Option<JoinHandle<()>>,
    /// The planning lane, when the Brain runs split in two.
    planning: Option<JoinHandle<()>>,
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        max_deliveries: 3,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        ..ProcessorConfig::default()
    }
}

impl World {
    /// A world whose Brain is not running yet.
    fn idle(store: Arc<dyn EventStore>) -> Self {
        Self {
            handler: CommandHandler::new(Arc::clone(&store)),
            store,
            planner: Arc::default(),
            brain: None,
            planning: None,
        }
    }

    fn new(store: Arc<dyn EventStore>) -> Self {
        let mut world = Self::idle(store);
        world.start_brain();
        world
    }

    /// The Brain split in two processors, as `serve` runs it.
    fn split(store: Arc<dyn EventStore>) -> Self {
        let mut world = Self::idle(store);
        let (brain, planning) = Brain::new(
            Arc::clone(&world.store),
            Arc::clone(&world.planner) as Arc<dyn Planner>,
            Policy::default_for("EUR".parse().expect("valid")),
        )
        .split();
        let run = |processor: Arc<dyn Processor>| {
            let bus: Arc<dyn Bus> = Arc::new(StoreBus::new(Arc::clone(&world.store)));
            let runner = ProcessorRunner::new(processor, bus, Arc::clone(&world.store), config());
            tokio::spawn(runner.run())
        };
        world.planning = Some(run(Arc::new(planning)));
        world.brain = Some(run(Arc::new(brain)));
        world
    }

    fn start_brain(&mut self) {
        let bus: Arc<dyn Bus> = Arc::new(StoreBus::new(Arc::clone(&self.store)));
        let brain = Brain::new(
            Arc::clone(&self.store),
            Arc::clone(&self.planner) as Arc<dyn Planner>,
            Policy::default_for("EUR".parse().expect("valid")),
        );
        let runner = ProcessorRunner::new(Arc::new(brain), bus, Arc::clone(&self.store), config());
        self.brain = Some(tokio::spawn(runner.run()));
    }

    /// Waits until the Brain has handled every event it reads and nothing
    /// more is being written (the last commands of a handling included).
    async fn settle(&self) {
        let filter = Brain::new(
            Arc::clone(&self.store),
            Arc::clone(&self.planner) as Arc<dyn Planner>,
            Policy::default_for("EUR".parse().expect("valid")),
        )
        .filter();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        loop {
            let checkpoint = self
                .store
                .consumer_checkpoint(NAME)
                .await
                .expect("checkpoint");
            let unread = self
                .store
                .read_all(checkpoint, 1, &filter)
                .await
                .expect("read");
            let counts = self.store.counts().await.expect("counts");
            let idle = unread.events.is_empty() && !unread.beyond_horizon;
            if idle && last.as_ref() == Some(&counts) {
                return;
            }
            last = idle.then_some(counts);
            assert!(Instant::now() < deadline, "the Brain did not settle");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop_brain(&mut self) {
        if let Some(brain) = self.brain.take() {
            brain.abort();
            let _ = brain.await;
        }
    }

    async fn send<A: Aggregate>(&self, stream: StreamId, command: A::Command, actor: &str) {
        self.handler
            .handle::<A>(Envelope {
                stream,
                command,
                command_id: CommandId::from_uuid(Uuid::now_v7()),
                correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                causation_id: None,
                actor: actor.parse().expect("actor"),
            })
            .await
            .map_err(|e| e.to_string())
            .expect("accepted");
    }

    async fn issue(&self, text: &str) -> Uuid {
        let id = Uuid::now_v7();
        self.send::<Directive>(
            Directive::stream(id),
            DirectiveCommand::Issue(IssueDirective {
                text: text.to_owned(),
                priority: Priority::Normal,
                deadline: None,
                spending_limit: None,
                issued_by: ceo(),
                issued_at: Utc::now(),
            }),
            "user:ceo",
        )
        .await;
        id
    }

    async fn history<E: DomainEvent>(&self, stream: &StreamId) -> Vec<E> {
        self.store
            .read_stream(stream, 1, Direction::Forward, 10_000)
            .await
            .expect("read")
            .iter()
            .map(|e| E::decode(e).expect("decode"))
            .collect()
    }

    async fn directive(&self, id: Uuid) -> Directive {
        Directive::replay(&self.history::<DirectiveEvent>(&Directive::stream(id)).await)
    }

    async fn task_status(&self, id: Uuid) -> TaskStatus {
        self.history::<TaskEvent>(&Task::stream(id))
            .await
            .last()
            .map_or(TaskStatus::Unknown, TaskEvent::status)
    }

    /// Waits until `check` holds of the directive, failing after 20 s.
    async fn until(&self, id: Uuid, what: &str, check: impl Fn(&Directive) -> bool) -> Directive {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let directive = self.directive(id).await;
            if check(&directive) {
                return directive;
            }
            assert!(Instant::now() < deadline, "{what}: {directive:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn until_task(&self, task: Uuid, status: TaskStatus) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.task_status(task).await;
            if now == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {task} is {now:?}, not {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// What a department agent does: start the task and complete it.
    async fn complete(&self, task: Uuid) {
        let at = Utc::now();
        let stream = Task::stream(task);
        let agent = Actor::Agent("finance".to_owned());
        self.send::<Task>(
            stream.clone(),
            TaskCommand::Start { agent, at },
            "agent:finance",
        )
        .await;
        self.send::<Task>(
            stream,
            TaskCommand::Complete {
                summary: "done".to_owned(),
                at,
            },
            "agent:finance",
        )
        .await;
    }

    /// The approval the Brain requested for `task`.
    async fn approval_of(&self, task: Uuid) -> Uuid {
        let history = self.history::<TaskEvent>(&Task::stream(task)).await;
        history
            .iter()
            .find_map(|e| match e {
                TaskEvent::TaskAwaitingApproval(a) => Some(a.approval_id),
                _ => None,
            })
            .expect("awaiting an approval")
    }

    async fn decide(&self, approval: Uuid, decision: Decision, reason: &str) {
        self.send::<Approval>(
            Approval::stream(approval),
            ApprovalCommand::Decide(DecideApproval {
                decision,
                by: ceo(),
                reason: reason.to_owned(),
                at: Utc::now(),
            }),
            "user:ceo",
        )
        .await;
    }
}

fn ceo() -> Actor {
    Actor::User("ceo".to_owned())
}

fn task_ids(directive: &Directive) -> Vec<Uuid> {
    directive.tasks.iter().map(|s| s.task.task_id).collect()
}

async fn an_approved_order_runs_to_completion(world: &World) -> Uuid {
    let id = world.issue("audit the invoices, pay them, forecast").await;
    let directive = world
        .until(id, "planned", |d| d.status == DirectiveStatus::InProgress)
        .await;
    let [audit, pay, forecast] = task_ids(&directive)[..] else {
        panic!("three tasks: {directive:#?}");
    };
    assert!(
        directive.tasks[1].task.approval.is_some(),
        "the payment is gated"
    );
    world.until_task(audit, TaskStatus::Dispatched).await;
    assert_eq!(world.task_status(pay).await, TaskStatus::Planned);
    assert_eq!(world.task_status(forecast).await, TaskStatus::Planned);

    world.complete(audit).await;
    world.until_task(pay, TaskStatus::AwaitingApproval).await;
    let approval = world.approval_of(pay).await;
    let requested = world
        .history::<ApprovalEvent>(&Approval::stream(approval))
        .await;
    let Some(ApprovalEvent::ApprovalRequested(request)) = requested.first() else {
        panic!("requested: {requested:?}");
    };
    assert_eq!(request.requested_by, Actor::Agent(NAME.to_owned()));
    assert_eq!(request.task_id, pay);
    assert_eq!(request.directive_id, id);

    world
        .decide(approval, Decision::Approve, "within budget")
        .await;
    world.until_task(pay, TaskStatus::Dispatched).await;
    world.complete(pay).await;
    world.until_task(forecast, TaskStatus::Dispatched).await;
    world.complete(forecast).await;
    let closed = world.until(id, "closed", |d| d.status.is_closed()).await;
    assert_eq!(closed.status, DirectiveStatus::Completed);
    id
}

async fn a_rejected_approval_cancels_the_task_and_withdraws_its_dependents(world: &World) {
    let id = world.issue("audit, pay, forecast").await;
    let directive = world
        .until(id, "planned", |d| d.status == DirectiveStatus::InProgress)
        .await;
    let [audit, pay, forecast] = task_ids(&directive)[..] else {
        panic!("three tasks: {directive:#?}");
    };
    world.until_task(audit, TaskStatus::Dispatched).await;
    world.complete(audit).await;
    world.until_task(pay, TaskStatus::AwaitingApproval).await;
    let approval = world.approval_of(pay).await;
    world
        .decide(approval, Decision::Reject, "not this month")
        .await;
    world.until_task(pay, TaskStatus::Cancelled).await;
    world.until_task(forecast, TaskStatus::Cancelled).await;
    let closed = world.until(id, "closed", |d| d.status.is_closed()).await;
    assert_eq!(closed.status, DirectiveStatus::Failed);
    let settled: Vec<_> = closed.tasks.iter().map(|s| s.settled).collect();
    assert_eq!(
        settled,
        [
            Some(TaskStatus::Completed),
            Some(TaskStatus::Cancelled),
            Some(TaskStatus::Cancelled)
        ]
    );
}

async fn a_question_goes_to_the_ceo_and_the_answer_is_planned(world: &World) {
    let id = world.issue("audit which invoices?").await;
    world
        .until(id, "a question", |d| {
            d.status == DirectiveStatus::AwaitingClarification
        })
        .await;
    world
        .send::<Directive>(
            Directive::stream(id),
            DirectiveCommand::AnswerClarification(Intervention {
                text: "November's".to_owned(),
                by: ceo(),
                at: Utc::now(),
            }),
            "user:ceo",
        )
        .await;
    let planned = world
        .until(id, "planned after the answer", |d| {
            d.status == DirectiveStatus::InProgress
        })
        .await;
    assert_eq!(planned.tasks.len(), 3);
}

async fn the_whole_story(db: Db, store: Arc<dyn EventStore>) {
    let projection = tokio::spawn(
        ProjectionRunner::new(
            db.clone(),
            Arc::clone(&store),
            Arc::new(Directives),
            RunnerConfig::default(),
        )
        .run(),
    );
    let mut world = World::new(store);
    let completed = an_approved_order_runs_to_completion(&world).await;
    // A department's model call for one of its tasks, reported after the
    // close: a fact all the same, counted to the task's department.
    let closed = world.directive(completed).await;
    world
        .send::<Directive>(
            Directive::stream(completed),
            DirectiveCommand::RecordLlmUsage(RecordLlmUsage {
                task_id: closed.tasks[0].task.task_id,
                model: "gpt-4o-mini".to_owned(),
                purpose: "match invoice lines to receipts".to_owned(),
                usage: LlmUsage {
                    prompt_tokens: 300,
                    completion_tokens: 50,
                    cost_micro_usd: 40,
                },
                by: "agent:finance".parse().expect("actor"),
                at: Utc::now(),
            }),
            "agent:finance",
        )
        .await;
    let spent = world.directive(completed).await;
    assert_eq!(
        spent.llm_usage().cost_micro_usd,
        47,
        "planning and the call"
    );
    assert_eq!(
        spent.llm_usage_by_caller.keys().collect::<Vec<_>>(),
        [&LlmCaller::Orchestrator, &LlmCaller::Finance]
    );
    a_rejected_approval_cancels_the_task_and_withdraws_its_dependents(&world).await;
    a_question_goes_to_the_ceo_and_the_answer_is_planned(&world).await;
    let calls = world.planner.calls.load(Ordering::SeqCst);
    assert_eq!(
        calls, 4,
        "one planner call per directive, two for the question"
    );

    // Replaying everything the Brain has read changes nothing and asks no
    // planner again: every command it would send was sent already.
    world.settle().await;
    world.stop_brain().await;
    let before = world.store.counts().await.expect("counts");
    let end = world
        .store
        .consumer_checkpoint(NAME)
        .await
        .expect("checkpoint");
    world
        .store
        .save_consumer_checkpoint(NAME, Position::START)
        .await
        .expect("rewind");
    world.start_brain();
    let deadline = Instant::now() + Duration::from_secs(30);
    while world
        .store
        .consumer_checkpoint(NAME)
        .await
        .expect("checkpoint")
        < end
    {
        assert!(Instant::now() < deadline, "the replay did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world.stop_brain().await;
    let after = world.store.counts().await.expect("counts");
    assert_eq!(before, after, "a replay appended nothing");
    assert_eq!(
        world.planner.calls.load(Ordering::SeqCst),
        calls,
        "a replay asks no planner"
    );
    let directive = world.directive(completed).await;
    assert_eq!(directive.status, DirectiveStatus::Completed);

    // The read model tells the same story.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let listed = directives::list_directives(
            &db,
            &directives::DirectiveQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
        let statuses: Vec<&str> = listed.iter().map(|d| d.status.as_str()).collect();
        if statuses == ["in_progress", "failed", "completed"] {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "the read model lags: {listed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    projection.abort();
    // Newest first: the answered question's directive is planned, its tasks
    // waiting for a department.
    assert_eq!(listed[0].text, "audit which invoices?");
    assert_eq!(
        (listed[0].llm_tokens, listed[0].llm_cost_micro_usd),
        (240, 14),
        "the question's round and the plan's, summed"
    );
    assert_eq!(
        (listed[2].llm_tokens, listed[2].llm_cost_micro_usd),
        (470, 47),
        "the plan's round and the department's call"
    );
    let usage = |caller: &str, calls, prompt, completion, cost| directives::LlmUsageView {
        caller: caller.to_owned(),
        calls,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost_micro_usd: cost,
    };
    assert_eq!(
        directives::llm_usage_of(&db, completed)
            .await
            .expect("usage"),
        [
            usage("finance", 1, 300, 50, 40),
            usage("orchestrator", 1, 100, 20, 7)
        ]
    );
    assert_eq!(
        directives::llm_usage_of(&db, listed[0].id)
            .await
            .expect("usage"),
        [usage("orchestrator", 2, 200, 40, 14)],
        "the question's round and the plan's"
    );
    assert_eq!(
        directives::llm_usage_by_caller(&db).await.expect("usage"),
        [
            usage("finance", 1, 300, 50, 40),
            usage("orchestrator", 4, 400, 80, 28)
        ],
        "over every directive"
    );
    let view = directives::get_directive(&db, completed)
        .await
        .expect("get")
        .expect("known");
    assert_eq!(view.summary.as_deref(), Some("all 3 tasks completed"));
    assert_eq!(view.planner.as_deref(), Some("scripted"));
    let tasks = directives::tasks_of(&db, completed).await.expect("tasks");
    let rows: Vec<(&str, &str, Option<&str>)> = tasks
        .iter()
        .map(|t| {
            (
                t.key.as_str(),
                t.status.as_str(),
                t.approval_rule.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("audit", "completed", None),
            ("pay", "completed", Some("payments above 500")),
            ("forecast", "completed", None),
        ]
    );
    let approvals = directives::list_approvals(&db, None, None, 10)
        .await
        .expect("approvals");
    let decided: Vec<&str> = approvals.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(decided, ["rejected", "granted"], "newest first");
    assert_eq!(approvals[0].decided_by.as_deref(), Some("user:ceo"));
    let finance = directives::list_tasks(&db, Some("finance"), Some("cancelled"), 10)
        .await
        .expect("tasks");
    assert_eq!(finance.len(), 2, "{finance:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brain_split_in_two_lanes_runs_directives_as_one_does() {
    let db = TestSqlite::new().await;
    let world = World::split(db.shared());
    let id = an_approved_order_runs_to_completion(&world).await;
    a_question_goes_to_the_ceo_and_the_answer_is_planned(&world).await;
    assert_eq!(world.planner.calls.load(Ordering::SeqCst), 3);
    // The plan is the planning lane's; what follows it, the Brain's.
    let recorded = world
        .store
        .read_stream(&Directive::stream(id), 1, Direction::Forward, 100)
        .await
        .expect("read");
    let by = |event_type: &str| {
        recorded
            .iter()
            .find(|e| e.event_type == event_type)
            .map(|e| e.metadata.actor.to_string())
    };
    assert_eq!(
        by("DirectivePlanned").as_deref(),
        Some("agent:brain_planner")
    );
    assert_eq!(by("DirectiveClosed").as_deref(), Some("agent:brain"));
    for lane in [world.brain, world.planning].into_iter().flatten() {
        lane.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brain_runs_directives_on_sqlite() {
    let db = TestSqlite::new().await;
    the_whole_story(
        Db::sqlite(&db.store).await.expect("read models"),
        db.shared(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brain_runs_directives_on_postgres() {
    let db = TestPostgres::new().await;
    the_whole_story(Db::postgres(&db.store), db.shared()).await;
}
