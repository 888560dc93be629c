//! The shipment follower end to end on the embedded bus and SQLite, with
//! the EasyPost-style carrier simulator and the ERPNext simulator over HTTP
//! through the real clients: a tracking task starts
//! tracking once, however often its dispatch is delivered; a delivered
//! parcel posts one goods receipt and receives the order's goods; updates
//! out of order do not move a shipment back; an exception is escalated to
//! the CEO once, and the CEO's answer moves the task on.
//!
//! The carrier's later updates are reported here as its webhook reports
//! them (the gateway's route is tested in the api crate): the tracker is
//! read back from the simulator and recorded with `carrier_update`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::adapters::carrier::{Carrier, CarrierConfig, Tracker};
use agents::adapters::erpnext::{ErpNext, ErpNextConfig};
use agents::adapters::{CallPolicy, HealthBoard};
use agents::logistics::erp::{Erp, ErpNextStock};
use agents::logistics::shipments::{carrier_update, shipment_id, ShipmentFollower, NAME};
use chrono::Utc;
use commands::processor::{Processor, ProcessorConfig, ProcessorRunner};
use commands::{CommandHandler, Envelope};
use domain::approval::{
    Approval, ApprovalCommand, ApprovalEvent, ApprovalRequested, DecideApproval, Decision,
};
use domain::logistics::shipment::CarrierUpdateRecorded;
use domain::logistics::{
    decide_requested_order, Days, DraftPurchaseOrder, Fraction, InventoryLevel, Item, PoLine,
    PurchaseOrder, PurchaseOrderCommand, PurchaseOrderEvent, PurchaseOrderStatus, ReorderPolicy,
    Shipment, ShipmentEvent, ShipmentStatus, Sku, Supplier,
};
use domain::task::{Department, PlanTask, Task, TaskCommand, TaskEvent, TaskStatus};
use domain::{Actor, Aggregate, CommandId, CorrelationId, DomainEvent, Money, Position, StreamId};
use eventstore::bus::store::StoreBus;
use eventstore::testing::TestSqlite;
use eventstore::{Direction, EventFilter, EventStore};
use serde_json::{json, Value};
use simulators::carrier::{CarrierSim, TrackingStep};
use simulators::erpnext::ErpNextSim;
use simulators::SimServer;
use tokio::task::JoinHandle;
use uuid::Uuid;

const API_KEY: &str = "EZTK_test_key";
const UPS_NUMBER: &str = "1Z999AA10123456784";
/// An item of the ERPNext simulator's demo company (0.09 EUR, from Nordic Fasteners AB).
const BOLT: &str = "FAST-M6-30";

struct World {
    _db: TestSqlite,
    store: Arc<dyn EventStore>,
    handler: CommandHandler,
    sim: CarrierSim,
    _server: SimServer,
    carrier: Carrier,
    erp_sim: ErpNextSim,
    _erp_server: SimServer,
    erp: Arc<ErpNextStock>,
    follower: Option<JoinHandle<()>>,
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        max_deliveries: 3,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        ..ProcessorConfig::default()
    }
}

fn eur(minor: i64) -> Money {
    Money::new(minor, "EUR".parse().expect("a currency"))
}

fn sku(code: &str) -> Sku {
    code.parse().expect("a SKU")
}

/// An order line of `qty` units, with the reasoning of a requested order.
fn line(code: &str, qty: u32, cost: i64) -> PoLine {
    let item = Item {
        sku: sku(code),
        name: code.to_owned(),
        unit: "Nos".to_owned(),
        pack_size: NonZeroU32::MIN,
        min_order_qty: 0,
        max_order_qty: None,
        unit_cost: eur(cost),
        default_supplier: None,
    };
    let supplier = Supplier {
        id: "Acme Components Ltd".parse().expect("a supplier"),
        name: "Acme Components Ltd".to_owned(),
        lead_time_days: Days::try_from(7.0).expect("days"),
        lead_time_sd_days: Days::try_from(0.0).expect("days"),
        on_time_rate: Fraction::try_from(0.9).expect("a fraction"),
    };
    let level = InventoryLevel {
        sku: item.sku.clone(),
        warehouse: "Main Store".parse().expect("a warehouse"),
        on_hand: 20,
        reserved: 0,
        on_order: 0,
    };
    let decision = decide_requested_order(
        &item,
        &supplier,
        &level,
        &[4, 6, 5],
        &ReorderPolicy::default(),
        qty,
    );
    PoLine {
        sku: item.sku,
        qty,
        unit_cost: item.unit_cost,
        reasoning: decision.reasoning,
    }
}

impl World {
    async fn new() -> Self {
        let db = TestSqlite::new().await;
        let store = db.shared();
        let sim = CarrierSim::new(API_KEY);
        let server = SimServer::start_local(sim.router())
            .await
            .expect("the carrier simulator");
        let erp_sim = ErpNextSim::demo_company("key", "secret").expect("the demo company");
        let erp_server = SimServer::start_local(erp_sim.router())
            .await
            .expect("the ERPNext simulator");
        let policy = CallPolicy {
            timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(5),
            backoff_ceiling: Duration::from_millis(20),
            failures_to_open: 10,
            open_for: Duration::from_secs(30),
        };
        let carrier = Carrier::new(
            CarrierConfig {
                policy,
                ..CarrierConfig::new(server.url(), API_KEY)
            },
            &HealthBoard::new(),
        )
        .expect("a carrier client");
        let erp = ErpNext::new(
            ErpNextConfig {
                policy,
                ..ErpNextConfig::new(&erp_server.url(), "key", "secret")
            },
            &HealthBoard::new(),
        )
        .expect("an ERPNext client");
        let mut world = Self {
            handler: CommandHandler::new(Arc::clone(&store)),
            _db: db,
            store,
            sim,
            _server: server,
            carrier,
            erp_sim,
            _erp_server: erp_server,
            erp: Arc::new(ErpNextStock::new(erp, "EUR".parse().expect("a currency"))),
            follower: None,
        };
        world.start_follower();
        world
    }

    fn follower(&self) -> ShipmentFollower {
        ShipmentFollower::new(
            Arc::clone(&self.store),
            self.carrier.clone(),
            Arc::clone(&self.erp) as Arc<dyn Erp>,
        )
    }

    fn start_follower(&mut self) {
        let bus = Arc::new(StoreBus::new(Arc::clone(&self.store)));
        let runner = ProcessorRunner::new(
            Arc::new(self.follower()),
            bus,
            Arc::clone(&self.store),
            config(),
        );
        self.follower = Some(tokio::spawn(runner.run()));
    }

    async fn stop_follower(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
            let _ = follower.await;
        }
    }

    /// Stops the follower and starts it again from the beginning of the
    /// log, as after a crash that lost its checkpoint: every event it ever
    /// handled is delivered again.
    async fn redeliver_everything(&mut self) {
        self.settle().await;
        self.stop_follower().await;
        self.store
            .save_consumer_checkpoint(NAME, Position::START)
            .await
            .expect("checkpoint reset");
        self.start_follower();
        self.settle().await;
    }

    /// Waits until the follower has handled every event it reads and
    /// nothing more is being written.
    async fn settle(&self) {
        let filter: EventFilter = self.follower().filter();
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
            assert!(Instant::now() < deadline, "the follower did not settle");
            tokio::time::sleep(Duration::from_millis(100)).await;
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
                actor: actor.parse().expect("an actor"),
            })
            .await
            .map_err(|e| e.to_string())
            .expect("accepted");
    }

    /// A purchase order of the demo company's bolts from its supplier,
    /// drafted, approved and placed in ERPNext: our id and its ERP name.
    async fn placed_order(&self, qty: u32) -> (Uuid, String) {
        let po_id = Uuid::now_v7();
        let stream = PurchaseOrder::stream(po_id);
        let at = Utc::now();
        let order = DraftPurchaseOrder {
            supplier: "Nordic Fasteners AB".parse().expect("a supplier"),
            warehouse: "Stores - AC".parse().expect("a warehouse"),
            lines: vec![line(BOLT, qty, 9)],
            amount: eur(9 * i64::from(qty)),
        };
        let logistics = "agent:logistics";
        let draft = PurchaseOrderCommand::Draft {
            po_id,
            order,
            directive_id: None,
            task_id: None,
            drafted_by: Actor::Agent("logistics".to_owned()),
            at,
        };
        self.send::<PurchaseOrder>(stream.clone(), draft, logistics)
            .await;
        let Some(PurchaseOrderEvent::PurchaseOrderDrafted(drafted)) =
            self.history(&stream).await.pop()
        else {
            panic!("drafted");
        };
        let erp_name = self
            .erp
            .place_purchase_order(&drafted)
            .await
            .expect("placed in ERPNext");
        let approve = PurchaseOrderCommand::ApproveUnderPolicy {
            reason: "no approval rule matched".to_owned(),
            at,
        };
        self.send::<PurchaseOrder>(stream.clone(), approve, logistics)
            .await;
        let submit = PurchaseOrderCommand::Submit {
            erp_name: erp_name.clone(),
            at,
        };
        self.send::<PurchaseOrder>(stream, submit, logistics).await;
        (po_id, erp_name)
    }

    /// The goods receipts in ERPNext: (purchase order, item, quantity) per line.
    fn receipts(&self) -> Vec<Vec<(String, String, f64)>> {
        self.erp_sim
            .purchase_receipts()
            .iter()
            .map(|receipt| {
                receipt["items"]
                    .as_array()
                    .map(|items| items.iter().map(receipt_line).collect())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// A shipment tracking task, planned and dispatched as the orchestrator does.
    async fn dispatch(&self, params: serde_json::Value) -> Uuid {
        let task_id = Uuid::now_v7();
        let stream = Task::stream(task_id);
        let plan = PlanTask {
            directive_id: Uuid::now_v7(),
            department: Department::Logistics,
            kind: "shipment_tracking".to_owned(),
            params,
            depends_on: Vec::new(),
            planned_by: Actor::Agent("brain".to_owned()),
        };
        self.send::<Task>(
            stream.clone(),
            TaskCommand::Plan(plan, Utc::now()),
            "agent:brain",
        )
        .await;
        self.send::<Task>(stream, TaskCommand::Dispatch(Utc::now()), "agent:brain")
            .await;
        task_id
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

    async fn task(&self, task_id: Uuid) -> Vec<TaskEvent> {
        self.history(&Task::stream(task_id)).await
    }

    async fn task_status(&self, task_id: Uuid) -> TaskStatus {
        self.task(task_id)
            .await
            .last()
            .map_or(TaskStatus::Unknown, TaskEvent::status)
    }

    async fn shipment(&self, carrier: &str, number: &str) -> Vec<ShipmentEvent> {
        self.history(&Shipment::stream(shipment_id(carrier, number)))
            .await
    }

    /// The tracker of a tracking number, as the carrier shows it now.
    async fn tracker(&self, number: &str) -> Tracker {
        let mut listed = self
            .carrier
            .trackers(&[number], None)
            .await
            .expect("trackers");
        assert_eq!(listed.trackers.len(), 1, "one tracker for {number}");
        listed.trackers.remove(0)
    }

    /// Moves a parcel one step on and returns the tracker as it stands.
    async fn advance(&self, number: &str) -> Tracker {
        let id = self.tracker(number).await.id;
        self.sim.advance(&id).await.expect("a next step");
        self.tracker(number).await
    }

    /// Records a tracker's state as its webhook event `event_id` would.
    async fn report(&self, tracker: &Tracker, event_id: &str) {
        let command = carrier_update(event_id, tracker).expect("a status to record");
        let stream = Shipment::stream(shipment_id(&tracker.carrier, &tracker.tracking_code));
        self.send::<Shipment>(stream, command, "system:carrier")
            .await;
    }

    /// A placed order of 500 and a tracking task following its one parcel,
    /// `number`, along these scripted steps: the task, started.
    async fn follow_one(&self, number: &str, steps: Vec<TrackingStep>) -> Uuid {
        let (_, erp_name) = self.placed_order(500).await;
        self.sim.script(number, steps);
        let task = self
            .dispatch(json!({
                "tracking_numbers": [number],
                "purchase_orders": [erp_name],
            }))
            .await;
        self.settle().await;
        task
    }

    /// Every approval requested so far.
    async fn approvals(&self) -> Vec<(Uuid, ApprovalRequested)> {
        let filter = EventFilter {
            categories: vec![Approval::CATEGORY.to_owned()],
            event_types: vec!["ApprovalRequested".to_owned()],
        };
        eventstore::read_to_end(&*self.store, &filter)
            .await
            .expect("read")
            .iter()
            .filter_map(|e| match ApprovalEvent::decode(e).expect("decode") {
                ApprovalEvent::ApprovalRequested(r) => Some((e.stream_id.id(), r)),
                _ => None,
            })
            .collect()
    }

    async fn decide(&self, approval: Uuid, decision: Decision, reason: &str) {
        self.send::<Approval>(
            Approval::stream(approval),
            ApprovalCommand::Decide(DecideApproval {
                decision,
                by: Actor::User("ceo".to_owned()),
                reason: reason.to_owned(),
                at: Utc::now(),
            }),
            "user:ceo",
        )
        .await;
    }
}

/// The bolts on hand in the demo company's stores.
fn stores_stock(world: &World) -> f64 {
    world
        .erp_sim
        .bin(BOLT, "Stores - AC")
        .and_then(|bin| bin["actual_qty"].as_f64())
        .unwrap_or_default()
}

fn receipt_line(item: &Value) -> (String, String, f64) {
    (
        item["purchase_order"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        item["item_code"].as_str().unwrap_or_default().to_owned(),
        item["qty"].as_f64().unwrap_or_default(),
    )
}

fn updates(history: &[ShipmentEvent]) -> Vec<&CarrierUpdateRecorded> {
    history
        .iter()
        .filter_map(|e| match e {
            ShipmentEvent::CarrierUpdateRecorded(u) => Some(u),
            _ => None,
        })
        .collect()
}

fn started(history: &[ShipmentEvent]) -> usize {
    history
        .iter()
        .filter(|e| matches!(e, ShipmentEvent::ShipmentTrackingStarted(_)))
        .count()
}

#[tokio::test]
async fn a_tracking_task_starts_tracking_once_even_when_its_dispatch_is_delivered_again() {
    let mut world = World::new().await;
    let (po_id, erp_name) = world.placed_order(500).await;
    let task = world
        .dispatch(json!({
            "tracking_numbers": [UPS_NUMBER, "EZ1000000001"],
            "purchase_orders": [erp_name],
        }))
        .await;
    world.settle().await;

    assert_eq!(world.task_status(task).await, TaskStatus::InProgress);
    assert_eq!(world.sim.tracker_count(), 2);
    let ups = world.shipment("UPS", UPS_NUMBER).await;
    let usps = world.shipment("USPS", "EZ1000000001").await;
    for history in [&ups, &usps] {
        assert_eq!(started(history), 1);
        let ShipmentEvent::ShipmentTrackingStarted(start) = &history[0] else {
            panic!("tracking starts the stream: {history:?}");
        };
        assert_eq!(start.po_id, po_id, "the ERP's order name mapped to ours");
        assert_eq!(start.task_id, Some(task), "the shipment names its task");
        let scans = updates(history);
        assert_eq!(
            scans.len(),
            1,
            "the label scan the tracker had: {history:?}"
        );
        assert_eq!(scans[0].status, ShipmentStatus::PreTransit);
    }
    let ShipmentEvent::ShipmentTrackingStarted(start) = &ups[0] else {
        unreachable!()
    };
    let tracker = world.tracker(UPS_NUMBER).await;
    assert_eq!(
        (start.carrier.as_str(), Some(start.promised_by)),
        ("UPS", tracker.est_delivery_date),
        "a 1Z number is UPS's; the promise is the carrier's estimate"
    );

    // The parcel moves on unseen; then the follower loses its checkpoint
    // and gets every event again, the dispatch included.
    let _ = world.advance("EZ1000000001").await;
    let task_events = world.task(task).await.len();
    world.redeliver_everything().await;

    assert_eq!(world.sim.tracker_count(), 2, "no tracker created twice");
    assert_eq!(world.task(task).await.len(), task_events, "started once");
    let ups_again = world.shipment("UPS", UPS_NUMBER).await;
    assert_eq!(ups_again, ups, "nothing doubled");
    let usps_again = world.shipment("USPS", "EZ1000000001").await;
    assert_eq!(started(&usps_again), 1);
    let statuses: Vec<_> = updates(&usps_again).iter().map(|u| u.status).collect();
    assert_eq!(
        statuses,
        [ShipmentStatus::PreTransit, ShipmentStatus::InTransit],
        "the scan made since is recorded, the first one once"
    );
}

#[tokio::test]
async fn a_delivered_parcel_posts_one_receipt_and_receives_the_order_s_goods() {
    let mut world = World::new().await;
    let (po_id, erp_name) = world.placed_order(600).await;
    let stock_before = stores_stock(&world);
    let task = world
        .dispatch(json!({
            "tracking_numbers": [UPS_NUMBER],
            "purchase_orders": [erp_name],
        }))
        .await;
    world.settle().await;
    for event in ["evt_1", "evt_2", "evt_3"] {
        let tracker = world.advance(UPS_NUMBER).await;
        world.report(&tracker, event).await;
    }
    // The carrier sends its last event again.
    let delivered = world.tracker(UPS_NUMBER).await;
    world.report(&delivered, "evt_3").await;
    world.settle().await;

    assert_eq!(
        world.receipts(),
        vec![vec![(erp_name.clone(), BOLT.to_owned(), 600.0)]],
        "one receipt in ERPNext, for everything outstanding"
    );
    assert_eq!(stores_stock(&world), stock_before + 600.0);
    let po = world
        .history::<PurchaseOrderEvent>(&PurchaseOrder::stream(po_id))
        .await;
    let received: Vec<_> = po
        .iter()
        .filter_map(|e| match e {
            PurchaseOrderEvent::GoodsReceived(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 1);
    assert!(received[0].fully_received);
    assert_eq!(
        PurchaseOrder::replay(&po).status,
        PurchaseOrderStatus::Received
    );
    let history = world.task(task).await;
    let Some(TaskEvent::TaskCompleted(done)) = history.last() else {
        panic!("the task completes once its parcel arrived: {history:?}");
    };
    assert!(
        done.text
            .contains(&format!("UPS 1Z999AA10123456784 for {erp_name}: delivered")),
        "{}",
        done.text
    );

    world.redeliver_everything().await;
    assert_eq!(world.receipts().len(), 1, "no second receipt");
    let po_again = world
        .history::<PurchaseOrderEvent>(&PurchaseOrder::stream(po_id))
        .await;
    assert_eq!(po_again, po, "the goods received once");
}

#[tokio::test]
async fn updates_out_of_order_do_not_move_a_shipment_back() {
    let world = World::new().await;
    let (_, erp_name) = world.placed_order(500).await;
    world
        .dispatch(json!({
            "tracking_numbers": ["EZ2000000002"],
            "purchase_orders": [erp_name],
        }))
        .await;
    world.settle().await;
    let in_transit = world.advance("EZ2000000002").await;
    let out_for_delivery = world.advance("EZ2000000002").await;
    world.report(&out_for_delivery, "evt_later").await;
    world.report(&in_transit, "evt_earlier").await;
    world.settle().await;

    let history = world.shipment("USPS", "EZ2000000002").await;
    let seen: Vec<_> = updates(&history)
        .iter()
        .map(|u| (u.status, u.applied))
        .collect();
    assert_eq!(
        seen,
        [
            (ShipmentStatus::PreTransit, true),
            (ShipmentStatus::OutForDelivery, true),
            (ShipmentStatus::InTransit, false),
        ],
        "the older update is kept as history only"
    );
    assert_eq!(
        Shipment::replay(&history).status,
        ShipmentStatus::OutForDelivery
    );
    assert!(world.receipts().is_empty());
}

#[tokio::test]
async fn an_exception_is_escalated_once_and_the_ceo_s_answer_moves_the_task_on() {
    let world = World::new().await;
    let task = world
        .follow_one(
            "EZ3000000003",
            vec![
                TrackingStep::new("pre_transit", "label_created", "Label created"),
                TrackingStep::new("failure", "damaged", "Package damaged in transit")
                    .at("DENVER", "CO", "80202"),
                TrackingStep::new("delivered", "arrived_at_destination", "Delivered"),
            ],
        )
        .await;
    let damaged = world.advance("EZ3000000003").await;
    world.report(&damaged, "evt_damaged").await;
    // The carrier repeats itself in another event.
    world.report(&damaged, "evt_damaged_again").await;
    world.settle().await;

    let approvals = world.approvals().await;
    assert_eq!(approvals.len(), 1, "one escalation: {approvals:#?}");
    let (approval, request) = &approvals[0];
    assert_eq!(request.task_id, task);
    assert_eq!(
        request.requested_by,
        Actor::Agent("logistics_shipments".to_owned())
    );
    assert!(request.what.contains("EZ3000000003"), "{}", request.what);
    assert!(
        request
            .why
            .contains("Package damaged in transit (DENVER, CO, US)"),
        "{}",
        request.why
    );
    assert_eq!(world.task_status(task).await, TaskStatus::AwaitingApproval);

    world
        .decide(*approval, Decision::Approve, "keep waiting")
        .await;
    world.settle().await;
    assert_eq!(world.task_status(task).await, TaskStatus::InProgress);

    let delivered = world.advance("EZ3000000003").await;
    world.report(&delivered, "evt_delivered").await;
    world.settle().await;
    assert_eq!(world.task_status(task).await, TaskStatus::Completed);
    let Some(TaskEvent::TaskCompleted(done)) = world.task(task).await.pop() else {
        unreachable!()
    };
    assert!(
        done.text.contains("an exception on the way"),
        "{}",
        done.text
    );
    assert_eq!(world.receipts().len(), 1);
}

#[tokio::test]
async fn goods_that_arrive_before_the_ceo_answers_withdraw_the_question_and_complete_the_task() {
    let world = World::new().await;
    let task = world
        .follow_one(
            "EZ3000000004",
            vec![
                TrackingStep::new("pre_transit", "label_created", "Label created"),
                TrackingStep::new("failure", "damaged", "Package damaged in transit"),
                TrackingStep::new("delivered", "arrived_at_destination", "Delivered"),
            ],
        )
        .await;
    let damaged = world.advance("EZ3000000004").await;
    world.report(&damaged, "evt_damaged").await;
    world.settle().await;
    let approvals = world.approvals().await;
    assert_eq!(approvals.len(), 1, "{approvals:#?}");
    let approval = approvals[0].0;
    assert_eq!(world.task_status(task).await, TaskStatus::AwaitingApproval);

    // Delivered while the CEO has not answered.
    let delivered = world.advance("EZ3000000004").await;
    world.report(&delivered, "evt_delivered").await;
    world.settle().await;
    let history = world
        .history::<ApprovalEvent>(&Approval::stream(approval))
        .await;
    let Some(ApprovalEvent::ApprovalWithdrawn(withdrawn)) = history.last() else {
        panic!("the question is withdrawn: {history:#?}");
    };
    assert_eq!(withdrawn.by, Actor::Agent("logistics_shipments".to_owned()));
    assert!(
        withdrawn
            .reason
            .starts_with("the goods arrived before a decision: 1 shipment followed"),
        "{}",
        withdrawn.reason
    );
    assert_eq!(world.task_status(task).await, TaskStatus::Completed);
    assert_eq!(world.receipts().len(), 1);
}

#[tokio::test]
async fn a_rejected_escalation_fails_the_task_with_the_ceo_s_reason() {
    let world = World::new().await;
    let task = world
        .follow_one(
            "EZ4000000004",
            vec![
                TrackingStep::new("pre_transit", "label_created", "Label created"),
                TrackingStep::new("return_to_sender", "return", "Returned to sender: refused"),
            ],
        )
        .await;
    let returned = world.advance("EZ4000000004").await;
    world.report(&returned, "evt_returned").await;
    world.settle().await;

    let approvals = world.approvals().await;
    assert_eq!(approvals.len(), 1);
    assert!(
        approvals[0].1.what.contains("a return to the sender"),
        "{}",
        approvals[0].1.what
    );
    world
        .decide(approvals[0].0, Decision::Reject, "order it elsewhere")
        .await;
    world.settle().await;

    let Some(TaskEvent::TaskFailed(failed)) = world.task(task).await.pop() else {
        panic!("the task fails");
    };
    assert!(
        failed.text.contains("order it elsewhere"),
        "{}",
        failed.text
    );
    assert!(world.receipts().is_empty(), "nothing arrived");
}

#[tokio::test]
async fn a_task_that_cannot_be_followed_fails_with_the_reason() {
    let world = World::new().await;
    let (_, erp_name) = world.placed_order(500).await;
    let unpaired = world
        .dispatch(json!({
            "tracking_numbers": ["EZ5000000001", "EZ5000000002"],
            "purchase_orders": [erp_name, erp_name, "PUR-ORD-X"],
        }))
        .await;
    let foreign = world
        .dispatch(json!({
            "tracking_numbers": ["EZ5000000003"],
            "purchase_orders": ["PUR-ORD-NOT-OURS"],
        }))
        .await;
    world.settle().await;

    for (task, expected) in [
        (unpaired, "2 tracking numbers and 3 purchase orders"),
        (
            foreign,
            "PUR-ORD-NOT-OURS is not a purchase order AgentOS placed",
        ),
    ] {
        let Some(TaskEvent::TaskFailed(failed)) = world.task(task).await.pop() else {
            panic!("task {task} fails");
        };
        assert!(failed.text.contains(expected), "{}", failed.text);
    }
    assert_eq!(world.sim.tracker_count(), 0, "nothing tracked");
}

/// Delivers the parcel `number`: the carrier's three scans after the label,
/// reported as its webhook reports them.
async fn deliver(world: &World, number: &str) {
    for event in ["in_transit", "out_for_delivery", "delivered"] {
        let tracker = world.advance(number).await;
        world
            .report(&tracker, &format!("evt_{number}_{event}"))
            .await;
    }
    world.settle().await;
}

#[tokio::test]
async fn a_parcel_with_a_shipping_notice_is_received_as_what_it_carries_and_a_partial_one_keeps_the_order_open(
) {
    let world = World::new().await;
    let (po_id, erp_name) = world.placed_order(600).await;
    let stock_before = stores_stock(&world);
    let first = world
        .dispatch(json!({
            "tracking_numbers": [UPS_NUMBER],
            "purchase_orders": [erp_name],
            "contents": [{"sku": BOLT, "quantity": 400}],
        }))
        .await;
    world.settle().await;
    deliver(&world, UPS_NUMBER).await;

    assert_eq!(
        world.receipts(),
        vec![vec![(erp_name.clone(), BOLT.to_owned(), 400.0)]],
        "the receipt says what the parcel carried, not what the order awaits"
    );
    let po_stream = PurchaseOrder::stream(po_id);
    let po = world.history::<PurchaseOrderEvent>(&po_stream).await;
    let received: Vec<_> = po
        .iter()
        .filter_map(|e| match e {
            PurchaseOrderEvent::GoodsReceived(g) => Some(g.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 1);
    assert!(!received[0].fully_received, "{:?}", received[0]);
    assert_eq!(
        PurchaseOrder::replay(&po).status,
        PurchaseOrderStatus::PartiallyReceived,
        "200 bolts are still awaited"
    );
    let Some(TaskEvent::TaskCompleted(done)) = world.task(first).await.pop() else {
        panic!("the first parcel's task completes once it arrived");
    };
    assert!(
        done.text.contains(&format!(
            "UPS {UPS_NUMBER} for {erp_name}, carrying 400 × {BOLT}: delivered"
        )),
        "{}",
        done.text
    );

    // The rest comes in a second parcel, followed by a task of its own.
    let second = world
        .dispatch(json!({
            "tracking_numbers": ["EZ3000000003"],
            "purchase_orders": [erp_name],
            "contents": [{"sku": BOLT, "quantity": 200}],
        }))
        .await;
    world.settle().await;
    deliver(&world, "EZ3000000003").await;

    assert_eq!(
        world.receipts(),
        vec![
            vec![(erp_name.clone(), BOLT.to_owned(), 400.0)],
            vec![(erp_name.clone(), BOLT.to_owned(), 200.0)],
        ]
    );
    assert_eq!(stores_stock(&world), stock_before + 600.0);
    let po = world.history::<PurchaseOrderEvent>(&po_stream).await;
    assert_eq!(
        PurchaseOrder::replay(&po).status,
        PurchaseOrderStatus::Received
    );
    assert_eq!(world.task_status(second).await, TaskStatus::Completed);
}

#[tokio::test]
async fn a_shipping_notice_that_cannot_be_received_against_its_order_fails_the_task() {
    let world = World::new().await;
    let (_, erp_name) = world.placed_order(500).await;
    let foreign_sku = world
        .dispatch(json!({
            "tracking_numbers": ["EZ6000000001"],
            "purchase_orders": [erp_name],
            "contents": [{"sku": "TAPE-48", "quantity": 36}],
        }))
        .await;
    let two_parcels = world
        .dispatch(json!({
            "tracking_numbers": ["EZ6000000002", "EZ6000000003"],
            "purchase_orders": [erp_name, erp_name],
            "contents": [{"sku": BOLT, "quantity": 100}],
        }))
        .await;
    let repeated = world
        .dispatch(json!({
            "tracking_numbers": ["EZ6000000004"],
            "purchase_orders": [erp_name],
            "contents": [{"sku": BOLT, "quantity": 100}, {"sku": BOLT, "quantity": 5}],
        }))
        .await;
    world.settle().await;

    for (task, expected) in [
        (
            foreign_sku,
            format!(
                "the shipping notice of EZ6000000001 names 36 × TAPE-48, which {erp_name} does not order"
            ),
        ),
        (
            two_parcels,
            "the contents of a shipping notice belong to one parcel".to_owned(),
        ),
        (
            repeated,
            format!("the shipping notice of EZ6000000004 names {BOLT} twice"),
        ),
    ] {
        let Some(TaskEvent::TaskFailed(failed)) = world.task(task).await.pop() else {
            panic!("task {task} fails");
        };
        assert!(failed.text.contains(&expected), "{}", failed.text);
    }
    assert_eq!(world.sim.tracker_count(), 0, "nothing tracked");
}
