//! The Logistics agent end to end, with the Brain and the rule-based
//! planner on the embedded bus, against the ERPNext simulator over HTTP
//! through the real client: an order to reorder what runs low becomes an
//! inventory scan, purchase orders with the right quantities, approvals
//! where the policy demands them, and exactly one ERPNext document per
//! order, even when ERPNext fails, loses answers, or the agent is stopped
//! midway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::adapters::erpnext::{ErpNext, ErpNextConfig};
use agents::adapters::{CallPolicy, HealthBoard};
use agents::brain::Brain;
use agents::logistics::erp::ErpNextStock;
use agents::logistics::LogisticsAgent;
use agents::planner::RulePlanner;
use commands::processor::{ProcessorConfig, ProcessorRunner};
use commands::{CommandHandler, Envelope};
use domain::approval::{Approval, ApprovalCommand, ApprovalEvent, DecideApproval, Decision};
use domain::directive::{
    CancelDirective, Directive, DirectiveCommand, Intervention, IssueDirective, Priority,
};
use domain::logistics::scan::{InventoryScanEvent, InventoryScanned};
use domain::logistics::settlement::{ScanSettlement, ScanSettlementEvent, Settled};
use domain::logistics::{PurchaseOrder, PurchaseOrderEvent, ReorderPolicy};
use domain::policy::{ApprovalRule, Policy};
use domain::task::{Department, Task, TaskEvent};
use domain::{Actor, Aggregate, CommandId, CorrelationId, DomainEvent, Money, Position};
use eventstore::bus::store::StoreBus;
use eventstore::bus::Bus;
use eventstore::testing::TestSqlite;
use eventstore::{EventFilter, EventStore};
use simulators::erpnext::ErpNextSim;
use simulators::{FaultPlan, SimServer};
use tokio::task::JoinHandle;
use uuid::Uuid;

const ORDER: &str = "Check stock in every warehouse and reorder what is running low";

fn eur(minor: i64) -> Money {
    Money::new(minor, "EUR".parse().expect("currency"))
}

/// Purchase orders above 100.00 EUR wait for a person.
fn policy() -> Policy {
    Policy {
        rules: vec![ApprovalRule {
            name: "purchase orders above 100".to_owned(),
            department: Some(Department::Logistics),
            kinds: vec!["purchase_order".to_owned()],
            above: Some(eur(10_000)),
            only_changes: false,
        }],
    }
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        max_deliveries: 10,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        ..ProcessorConfig::default()
    }
}

struct World {
    store: Arc<dyn EventStore>,
    _db: TestSqlite,
    sim: ErpNextSim,
    server: SimServer,
    erp: Arc<ErpNextStock>,
    tasks: Vec<JoinHandle<()>>,
    agent: Option<JoinHandle<()>>,
}

impl World {
    async fn new() -> Self {
        Self::with_secret("secret").await
    }

    /// The client signs in with `secret` (the simulator expects `secret`).
    async fn with_secret(secret: &str) -> Self {
        let db = TestSqlite::new().await;
        let store = db.shared();
        let sim = ErpNextSim::demo_company("key", "secret").expect("demo company");
        let server = SimServer::start_local(sim.router())
            .await
            .expect("simulator");
        let client = ErpNext::new(
            ErpNextConfig {
                policy: CallPolicy {
                    timeout: Duration::from_secs(5),
                    retries: 4,
                    backoff: Duration::from_millis(10),
                    backoff_ceiling: Duration::from_millis(50),
                    failures_to_open: 50,
                    open_for: Duration::from_millis(200),
                },
                ..ErpNextConfig::new(&server.url(), "key", secret)
            },
            &HealthBoard::new(),
        )
        .expect("client");
        let erp = Arc::new(ErpNextStock::new(client, "EUR".parse().expect("currency")));
        let mut world = World {
            store,
            _db: db,
            sim,
            server,
            erp,
            tasks: Vec::new(),
            agent: None,
        };
        let brain = Brain::new(
            Arc::clone(&world.store),
            Arc::new(RulePlanner::new()),
            Policy::default_for("EUR".parse().expect("currency")),
        );
        world.tasks.push(world.run(Arc::new(brain)));
        world
    }

    fn run(&self, processor: Arc<dyn commands::processor::Processor>) -> JoinHandle<()> {
        let bus: Arc<dyn Bus> = Arc::new(StoreBus::new(Arc::clone(&self.store)));
        let runner = ProcessorRunner::new(processor, bus, Arc::clone(&self.store), config());
        tokio::spawn(runner.run())
    }

    fn start_agent(&mut self) {
        let agent = LogisticsAgent::new(
            Arc::clone(&self.store),
            Arc::clone(&self.erp) as Arc<dyn agents::logistics::Erp>,
            policy(),
            ReorderPolicy::default_for("EUR".parse().expect("currency")),
        );
        self.agent = Some(self.run(Arc::new(agent)));
    }

    async fn stop_agent(&mut self) {
        if let Some(agent) = self.agent.take() {
            agent.abort();
            let _ = agent.await;
        }
    }

    async fn send<A: Aggregate>(&self, id: Uuid, command: A::Command, actor: &str) {
        CommandHandler::new(Arc::clone(&self.store))
            .handle::<A>(Envelope {
                stream: A::stream(id),
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

    async fn order(&self) -> Uuid {
        let id = Uuid::now_v7();
        self.send::<Directive>(
            id,
            DirectiveCommand::Issue(IssueDirective {
                text: ORDER.to_owned(),
                priority: Priority::Normal,
                deadline: None,
                spending_limit: None,
                issued_by: "user:ceo".parse().expect("actor"),
                issued_at: chrono::Utc::now(),
            }),
            "user:ceo",
        )
        .await;
        id
    }

    /// Every event of a category, in order.
    async fn events<E: DomainEvent>(&self, category: &str) -> Vec<(Uuid, E)> {
        let filter = EventFilter {
            categories: vec![category.to_owned()],
            event_types: Vec::new(),
        };
        let read = self
            .store
            .read_all(Position::START, 100_000, &filter)
            .await
            .expect("read");
        read.events
            .iter()
            .map(|e| (e.stream_id.id(), E::decode(e).expect("decode")))
            .collect()
    }

    async fn reorder_scan(&self) -> Option<InventoryScanned> {
        self.events::<InventoryScanEvent>(domain::logistics::scan::InventoryScan::CATEGORY)
            .await
            .into_iter()
            .filter_map(|(_, event)| match event {
                InventoryScanEvent::InventoryScanned(scan) => Some(scan),
                InventoryScanEvent::StockLevelsRecorded(_) => None,
            })
            .find(|scan| !scan.drafts.is_empty())
    }

    /// Waits for `done` to hold.
    async fn until<F, Fut>(&self, what: &str, done: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done().await {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every purchase order's latest event type.
    async fn po_states(&self) -> Vec<(Uuid, &'static str)> {
        let mut last: Vec<(Uuid, &'static str)> = Vec::new();
        for (id, event) in self
            .events::<PurchaseOrderEvent>(PurchaseOrder::CATEGORY)
            .await
        {
            let state = match event {
                PurchaseOrderEvent::PurchaseOrderDrafted(_) => "drafted",
                PurchaseOrderEvent::PurchaseOrderApprovalRequested(_) => "awaiting_approval",
                PurchaseOrderEvent::PurchaseOrderApproved(_)
                | PurchaseOrderEvent::PurchaseOrderApprovedUnderPolicy(_) => "approved",
                PurchaseOrderEvent::PurchaseOrderSubmitted(_) => "submitted",
                PurchaseOrderEvent::PurchaseOrderRejected(_) => "rejected",
                PurchaseOrderEvent::PurchaseOrderCancelled(_) => "cancelled",
                _ => "later",
            };
            match last.iter_mut().find(|(po, _)| *po == id) {
                Some(entry) => entry.1 = state,
                None => last.push((id, state)),
            }
        }
        last
    }

    /// Grants every approval the agent asked for.
    async fn approve_all(&self) -> usize {
        self.approve(usize::MAX).await
    }

    /// Grants up to `most` of the approvals the agent asked for.
    async fn approve(&self, most: usize) -> usize {
        let mut granted = 0;
        let approvals = self.events::<ApprovalEvent>(Approval::CATEGORY).await;
        for (id, event) in &approvals {
            let ApprovalEvent::ApprovalRequested(requested) = event else {
                continue;
            };
            let decided = approvals
                .iter()
                .any(|(other, e)| other == id && !matches!(e, ApprovalEvent::ApprovalRequested(_)));
            if requested.requested_by != Actor::Agent("logistics".to_owned())
                || decided
                || granted == most
            {
                continue;
            }
            self.send::<Approval>(
                *id,
                ApprovalCommand::Decide(DecideApproval {
                    decision: Decision::Approve,
                    by: "user:ceo".parse().expect("actor"),
                    reason: "needed".to_owned(),
                    at: chrono::Utc::now(),
                }),
                "user:ceo",
            )
            .await;
            granted += 1;
        }
        granted
    }

    /// The reorder task's completion summary, once it completed.
    async fn completed_tasks(&self) -> Vec<String> {
        self.events::<TaskEvent>(Task::CATEGORY)
            .await
            .into_iter()
            .filter_map(|(_, event)| match event {
                TaskEvent::TaskCompleted(done) => Some(done.text),
                _ => None,
            })
            .collect()
    }

    /// Runs the order to the end: every order the agent drafts is placed
    /// once in ERPNext.
    async fn run_to_the_end(&self) -> InventoryScanned {
        self.until("the reorder scan is recorded", || async {
            self.reorder_scan().await.is_some()
        })
        .await;
        let scan = self.reorder_scan().await.expect("scan");
        self.until("every order is approved or waits for approval", || async {
            let states = self.po_states().await;
            states.len() == scan.drafts.len()
                && states
                    .iter()
                    .all(|(_, s)| matches!(*s, "awaiting_approval" | "submitted"))
        })
        .await;
        self.approve_all().await;
        self.until("every order is placed", || async {
            let states = self.po_states().await;
            states.iter().all(|(_, s)| *s == "submitted")
        })
        .await;
        self.until("the reorder task completes", || async {
            self.completed_tasks()
                .await
                .iter()
                .any(|t| t.contains("placed in the ERP"))
        })
        .await;
        scan
    }

    /// Each order of the scan was counted once in its settlement, as placed
    /// under its ERPNext name, and one `ScanOrdersSettled` completed the
    /// task with those names.
    async fn assert_settled_once(&self, scan: &InventoryScanned) {
        let settlement = self
            .events::<ScanSettlementEvent>(ScanSettlement::CATEGORY)
            .await;
        let mut counted: Vec<Uuid> = Vec::new();
        let mut completions = Vec::new();
        for (stream, event) in settlement {
            assert_eq!(stream, scan.scan_id, "one settlement, the scan's");
            match event {
                ScanSettlementEvent::PurchaseOrderSettled(one) => {
                    assert!(matches!(one.settled, Settled::Placed { .. }), "{one:?}");
                    counted.push(one.po_id);
                }
                ScanSettlementEvent::ScanOrdersSettled(all) => completions.push(all),
            }
        }
        let mut drafted: Vec<Uuid> = scan.drafts.iter().map(|d| d.po_id).collect();
        drafted.sort_unstable();
        counted.sort_unstable();
        assert_eq!(counted, drafted, "every order counted once");
        assert_eq!(completions.len(), 1, "settled once: {completions:?}");
        let erp_names: Vec<String> = scan
            .drafts
            .iter()
            .map(|draft| {
                let erp = self
                    .sim
                    .purchase_orders()
                    .into_iter()
                    .find(|po| po["custom_agentos_po_id"] == draft.po_id.to_string())
                    .expect("in ERPNext");
                erp["name"].as_str().expect("name").to_owned()
            })
            .collect();
        assert_eq!(completions[0].placed, erp_names);
        assert_eq!(completions[0].dropped, 0);
        let summaries: Vec<String> = self
            .completed_tasks()
            .await
            .into_iter()
            .filter(|t| t.contains("placed in the ERP"))
            .collect();
        assert_eq!(summaries.len(), 1, "{summaries:?}");
        assert!(
            summaries[0].ends_with(&format!("placed in the ERP: {}", erp_names.join(", "))),
            "{}",
            summaries[0]
        );
    }

    fn assert_placed_once(&self, scan: &InventoryScanned) {
        for draft in &scan.drafts {
            assert_eq!(
                self.sim.purchase_orders_with_id(&draft.po_id.to_string()),
                1,
                "purchase order {} for {} placed once",
                draft.po_id,
                draft.order.supplier
            );
        }
        // The demo company's own open order, and ours.
        assert_eq!(self.sim.purchase_orders().len(), scan.drafts.len() + 1);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(self.agent.iter()) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn low_stock_becomes_purchase_orders_with_the_rules_quantities_approved_where_policy_says() {
    let mut world = World::new().await;
    world.start_agent();
    world.order().await;
    let scan = world.run_to_the_end().await;

    let ordered: Vec<&str> = scan.orders().map(|d| d.sku.as_str()).collect();
    for low in ["FAST-M4-20", "NUT-M4", "BOX-S", "CABLE-USB", "LABEL-A6"] {
        assert!(ordered.contains(&low), "{low} is low: {ordered:?}");
    }
    for fine in ["FAST-M6-30", "WASH-M6", "PCB-CTRL", "PSU-12V"] {
        assert!(!ordered.contains(&fine), "{fine} is not low: {ordered:?}");
    }
    for decision in scan.orders() {
        let r = &decision.reasoning;
        assert!(
            (r.projected as f64) <= r.reorder_point,
            "ordered above the reorder point: {}",
            decision.explain()
        );
        assert_eq!(r.order_qty % r.pack_size, 0, "{}", decision.explain());
        assert!(r.order_qty >= r.min_order_qty, "{}", decision.explain());
    }
    // One order per supplier and warehouse, each with its ERPNext twin.
    let mut groups: Vec<(String, String)> = scan
        .drafts
        .iter()
        .map(|d| (d.order.supplier.to_string(), d.order.warehouse.to_string()))
        .collect();
    groups.dedup();
    assert_eq!(groups.len(), scan.drafts.len());
    world.assert_placed_once(&scan);
    for draft in &scan.drafts {
        let erp = world
            .sim
            .purchase_orders()
            .into_iter()
            .find(|po| po["custom_agentos_po_id"] == draft.po_id.to_string())
            .expect("in ERPNext");
        assert_eq!(erp["docstatus"], 1, "submitted");
        assert_eq!(erp["supplier"], draft.order.supplier.as_str());
        let lines = erp["items"].as_array().expect("items");
        assert_eq!(lines.len(), draft.order.lines.len());
    }
    // Orders above the policy's 100.00 waited for the CEO; the others did not.
    let approvals = world.events::<ApprovalEvent>(Approval::CATEGORY).await;
    let asked = approvals
        .iter()
        .filter(|(_, e)| matches!(e, ApprovalEvent::ApprovalRequested(r) if r.requested_by == Actor::Agent("logistics".to_owned())))
        .count();
    let above = scan
        .drafts
        .iter()
        .filter(|d| d.order.amount.minor > 10_000)
        .count();
    assert!(above > 0, "the demo has an order above 100.00");
    assert_eq!(asked, above);
    world.assert_settled_once(&scan).await;
    world.stop_agent().await;
}

#[tokio::test]
async fn erpnext_failing_and_losing_answers_still_yields_one_document_per_order() {
    let mut world = World::new().await;
    world.start_agent();
    world.order().await;
    world
        .until("the reorder scan is recorded", || async {
            world.reorder_scan().await.is_some()
        })
        .await;
    // From now on: two refusals, then a created order whose answer is lost.
    world.server.faults().set(FaultPlan {
        fail_next: 2,
        lose_next_answers: 1,
        ..FaultPlan::default()
    });
    let scan = world.run_to_the_end().await;
    world.assert_placed_once(&scan);
    world.stop_agent().await;
}

#[tokio::test]
async fn the_agent_stopped_midway_resumes_and_orders_each_once() {
    let mut world = World::new().await;
    world.start_agent();
    world.order().await;
    world
        .until("a purchase order is drafted", || async {
            !world.po_states().await.is_empty()
        })
        .await;
    // Stopped abruptly (no clean shutdown), ERPNext slow meanwhile.
    world.stop_agent().await;
    world.server.faults().set(FaultPlan {
        jitter_ms: 30,
        ..FaultPlan::default()
    });
    world.start_agent();
    let scan = world.run_to_the_end().await;
    world.assert_placed_once(&scan);
    world.assert_settled_once(&scan).await;
    world.stop_agent().await;
}

#[tokio::test]
async fn erpnext_refusing_the_credentials_fails_the_task_instead_of_retrying() {
    let mut world = World::with_secret("wrong").await;
    world.start_agent();
    world.order().await;
    world
        .until("the scan task fails", || async {
            world
                .events::<TaskEvent>(Task::CATEGORY)
                .await
                .iter()
                .any(|(_, e)| matches!(e, TaskEvent::TaskFailed(f) if f.text.contains("refused")))
        })
        .await;
    assert!(world.reorder_scan().await.is_none());
    assert_eq!(
        world.sim.purchase_orders().len(),
        1,
        "only the company's own"
    );
    world.stop_agent().await;
}

#[tokio::test]
async fn a_cancelled_order_cancels_its_purchase_orders_and_those_placed_in_erpnext_too() {
    let mut world = World::new().await;
    world.start_agent();
    let directive = world.order().await;
    world
        .until("the reorder scan is recorded", || async {
            world.reorder_scan().await.is_some()
        })
        .await;
    let scan = world.reorder_scan().await.expect("scan");
    world
        .until("every order is placed or waits for approval", || async {
            let states = world.po_states().await;
            states.len() == scan.drafts.len()
                && states
                    .iter()
                    .all(|(_, s)| matches!(*s, "awaiting_approval" | "submitted"))
        })
        .await;
    // One order is approved and placed; the others still wait.
    assert_eq!(world.approve(1).await, 1);
    world
        .until("the approved order is placed", || async {
            world
                .po_states()
                .await
                .iter()
                .any(|(_, s)| *s == "submitted")
        })
        .await;
    let placed: Vec<Uuid> = world
        .po_states()
        .await
        .into_iter()
        .filter(|(_, s)| *s == "submitted")
        .map(|(id, _)| id)
        .collect();
    assert!(scan.drafts.len() > placed.len(), "some still wait");
    world
        .send::<Directive>(
            directive,
            DirectiveCommand::Cancel(CancelDirective {
                reason: "plans changed".to_owned(),
                cancelled_by: "user:ceo".parse().expect("actor"),
                cancelled_at: chrono::Utc::now(),
            }),
            "user:ceo",
        )
        .await;
    world
        .until("every purchase order is cancelled", || async {
            world
                .po_states()
                .await
                .iter()
                .all(|(_, s)| *s == "cancelled")
        })
        .await;
    for po in placed {
        let erp = world
            .sim
            .purchase_orders()
            .into_iter()
            .find(|doc| doc["custom_agentos_po_id"] == po.to_string())
            .expect("in ERPNext");
        assert_eq!(erp["docstatus"], 2, "cancelled in ERPNext: {erp}");
    }
    world.stop_agent().await;
}

#[tokio::test]
async fn an_approved_order_waits_while_its_directive_is_paused() {
    let mut world = World::new().await;
    world.start_agent();
    let directive = world.order().await;
    world
        .until("an order waits for approval", || async {
            world
                .po_states()
                .await
                .iter()
                .any(|(_, s)| *s == "awaiting_approval")
        })
        .await;
    let intervention = || Intervention {
        text: "hold on".to_owned(),
        by: "user:ceo".parse().expect("actor"),
        at: chrono::Utc::now(),
    };
    world
        .send::<Directive>(
            directive,
            DirectiveCommand::Pause(intervention()),
            "user:ceo",
        )
        .await;
    assert!(world.approve_all().await > 0);
    world
        .until("the approval is recorded on the order", || async {
            world
                .po_states()
                .await
                .iter()
                .all(|(_, s)| *s != "awaiting_approval")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = world
        .po_states()
        .await
        .into_iter()
        .filter(|(_, s)| *s == "approved")
        .count();
    assert!(waiting > 0, "an approved order is placed while paused");
    world
        .send::<Directive>(
            directive,
            DirectiveCommand::Resume(intervention()),
            "user:ceo",
        )
        .await;
    world
        .until("every order is placed after the resume", || async {
            world
                .po_states()
                .await
                .iter()
                .all(|(_, s)| *s == "submitted")
        })
        .await;
    let scan = world.reorder_scan().await.expect("scan");
    world.assert_placed_once(&scan);
    world.stop_agent().await;
}
